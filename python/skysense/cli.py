"""Command-line entry point: ``skysense demo``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["main"]


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def demo(out_dir: Path, n_frames: int, seed: int, n_antennas_side: int) -> dict:
    """Small end-to-end run on the paper's default 2D scenario; returns the numbers printed."""
    from skysense.imaging import (
        Scenario,
        SensingOperator,
        max_sidelobe,
        psf,
        sensing_matrix,
        simulate,
    )
    from skysense.plotting import plot_psf

    scenario = Scenario(n_antennas_side=n_antennas_side)
    nx, ny, nz = scenario.grid_shape
    print(
        f"scenario: {scenario.n_bs} BSs, {scenario.n_antennas_side}x{scenario.n_antennas_side} "
        f"UPAs, mode {scenario.mode}, ROI {nx}x{ny}x{nz} voxels of {scenario.voxel_size_m} m, "
        f"P_s = {scenario.sensing_power_dbm} dBm"
    )
    a, t_dense = _timed(sensing_matrix, scenario)
    print(
        f"sensing matrix A: {a.shape[0]} x {a.shape[1]} complex128, "
        f"{a.nbytes / 2**20:.1f} MiB, assembled in {1e3 * t_dense:.1f} ms"
    )
    op, t_op = _timed(SensingOperator, scenario)
    print(
        f"matrix-free operator: {op.memory_usage() / 2**20:.2f} MiB, built in {1e3 * t_op:.1f} ms"
    )

    results = {"shape": a.shape, "t_dense_s": t_dense}
    for off_grid in (False, True):
        batch, t_sim = _timed(simulate, scenario, n_frames, 6, off_grid=off_grid, seed=seed)
        image, t_bp = _timed(op.rmatvec, batch.y)
        # fraction of UAV voxels among the 6 strongest back-projection voxels per frame
        top = np.argsort(-np.abs(image), axis=1)[:, :6]
        hits = np.mean([np.isin(batch.voxel_indices[n], top[n]).mean() for n in range(n_frames)])
        kind = "off-grid" if off_grid else "on-grid"
        print(
            f"{kind:>8}: simulated {n_frames} frames x 6 UAVs in {1e3 * t_sim:.1f} ms; "
            f"A^H y in {1e3 * t_bp / n_frames:.2f} ms/frame; "
            f"UAV voxels among the 6 strongest A^H y voxels: {100 * hits:.0f}%"
        )
        results[f"bp_hits_{kind}"] = hits

    centre = np.ravel_multi_index((nx // 2, ny // 2, nz // 2), (nx, ny, nz))
    sidelobes, t_psf = _timed(max_sidelobe, op)
    print(
        f"PSF max sidelobe P(n1): mean {sidelobes.mean():.3f}, centre voxel {sidelobes[centre]:.3f}, "
        f"min {sidelobes.min():.3f}, max {sidelobes.max():.3f} ({1e3 * t_psf:.0f} ms)"
    )
    figure = plot_psf(psf(op, [centre])[0], scenario, centre, out_dir / "psf.png")
    print(f"wrote {figure}")
    results["sidelobe_mean"] = float(sidelobes.mean())
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="skysense", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="small end-to-end imaging demo on the paper's defaults")
    p_demo.add_argument("--out", type=Path, default=Path("skysense-out"), help="output folder")
    p_demo.add_argument("--frames", type=int, default=8, help="frames to simulate")
    p_demo.add_argument("--seed", type=int, default=0, help="random seed")
    p_demo.add_argument("--n0", type=int, default=4, help="UPA side N0")
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.frames < 1:
            parser.error("--frames must be >= 1")
        demo(args.out, args.frames, args.seed, args.n0)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
