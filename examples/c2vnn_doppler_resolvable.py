"""Doppler MAE of PARAMING, the lightweight IFFT-C2VNN variant and a 3-D model on resolvable
paths (delays at least 2.5 / (N df) apart, so no two paths share a delay peak).

Usage::

    python examples/c2vnn_doppler_resolvable.py [--draws 50] [--seed 3] [--model-3d PATH]

No 3-D model is shipped (``docs/bistatic.md``); the retired one is in git history:
``git show dbf5297:python/skysense/learn/weights/c2vnn3d.pt > c2vnn3d.pt``.

Default ``Scenario()``, LoS + 3 targets up to 30 m/s, 10 sub-frames, orthogonal pilots, paths
in ToA order (as ``skysense reproduce bistatic-doppler``). Needs torch.
"""

import argparse

import numpy as np
import torch

from skysense import bistatic as bs
from skysense.learn import IfftC2vnn

N_PATHS = 4
N_SUBFRAMES = 10


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=50)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--model-3d", help="checkpoint of a 3-D model (S = 10) to compare")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    sc = bs.Scenario()
    lightweight = IfftC2vnn.load_default()
    methods = {
        "paraming": lambda c: bs.paraming(c, N_PATHS, scenario=sc, subframes=True, workers=1),
        "ifft_c2vnn": lambda c: lightweight.estimate(c, N_PATHS, subframes=True),
    }
    if args.model_3d:
        model_3d = IfftC2vnn.from_checkpoint(args.model_3d)
        methods["ifft_c2vnn_3d"] = lambda c: model_3d.estimate(c, N_PATHS, subframes=True)
    for snr_db in (0.0, 10.0, 20.0, 30.0):
        rng = np.random.default_rng(args.seed)
        err = {m: [] for m in methods}
        for _ in range(args.draws):
            paths = bs.random_paths(
                sc, rng=rng, max_speed_mps=30.0, min_toa_separation_s=2.5 * sc.toa_resolution_s
            )
            csi = bs.simulate(
                sc, paths, snr_db, rng=rng, n_subframes=N_SUBFRAMES, pilots="orthogonal"
            ).csi
            for m, fn in methods.items():
                err[m].append(np.abs(fn(csi).doppler_hz - paths.doppler_hz))
        cols = (f"{m} MAE {np.mean(e):.1f} (median {np.median(e):.1f})" for m, e in err.items())
        print(f"{snr_db:4.0f} dB  " + "  ".join(cols) + " [Hz]")


if __name__ == "__main__":
    main()
