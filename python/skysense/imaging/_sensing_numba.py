"""numba kernels behind :class:`skysense.imaging.SensingOperator` (compiled on first use)."""

from __future__ import annotations

from typing import Any

import numba
import numpy.typing as npt


# Serial on purpose: the callers interleave this with BLAS GEMMs, and a numba thread pool
# beside the BLAS one oversubscribes the cores (measured 4x slower on 2 cores).
@numba.njit(nogil=True, cache=True)
def accumulate_conj_products(  # pragma: no cover - compiled
    w: npt.NDArray[Any], h: npt.NDArray[Any], z: npt.NDArray[Any]
) -> None:
    """``z[n, v] += sum_j h[j, v] * w[n, j, v]``; w (n, J, V), h (J, V), z (n, V)."""
    n_frames, n_rows, n_vox = w.shape
    for n in range(n_frames):
        for j in range(n_rows):
            for v in range(n_vox):
                z[n, v] += h[j, v] * w[n, j, v]
