"""numba kernel behind :func:`skysense.metrics.detection_rates` (compiled on first use)."""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt


@numba.njit(cache=True)
def match_blobs(  # pragma: no cover - compiled
    blobs: npt.NDArray[np.int32],
    targets: npt.NDArray[np.bool_],
    nx: int,
    ny: int,
    nz: int,
    used: npt.NDArray[np.bool_],
) -> npt.NDArray[np.int64]:
    """Greedy target-to-blob matching of ``cal_detect_rate``; returns detections per frame.

    blobs (n_frames, nx * ny * nz) int32 blob labels (0 = background, unique per batch),
    targets (n_frames, nx * ny * nz) bool, used (n_labels + 1,) bool, updated in place.
    Targets are visited in C order; each scans its clipped 3 x 3 x 3 neighbourhood in C
    order and takes the first unused blob it meets.
    """
    n_frames = blobs.shape[0]
    detected = np.zeros(n_frames, dtype=np.int64)
    for f in range(n_frames):
        for v in range(nx * ny * nz):
            if not targets[f, v]:
                continue
            i = v // (ny * nz)
            j = (v // nz) % ny
            k = v % nz
            found = False
            for ii in range(max(0, i - 1), min(nx, i + 2)):
                for jj in range(max(0, j - 1), min(ny, j + 2)):
                    for kk in range(max(0, k - 1), min(nz, k + 2)):
                        lab = blobs[f, (ii * ny + jj) * nz + kk]
                        if lab > 0 and not used[lab]:
                            used[lab] = True
                            found = True
                            break
                    if found:
                        break
                if found:
                    break
            if found:
                detected[f] += 1
    return detected
