"""Outliers of IFFT-C2VNN (ToA error above one cell 1/(N df)) with and without its path-count
classifier, default ``Scenario()`` and geometry, 0 / 10 / 20 / 30 dB.

Usage::

    python examples/c2vnn_outliers.py [--draws 300] [--seed 20261206] [--counter PATH]

Draws per SNR use ``numpy.random.default_rng([seed, snr])``; both estimators see the same
CSIs. Paths are matched as in the bistatic experiments (optimal assignment). Needs torch.
"""

import argparse

import numpy as np
import torch

from skysense import bistatic as bs
from skysense.experiments.bistatic._common import matched_errors
from skysense.learn import IfftC2vnn, load_checkpoint

N_PATHS = 4


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=300)
    parser.add_argument("--seed", type=int, default=20261206)
    parser.add_argument("--counter", help="a count-classifier checkpoint instead of the shipped")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    sc = bs.Scenario()
    plain = IfftC2vnn.load_default(count_paths=False)
    if args.counter:
        counted = IfftC2vnn(plain.model, counter=load_checkpoint(args.counter).model)
    else:
        counted = IfftC2vnn.load_default()
    for snr_db in (0.0, 10.0, 20.0, 30.0):
        rng = np.random.default_rng([args.seed, int(snr_db)])
        draws = [bs.random_paths(sc, rng=rng) for _ in range(args.draws)]
        csi = np.stack([bs.simulate(sc, p, snr_db, rng=rng).csi[0] for p in draws])
        cols = []
        for name, est in (("one path per peak", plain), ("path count", counted)):
            e = est.estimate(csi, N_PATHS, workers=1)
            err = [
                matched_errors(
                    bs.Estimate(e.toa_s[i], e.aoa_rad[i], e.aod_rad[i], e.gain[i], N_PATHS), p, sc
                )
                for i, p in enumerate(draws)
            ]
            toa = np.abs(np.concatenate([x["toa"] for x in err]))
            aoa = np.abs(np.concatenate([x["aoa"] for x in err]))
            cols.append(
                f"{name}: outliers {100 * np.mean(toa > 1):4.1f} % (median |AoA| "
                f"{np.median(aoa):.4f} rad, |ToA| {np.median(toa):.4f} cells)"
            )
        print(f"{snr_db:4.0f} dB  " + "  ".join(cols), flush=True)


if __name__ == "__main__":
    main()
