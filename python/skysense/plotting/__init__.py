"""Figures (matplotlib, imported on first use with the non-interactive Agg backend).

==========================  ==========================================================
``plot_images``             images in dB on one colour scale, true targets marked
``plot_psf``                PSF row of one voxel, x-y image and 1-D slice (Fig. 3)
``plot_psf_panels``         PSF sidelobes and off-grid error (Figs. 4-5)
``plot_table2``             DR/FAR per sensing mode against the paper (Table II)
``plot_tradeoff``           DR and SE against the sensing power (Fig. 10)
``plot_canyon``             ray-traced canyon metrics against the residual (Table VI)
``plot_mapping``            VA visibility, MOSPA over epochs and the map per BS
``plot_tracking``           tracks over the ROI against the true UAV paths, GOSPA bars
``plot_lines``              generic line panels (log axes, CRB/paper references dashed)
``plot_bars``               generic grouped bars
==========================  ==========================================================
"""

from skysense.plotting._common import plot_bars, plot_lines
from skysense.plotting.imaging import (
    plot_canyon,
    plot_images,
    plot_psf,
    plot_psf_panels,
    plot_table2,
    plot_tradeoff,
)
from skysense.plotting.mapping import plot_mapping
from skysense.plotting.tracking import plot_tracking

__all__ = [
    "plot_bars",
    "plot_canyon",
    "plot_images",
    "plot_lines",
    "plot_mapping",
    "plot_psf",
    "plot_psf_panels",
    "plot_table2",
    "plot_tracking",
    "plot_tradeoff",
]
