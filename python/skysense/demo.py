"""``skysense demo``: the three systems end to end on small defaults, written up as one report.

Runs cooperative imaging (dense and matrix-free A, PSF, on-grid SP, the shipped learned
off-grid imager when torch is present), bistatic estimation (PARAMING, Root-MUSIC-2D, Bartlett,
IFFT-C2VNN with its shipped model; 20 draws per SNR with 95 % confidence bands, and the CRB),
environment mapping (Scheme II against monostatic-only in the README's MOSPA configuration on
BS1, with the outcome stated) and tracking of the imaged UAVs (BP against per-frame SP
detections), then writes ``report.html`` (self-contained, offline) with the
figures and a latency table into the output folder. About 25 s of CPU time on one BLAS thread
(90 s wall-clock on 2 cores shared at load 11.5).

Needs matplotlib and threadpoolctl (``pip install 'skysense[demo]'``); the learned parts run
when torch is installed and are named as skipped otherwise.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from skysense._bench import Rounds, load_average, machine, machine_summary, time_rounds
from skysense._optional import require
from skysense.experiments.runner import TrialsRng, root_seed
from skysense.report import Report

__all__ = ["run_demo"]

#: How to get torch for the learned parts: the pinned CPU wheel (an unpinned torch may pull a
#: multi-GB CUDA build).
TORCH_HINT = "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
#: Monte-Carlo draws per SNR of the bistatic curves.
BISTATIC_DRAWS = 20

_T = TypeVar("_T")
#: (system, stage, rounds) rows of the latency table: at least 5 rounds each, per unit.
Latency = list[tuple[str, str, Rounds]]
#: Mapping methods compared (Scheme II both ways, the monostatic-only baseline) and trials.
MAPPING_METHODS = ("fusion3", "fusion4", "monostatic")
MAPPING_TRIALS = 2
#: Epochs of each timed round of the mapping row.
_MAPPING_EPOCHS = 20
#: (title, image, scenario, true positions [m]) panels of the image figure.
Panels = list[tuple[str, np.ndarray, Any, np.ndarray | None]]


def _timed(fn: Callable[..., _T], *args: Any, **kwargs: Any) -> tuple[_T, float]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def _has_torch() -> bool:
    return importlib.util.find_spec("torch") is not None


def run_demo(
    out_dir: str | Path,
    *,
    n_frames: int = 8,
    rng: TrialsRng = None,
    n_antennas_side: int = 4,
    say: Callable[[str], object] = print,
) -> dict[str, Any]:
    """Run the demo; returns the headline numbers and writes ``out_dir/report.html``.

    Parameters
    ----------
    out_dir : str or Path
        Folder for the report and its PNGs (created).
    n_frames : int
        Imaging frames per case.
    rng : int, numpy.random.SeedSequence, numpy.random.Generator or None
        Root of every random draw (each system draws from its own spawned child); the CLI
        passes ``--seed``.
    n_antennas_side : int
        N0 of the imaging scenario.
    say : callable
        Progress messages (``print`` by default).

    Raises
    ------
    MissingDependencyError
        Without matplotlib or threadpoolctl: ``pip install 'skysense[demo]'`` (checked before
        anything runs).
    """
    require("matplotlib", "skysense demo", extra="demo")
    threadpoolctl = require("threadpoolctl", "skysense demo", extra="demo")

    root = root_seed(rng)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = Report(
        "skysense demo",
        intro="Cooperative ISAC imaging, bistatic parameter estimation, environment mapping "
        "and tracking of the imaged UAVs "
        f"on built-in defaults (seed {root.entropy}). Latencies are wall-clock on this machine.",
    )
    latency: Latency = []
    results: dict[str, Any] = {}
    load_before = load_average()
    steps = (
        ("imaging", _imaging),
        ("bistatic", _bistatic),
        ("mapping", _mapping),
        ("tracking", _tracking),
    )
    t_start, cpu_start = time.perf_counter(), time.process_time()
    # One BLAS thread everywhere: per-call latencies that do not depend on how busy the other
    # cores are (a BLAS pool that spins on a loaded machine made single calls 40x slower).
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        seeds = root.spawn(len(steps))
        for i, ((name, step), seed) in enumerate(zip(steps, seeds, strict=True), 1):
            say(f"[{i}/{len(steps)}] {name} ...")
            t0 = time.perf_counter()
            results[name] = step(report, out, latency, n_frames, seed, n_antennas_side, say)
            say(f"[{i}/{len(steps)}] {name} done in {time.perf_counter() - t0:.1f} s")
        record = machine()
    wall_s, cpu_s = time.perf_counter() - t_start, time.process_time() - cpu_start
    load_after = load_average()
    report.section(
        "Latency",
        f"Wall-clock time on this machine: {machine_summary(record)}; load average "
        f"(1, 5, 15 min) {load_before} before the demo and {load_after} after it. Each stage "
        "is timed over at least 5 rounds after a warm-up call; the median is the typical "
        "time, the minimum the least disturbed by other load. The whole demo took "
        f"{wall_s:.1f} s wall-clock and {cpu_s:.1f} s of CPU time in this process.",
    ).table(
        ["system", "stage", "median [ms]", "min [ms]", "rounds"],
        [
            [system, stage, 1e3 * r.median_s, 1e3 * r.min_s, r.n_rounds]
            for system, stage, r in latency
        ],
        caption="per frame (imaging, tracking), per CSI (bistatic), per epoch (mapping)",
    )
    path = report.write(out / "report.html")
    say(f"wrote {path}")
    results["report"] = str(path)
    results["latency_ms"] = {f"{s}: {st}": 1e3 * r.median_s for s, st, r in latency}
    results["latency_min_ms"] = {f"{s}: {st}": 1e3 * r.min_s for s, st, r in latency}
    results["wall_s"], results["cpu_s"] = wall_s, cpu_s
    return results


# -- imaging -------------------------------------------------------------------------------------
def _imaging(
    report: Report,
    out: Path,
    latency: Latency,
    n_frames: int,
    seed: np.random.SeedSequence,
    n_antennas_side: int,
    say: Callable[[str], object],
) -> dict[str, Any]:
    from skysense.imaging import (
        Scenario,
        SensingOperator,
        max_sidelobe,
        psf,
        sensing_matrix,
        simulate,
        subspace_pursuit,
    )
    from skysense.metrics import detection_rates
    from skysense.plotting import plot_images, plot_psf

    s = Scenario(n_antennas_side=n_antennas_side)
    nx, ny, nz = s.grid_shape
    sec = report.section(
        "Imaging",
        f"{s.n_bs} BSs with {s.n_antennas_side}x{s.n_antennas_side} UPAs, mode {s.mode}, "
        f"{nx}x{ny} voxels of {s.voxel_size_m} m at {s.roi_center_m[2]:.0f} m, "
        f"P_s = {s.sensing_power_dbm} dBm.",
    )
    a, t_dense = _timed(sensing_matrix, s)
    op, t_op = _timed(SensingOperator, s)
    gram, t_gram = _timed(op.gram)
    sidelobes, _ = _timed(max_sidelobe, op)
    centre = int(np.ravel_multi_index((nx // 2, ny // 2, nz // 2), (nx, ny, nz)))
    psf_png = plot_psf(psf(op, [centre])[0], s, centre, out / "psf.png")

    on_seed, off_seed = seed.spawn(2)
    on = simulate(s, n_frames, 6, rng=np.random.default_rng(on_seed))
    subspace_pursuit(a, on.measurements[:1], 10, gram=gram)  # warm-up (thread pool, BLAS buffers)

    def run_sp() -> Any:
        return subspace_pursuit(a, on.measurements, 10, gram=gram, threshold="max/5", final="last")

    sp = run_sp()
    t_sp = time_rounds(run_sp, warmup_rounds=0).per(n_frames)
    bp = op.rmatvec(on.measurements)  # also the warm-up (numba kernel load)
    t_bp = time_rounds(lambda: op.rmatvec(on.measurements), warmup_rounds=0).per(n_frames)
    det = detection_rates(np.abs(sp.image), on.labels, threshold=0.0, grid_shape=s.grid_shape)
    dr, far = 100.0 * det.detection_rate, 100.0 * det.false_alarm_rate
    latency += [
        ("imaging", "A^H y (matrix-free)", t_bp),
        ("imaging", "subspace pursuit", t_sp),
    ]
    sec.table(
        ["quantity", "value"],
        [
            ["sensing matrix A", f"{a.shape[0]} x {a.shape[1]} complex128, {a.nbytes / 2**20:.0f} MiB"],
            ["dense assembly (C++)", f"{1e3 * t_dense:.1f} ms"],
            ["matrix-free operator", f"{op.memory_usage() / 2**20:.2f} MiB in {1e3 * t_op:.1f} ms"],
            ["Gram A^H A (per-BS Hadamard form)", f"{1e3 * t_gram:.0f} ms"],
            ["PSF max sidelobe P(n1), mean / centre", f"{sidelobes.mean():.3f} / {sidelobes[centre]:.3f}"],
            [f"SP on {n_frames} on-grid frames, 6 UAVs: DR / FAR", f"{dr:.1f} % / {far:.1f} %"],
        ],
    )  # fmt: skip
    sec.figure(psf_png, f"PSF of the centre voxel {centre} (eq. 16)")
    truth_on = on.positions_m[0]
    panels: Panels = [
        ("A^H y / column norms (on-grid)", bp[0] / op.column_norms(), s, truth_on),
        ("subspace pursuit (on-grid)", sp.image[0], s, truth_on),
    ]
    learned = _learned_imaging(s, n_frames, off_seed, latency, panels) if _has_torch() else None
    if learned is None:
        sec.text(f"Learned off-grid imager: skipped, torch is not installed ({TORCH_HINT}).")
    else:
        sec.table(["off-grid imager", "DR %", "FAR %", "OSPA m", "SSIM"], learned)
    title = "Frame 0 of each case: red circles are the true UAV positions"
    sec.figure(
        plot_images(panels, out / "images.png", title=title),
        "Reconstructed images, power relative to each image's peak on one dB scale "
        "(x to the right, y up, as in the PSF figure)",
    )
    say(f"  imaging: SP DR {dr:.1f} %, FAR {far:.1f} %; {1e3 * t_sp.median_s:.1f} ms/frame")
    return {"sp_dr": dr, "sp_far": far, "sidelobe_mean": float(sidelobes.mean())}


def _learned_imaging(
    s: Any, n_frames: int, seed: np.random.SeedSequence, latency: Latency, panels: Panels
) -> list[list[Any]]:
    from skysense.imaging import simulate
    from skysense.learn import OffGridImager, image_metrics, normalize_images

    imager = OffGridImager.load_default()
    si = imager.scenario
    grid = imager.model.config.grid_shape
    off = simulate(si, n_frames, 6, off_grid=True, rng=np.random.default_rng(seed))
    imager.image(off.measurements[:1])  # warm-up
    images = imager.image(off.measurements)
    rounds = time_rounds(lambda: imager.image(off.measurements), warmup_rounds=0)
    latency.append(("imaging", "learned off-grid imager (CPU)", rounds.per(n_frames)))
    labels = off.labels.reshape(n_frames, *grid)
    back = imager.operator.rmatvec(off.measurements)
    ahy = normalize_images(back.reshape(n_frames, *grid), 1 / 3)
    rows = []
    for name, imgs in (("A^H y, max/3 threshold", ahy), ("Model+DNN<A^H y> (shipped)", images)):
        m = image_metrics(imgs, labels, off.positions_m, si)
        rows.append([name, 100 * m.detection_rate, 100 * m.false_alarm_rate, m.ospa_m, m.ssim])
    truth = off.positions_m[0]
    panels += [
        ("A^H y / column norms (off-grid)", back[0] / imager.operator.column_norms(), si, truth),
        ("Model+DNN<A^H y> (off-grid)", images[0].reshape(-1), si, truth),
    ]
    return rows


# -- bistatic ------------------------------------------------------------------------------------
def _bistatic(
    report: Report,
    out: Path,
    latency: Latency,
    n_frames: int,
    seed: np.random.SeedSequence,
    n_antennas_side: int,
    say: Callable[[str], object],
) -> dict[str, Any]:
    from skysense import bistatic
    from skysense.experiments import BistaticAccuracy, run_trials

    methods: tuple[str, ...] = ("paraming", "root_music_2d", "bartlett")
    if _has_torch():
        methods += ("ifft_c2vnn",)
    exp = BistaticAccuracy(snrs_db=(0.0, 10.0, 20.0, 30.0), methods=methods, chunk_size=5)
    trials_seed, csi_seed = seed.spawn(2)
    res = run_trials(exp, BISTATIC_DRAWS, rng=trials_seed)
    png = exp.plot(res.results, out / "bistatic_accuracy.png")
    s = bistatic.Scenario()
    sec = report.section(
        "Bistatic estimation",
        f"Passive bistatic radar on downlink OFDM: Nt = {s.n_tx}, Nr = {s.n_rx}, "
        f"N = {s.n_subcarriers} subcarriers, LoS + {exp.n_targets} targets at random positions, "
        f"{BISTATIC_DRAWS} independent draws per SNR, errors against the CRB. Bartlett on a "
        "1-degree x 1/4-cell grid stands for the grid methods (MUSIC and DML give the same "
        "grid-limited curves at 4x and 9x its time: skysense reproduce bistatic-accuracy "
        "runs them).",
    )
    sec.figure(png, "ToA RMSE and AoA/AoD MSE vs SNR with 95 % confidence bands, and the CRB")
    snrs = list(res.results)

    def cell(r: dict[str, Any]) -> str:
        med, out = r["median_abs_aoa"], r["outlier_fraction"]
        return (
            f"{'-' if med is None else f'{med:.2g} rad'}, "
            f"{'-' if out is None else f'{100 * out:.0f} %'}"
        )

    sec.table(
        ["method", *(f"{snr} dB" for snr in snrs)],
        [[m, *(cell(res.results[snr][m]) for snr in snrs)] for m in methods],
        caption="median |AoA error| and the share of paths with |ToA error| > 1/(N df) "
        "(outliers, which dominate the means above; Root-MUSIC-2D estimates no ToA)",
    )
    if "ifft_c2vnn" in methods:
        sec.text(
            "IFFT-C2VNN's means sit far above the others because of its outliers: in the "
            "default geometry two paths often lie less than two taps apart and merge into one "
            "delay peak, and the shipped model has no path-count classifier to split them."
        )
    if not _has_torch():
        sec.text(f"IFFT-C2VNN: skipped, torch is not installed ({TORCH_HINT}).")
    gen = np.random.default_rng(csi_seed)
    paths = bistatic.random_paths(s, rng=gen)
    csi = bistatic.simulate(s, paths, 20.0, rng=gen, pilots="orthogonal").csi[0]
    q = paths.n_paths
    estimators: dict[str, Callable[[], object]] = {
        "PARAMING (C++)": lambda: bistatic.paraming(csi, q, scenario=s),
        "Root-MUSIC-2D": lambda: bistatic.root_music_2d(csi, q, scenario=s),
        "Bartlett (1 deg grid)": lambda: bistatic.bartlett(csi, q, scenario=s),
    }
    if _has_torch():
        from skysense.learn import IfftC2vnn

        net = IfftC2vnn.load_default()
        estimators["IFFT-C2VNN (shipped)"] = lambda: net.estimate(csi, q)
    for name, fn in estimators.items():
        latency.append(("bistatic", name, time_rounds(fn, warmup_rounds=1)))
    say(f"  bistatic: {len(methods)} methods x 4 SNRs x {BISTATIC_DRAWS} draws")
    return {"methods": list(methods), "draws_per_snr": BISTATIC_DRAWS}


# -- mapping -------------------------------------------------------------------------------------
def _mapping(
    report: Report,
    out: Path,
    latency: Latency,
    n_frames: int,
    seed: np.random.SeedSequence,
    n_antennas_side: int,
    say: Callable[[str], object],
) -> dict[str, Any]:
    from skysense.experiments import MappingMospa, run_trials

    # The README's configuration of its MOSPA table (300 epochs, P = 2000, 2 trials) on BS1:
    # Scheme II in both orders against the monostatic-only baseline, the comparison of its claim.
    exp = MappingMospa(methods=MAPPING_METHODS, bs_indices=(0,), n_epochs=300, n_particles=2000)
    res = run_trials(exp, MAPPING_TRIALS, rng=seed)
    png = exp.plot(res.results, out / "mapping.png")
    sec = report.section(
        "Environment mapping",
        "Facades mapped as virtual anchors (VAs) from monostatic and bistatic multipath, BS1 of "
        f"the default scene, {exp.n_epochs} epochs, P = {exp.n_particles} particles, "
        f"{MAPPING_TRIALS} independent trials (the configuration of the README's MOSPA table): "
        "Scheme II (fusion3: bistatic then monostatic, fusion4: the reverse) against the "
        "monostatic-only baseline. MOSPA with cutoff 10 m (order 2) over the true VAs visible "
        "so far.",
    )
    sec.figure(png, "VA visibility, MOSPA over epochs and the estimated map (BS1)")
    rows, stats = [], {}
    quarter = max(1, exp.n_epochs // 4)
    for method in MAPPING_METHODS:
        per = res.results[method]["per_bs"]["BS1"]
        curve = np.asarray(per["mospa"], float)
        stats[method] = (
            per["mospa_mean"],
            float(curve[:quarter].mean()),
            per["mospa_last_quarter"],
        )
        trials = ", ".join(f"{v:.2f}" for v in per["mospa_mean_trials"])
        rows.append(
            [
                method,
                per["mospa_mean"],
                trials,
                stats[method][1],
                stats[method][2],
                per["completeness"],
            ]
        )
    sec.table(
        ["method", "MOSPA all epochs [m]", "per trial [m]", "first quarter [m]", "last quarter [m]", "completeness"],
        rows,
    )  # fmt: skip
    sec.text(_mapping_verdict(stats, res.results, quarter))
    stage = f"Scheme II, one epoch (mean of the first {_MAPPING_EPOCHS}), P = {exp.n_particles}"
    latency.append(("mapping", stage, _mapping_epoch_rounds(exp, seed)))
    say(
        f"  mapping: {len(MAPPING_METHODS)} methods, {exp.n_epochs} epochs, {MAPPING_TRIALS} trials"
    )
    return {"mospa": {m: v[0] for m, v in stats.items()}}


def _mapping_verdict(
    stats: dict[str, tuple[float, float, float]], results: dict[str, Any], quarter: int
) -> str:
    """Which method has the lowest MOSPA in this run, and where the difference comes from."""
    best = min(stats, key=lambda m: stats[m][0])
    mono = stats["monostatic"]
    scheme2 = min(("fusion3", "fusion4"), key=lambda m: stats[m][0])
    s2 = stats[scheme2]
    spread = max(float(np.ptp(results[m]["per_bs"]["BS1"]["mospa_mean_trials"])) for m in stats)
    vis = results["visibility"]["BS1"]
    classes = list(vis["classes"])
    first_b = [int(np.argmax(v)) if any(v) else None for v in vis["visible_bistatic"]]
    first_m = [int(np.argmax(v)) if any(v) else None for v in vis["visible_monostatic"]]
    seen_b = [e for e in first_b if e is not None]
    only_b = [f"VA{j + 1}" for j, k in enumerate(classes) if k == "B"]
    lead = (
        f"In this run {best} has the lowest MOSPA over all epochs ({stats[best][0]:.2f} m); "
        f"Scheme II ({scheme2}) {s2[0]:.2f} m against monostatic-only {mono[0]:.2f} m, a "
        f"difference of {mono[0] - s2[0]:+.2f} m (monostatic minus Scheme II) while the trials "
        f"of one method spread by up to {spread:.2f} m. "
    )
    early = f"Over the first {quarter} epochs Scheme II has {s2[1]:.2f} m against {mono[1]:.2f} m: "
    if s2[1] <= mono[1]:
        early += "fusing the bistatic link's measurements starts VAs sooner. "
    else:
        early += (
            "the monostatic link sees "
            f"{sum(e == 0 for e in first_m if e is not None)} of the {len(classes)} VAs from "
            "the first epoch while the bistatic link sees none before epoch "
            f"{min(seen_b) if seen_b else quarter}, and Scheme II weighs the monostatic "
            "evidence with its lower visibility probability, so its VAs converge later. "
        )
    late = f"Over the last quarter the two are {s2[2]:.2f} m and {mono[2]:.2f} m"
    if only_b:
        epochs = [first_b[int(v[2:]) - 1] for v in only_b]
        one = len(only_b) == 1
        late += (
            f": {', '.join(only_b)} (class B) {'is' if one else 'are'} seen only on the "
            f"bistatic link (from epoch {min(e for e in epochs if e is not None)}), so "
            f"monostatic-only can never map {'it' if one else 'them'} and pays the cutoff, "
            f"while Scheme II can, once the link has seen {'it' if one else 'them'} long "
            "enough. "
        )
    else:
        late += ". "
    why = early + late
    if best in ("fusion3", "fusion4") and mono[0] - s2[0] > spread:
        claim = "This agrees with the README's claim that Scheme II has the lowest MOSPA."
    elif best in ("fusion3", "fusion4"):
        claim = (
            "Scheme II is lowest, as the README claims, but by less than the trial-to-trial "
            "spread: two trials do not separate the methods."
        )
    else:
        claim = (
            f"Here {best}, not Scheme II, is lowest, against the README's claim for its own "
            "run of this configuration; with two trials the difference is within the "
            "trial-to-trial spread."
        )
    return lead + why + claim


def _mapping_epoch_rounds(exp: Any, seed: np.random.SeedSequence) -> Rounds:
    """Per-epoch time of Scheme II over the first epochs of the demo's scene (5 rounds)."""
    from skysense.mapping import Mapper, default_scene, simulate

    params = exp.params("fusion3")
    (data,) = simulate(default_scene(exp.n_epochs), params, rng=seed, bs_indices=[0])
    mapper = Mapper("fusion3", params)
    rounds = time_rounds(lambda: mapper.run(data, rng=0, n_epochs=_MAPPING_EPOCHS))
    return rounds.per(_MAPPING_EPOCHS)


