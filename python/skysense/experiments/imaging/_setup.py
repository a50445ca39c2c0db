"""Per-cell state shared by the imaging experiments: operator plus full Gram matrix (private)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from skysense.imaging import (
    ImagingBatch,
    PursuitResult,
    Scenario,
    SensingOperator,
    subspace_pursuit,
)
from skysense.metrics import detection_rates, mse

#: Largest Gram matrix an experiment may build [bytes]: 14400^2 complex128 (d0 = 1 m) is 3.1 GiB.
GRAM_MAX_BYTES = 4 << 30


@dataclass(frozen=True, eq=False)
class ImagingState:
    """A scenario with its matrix-free operator and ``gram = A^H A`` (n_voxels, n_voxels)."""

    scenario: Scenario
    operator: SensingOperator
    gram: np.ndarray


def imaging_state(scenario: Scenario) -> ImagingState:
    """Operator and Gram of ``scenario`` (kernel threads: the runner's ``workers``)."""
    op = SensingOperator(scenario)
    return ImagingState(scenario=scenario, operator=op, gram=op.gram(max_bytes=GRAM_MAX_BYTES))


def sp_scores(
    experiment: Any, state: ImagingState, y: np.ndarray, batch: ImagingBatch
) -> tuple[PursuitResult, dict[str, np.ndarray]]:
    """SP images of frames ``y`` and their per-frame scores against ``batch``'s truth.

    ``experiment`` supplies ``sparsity``, ``max_iter``, ``final`` and ``threshold``. Returns
    ``(result, scores)``: the :class:`~skysense.imaging.PursuitResult` and a dict of per-frame
    arrays ``mse``, ``detected_{exact,blob}``, ``false_{exact,blob}`` and ``n_true``.
    """
    res = subspace_pursuit(
        state.operator,
        y,
        experiment.sparsity,
        max_iter=experiment.max_iter,
        final=experiment.final,
        threshold=experiment.threshold,
        gram=state.gram,
        check_finite=False,
    )
    image = np.abs(res.image)
    scores: dict[str, np.ndarray] = {"mse": mse(image, batch.image)}
    for rule in ("exact", "blob"):
        det = detection_rates(
            image,
            batch.labels,
            rule=rule,
            threshold=0.0,
            grid_shape=state.scenario.grid_shape,
        )
        scores[f"detected_{rule}"], scores[f"false_{rule}"] = det.n_detected, det.n_false_alarms
        scores["n_true"] = det.n_true
    return res, scores
