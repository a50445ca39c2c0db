"""Loopy-BP data association (T4 - T6) and existence pruning."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skysense._validation import check_count, check_positive
from skysense.tracking._kernels import check_engine, kernels
from skysense.tracking.base import Association, Associator, Pruner
from skysense.tracking.state import Targets

__all__ = ["BPAssociator", "ExistencePruner"]


@dataclass(frozen=True)
class BPAssociator(Associator):
    """Iterative probabilistic data association by loopy belief propagation (C++).

    Parameters
    ----------
    max_iter : int
        Cap on the message-passing iterations.
    tol : float
        Stop when no message changes by more than this in log (``max |log nu / nu_old|``).
    engine : {"cpp", "numpy"}
    """

    max_iter: int = 100
    tol: float = 1e-6
    engine: str = "cpp"

    def __post_init__(self) -> None:
        check_count(self.max_iter, "max_iter", minimum=0)
        check_positive(self.tol, "tol", strict=False)
        check_engine(self.engine)

    def associate(
        self, association_weights: np.ndarray, clutter_weights: np.ndarray
    ) -> Association:
        kappa, iota, n_iter = kernels(self.engine).tracking_associate(
            beta=np.ascontiguousarray(association_weights, dtype=np.float64),
            xi=np.ascontiguousarray(clutter_weights, dtype=np.float64),
            max_iter=self.max_iter,
            tol=self.tol,
        )
        return Association(kappa, iota, int(n_iter))


@dataclass(frozen=True)
class ExistencePruner(Pruner):
    """Drop potential targets whose existence probability is below ``threshold``.

    Parameters
    ----------
    threshold : float
        In [0, 1); 0 keeps everything.
    """

    threshold: float = 1e-3

    def __post_init__(self) -> None:
        value = check_positive(self.threshold, "threshold", strict=False)
        if value >= 1:
            raise ValueError(f"threshold must lie in [0, 1), got {value}")

    def prune(self, targets: Targets) -> Targets:
        return targets.take(np.flatnonzero(targets.existence >= self.threshold))
