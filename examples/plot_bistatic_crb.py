"""
PARAMING against the Cramér-Rao bound
=====================================

A bistatic link (8-antenna transmitter, 10-antenna receiver, 64 subcarriers at 30 GHz) sees
the line of sight and three targets. PARAMING (the bistatic paper's parametric estimator,
eqs. (26)-(43)) estimates every path's angle of arrival, angle of departure and delay from one
CSI matrix; its mean squared AoA error is compared with the Cramér-Rao bound of the same draws.
Orthogonal pilots, 20 draws per SNR (a few seconds in all).
"""

import matplotlib.pyplot as plt
import numpy as np
from scipy.optimize import linear_sum_assignment

from skysense import bistatic as bs

sc = bs.Scenario()
snrs_db = np.arange(-5, 31, 5)
n_draws = 20
# The same 20 geometries at every SNR (common random numbers: the curves differ by the noise
# only); orthogonal pilots make the bound independent of the pilot draw, and for fixed paths it
# scales exactly as 1/SNR, so it is computed once per geometry, at 0 dB.
geometries = [bs.random_paths(sc, rng=rng) for rng in np.random.default_rng(0).spawn(n_draws)]
pilots = bs.simulate(sc, geometries[0], snr_db=0.0, rng=0, pilots="orthogonal").pilots[0]
bound_0db = np.mean([bs.crb(sc, paths, 0.0, pilots=pilots).aoa_var_rad2 for paths in geometries])
noise = np.random.default_rng(1)
mse = np.zeros(len(snrs_db))
for i, snr_db in enumerate(snrs_db):
    errors = []
    for paths in geometries:
        m = bs.simulate(sc, paths, snr_db=float(snr_db), rng=noise, pilots="orthogonal")
        est = bs.paraming(m.csi[0], paths.n_paths, scenario=sc)
        # match estimated to true paths (the estimator returns them in its own order)
        rows, cols = linear_sum_assignment(np.abs(est.aoa_rad[:, None] - paths.aoa_rad[None, :]))
        errors.append((est.aoa_rad[rows] - paths.aoa_rad[cols]) ** 2)
    mse[i] = np.mean(errors)
bound = bound_0db * 10 ** (-snrs_db / 10)

# %%
fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
ax.semilogy(snrs_db, mse, "o-", label=f"PARAMING ({n_draws} draws x 4 paths per SNR)")
ax.semilogy(snrs_db, bound, "k--", label="CRB")
ax.set(xlabel="SNR [dB]", ylabel="AoA MSE [rad$^2$]", title="AoA accuracy of PARAMING")
ax.grid(True, which="both", alpha=0.3)
ax.legend()
plt.show()
