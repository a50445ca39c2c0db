"""Choosing a detector's threshold on validation frames only (``weights/README.md``, "Selection").

Importing this module imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from skysense.learn._torch import torch_threads
from skysense.learn.imager.dataset import OffGridDataset
from skysense.learn.imager.detector import DetectorNet
from skysense.learn.imager.evaluate import ImageMetrics, image_metrics
from skysense.learn.imager.train import _predict

__all__ = ["MAX_FALSE_ALARM_RATE", "THRESHOLDS", "choose_threshold", "threshold_sweep"]

#: Thresholds tried by :func:`choose_threshold`.
THRESHOLDS = tuple(round(0.05 * k, 2) for k in range(2, 19))
#: The false-alarm budget of the selection rule (issue target: FAR <= 5 %).
MAX_FALSE_ALARM_RATE = 0.04


def threshold_sweep(
    model: DetectorNet,
    data: OffGridDataset,
    thresholds: Sequence[float] = THRESHOLDS,
    *,
    batch_size: int = 256,
    workers: int | None = None,
) -> dict[float, ImageMetrics]:
    """Scores of a detector's rendered detections at several thresholds.

    Parameters
    ----------
    model : DetectorNet
    data : OffGridDataset
        Validation frames (``"pairs"`` inputs).
    thresholds : sequence of float
        Heat thresholds in (0, 1).
    batch_size : int
    workers : int, optional
        torch CPU threads of the call.

    Returns
    -------
    dict
        ``{threshold: ImageMetrics}`` (MSE, SSIM, OSPA, DR, FAR as the paper's Table III).
    """
    if not isinstance(model, DetectorNet):
        raise TypeError(f"model must be a DetectorNet, got {type(model).__name__}")
    arrays = data.reader.read_frames(data.frames, ("inputs", "labels", "positions_m"))
    inputs = arrays["inputs"].astype(np.float32, copy=False)
    with torch_threads(workers):
        heat = torch.from_numpy(_predict(model, inputs, batch_size, None))
        out = {}
        for t in thresholds:
            image = model.render(heat, float(t)).numpy()
            out[float(t)] = image_metrics(
                image, arrays["labels"], arrays["positions_m"], data.reader.scenario
            )
    return out


def choose_threshold(
    sweep: dict[float, ImageMetrics], *, max_false_alarm_rate: float = MAX_FALSE_ALARM_RATE
) -> float:
    """The selection rule: the least validation OSPA among the thresholds whose validation
    FAR is at most ``max_false_alarm_rate``; the highest threshold if none is.

    Parameters
    ----------
    sweep : dict
        Output of :func:`threshold_sweep`.
    max_false_alarm_rate : float
        FAR budget in [0, 1].

    Returns
    -------
    float

    Examples
    --------
    >>> m = lambda ospa, far: ImageMetrics(0.0, 0.0, ospa, 0.9, far)
    >>> choose_threshold({0.2: m(5.0, 0.08), 0.3: m(6.0, 0.03), 0.4: m(7.0, 0.01)})
    0.3
    """
    if not sweep:
        raise ValueError("sweep is empty")
    ok = [t for t, m in sweep.items() if m.false_alarm_rate <= max_false_alarm_rate]
    if not ok:
        return max(sweep)
    return min(ok, key=lambda t: (sweep[t].ospa_m, t))


def sweep_table(sweep: dict[float, ImageMetrics]) -> list[dict[str, Any]]:
    """Plain rows ``{"threshold", "mse", "ssim", "ospa_m", ...}`` of a sweep (for JSON)."""
    return [{"threshold": t, **asdict(m)} for t, m in sorted(sweep.items())]
