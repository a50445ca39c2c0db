"""The result of every bistatic estimator: ToA, AoA, AoD, gain (and Doppler) per path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from skysense._results import Result

__all__ = ["Estimate"]


@dataclass(frozen=True, repr=False)
class Estimate(Result):
    """Path parameters estimated from one CSI or a batch (leading axes = batch axes).

    Paths are sorted by ToA (PARAMING, grid methods, IFFT-C2VNN) or by AoA (Root-MUSIC-2D).
    Entries past a CSI's ``n_paths`` are NaN (a model-order criterion found fewer paths, or a
    grid method fewer peaks). Every estimator follows the precision of its CSI: float32
    fields and complex64 ``gain`` for complex64 CSI, float64/complex128 otherwise.

    Attributes
    ----------
    toa_s : ndarray, shape (..., max_paths), float32 or float64, or None
        Times of arrival tau [s]; None from Root-MUSIC-2D (which estimates no ToA).
    aoa_rad : ndarray, shape (..., max_paths), float32 or float64
        Angles of arrival theta [rad].
    aod_rad : ndarray, shape (..., max_paths), float32 or float64
        Angles of departure phi [rad].
    gain : ndarray, shape (..., max_paths), complex64 or complex128, or None
        Complex gains gamma (phase reference: element 0 of both ULAs, subcarrier 0); None
        from Root-MUSIC-2D.
    n_paths : ndarray, shape (...), int64
        Model order used per CSI.
    doppler_hz : ndarray, shape (..., max_paths), float32 or float64, or None
        Doppler shifts f_D [Hz]; only from sub-frame input (``subframes=True``).
    singular_values : ndarray, shape (..., n_singular), float32 or float64, or None
        Singular values of the Hankel matrix X1 (eqs. 31-34), descending; only from
        :func:`~skysense.bistatic.paraming` with ``return_singular_values=True``.
    refined : ndarray, shape (...), bool, or None
        Whether the ML refinement of :func:`~skysense.bistatic.paraming` gave the estimate
        (False: it did not converge or did not lower the ML cost, and the estimate before
        refinement is returned: PARAMING's, or its angle-domain separation of a delay
        cluster); None from the other estimators and with ``refine=False``.
    reliable : ndarray, shape (..., max_paths), bool, or None
        Per-path reliability from :func:`~skysense.bistatic.paraming`: False for a path that is
        not significant above the noise (it may be noise: e.g. the second path requested of a
        pair no estimator can separate) or that lies in a delay cluster (ToAs closer than one
        resolution cell) whose members the estimate could not separate (standard deviations
        from the Fisher information at the estimate above a quarter cell or beamwidth): its
        parameters are not trustworthy. True otherwise (and past ``n_paths``); None from the
        other estimators.

    Examples
    --------
    >>> import numpy as np
    >>> from skysense import bistatic as bs
    >>> sc = bs.Scenario()
    >>> truth = bs.Paths([0.1, -0.3], [0.2, 0.4], [0.0, 40e-9], [1.0, 0.5j])
    >>> est = bs.paraming(sc.channel(truth), 2, scenario=sc)
    >>> bool(np.allclose(est.toa_s, truth.toa_s, atol=1e-15))
    True
    >>> print(est)  # doctest: +ELLIPSIS
    Estimate(
      toa_s=float64[2] [...],
      aoa_rad=float64[2] [...],
      aod_rad=float64[2] [...],
      gain=complex128[2] [...],
      n_paths=int64[] [2],
      doppler_hz=None,
      singular_values=None,
      refined=bool[] [ True],
      reliable=bool[2] [ True  True],
    )
    """

    toa_s: NDArray[np.floating[Any]] | None
    aoa_rad: NDArray[np.floating[Any]]
    aod_rad: NDArray[np.floating[Any]]
    gain: NDArray[np.complexfloating[Any, Any]] | None
    n_paths: NDArray[np.int64]
    doppler_hz: NDArray[np.floating[Any]] | None = None
    singular_values: NDArray[np.floating[Any]] | None = None
    refined: NDArray[np.bool_] | None = None
    reliable: NDArray[np.bool_] | None = None

    def astype(self, complex_dtype: DTypeLike) -> Estimate:
        """This estimate in the precision of ``complex_dtype`` (complex64 or complex128).

        Examples
        --------
        >>> import numpy as np
        >>> from skysense import bistatic as bs
        >>> e = bs.Estimate(np.zeros(2), np.zeros(2), np.zeros(2), np.ones(2, complex), 2)
        >>> e.astype(np.complex64).gain.dtype
        dtype('complex64')
        """
        cdt = np.dtype(complex_dtype)
        real = np.finfo(cdt).dtype

        def cast(v: NDArray[Any] | None, dt: np.dtype[Any]) -> Any:
            return None if v is None else np.asarray(v).astype(dt, copy=False)

        return Estimate(
            toa_s=cast(self.toa_s, real),
            aoa_rad=cast(self.aoa_rad, real),
            aod_rad=cast(self.aod_rad, real),
            gain=cast(self.gain, cdt),
            n_paths=self.n_paths,
            doppler_hz=cast(self.doppler_hz, real),
            singular_values=cast(self.singular_values, real),
            refined=self.refined,
            reliable=self.reliable,
        )
