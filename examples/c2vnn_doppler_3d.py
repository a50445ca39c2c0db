"""Doppler MAE of the lightweight IFFT-C2VNN variant (with and without the path count) against
a 3-D model, on resolvable paths and on the default geometry (the evidence for retiring the
shipped 3-D model, ``docs/bistatic.md``).

Usage::

    git show dbf5297:python/skysense/learn/weights/c2vnn3d.pt > c2vnn3d.pt
    python examples/c2vnn_doppler_3d.py c2vnn3d.pt [--draws 60] [--seed 5]

Default ``Scenario()``, LoS + 3 targets up to 30 m/s, 10 sub-frames, orthogonal pilots, paths
in ToA order; draws per SNR from ``numpy.random.default_rng([seed, snr])``. Needs torch.
"""

import argparse

import numpy as np
import torch

from skysense import bistatic as bs
from skysense.learn import IfftC2vnn

N_PATHS = 4


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_3d", help="checkpoint of a 3-D model (S = 10)")
    parser.add_argument("--draws", type=int, default=60)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    sc = bs.Scenario()
    models = {
        "lightweight": IfftC2vnn.load_default(),
        "lightweight, one path per peak": IfftC2vnn.load_default(count_paths=False),
        "3-D": IfftC2vnn.from_checkpoint(args.model_3d),
    }
    for geometry in ("resolvable", "default"):
        sep = {"min_toa_separation_s": 2.5 * sc.toa_resolution_s}
        kw = sep if geometry == "resolvable" else {}
        for snr_db in (0.0, 10.0, 20.0, 30.0):
            rng = np.random.default_rng([args.seed, int(snr_db)])
            err = {k: [] for k in models}
            for _ in range(args.draws):
                paths = bs.random_paths(sc, rng=rng, max_speed_mps=30.0, **kw)
                csi = bs.simulate(sc, paths, snr_db, rng=rng, n_subframes=10, pilots="orthogonal")
                for k, est in models.items():
                    dop = est.estimate(csi.csi, N_PATHS, subframes=True).doppler_hz
                    err[k].append(np.abs(dop - paths.doppler_hz))
            cols = (f"{k} {np.mean(e):.1f} ({np.median(e):.1f})" for k, e in err.items())
            print(f"{geometry:10} {snr_db:4.0f} dB  MAE (median) [Hz]: " + ", ".join(cols))


if __name__ == "__main__":
    main()
