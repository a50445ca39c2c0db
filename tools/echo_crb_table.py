"""Monostatic echo estimator against its CRB: empirical MSE / CRB of delay, azimuth and
elevation at 10, 20 and 30 dB on two UPA sizes (docs/pipeline.md, "Monostatic front end").

Run from the repository root: ``python tools/echo_crb_table.py [--trials 300] [--seed 19]``.
One panel, two echoes three delay cells apart, 0.65 rad apart in azimuth and 0.4 rad in
elevation, gains 1 and 0.5 (-6 dB); SNR is per CSI entry for a unit gain (``snr_db`` of
``MonostaticChannel``). Prints one row per (size, SNR, estimator) with the ratio of each
echo's MSE to its CRB.
"""

import argparse
import time

import numpy as np

from skysense.pipeline import MonostaticChannel, estimate_monostatic, monostatic_crb
from skysense.pipeline.monostatic_front_end import _cosines, _panel_csi

SIZES = ((8, 8, 64), (5, 7, 31))
SNRS_DB = (10.0, 20.0, 30.0)


def run(trials: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    print("size       SNR  estimator   MSE/CRB delay     azimuth        elevation    ms/CSI")
    for size in SIZES:
        ch = MonostaticChannel(
            n_horizontal=size[0],
            n_vertical=size[1],
            n_subcarriers=size[2],
            panel_azimuths_rad=(0.0,),
        )
        tau = np.array([0.2, 0.2 + 3.0 / size[2]]) / ch.subcarrier_spacing_hz
        az, el = np.array([-0.35, 0.3]), np.array([0.15, -0.25])
        g = np.array([1.0, 0.5j])
        ux, uy = _cosines(az, el, np.float64(0.0))
        h0 = _panel_csi(ch, tau, ux, uy, g)
        for snr in SNRS_DB:
            var = 10 ** (-snr / 10)
            crb = monostatic_crb(ch, tau, az, el, g, panel_azimuth_rad=0.0, noise_var=var)
            bound = np.array([np.diag(c) for c in crb])
            noise = np.sqrt(var / 2) * (
                rng.standard_normal((trials, *h0.shape))
                + 1j * rng.standard_normal((trials, *h0.shape))
            )
            csi = (h0 + noise)[:, None]
            for refine in (True, False):
                t0 = time.process_time()
                m = estimate_monostatic(csi, [0.0, 0.0, 0.0], ch, n_paths=2, refine=refine)
                ms = 1e3 * (time.process_time() - t0) / trials
                ok = m.n_measurements == 2
                err = np.stack(
                    [
                        np.stack(
                            [
                                m.delay_s[t] - tau,
                                np.angle(np.exp(1j * (m.azimuth_rad[t] - az))),
                                m.elevation_rad[t] - el,
                            ],
                            axis=1,
                        )
                        for t in np.flatnonzero(ok)
                    ]
                )
                ratio = np.mean(err**2, axis=0) / bound  # (echo, parameter)
                cells = "  ".join(f"{ratio[0, k]:5.2f}/{ratio[1, k]:5.2f}" for k in range(3))
                name = "pencil+ML" if refine else "pencil"
                print(
                    f"{size[0]}x{size[1]}x{size[2]:<3} {snr:4.0f}  {name:<10}  {cells}  {ms:6.2f}"
                    + ("" if ok.all() else f"  ({(~ok).sum()} trials lost an echo)")
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--seed", type=int, default=19)
    args = parser.parse_args()
    run(args.trials, args.seed)
