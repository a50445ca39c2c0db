"""Configurations of the IFFT-C2VNN networks (NumPy only: no torch import).

The bistatic paper's IFFT-C2VNN (Sec. III-B) regresses, per delay peak, ``(sin AoA, sin AoD,
delta)`` from a W-row window of the delay taps; the 3-D variant (Sec. III-D) stacks S
sub-frames and adds the Doppler shift as a fourth output.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from skysense._validation import check_count, check_positive
from skysense.bistatic.scenario import Scenario

__all__ = ["N_OUTPUTS", "N_OUTPUTS_3D", "C2vnn3dConfig", "C2vnnConfig", "C2vnnCountConfig"]

#: Outputs of the 2-D network: sin(AoA), sin(AoD), fractional ToA offset [taps].
N_OUTPUTS = 3
#: Outputs of the 3-D network: the three above and the Doppler shift [cycles / sub-frame].
N_OUTPUTS_3D = 4


@dataclass(frozen=True)
class C2vnnConfig:
    """Architecture of the 2-D IFFT-C2VNN and the scenario it was trained for.

    Parameters
    ----------
    scenario : Scenario
        Sizes and numerology of the CSI the model accepts.
    window : int
        Odd window size W (rows of the delay taps per path).
    n_filters : int
        Complex filters F of each convolution.
    kernel_size : int
        Odd square kernel of both convolutions ("same" padding).
    n_hidden : int
        Complex width of the first linear layer.

    Examples
    --------
    >>> C2vnnConfig(window=5).sample_shape
    (10, 8, 10)
    """

    scenario: Scenario = dataclasses.field(default_factory=Scenario)
    window: int = 3
    n_filters: int = 8
    kernel_size: int = 3
    n_hidden: int = 64

    def __post_init__(self) -> None:
        if not isinstance(self.scenario, Scenario):
            raise TypeError(
                f"scenario must be a bistatic Scenario, got {type(self.scenario).__name__}"
            )
        for name in ("window", "kernel_size"):
            value = check_count(getattr(self, name), name)
            if value % 2 == 0:
                raise ValueError(f"{name} must be odd, got {value}")
        check_count(self.n_filters, "n_filters")
        check_count(self.n_hidden, "n_hidden")
        if self.window > self.scenario.n_subcarriers:
            raise ValueError(
                f"window must not exceed n_subcarriers = {self.scenario.n_subcarriers}, "
                f"got {self.window}"
            )

    @property
    def n_outputs(self) -> int:
        """Regression outputs per window."""
        return N_OUTPUTS

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one network input (real pairs): ``(2 W, n_tx, n_rx)``."""
        return (2 * self.window, self.scenario.n_tx, self.scenario.n_rx)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (stored in checkpoints)."""
        d = dataclasses.asdict(self)
        d["scenario"] = dataclasses.asdict(self.scenario)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> C2vnnConfig:
        """Inverse of :meth:`to_dict`."""
        if not isinstance(data, dict):
            raise TypeError(f"config must be a dict, got {type(data).__name__}")
        d = dict(data)
        d["scenario"] = Scenario(**d["scenario"])
        return cls(**d)


@dataclass(frozen=True)
class C2vnn3dConfig(C2vnnConfig):
    """:class:`C2vnnConfig` plus the number of stacked sub-frames S (temporal kernel 3).

    Parameters
    ----------
    scenario : Scenario
        Sizes and numerology of the CSI the model accepts.
    window : int
        Odd window size W (rows of the delay taps per path).
    n_filters : int
        Complex filters F of each convolution.
    kernel_size : int
        Odd spatial kernel k of both convolutions (kernels ``3 x k x k``, "same" padding).
    n_hidden : int
        Complex width of the first linear layer.
    n_subframes : int
        Stacked sub-frames S, >= 2.

    Examples
    --------
    >>> C2vnn3dConfig(n_subframes=10).sample_shape
    (6, 10, 8, 10)
    """

    n_subframes: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        check_count(self.n_subframes, "n_subframes", minimum=2)

    @property
    def n_outputs(self) -> int:
        """Regression outputs per window (Doppler included)."""
        return N_OUTPUTS_3D

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one network input (real pairs): ``(2 W, S, n_tx, n_rx)``."""
        return (2 * self.window, self.n_subframes, self.scenario.n_tx, self.scenario.n_rx)


@dataclass(frozen=True)
class C2vnnCountConfig(C2vnnConfig):
    """The path-count classifier of IFFT-C2VNN (bistatic paper, Sec. III-B1, unresolvable peaks).

    The same two complex convolutions and two complex linear layers as :class:`C2vnnConfig`,
    on a wider window of the delay taps that keeps the peak's power relative to the strongest
    peak; ``max_count + 1`` outputs are the logits of 0, 1, ..., ``max_count`` paths
    (the last class meaning "``max_count`` or more").

    Parameters
    ----------
    scenario : Scenario
        Sizes and numerology of the CSI the model accepts.
    window : int
        Odd window size (rows of the delay taps per candidate peak).
    n_filters : int
        Complex filters F of each convolution.
    kernel_size : int
        Odd square kernel of both convolutions ("same" padding).
    n_hidden : int
        Complex width of the first linear layer.
    max_count : int
        Largest count class (>= 2).
    reach_cells : float
        A path counts for the candidate peak nearest to it in delay when it lies within this
        many cells ``1/(N df)`` of it (training labels); a merged peak's ToAs are searched
        within ``max(1.5, reach_cells)`` cells of its row.

    Examples
    --------
    >>> C2vnnCountConfig().n_outputs
    4
    """

    window: int = 5
    max_count: int = 3
    reach_cells: float = 1.5

    def __post_init__(self) -> None:
        super().__post_init__()
        check_count(self.max_count, "max_count", minimum=2)
        object.__setattr__(self, "reach_cells", check_positive(self.reach_cells, "reach_cells"))
        if min(self.scenario.n_tx, self.scenario.n_rx) < 3:
            raise ValueError(
                "scenario: the merged-peak step needs n_tx >= 3 and n_rx >= 3 (shift "
                f"invariance along both arrays), got n_tx = {self.scenario.n_tx}, "
                f"n_rx = {self.scenario.n_rx}"
            )

    @property
    def n_outputs(self) -> int:
        """Classes per window: 0, 1, ..., ``max_count`` paths."""
        return self.max_count + 1
