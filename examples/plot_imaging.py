"""
Imaging UAVs with four base stations
====================================

Six UAVs fly in a 120 m x 120 m region at 40 m height, seen by four base stations (4 x 4
UPAs, one subcarrier at 2.6 GHz, the imaging paper's 2-D setting of Sec. V-B). The sensing
matrix ``A`` maps the voxel image to the stacked CSI of every BS pair (eq. (14)); here it is
never formed: :class:`~skysense.imaging.SensingOperator` applies it and its adjoint.

Back-projection ``A^H y`` is the matched filter (its blur is the point spread function of
eq. (16)); subspace pursuit (Algorithm 1) recovers a sparse image on the grid.
"""

import matplotlib.pyplot as plt
import numpy as np

from skysense.imaging import Scenario, SensingOperator, simulate, subspace_pursuit

scenario = Scenario(n_antennas_side=4)
op = SensingOperator(scenario, np.complex64)
batch = simulate(scenario, 1, 6, rng=7)  # one frame, six on-grid UAVs
y = batch.measurements

backprojection = np.abs(op.rmatvec(y))[0]
sp = subspace_pursuit(op, y, 6, gram=op.gram(), threshold="max/5")
sparse = np.abs(sp.image)[0]

# %%
# Both images on one colour scale in dB relative to their own peak, x to the right and y up
# (voxels are C-ordered over (x, y): a flat image reshapes to ``grid_shape`` with x first).
nx, ny, _ = scenario.grid_shape
x_m, y_m, _ = scenario.axis_centers_m()
extent = (x_m[0], x_m[-1], y_m[0], y_m[-1])
truth = batch.positions_m[0]

fig, axes = plt.subplots(1, 2, figsize=(9, 4), constrained_layout=True)
for ax, image, title in zip(
    axes, (backprojection, sparse), ("back-projection $A^H y$", "subspace pursuit"), strict=True
):
    db = 20 * np.log10(np.maximum(image / image.max(), 1e-3))
    im = ax.imshow(
        db.reshape(nx, ny).T, origin="lower", extent=extent, vmin=-30, vmax=0, cmap="viridis"
    )
    ax.scatter(
        truth[:, 0],
        truth[:, 1],
        marker="o",
        s=80,
        facecolors="none",
        edgecolors="red",
        label="true UAVs",
    )
    ax.set(title=title, xlabel="x [m]", ylabel="y [m]")
fig.colorbar(im, ax=axes, label="|image| [dB re peak]")
axes[0].legend(loc="upper left", bbox_to_anchor=(0.0, -0.15), frameon=False)
plt.show()
