"""Per-cell state shared by the imaging experiments: operator plus full Gram matrix (private)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skysense._validation import check_memory
from skysense.imaging import Scenario, SensingOperator

#: Largest Gram matrix an experiment may build [bytes]: 14400^2 complex128 (d0 = 1 m) is 3.1 GiB.
GRAM_MAX_BYTES = 4 << 30
#: Scratch budget of one block of Gram columns [bytes].
GRAM_BLOCK_BYTES = 256 << 20


@dataclass(frozen=True, eq=False)
class ImagingState:
    """A scenario with its matrix-free operator and ``gram = A^H A`` (n_voxels, n_voxels)."""

    scenario: Scenario
    operator: SensingOperator
    gram: np.ndarray


def gram_matrix(op: SensingOperator, *, max_bytes=GRAM_MAX_BYTES) -> np.ndarray:
    """``A^H A`` of ``op``, assembled from blocks of columns so the scratch stays small.

    ``SensingOperator.gram()`` of all columns at once needs ``n_bs + 1`` Gram-sized arrays
    (16 GiB at d0 = 1 m); block by block it needs one Gram plus ``GRAM_BLOCK_BYTES``.
    """
    nv = op.shape[1]
    itemsize = op.dtype.itemsize
    check_memory(nv * nv * itemsize, f"Gram matrix ({nv}, {nv}) {op.dtype}", max_bytes)
    per_column = nv * itemsize * (op.scenario.n_bs + 1)
    block = max(1, GRAM_BLOCK_BYTES // per_column)
    gram = np.empty((nv, nv), op.dtype)
    for lo in range(0, nv, block):
        cols = np.arange(lo, min(nv, lo + block))
        gram[:, cols] = op.gram(cols, max_bytes=max(GRAM_BLOCK_BYTES, per_column * cols.size))
    return gram


def imaging_state(scenario: Scenario) -> ImagingState:
    """Operator and Gram of ``scenario`` (single-threaded kernels: workers=1)."""
    op = SensingOperator(scenario, workers=1)
    return ImagingState(scenario=scenario, operator=op, gram=gram_matrix(op))
