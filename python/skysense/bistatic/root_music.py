"""Root-MUSIC-2D: AoA and AoD by polynomial rooting (no grid), ToA and gains not estimated."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from skysense._validation import check_count
from skysense.bistatic._common import as_csi, as_scenario, scale_csi
from skysense.bistatic.estimate import Estimate
from skysense.bistatic.scenario import Scenario

__all__ = ["root_music_2d"]

#: Folded roots closer than this are one root (a pair, or a split double root).
_DUPLICATE = 1e-6


def _noise_projector(
    snapshots: NDArray[np.complexfloating[Any, Any]], q: int
) -> NDArray[np.complexfloating[Any, Any]]:
    """E_n E_n^H of the sample covariance of the columns of ``snapshots``."""
    r = snapshots @ snapshots.conj().T / snapshots.shape[1]
    _, vec = np.linalg.eigh(r)
    en = vec[:, : r.shape[0] - q]
    return en @ en.conj().T


def _roots(c: NDArray[np.complexfloating[Any, Any]], n_roots: int) -> NDArray[np.complex128]:
    """``n_roots`` roots of ``w^(n-1) sum_m tr_m(c) w^m`` (root-MUSIC) nearest the unit circle.

    Roots come in pairs (w, 1/conj(w)); each is folded into the unit disk and the pair's two
    copies (and the split copies of a double root on the circle) are kept once.
    """
    n = c.shape[0]
    coef = np.array([np.trace(c, offset=k) for k in range(n - 1, -n, -1)])
    roots = np.roots(coef)
    roots = roots[roots != 0]
    folded = np.where(np.abs(roots) <= 1.0, roots, 1.0 / np.conj(roots))
    chosen: list[complex] = []
    for w in folded[np.argsort(-np.abs(folded), kind="stable")]:
        if all(abs(w - v) > _DUPLICATE for v in chosen):
            chosen.append(w)
        if len(chosen) == n_roots:
            break
    return np.asarray(chosen)


def _angle(w: complex | NDArray[Any], spacing: float) -> Any:
    return np.arcsin(np.clip(-np.angle(w) / (2 * np.pi * spacing), -1.0, 1.0))


def root_music_2d(
    csi: ArrayLike,
    n_paths: int,
    *,
    scenario: Scenario | None = None,
    check_finite: bool = True,
) -> Estimate:
    """Root-MUSIC-2D estimate of the AoA/AoD pairs; subcarriers are the snapshots.

    Parameters
    ----------
    csi : array_like, shape (..., n_tx, n_rx, n_subcarriers), complex64 or complex128
        CSI, leading axes a batch.
    n_paths : int
        Paths q, ``q <= n_rx - 1``.
    scenario : Scenario, optional
        Default ``Scenario()``.
    check_finite : bool
        Reject NaN/Inf.

    Returns
    -------
    Estimate
        ``aoa_rad`` and ``aod_rad`` of shape ``(..., n_paths)``, sorted by AoA (NaN where
        fewer roots were found); ``toa_s`` and ``gain`` are None (not estimated).

    Notes
    -----
    Two 1-D rootings (a sequential form of 2-D root-MUSIC): (1) the AoAs from the noise
    subspace of the Rx covariance (snapshots: every Tx element and subcarrier), rooting
    :math:`a_r(w)^H E E^H a_r(w)`, a polynomial in :math:`w = e^{-j 2\\pi d_r \\sin\\theta}`;
    (2) for each AoA, the AoD from the joint covariance over (Tx, Rx) with the subcarriers as
    snapshots: with :math:`C = E_n E_n^H`, root
    :math:`\\sum_{k,l} \\bar z^k z^l\\, a_r^H C_{kl} a_r` in :math:`z = e^{-j2\\pi d_t \\sin\\phi}`.
    Delays must differ for the subcarrier snapshots to decorrelate the paths. Two paths with
    (nearly) the same AoA merge in step (1): one of them is then lost and a spurious AoA takes
    its place (the outliers of ``bistatic-accuracy`` on random geometries).

    Examples
    --------
    >>> import numpy as np
    >>> from skysense import bistatic as bs
    >>> sc = bs.Scenario()
    >>> truth = bs.Paths([-0.2, 0.3], [0.1, 0.5], [0.0, 80e-9], [1.0, 0.7j])
    >>> est = bs.root_music_2d(sc.channel(truth), 2, scenario=sc)
    >>> bool(np.allclose(est.aoa_rad, [-0.2, 0.3], atol=1e-6)), est.toa_s
    (True, None)
    """
    scenario = as_scenario(scenario)
    arr = as_csi(csi, scenario, check_finite=check_finite)
    nt, nr, n = scenario.csi_shape
    q = check_count(n_paths, "n_paths")
    if q > nr - 1:
        raise ValueError(f"n_paths must be <= n_rx - 1 = {nr - 1}, got {q}")
    lead = arr.shape[:-3]
    # complex64 stays complex64 (the float32 path); each CSI scaled to unit size (exact), as
    # the roots do not depend on the scale and the covariances would overflow or underflow
    flat = scale_csi(arr.reshape((-1, nt, nr, n)))[0]
    real = np.finfo(flat.dtype).dtype
    aoa = np.full((len(flat), q), np.nan, real)
    aod = np.full((len(flat), q), np.nan, real)
    for b, h in enumerate(flat):
        c_r = _noise_projector(h.transpose(1, 0, 2).reshape(nr, nt * n), q)
        theta = np.sort(_angle(_roots(c_r, q), scenario.spacing_rx_wavelengths))
        c_full = _noise_projector(h.reshape(nt * nr, n), q).reshape(nt, nr, nt, nr)
        for i, th in enumerate(theta):
            a_r = scenario.steering_rx([th])[:, 0].astype(flat.dtype)
            d = np.einsum("r,krls,s->kl", a_r.conj(), c_full, a_r)
            w = _roots(d, 1)
            if w.size:
                aod[b, i] = _angle(w[0], scenario.spacing_tx_wavelengths)
        aoa[b, : theta.size] = theta
    return Estimate(
        toa_s=None,
        aoa_rad=aoa.reshape((*lead, q)),
        aod_rad=aod.reshape((*lead, q)),
        gain=None,
        n_paths=np.full(lead, q, np.int64),
    )
