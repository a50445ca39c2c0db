"""
Mapping building facades from one base station
==============================================

A UAV flies a 300-epoch path through five buildings. Base station 1 sees each facade through
two kinds of multipath: bistatic (BS -> facade -> UAV, a range per path) and monostatic
(its own echo off the facade). Each facade is a virtual anchor (VA): the BS mirrored in the
facade plane. Scheme II of the mapping paper (``"fusion3"``: bistatic then monostatic update
per epoch) estimates the VAs with a particle sum-product algorithm; ``docs/mapping_model.md``
states the model. 1,000 particles per VA here (the experiments use 2,000).
"""

import matplotlib.pyplot as plt
import numpy as np

from skysense.mapping import Mapper, MappingParams, default_scene, simulate, trace
from skysense.metrics import ospa_per_epoch

scene = default_scene()
bs_index = 0
(data,) = simulate(scene, rng=1, bs_indices=[bs_index])
result = Mapper("fusion3", MappingParams(n_particles=1000)).run(data, rng=0)
truth = trace(scene, bs_index).va_positions_m
error_m = ospa_per_epoch(result.estimates_m, data, cutoff_m=10.0, order=2)

# %%
# Left: the scene from above with the true and estimated VAs of the last epoch. Right: the OSPA
# distance (cut-off 10 m, order 2) between the estimates and the VAs seen so far, per epoch.
# The step near epoch 180 is the facade at y = -90 m (class B: bistatic link only) entering the
# set of VAs seen so far without being found: one VA of four missing costs sqrt(10^2 / 4) = 5 m.
fig, (ax, ax_err) = plt.subplots(1, 2, figsize=(10, 4.5), constrained_layout=True)
for point, tangent, half in zip(
    scene.facade_points_m, scene.facade_tangents, scene.facade_half_widths_m, strict=True
):
    ends = np.array([point - half * tangent, point + half * tangent])
    ax.plot(ends[:, 0], ends[:, 1], color="0.4", lw=2)
ax.plot(scene.trajectory_m[:, 0], scene.trajectory_m[:, 1], color="C0", lw=1, label="UAV path")
bs_xy = scene.base_stations_m[bs_index]
ax.plot(bs_xy[0], bs_xy[1], "k^", ms=9, label="BS 1")
ax.plot(truth[:, 0], truth[:, 1], "o", mfc="none", mec="red", ms=12, label="true VAs")
final = np.asarray(result.estimates_m[-1]).reshape(-1, 3)
ax.plot(final[:, 0], final[:, 1], "x", color="k", ms=9, label="estimated VAs")
ax.set(xlabel="x [m]", ylabel="y [m]", title="scene (grey: facades) and VAs", aspect="equal")
ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)

ax_err.plot(np.arange(len(error_m)), error_m)
ax_err.set(xlabel="epoch", ylabel="OSPA [m]", title="Scheme II, BS 1", ylim=(0, 10.5))
ax_err.grid(True, alpha=0.3)
plt.show()
