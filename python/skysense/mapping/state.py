"""Particle representation of a set of potential map features (PMFs)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from skysense._results import Result
from skysense._validation import as_array, check_count

__all__ = ["PmfState"]


def _logit(p: float) -> float:
    return float(np.log(p) - np.log1p(-p))


@dataclass(frozen=True, repr=False)
class PmfState(Result):
    """K potential map features (virtual anchors) with P particles each, in log form.

    Parameters
    ----------
    positions_m : array_like, shape (n_pmfs, n_particles, 3), float64 [m]
        Particle positions of the virtual anchors.
    log_weights : array_like, shape (n_pmfs, n_particles), float64
        Log importance weights, normalised so that ``mean(exp(.)) ~ 1`` (zeros after
        resampling); ``-inf`` allowed.
    existence_logodds : array_like, shape (n_pmfs,), float64
        Existence log-odds ``log p - log(1 - p)``; ``-inf`` marks a PMF to drop. The
        log-odds, not ``p``, are kept: posterior odds routinely exceed 1e16.

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.mapping import PmfState
    >>> x = np.zeros((2, 5, 3)); x[1] += [10.0, 0.0, 0.0]
    >>> state = PmfState(x, np.zeros((2, 5)), np.array([2.0, -9.0]))
    >>> state.prune(1e-3).n_pmfs
    1
    >>> state.mean_positions_m()[1]
    array([10.,  0.,  0.])
    """

    positions_m: npt.NDArray[np.float64]
    log_weights: npt.NDArray[np.float64]
    existence_logodds: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        x = as_array(self.positions_m, "positions_m", ndim=3, dtype=np.float64)
        if x.shape[2] != 3 or x.shape[1] < 1:
            raise ValueError(
                f"positions_m must have shape (n_pmfs, n_particles >= 1, 3), got {x.shape}"
            )
        lw = as_array(
            self.log_weights, "log_weights", shape=x.shape[:2], dtype=np.float64, check_finite=False
        )
        if np.isnan(lw).any() or np.isposinf(lw).any():
            raise ValueError("log_weights must be finite or -inf, got NaN or +inf")
        eta = as_array(
            self.existence_logodds,
            "existence_logodds",
            shape=(x.shape[0],),
            dtype=np.float64,
            check_finite=False,
        )
        if np.isnan(eta).any() or np.isposinf(eta).any():
            raise ValueError("existence_logodds must be finite or -inf, got NaN or +inf")
        object.__setattr__(self, "positions_m", x)
        object.__setattr__(self, "log_weights", lw)
        object.__setattr__(self, "existence_logodds", eta)

    @classmethod
    def _trusted(
        cls,
        positions_m: npt.NDArray[np.float64],
        log_weights: npt.NDArray[np.float64],
        existence_logodds: npt.NDArray[np.float64],
    ) -> PmfState:
        """Wrap arrays that are valid by construction (kernel outputs, selections of a
        validated state) without the O(K P) checks of ``__init__``."""
        state = object.__new__(cls)
        object.__setattr__(state, "positions_m", positions_m)
        object.__setattr__(state, "log_weights", log_weights)
        object.__setattr__(state, "existence_logodds", existence_logodds)
        return state

    @classmethod
    def empty(cls, n_particles: int) -> PmfState:
        """No PMFs, ``n_particles`` particles per PMF.

        Examples
        --------
        >>> from skysense.mapping import PmfState
        >>> PmfState.empty(100).n_pmfs
        0
        """
        n_particles = check_count(n_particles, "n_particles")
        return cls(np.zeros((0, n_particles, 3)), np.zeros((0, n_particles)), np.zeros(0))

    @property
    def n_pmfs(self) -> int:
        """Number of PMFs K."""
        return int(self.positions_m.shape[0])

    @property
    def n_particles(self) -> int:
        """Particles per PMF P."""
        return int(self.positions_m.shape[1])

    @property
    def existence(self) -> npt.NDArray[np.float64]:
        """Existence probabilities, shape (n_pmfs,)."""
        return 1.0 / (1.0 + np.exp(-self.existence_logodds))

    def select(self, mask: npt.ArrayLike) -> PmfState:
        """The PMFs where ``mask`` (shape (n_pmfs,), bool) is true, in order."""
        mask = np.asarray(mask, bool)
        if mask.shape != self.existence_logodds.shape:
            raise ValueError(
                f"mask must have shape {self.existence_logodds.shape}, got {mask.shape}"
            )
        return PmfState._trusted(
            self.positions_m[mask], self.log_weights[mask], self.existence_logodds[mask]
        )

    def prune(self, threshold: float) -> PmfState:
        """Drop PMFs with existence probability below ``threshold`` (and dropped ones)."""
        return self.select(self.existence_logodds >= _logit(threshold))

    def mean_positions_m(self) -> npt.NDArray[np.float64]:
        """Weighted particle means (MMSE positions), shape (n_pmfs, 3) [m]."""
        lw = self.log_weights - self.log_weights.max(axis=1, keepdims=True)
        w = np.exp(lw)
        w /= w.sum(axis=1, keepdims=True)
        return np.einsum("kp,kpd->kd", w, self.positions_m)
