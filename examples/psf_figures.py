"""Reproduce the PSF and off-grid trends of Huang et al., IEEE TWC 2026, Figs. 3-5.

Usage::

    python examples/psf_figures.py --out DIR [--seed 0] [--max-n1 400]

Writes ``fig3_psf.png``, ``fig4a_antennas.png``, ``fig4b_voxel_roi.png``,
``fig4c_subcarriers.png`` and ``fig5_offgrid.png`` to ``DIR`` and prints the numbers.

Setting: the paper's 2D scenario of Sec. V-B1 (4 BSs on a 140 m square at 20 m, ROI
120 m x 120 m at 40 m, d0 = 3 m, 40 x 40 voxels, mode A, one subcarrier at 2.6 GHz, 4 x 4
UPAs) unless a panel varies a parameter. Fig. 4(c) keeps this 2D setting, as the paper
states for its PSF analysis, with N_f subcarriers on the centred grid ``f0 + (n - (N_f-1)/2) B/N_f``.

P(n1) = max_{n2 != n1} PSF(n1, n2) is reported two ways: its mean over n1 (all voxels, or
``--max-n1`` random voxels on grids larger than that) and at the centre voxel (the voxel
containing the ROI centre). Fig. 3 shows n1 = 800 in the paper's 1-based numbering, i.e.
index 799 here: with the x-major voxel order that voxel lies mid-edge (x = -1.5 m,
y = 58.5 m), not at the centre. Every PSF is computed from ``SensingOperator.gram`` (the
Hadamard form of A^H A), so dense A (> 1 GB at N0 = 8) is never formed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from skysense.imaging import Scenario, SensingOperator, max_sidelobe, offgrid_error, psf

PAPER_N1 = 800  # Fig. 3(b), 1-based as in the authors' MATLAB code
GRAM_BYTES = 512 * 2**20  # per Gram block of max_sidelobe
FULL_GRID = 1600  # grids up to this size average P(n1) over every voxel


def base_scenario() -> Scenario:
    """The paper's 2D setting (Sec. V-B1) with 4 x 4 UPAs."""
    return Scenario(n_antennas_side=4, voxel_size_m=3.0, roi_size_m=(120.0, 120.0, 0.0))


def centre_voxel(scenario: Scenario) -> int:
    """Index of the voxel containing the ROI centre."""
    return int(scenario.voxel_index(np.asarray(scenario.roi_center_m)))


