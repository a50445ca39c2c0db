"""Particle representation of a set of potential map features (PMFs)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skysense._validation import as_array

__all__ = ["PmfState"]


@dataclass(frozen=True)
class PmfState:
    """K PMFs with P particles each; weights and existences are kept in log form.

    Parameters
    ----------
    positions : ndarray, shape (n_pmfs, n_particles, 3), float64, [m]
        Particle positions of the virtual anchors.
    log_weights : ndarray, shape (n_pmfs, n_particles), float64
        Log importance weights, normalised so that ``mean(exp(.)) ~ 1`` (zeros after resampling).
    logodds : ndarray, shape (n_pmfs,), float64
        Existence log-odds ``log p - log(1 - p)``; ``-inf`` marks a PMF to drop.
    """

    positions: np.ndarray
    log_weights: np.ndarray
    logodds: np.ndarray

    def __post_init__(self):
        x = as_array(self.positions, "positions", ndim=3, dtype=np.float64)
        if x.shape[2] != 3 or x.shape[1] < 1:
            raise ValueError(
                f"positions must have shape (n_pmfs, n_particles >= 1, 3), got {x.shape}"
            )
        lw = as_array(
            self.log_weights, "log_weights", shape=x.shape[:2], dtype=np.float64, check_finite=False
        )
        if np.isnan(lw).any() or np.isposinf(lw).any():
            raise ValueError("log_weights contains NaN or +inf")
        eta = as_array(
            self.logodds, "logodds", shape=(x.shape[0],), dtype=np.float64, check_finite=False
        )
        if np.isnan(eta).any() or np.isposinf(eta).any():
            raise ValueError("logodds contains NaN or +inf")
        object.__setattr__(self, "positions", x)
        object.__setattr__(self, "log_weights", lw)
        object.__setattr__(self, "logodds", eta)

    @classmethod
    def _trusted(cls, positions, log_weights, logodds) -> PmfState:
        """Wrap arrays that are valid by construction (kernel outputs, selections of a
        validated state) without the O(K P) checks of ``__init__``."""
        state = object.__new__(cls)
        object.__setattr__(state, "positions", positions)
        object.__setattr__(state, "log_weights", log_weights)
        object.__setattr__(state, "logodds", logodds)
        return state

    @classmethod
    def empty(cls, n_particles: int) -> PmfState:
        """No PMFs, ``n_particles`` per PMF."""
        return cls(np.zeros((0, n_particles, 3)), np.zeros((0, n_particles)), np.zeros(0))

    @property
    def n_pmfs(self) -> int:
        return self.positions.shape[0]

    @property
    def n_particles(self) -> int:
        return self.positions.shape[1]

    @property
    def existence(self) -> np.ndarray:
        """Existence probabilities, shape (n_pmfs,)."""
        return 1.0 / (1.0 + np.exp(-self.logodds))

    def select(self, mask) -> PmfState:
        """The PMFs where ``mask`` (shape (n_pmfs,), bool) is true."""
        mask = np.asarray(mask, bool)
        if mask.shape != self.logodds.shape:
            raise ValueError(f"mask must have shape {self.logodds.shape}, got {mask.shape}")
        return PmfState._trusted(self.positions[mask], self.log_weights[mask], self.logodds[mask])

    def prune(self, threshold: float) -> PmfState:
        """Drop PMFs with existence probability below ``threshold`` (and dropped ones)."""
        return self.select(self.logodds >= np.log(threshold) - np.log1p(-threshold))

    def means(self) -> np.ndarray:
        """Weighted particle means, shape (n_pmfs, 3) [m]."""
        lw = self.log_weights - self.log_weights.max(axis=1, keepdims=True)
        w = np.exp(lw)
        w /= w.sum(axis=1, keepdims=True)
        return np.einsum("kp,kpd->kd", w, self.positions)
