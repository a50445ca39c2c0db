"""numba kernels of the first-order image-method tracer (spec 6.1); compiled on first use."""

from __future__ import annotations

import numba
import numpy as np

_EPS = 1e-6


@numba.njit(nogil=True, cache=True)
def _segment_hits_box(p, q, lo, hi):
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
def _free(p, q, lo, hi):
    for b in range(lo.shape[0]):  # noqa: SIM110 (numba: explicit loop)
        if _segment_hits_box(p, q, lo[b], hi[b]):
            return False
    return True


@numba.njit(nogil=True, cache=True)
def _on_facade(s, a, t, half_width, height):
    off = (s[0] - a[0]) * t[0] + (s[1] - a[1]) * t[1] + (s[2] - a[2]) * t[2]
    return abs(off) <= half_width + _EPS and -_EPS <= s[2] <= height + _EPS


@numba.njit(nogil=True, cache=True)
def trace_bistatic(bs, uav, a, n, t, half_width, height, lo, hi):
    """Specular BS -> facade -> UAV points; visible (N, F) bool, points (N, F, 3) [m]."""
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
def trace_monostatic(bs, a, n, t, half_width, height, lo, hi):
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
def segments_free(p, q, lo, hi):
    """Free (no box crossed) flags (N,) of segments p (3,) -> q[i] (N, 3)."""
    out = np.zeros(q.shape[0], np.bool_)
    for i in range(q.shape[0]):
        out[i] = _free(p, q[i], lo, hi)
    return out


@numba.njit(nogil=True, cache=True)
def inside_boxes(x, lo, hi):
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
