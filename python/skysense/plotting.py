"""Figures (matplotlib, imported lazily with the non-interactive Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_psf"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_psf(psf_row, scenario, n1, path):
    """Save the PSF of voxel ``n1`` as an x-y image plus its 1-D slice along y (Fig. 3).

    Parameters
    ----------
    psf_row : ndarray, shape (n_voxels,)
        ``PSF(n1, :)`` from :func:`skysense.imaging.psf`.
    scenario : Scenario
        Gives the grid and axes (a 3-D grid is shown in the layer of ``n1``).
    n1 : int
        Voxel index of the row.
    path : str or Path
        Output PNG.
    """
    plt = _pyplot()
    nx, ny, nz = scenario.grid_shape
    ix, _, iz = np.unravel_index(n1, (nx, ny, nz))
    image = np.asarray(psf_row).reshape(nx, ny, nz)[:, :, iz]
    xs, ys, _ = scenario.axis_centers()
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4.2))
    d0 = scenario.voxel_size_m
    extent = (ys[0] - d0 / 2, ys[-1] + d0 / 2, xs[-1] + d0 / 2, xs[0] - d0 / 2)
    im = ax0.imshow(image, extent=extent, cmap="viridis", vmin=0, vmax=1)
    ax0.set(xlabel="y [m]", ylabel="x [m]", title=f"PSF of voxel n1 = {n1} (a)")
    fig.colorbar(im, ax=ax0, label="PSF")
    ax1.plot(ys, image[ix], marker=".")
    ax1.set(xlabel="y [m]", ylabel="PSF", ylim=(0, 1.05), title=f"slice x = {xs[ix]:.1f} m (b)")
    ax1.grid(alpha=0.3)
    fig.suptitle(
        f"N0 = {scenario.n_antennas_side}, d0 = {d0} m, mode {scenario.mode}, "
        f"N_f = {scenario.n_subcarriers}"
    )
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