def sidelobe_stats(scenario, *, rng, max_n1):
    """Mean of P(n1) over voxels and P at the centre voxel.

    Parameters
    ----------
    scenario : Scenario
    rng : numpy.random.Generator
        Draws the ``max_n1`` voxels averaged over when the grid has more voxels.
    max_n1 : int
        Grids with more than ``max(max_n1, FULL_GRID)`` voxels use ``max_n1`` random n1
        (plus the centre voxel) instead of all of them.

    Returns
    -------
    mean_p : float
        Mean of P(n1) (linear, in [0, 1]).
    centre_p : float
        P at :func:`centre_voxel`.
    n_used : int
        Number of n1 averaged over.
    """
    op = SensingOperator(scenario)
    n_vox = scenario.n_voxels
    centre = centre_voxel(scenario)
    if n_vox <= max(max_n1, FULL_GRID):
        cols = np.arange(n_vox)
    else:
        cols = np.union1d(rng.choice(n_vox, size=max_n1, replace=False), [centre])
    # Chunk so that the (n_voxels, chunk) Gram blocks stay near GRAM_BYTES in total.
    chunk = int(max(16, min(512, GRAM_BYTES // (16 * n_vox * (scenario.n_bs + 1)))))
    p = max_sidelobe(op, cols, chunk_size=chunk)
    return float(p.mean()), float(p[np.searchsorted(cols, centre)]), cols.size


def fig3(out_dir, scenario):
    """PSF(n1 = 800, :) as a 40 x 40 image, its 1D slice, and the full PSF matrix."""
    op = SensingOperator(scenario)
    n1 = PAPER_N1 - 1
    full = psf(op)  # (1600, 1600)
    row = full[n1]
    nx, ny, _ = scenario.grid_shape
    xs, ys, _ = scenario.axis_centers_m()
    d0 = scenario.voxel_size_m
    extent = (xs[0] - d0 / 2, xs[-1] + d0 / 2, ys[0] - d0 / 2, ys[-1] + d0 / 2)

    fig = Figure(figsize=(15, 4.6), layout="constrained")
    ax_full, ax_img, ax_cut = fig.subplots(1, 3, width_ratios=[1, 1, 1.3])
    im = ax_full.imshow(full, cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    ax_full.axhline(n1, color="tab:blue", lw=1.0)
    ax_full.set(
        title="(a) PSF(n1, n2), all 1600 voxels",
        xlabel="n2 (voxel index)",
        ylabel="n1 (voxel index)",
    )
    fig.colorbar(im, ax=ax_full, label="PSF")

    # Voxels are x-major (C order over (x, y)): transpose so that x runs horizontally.
    im = ax_img.imshow(
        row.reshape(nx, ny).T,
        origin="lower",
        cmap="viridis",
        vmin=0,
        vmax=1,
        extent=extent,
        interpolation="nearest",
    )
    px, py, _ = scenario.voxel_centers_m()[n1]
    ax_img.plot(px, py, "r+", ms=10)
    ax_img.set(
        title=f"(b) PSF(n1={PAPER_N1}, n2) as {nx} x {ny} image (+: n1)",
        xlabel="x [m]",
        ylabel="y [m]",
    )
    fig.colorbar(im, ax=ax_img, label="PSF")

    masked = row.copy()
    masked[n1] = np.nan
    ax_cut.plot(np.arange(row.size), row, color="tab:blue", lw=0.8)
    ax_cut.axhline(
        np.nanmax(masked), color="tab:red", ls="--", lw=1, label=f"P(n1) = {np.nanmax(masked):.3f}"
    )
    ax_cut.set(
        title=f"(c) 1D slice, n1 = {PAPER_N1} (blue line in (a))",
        xlabel="n2 (voxel index)",
        ylabel="PSF(n1, n2)",
        ylim=(0, 1.05),
    )
    ax_cut.legend(loc="upper right")
    fig.suptitle(
        f"Fig. 3: PSF, 2D ROI, N0 = {scenario.n_antennas_side}, d0 = {d0:g} m, "
        f"mode {scenario.mode}, N_f = 1 (voxel n1 = {PAPER_N1} is at x = {px:.1f} m, "
        f"y = {py:.1f} m)"
    )
    fig.savefig(out_dir / "fig3_psf.png", dpi=110)
    return {"P(800)": float(np.nanmax(masked)), "mean PSF": float(np.nanmean(masked))}


def _sweep_plot(path, title, xlabel, x, curves, *, xscale="linear", ylabel="P(n1)", note=None):
    """Mean (solid) and centre-voxel (dashed) P(n1) for several curves."""
    fig = Figure(figsize=(6.4, 4.6), layout="constrained")
    ax = fig.subplots()
    for i, (label, (mean_p, centre_p)) in enumerate(curves.items()):
        color = f"C{i}"
        ax.plot(x, mean_p, "o-", color=color, label=f"{label}: mean over n1")
        ax.plot(x, centre_p, "s--", color=color, mfc="none", label=f"{label}: centre voxel")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, xscale=xscale)
    ax.set_xticks(x, [f"{v:g}" for v in x])
    ax.minorticks_off()
    ax.grid(alpha=0.3)
    if note:
        ax.text(0.98, 0.98, note, transform=ax.transAxes, ha="right", va="top", fontsize=7.5)
    ax.legend(fontsize=7.5, ncol=1 if len(curves) < 3 else 2)
    fig.savefig(path, dpi=110)


def fig4a(out_dir, base, rng, max_n1):
    """P(n1) vs N0 for several antenna spacings xi."""
    n0s, xis = list(range(2, 9)), [1.0, 2.0, 4.0]
    res = {}
    for xi in xis:
        stats = [
            sidelobe_stats(
                base.replace(n_antennas_side=n0, spacing_factor=xi), rng=rng, max_n1=max_n1
            )[:2]
            for n0 in n0s
        ]
        res[f"xi = {xi:g}"] = tuple(np.array(v) for v in zip(*stats, strict=True))
    _sweep_plot(
        out_dir / "fig4a_antennas.png",
        "Fig. 4(a): P(n1) vs UPA size (2D ROI, d0 = 3 m, N_f = 1)",
        "N0 (N0 x N0 antennas per BS)",
        n0s,
        res,
    )
    return n0s, res


def fig4b(out_dir, base, rng, max_n1):
    """P(n1) vs voxel size d0 for several ROI sizes."""
    d0s, rois = [1.0, 2.0, 3.0, 4.0, 5.0], [60.0, 120.0, 180.0]
    res = {}
    for roi in rois:
        stats = [
            sidelobe_stats(
                base.replace(roi_size_m=(roi, roi, 0.0), voxel_size_m=d0), rng=rng, max_n1=max_n1
            )[:2]
            for d0 in d0s
        ]
        res[f"ROI {roi:g} m"] = tuple(np.array(v) for v in zip(*stats, strict=True))
    _sweep_plot(
        out_dir / "fig4b_voxel_roi.png",
        f"Fig. 4(b): P(n1) vs voxel size (N0 = {base.n_antennas_side}, N_f = 1)",
        "voxel size d0 [m]",
        d0s,
        res,
        note="centre-voxel curves of grids with equal parity coincide",
    )
    return d0s, res


def fig4c(out_dir, base, rng, max_n1):
    """P(n1) vs number of subcarriers for several bandwidths."""
    nfs, bws = [1, 2, 4, 8, 16, 32], [10e6, 40e6, 100e6]
    res = {}
    for bw in bws:
        stats = [
            sidelobe_stats(base.replace(n_subcarriers=nf, bandwidth_hz=bw), rng=rng, max_n1=max_n1)[
                :2
            ]
            for nf in nfs
        ]
        res[f"B = {bw / 1e6:g} MHz"] = tuple(np.array(v) for v in zip(*stats, strict=True))
    _sweep_plot(
        out_dir / "fig4c_subcarriers.png",
        f"Fig. 4(c): P(n1) vs subcarriers (2D ROI, N0 = {base.n_antennas_side}, d0 = 3 m)",
        "number of subcarriers N_f",
        nfs,
        res,
        xscale="log",
    )
    return nfs, res


def fig5(out_dir, scenario, rng, n_draws=200):
    """Delta b [dB] vs Delta p for random voxels and horizontal directions."""
    dps = np.logspace(-4, 0, 17)
    centres = scenario.voxel_centers_m()
    vox = rng.integers(scenario.n_voxels, size=(dps.size, n_draws))
    phi = rng.uniform(0, 2 * np.pi, size=(dps.size, n_draws))
    offsets = dps[:, None, None] * np.stack([np.cos(phi), np.sin(phi), np.zeros_like(phi)], -1)
    points = (centres[vox] + offsets).reshape(-1, 3)
    err = offgrid_error(scenario, points)
    delta_b, delta_p = err.steering_error, err.offset_m
    db = 10 * np.log10(delta_b).reshape(dps.size, n_draws)
    if not np.allclose(delta_p.reshape(dps.size, n_draws), dps[:, None]):
        raise RuntimeError("a shifted point left its voxel")
    lo, med, hi = np.percentile(db, [10, 50, 90], axis=1)

    fig = Figure(figsize=(6.4, 4.6), layout="constrained")
    ax = fig.subplots()
    ax.fill_between(dps, lo, hi, alpha=0.25, label="10-90 % over voxels and directions")
    ax.plot(dps, med, "o-", label="median")
    ax.axhline(-10, color="k", ls=":", lw=1, label="-10 dB")
    ax.axvline(1e-3, color="tab:red", ls="--", lw=1, label="Delta p = 1 mm")
    ax.set(
        xscale="log",
        xlabel="location discrepancy Delta p [m]",
        ylabel="off-grid error Delta b [dB] (10 log10)",
        title=f"Fig. 5: Delta b vs Delta p (2D ROI, N0 = {scenario.n_antennas_side}, "
        f"d0 = {scenario.voxel_size_m:g} m)",
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.savefig(out_dir / "fig5_offgrid.png", dpi=110)
    return dps, med


def _print_sweep(name, xlabel, xs, res):
    print(f"\n{name}: P(n1) mean over n1 / centre voxel")
    print(f"  {xlabel:>8} " + " ".join(f"{k:>19}" for k in res))
    for i, x in enumerate(xs):
        print(f"  {x:>8g} " + " ".join(f"{m[i]:>9.3f} / {c[i]:.3f}" for m, c in res.values()))


def _trend(res, decreasing=True):
    """Whether every mean curve is monotone (within 0.005)."""
    ok = True
    for mean_p, _ in res.values():
        d = np.diff(mean_p)
        ok &= bool(np.all(d <= 5e-3)) if decreasing else bool(np.all(d >= -5e-3))
    return ok


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output directory for the PNGs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random voxel draws")
    parser.add_argument(
        "--max-n1",
        type=int,
        default=400,
        help=f"random n1 averaged over on grids above {FULL_GRID} voxels",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    max_n1 = args.max_n1
    base = base_scenario()
    t0 = time.perf_counter()

    f3 = fig3(args.out, base)
    print(
        f"Fig. 3 (N0 = 4, 40 x 40): P(n1 = 800) = {f3['P(800)']:.3f}, "
        f"mean sidelobe level of that row = {f3['mean PSF']:.3f}"
    )
    base_mean, base_centre, _ = sidelobe_stats(base, rng=rng, max_n1=max_n1)
    print(
        f"  base scenario: mean P(n1) = {base_mean:.3f}, centre voxel "
        f"{centre_voxel(base)}: P = {base_centre:.3f}"
    )

    n0s, a = fig4a(args.out, base, rng, max_n1)
    _print_sweep("Fig. 4(a)", "N0", n0s, a)
    d0s, b = fig4b(args.out, base, rng, max_n1)
    _print_sweep(f"Fig. 4(b) (grids > {FULL_GRID} voxels: {max_n1} random n1)", "d0 [m]", d0s, b)
    nfs, c = fig4c(args.out, base, rng, max_n1)
    _print_sweep("Fig. 4(c)", "N_f", nfs, c)
    dps, med = fig5(args.out, base, rng)
    print("\nFig. 5: median Delta b [dB] vs Delta p [m]")
    print("  " + "  ".join(f"{p:.0e}:{m:6.1f}" for p, m in zip(dps[::2], med[::2], strict=True)))
    cross = np.interp(-10.0, med, dps)
    print(f"  median Delta b reaches -10 dB at Delta p = {cross * 1e3:.2f} mm")

    xi_means = np.array([m for m, _ in a.values()])
    c_means = {k: m for k, (m, _) in c.items()}
    below_sat = dps <= 1e-2
    checks = {
        "P falls with N0 (every xi)": _trend(a),
        "P falls with xi (every N0)": bool(np.all(np.diff(xi_means, axis=0) <= 5e-3)),
        "P falls with d0 (every ROI)": _trend(b),
        "P falls with N_f (every B)": _trend(c),
        "P saturates in N_f at B = 10, 40 MHz (|P(32) - P(16)| < 0.005)": all(
            abs(c_means[k][-1] - c_means[k][-2]) < 5e-3 for k in ("B = 10 MHz", "B = 40 MHz")
        ),
        "P falls with B at N_f >= 2": bool(
            np.all(np.diff(np.array(list(c_means.values()))[:, 1:], axis=0) < 0)
        ),
        "Delta b grows with Delta p (<= 1 cm)": bool(np.all(np.diff(med[below_sat]) > 0)),
        "Delta b saturates near sqrt(2) = +1.5 dB (>= 3 cm)": bool(
            np.all(np.abs(med[dps >= 3e-2] - 10 * np.log10(np.sqrt(2))) < 1.0)
        ),
    }
    print("\nTrend checks (mean P, tolerance 0.005):")
    for name, ok in checks.items():
        print(f"  {'yes' if ok else 'NO ':3}  {name}")
    print(
        f"\n{len(list(args.out.glob('*.png')))} PNGs in {args.out} "
        f"({time.perf_counter() - t0:.0f} s)"
    )


if __name__ == "__main__":
    main()
