"""``skysense demo``: the three systems end to end on small defaults, written up as one report.

Runs cooperative imaging (dense and matrix-free A, PSF, on-grid SP, the shipped learned
off-grid imager when torch is present), bistatic estimation (PARAMING, grid baselines,
IFFT-C2VNN with its shipped model, CRB), environment mapping (Schemes I and II against
the single-link baselines) and tracking of the imaged UAVs (BP against per-frame SP
detections), then writes ``report.html`` (self-contained) with the figures and
a latency table into the output folder. About two minutes on 2 cores.

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

#: How to get torch for the learned parts: the CPU build, or the platform's default build.
TORCH_HINT = (
    "pip install torch --index-url https://download.pytorch.org/whl/cpu (CPU build), or "
    "pip install 'skysense[learned]' for your platform's default build"
)

_T = TypeVar("_T")
#: (system, stage, rounds) rows of the latency table: at least 5 rounds each, per unit.
Latency = list[tuple[str, str, Rounds]]
#: Epochs of each timed round of the mapping row.
_MAPPING_EPOCHS = 20
#: (title, image) panels of the image figure.
Panels = list[tuple[str, np.ndarray]]


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
    for module in ("matplotlib", "threadpoolctl"):
        require(module, "skysense demo", extra="demo")
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
    for i, ((name, step), seed) in enumerate(zip(steps, root.spawn(len(steps)), strict=True), 1):
        say(f"[{i}/{len(steps)}] {name} ...")
        t0 = time.perf_counter()
        results[name] = step(report, out, latency, n_frames, seed, n_antennas_side, say)
        say(f"[{i}/{len(steps)}] {name} done in {time.perf_counter() - t0:.1f} s")
    load_after = load_average()
    report.section(
        "Latency",
        f"Wall-clock time on this machine: {machine_summary(machine())}; load average "
        f"(1, 5, 15 min) {load_before} before the demo and {load_after} after it. Each stage "
        "is timed over at least 5 rounds after a warm-up call; the median is the typical "
        "time, the minimum the least disturbed by other load.",
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
    from skysense.plotting import plot_psf

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
    panels: Panels = [
        ("truth (on-grid)", on.labels[0]),
        ("A^H y / column norms", np.abs(bp[0]) / op.column_norms()),
        ("subspace pursuit", np.abs(sp.image[0])),
    ]
    learned = _learned_imaging(s, n_frames, off_seed, latency, panels) if _has_torch() else None
    if learned is None:
        sec.text(f"Learned off-grid imager: skipped, torch is not installed ({TORCH_HINT}).")
    else:
        sec.table(["off-grid imager", "DR %", "FAR %", "OSPA m", "SSIM"], learned)
    sec.figure(_image_panels(panels, s, out / "images.png"), "True and reconstructed images")
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
    ahy = normalize_images(
        imager.operator.rmatvec(off.measurements).reshape(n_frames, *grid), 1 / 3
    )
    rows = []
    for name, imgs in (("A^H y, max/3 threshold", ahy), ("Model+DNN<A^H y> (shipped)", images)):
        m = image_metrics(imgs, labels, off.positions_m, si)
        rows.append([name, 100 * m.detection_rate, 100 * m.false_alarm_rate, m.ospa_m, m.ssim])
    panels += [("truth (off-grid)", labels[0]), ("learned (off-grid)", images[0])]
    return rows


def _image_panels(panels: Panels, scenario: Any, path: Path) -> Path:
    from skysense.plotting._common import _pyplot

    plt = _pyplot()
    nx, ny, _ = scenario.grid_shape
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.3))
    for ax, (title, img) in zip(np.atleast_1d(axes), panels, strict=True):
        img = np.asarray(img, float).reshape(-1)[: nx * ny].reshape(nx, ny)
        ax.imshow(img.T, origin="lower", cmap="viridis")
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


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

    methods: tuple[str, ...] = ("paraming", "root_music_2d", "music", "dml")
    if _has_torch():
        methods += ("ifft_c2vnn",)
    exp = BistaticAccuracy(snrs_db=(0.0, 10.0, 20.0, 30.0), methods=methods, chunk_size=4)
    trials_seed, csi_seed = seed.spawn(2)
    res = run_trials(exp, 4, rng=trials_seed)
    png = exp.plot(res.results, out / "bistatic_accuracy.png")
    s = bistatic.Scenario()
    sec = report.section(
        "Bistatic estimation",
        f"Passive bistatic radar on downlink OFDM: Nt = {s.n_tx}, Nr = {s.n_rx}, "
        f"N = {s.n_subcarriers} subcarriers, LoS + 3 targets; 4 draws per SNR, errors against "
        "the CRB.",
    )
    sec.figure(png, "ToA RMSE and AoA/AoD MSE vs SNR, with the CRB")
    gen = np.random.default_rng(csi_seed)
    paths = bistatic.random_paths(s, rng=gen)
    csi = bistatic.simulate(s, paths, 20.0, rng=gen, pilots="orthogonal").csi[0]
    q = paths.n_paths
    estimators: dict[str, Callable[[], object]] = {
        "PARAMING (C++)": lambda: bistatic.paraming(csi, q, scenario=s),
        "Root-MUSIC-2D": lambda: bistatic.root_music_2d(csi, q, scenario=s),
        "MUSIC (1 deg grid)": lambda: bistatic.music(csi, q, scenario=s),
        "DML (1 deg grid)": lambda: bistatic.dml(csi, q, scenario=s),
    }
    if _has_torch():
        from skysense.learn import IfftC2vnn

        net = IfftC2vnn.load_default()
        estimators["IFFT-C2VNN (shipped)"] = lambda: net.estimate(csi, q)
    for name, fn in estimators.items():
        latency.append(("bistatic", name, time_rounds(fn, warmup_rounds=1)))
    say(f"  bistatic: {len(methods)} methods x 4 SNRs")
    return {"methods": list(methods)}


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

    methods = ("fusion1", "fusion3", "monostatic", "bistatic", "specular")
    exp = MappingMospa(methods=methods, bs_indices=(0,), n_epochs=120, n_particles=1000)
    res = run_trials(exp, 1, rng=seed)
    png = exp.plot(res.results, out / "mapping.png")
    sec = report.section(
        "Environment mapping",
        "Facades mapped as virtual anchors from monostatic and bistatic multipath (BS1 of the "
        "default scene, 120 epochs, 1000 particles): Scheme I (fusion1), Scheme II (fusion3) "
        "and the single-link and specular-only baselines.",
    )
    sec.figure(png, "VA visibility, MOSPA over epochs and the estimated map")
    rows = []
    for method in methods:
        curve = np.asarray(res.results[method]["mospa"], float)
        last = curve[-max(1, curve.size // 4) :]
        rows.append(
            [method, float(curve.mean()), float(last.mean()), res.results[method]["completeness"]]
        )
    sec.table(["method", "MOSPA all epochs [m]", "last quarter [m]", "completeness"], rows)
    stage = f"Scheme II, one epoch (mean of the first {_MAPPING_EPOCHS}), P = {exp.n_particles}"
    latency.append(("mapping", stage, _mapping_epoch_rounds(exp, seed)))
    say(f"  mapping: {len(methods)} methods, {exp.n_epochs} epochs")
    return {"mospa": {row[0]: row[1] for row in rows}}


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
