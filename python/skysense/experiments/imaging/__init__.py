"""Reproductions of the imaging paper: Table II, Figs. 3-5, Fig. 10, Tables III/IV and VI; and
tracking the imaged UAVs across frames (imaging-tracking)."""

from skysense.experiments.imaging.offgrid import PAPER_TABLE3, PAPER_TABLE4, ImagingOffgrid
from skysense.experiments.imaging.psf import PAPER_PSF, ImagingPsf
from skysense.experiments.imaging.sionna import PAPER_TABLE6, ImagingSionna
from skysense.experiments.imaging.table2 import PAPER_TABLE2, PAPER_TABLE2_SOURCE, ImagingTable2
from skysense.experiments.imaging.tracking import ImagingTracking
from skysense.experiments.imaging.tradeoff import PAPER_FIG10, ImagingTradeoff

__all__ = [
    "PAPER_FIG10",
    "PAPER_PSF",
    "PAPER_TABLE2",
    "PAPER_TABLE2_SOURCE",
    "PAPER_TABLE3",
    "PAPER_TABLE4",
    "PAPER_TABLE6",
    "ImagingOffgrid",
    "ImagingPsf",
    "ImagingSionna",
    "ImagingTable2",
    "ImagingTracking",
    "ImagingTradeoff",
]