# -- tracking ------------------------------------------------------------------------------------
def _tracking(
    report: Report,
    out: Path,
    latency: Latency,
    n_frames: int,
    seed: np.random.SeedSequence,
    n_antennas_side: int,
    say: Callable[[str], object],
) -> dict[str, Any]:
    from skysense.experiments import ImagingTracking
    from skysense.metrics import tracking_scores
    from skysense.plotting import plot_tracking
    from skysense.tracking import BPTracker, track_frames

    exp = ImagingTracking(
        dims=("2d",),
        imagers=("sp",),
        trackers=("", "_bp"),
        n_frames=50,
        n_uavs=5,
        calibration_frames=50,
    )
    cell = ("2d", "sp")
    state = exp.setup(cell)  # detector calibrated on its own simulated run
    truth, detections, histories, _ = exp.trial(cell, state, np.random.default_rng(seed))
    positions, ids = truth.frames()
    rows: list[list[Any]] = []
    for method, history in histories.items():
        s = tracking_scores(
            history.positions_m,
            history.track_id,
            positions,
            ids,
            cutoff_m=exp.cutoff_m,
            window=exp.window,
            settle_frames=exp.settle_frames,
        )
        rows.append([method, s.gospa_m, s.ospa2_m, s.id_switches, s.rmse_m])
    png = plot_tracking(
        truth.positions_m,
        {m: (h.positions_m, h.track_id) for m, h in histories.items()},
        state.config.region,
        out / "tracking.png",
        detections=[d.positions_m for d in detections],
    )
    sc = state.scenario
    sec = report.section(
        "Tracking",
        f"{sc.n_uavs} UAVs appear, fly at {sc.speed_mps:.0f} m/s and leave over {sc.n_frames} "
        f"frames at {sc.frame_rate_hz:.0f} Hz (N0 = {sc.imaging.n_antennas_side}, off-grid "
        "positions); SP images each frame, a blob detector turns the image into detections, and "
        "the BP multitarget tracker (docs/tracking.md) keeps identities across frames. "
        "'sp' is the per-frame detections without tracking.",
    )
    sec.figure(png, "true paths (black), detections (grey) and tracks of each method")
    sec.table(
        [
            "method",
            "mean GOSPA [m]",
            "mean OSPA^(2) [m]",
            "ID switches / track / 100 frames",
            "RMSE [m]",
        ],
        rows,
        caption=f"one run, cut-off {exp.cutoff_m:.0f} m",
    )
    tracker = BPTracker.from_config(state.config)
    step = time_rounds(lambda: track_frames(tracker, detections), warmup_rounds=1)
    latency.append(("tracking", "BP tracker update (Gaussian beliefs)", step.per(len(detections))))
    say(f"  tracking: {len(histories)} methods, {sc.n_frames} frames")
    return {row[0]: {"gospa_m": row[1], "id_switches": row[3]} for row in rows}
