"""numba kernels of the first-order image-method tracer (docs/mapping_model.md, section 7).

Compiled on first use (and cached). Facades are given as arrays: base points ``a`` (F, 3),
unit normals ``n`` (F, 3), unit tangents ``t`` (F, 3), half-widths and heights (F,); building
boxes as corners ``lo``, ``hi`` (B, 3), all in metres.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_EPS = 1e-6


@numba.njit(nogil=True, cache=True)
def _segment_hits_box(p: FloatArray, q: FloatArray, lo: FloatArray, hi: FloatArray) -> bool:
    """Whether the open segment p->q (ends trimmed by 1e-6) crosses the interior of a box."""
    t0, t1 = _EPS, 1.0 - _EPS
    for i in range(3):
        d = q[i] - p[i]
        if abs(d) < 1e-12:
            if p[i] <= lo[i] + 1e-9 or p[i] >= hi[i] - 1e-9:
                return False
        else:
            ta = (lo[i] - p[i]) / d
            tb = (hi[i] - p[i]) / d
            if ta > tb:
                ta, tb = tb, ta
            t0 = max(t0, ta)
            t1 = min(t1, tb)
            if t0 >= t1:
                return False
    return True


@numba.njit(nogil=True, cache=True)
def _free(p: FloatArray, q: FloatArray, lo: FloatArray, hi: FloatArray) -> bool:
    for b in range(lo.shape[0]):  # noqa: SIM110 (numba: explicit loop)
        if _segment_hits_box(p, q, lo[b], hi[b]):
            return False
    return True


@numba.njit(nogil=True, cache=True)
def _on_facade(
    s: FloatArray, a: FloatArray, t: FloatArray, half_width: float, height: float
) -> bool:
    off = (s[0] - a[0]) * t[0] + (s[1] - a[1]) * t[1] + (s[2] - a[2]) * t[2]
    return abs(off) <= half_width + _EPS and -_EPS <= s[2] <= height + _EPS


@numba.njit(nogil=True, cache=True)
def trace_bistatic(
    bs: FloatArray,
    uav: FloatArray,
    a: FloatArray,
    n: FloatArray,
    t: FloatArray,
    half_width: FloatArray,
    height: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
) -> tuple[BoolArray, FloatArray]:
    """Specular BS -> facade -> UAV reflection points (mapping paper Sec. II-C): visible
    (N, F) bool and points (N, F, 3) [m] (NaN where not visible), N UAV positions."""
    n_ep, n_f = uav.shape[0], a.shape[0]
    visible = np.zeros((n_ep, n_f), np.bool_)
    points = np.full((n_ep, n_f, 3), np.nan)
    s = np.empty(3)
    v = np.empty(3)
    for f in range(n_f):
        dp = (bs[0] - a[f, 0]) * n[f, 0] + (bs[1] - a[f, 1]) * n[f, 1] + (bs[2] - a[f, 2]) * n[f, 2]
        if dp <= 0:
            continue
        for d in range(3):
            v[d] = bs[d] - 2 * dp * n[f, d]
        for e in range(n_ep):
            u = uav[e]
            du = (
                (u[0] - a[f, 0]) * n[f, 0] + (u[1] - a[f, 1]) * n[f, 1] + (u[2] - a[f, 2]) * n[f, 2]
            )
            if du <= 0:
                continue
            num = 0.0
            den = 0.0
            for d in range(3):
                num += n[f, d] * (a[f, d] - v[d])
                den += n[f, d] * (u[d] - v[d])
            for d in range(3):
                s[d] = v[d] + num / den * (u[d] - v[d])
            if not _on_facade(s, a[f], t[f], half_width[f], height[f]):
                continue
            if _free(bs, s, lo, hi) and _free(s, u, lo, hi):
                visible[e, f] = True
                points[e, f] = s
    return visible, points


@numba.njit(nogil=True, cache=True)
def trace_monostatic(
    bs: FloatArray,
    a: FloatArray,
    n: FloatArray,
    t: FloatArray,
    half_width: FloatArray,
    height: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
) -> tuple[BoolArray, FloatArray]:
    """Monostatic specular foot points; visible (F,) bool, points (F, 3) [m]."""
    n_f = a.shape[0]
    visible = np.zeros(n_f, np.bool_)
    points = np.full((n_f, 3), np.nan)
    s = np.empty(3)
    for f in range(n_f):
        dp = (bs[0] - a[f, 0]) * n[f, 0] + (bs[1] - a[f, 1]) * n[f, 1] + (bs[2] - a[f, 2]) * n[f, 2]
        if dp <= 0:
            continue
        for d in range(3):
            s[d] = bs[d] - dp * n[f, d]
        if _on_facade(s, a[f], t[f], half_width[f], height[f]) and _free(bs, s, lo, hi):
            visible[f] = True
            points[f] = s
    return visible, points


@numba.njit(nogil=True, cache=True)
def segments_free(p: FloatArray, q: FloatArray, lo: FloatArray, hi: FloatArray) -> BoolArray:
    """Free (no box crossed) flags (N,) of segments p (3,) -> q[i] (N, 3)."""
    out = np.zeros(q.shape[0], np.bool_)
    for i in range(q.shape[0]):
        out[i] = _free(p, q[i], lo, hi)
    return out


@numba.njit(nogil=True, cache=True)
def inside_boxes(x: FloatArray, lo: FloatArray, hi: FloatArray) -> BoolArray:
    """Flags (N,): point x[i] strictly inside a box."""
    out = np.zeros(x.shape[0], np.bool_)
    for i in range(x.shape[0]):
        for b in range(lo.shape[0]):
            inside = True
            for d in range(3):
                if not (lo[b, d] < x[i, d] < hi[b, d]):
                    inside = False
            if inside:
                out[i] = True
    return out
