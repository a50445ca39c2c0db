"""Every call from ``skysense.tracking`` into ``skysense.imaging`` and ``skysense.learn``.

The tracking package touches the imaging and learned APIs only through the functions below,
so a change there is adapted here and nowhere else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from skysense.imaging import Scenario, SensingOperator
    from skysense.learn import OffGridImager

#: What :func:`pursuit_state` builds once per imager: the operator and its Gram matrix.
PursuitState: TypeAlias = "tuple[SensingOperator, np.ndarray]"

__all__ = [
    "PursuitState",
    "check_scenario",
    "grid_axes",
    "learned_images",
    "learned_scenario",
    "learned_threshold",
    "load_learned_imager",
    "noise_power_w",
    "pursuit_images",
    "pursuit_state",
    "roi_bounds",
    "steering_columns",
    "voxel_centers",
]


def check_scenario(scenario: object, name: str = "scenario") -> Scenario:
    """``scenario`` if it is a :class:`skysense.imaging.Scenario`, else TypeError."""
    from skysense.imaging import Scenario

    if not isinstance(scenario, Scenario):
        raise TypeError(
            f"{name} must be a skysense.imaging.Scenario, got {type(scenario).__name__}"
        )
    return scenario


def roi_bounds(scenario: Scenario) -> np.ndarray:
    """Lower and upper ROI corners, shape (2, 3) [m] (grid edges)."""
    return scenario.roi_bounds_m()


def grid_axes(scenario: Scenario) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Voxel-centre coordinates along x, y and z [m]."""
    return scenario.axis_centers_m()


def voxel_centers(scenario: Scenario) -> np.ndarray:
    """Voxel centres in C order over (x, y, z), shape (n_voxels, 3) [m]."""
    return scenario.voxel_centers_m()


def steering_columns(
    scenario: Scenario,
    points_m: npt.ArrayLike,
    *,
    dtype: npt.DTypeLike,
    workers: int | None,
    max_bytes: float | None = None,
) -> np.ndarray:
    """Columns of the sensing matrix A at arbitrary positions: the forward model of one UAV
    with unit scattering coefficient, shape (n_measurements, n_points)."""
    from skysense.imaging import steering_matrix

    return steering_matrix(scenario, points_m, dtype=dtype, max_bytes=max_bytes, workers=workers)


def noise_power_w(scenario: Scenario) -> float:
    """Noise power per CSI entry [W]."""
    return scenario.noise_power_w


def pursuit_state(scenario: Scenario, dtype: npt.DTypeLike) -> PursuitState:
    """Matrix-free operator and Gram matrix A^H A for subspace pursuit (built once)."""
    from skysense.imaging import SensingOperator

    op = SensingOperator(scenario, dtype, workers=1)
    return op, op.gram(max_bytes=4 << 30)


def pursuit_images(
    state: PursuitState,
    csi: np.ndarray,
    *,
    sparsity: int,
    threshold: float,
    workers: int | None = None,
) -> np.ndarray:
    """``|x|`` of SP on each frame, zeroed below ``threshold * max |x|``, shape (n, n_voxels)."""
    from skysense.imaging import subspace_pursuit

    op, gram = state
    res = subspace_pursuit(
        op, csi, sparsity, threshold=threshold, gram=gram, check_finite=False, workers=workers
    )
    return np.abs(res.image)


def load_learned_imager(three_d: bool = False) -> OffGridImager:
    """The shipped learned imager (``OffGridImager.load_default()``, the 2-D detector, or
    ``load_default_3d()`` for ``Scenario.paper_3d()``; needs torch)."""
    from skysense.learn import OffGridImager

    return OffGridImager.load_default_3d() if three_d else OffGridImager.load_default()


def learned_threshold(imager: OffGridImager) -> float:
    """The heat-map level above which a local maximum is a detection: the detector's own
    threshold (chosen on validation frames when it was trained); 0.1 (the authors') for the
    paper's refiner."""
    from skysense.learn import DetectorNet

    if isinstance(imager.model, DetectorNet):
        return float(imager.model.config.threshold)
    return 0.1


def learned_scenario(imager: OffGridImager) -> Scenario:
    """The scenario a learned imager was trained for."""
    return imager.scenario


def learned_images(
    imager: OffGridImager, csi: np.ndarray, *, workers: int | None = None
) -> np.ndarray:
    """Per-voxel scores of each frame in [0, 1], shape (n, *grid) (2-D grid for a 2-D ROI).

    The detector's UAV-centre heat map (``OffGridImager.predict``, before its peak read-out,
    so that the detections keep an intensity and can be refined off the grid), or the
    refiner's occupancy probabilities.
    """
    if imager.is_detector:
        out = imager.predict(imager.inputs(csi), workers=workers)
    else:
        out = imager.image(csi, workers=workers)
    return np.asarray(out, dtype=np.float64)
