"""``mapping-csi``: the mapper fed from CSI (PARAMING front end) against ideal measurements."""

from __future__ import annotations

import time
from collections.abc import Hashable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from skysense._validation import check_positive
from skysense.experiments.runner import Experiment
from skysense.mapping import (
    SCHEMES,
    BsData,
    Mapper,
    MappingParams,
    Scene,
    default_scene,
    simulate,
)
from skysense.metrics import completeness, ospa_per_epoch

if TYPE_CHECKING:
    from skysense.pipeline import BistaticChannel, BistaticCsi, BistaticMeasurements

__all__ = ["MappingCsi", "class_b_recovered", "false_vas"]

#: Methods whose bistatic link the front end feeds (the monostatic sets are the simulator's);
#: ``_angles``: the scheme with the angle-aided bistatic likelihood and births (ours, not the
#: paper's; docs/pipeline.md), range-only otherwise (the paper's model).
CSI_METHODS = (
    "fusion1",
    "fusion2",
    "fusion3",
    "fusion4",
    "monostatic",
    "bistatic",
    "fusion3_angles",
    "fusion4_angles",
    "bistatic_angles",
)

#: A class-B facade counts as recovered when a VA estimate lies within this of its VA [m] in
#: each of the last ``RECOVERY_EPOCHS`` epochs of one of its bistatic visibility windows.
RECOVERY_RADIUS_M = 2.0
RECOVERY_EPOCHS = 20


def class_b_recovered(estimates_m: tuple[np.ndarray, ...], data: BsData) -> float:
    """Fraction of the class-B (bistatic-only) VAs of ``data`` recovered (NaN: none).

    A VA is recovered when, in each of the last :data:`RECOVERY_EPOCHS` epochs of one of its
    bistatic visibility windows (the whole window if shorter), some estimate lies within
    :data:`RECOVERY_RADIUS_M` of it.

    Parameters
    ----------
    estimates_m : tuple of ndarray, each shape (n_detected, 3) [m]
        The map per epoch (:attr:`skysense.mapping.MapResult.estimates_m`).
    data : skysense.mapping.BsData
        The BS's data (its ``visibility`` gives the VAs, their classes and windows).

    Returns
    -------
    float
        In [0, 1], or NaN where the BS has no class-B VA.

    Examples
    --------
    >>> from skysense.experiments.mapping.csi import class_b_recovered
    >>> from skysense.mapping import default_scene, simulate
    >>> (data,) = simulate(default_scene(30), rng=0, bs_indices=[2])
    >>> truth = data.visibility.va_positions_m
    >>> class_b_recovered(tuple(truth for _ in range(30)), data)
    1.0
    """
    vis = data.visibility
    classes = vis.classes()
    bi, _ = vis.va_timelines()
    n_ep = min(len(estimates_m), bi.shape[0])
    hits = []
    for j in np.flatnonzero(classes == "B"):
        on = bi[:n_ep, j]
        recovered = False
        edges = np.flatnonzero(np.diff(np.r_[0, on.astype(np.int8), 0]))
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            window = range(max(start, stop - RECOVERY_EPOCHS), stop)
            near = [
                est.shape[0] > 0
                and np.min(np.linalg.norm(est - vis.va_positions_m[j], axis=1)) <= RECOVERY_RADIUS_M
                for est in (estimates_m[e] for e in window)
            ]
            recovered |= bool(all(near))
        hits.append(recovered)
    return float(np.mean(hits)) if hits else float("nan")


def false_vas(
    estimates_m: tuple[np.ndarray, ...], data: BsData, *, radius_m: float = RECOVERY_RADIUS_M
) -> float:
    """Detected VAs farther than ``radius_m`` from every VA of the BS, mean per epoch.

    What a measurement the mapper could not explain (a resolved diffuse path, noise) costs
    when it becomes a facade: the map's false features.

    Parameters
    ----------
    estimates_m : tuple of ndarray, each shape (n_detected, 3) [m]
        The map per epoch (:attr:`skysense.mapping.MapResult.estimates_m`).
    data : skysense.mapping.BsData
        The BS's data (its ``visibility`` gives the VAs).
    radius_m : float
        Distance to the nearest VA above which an estimate is false [m].

    Returns
    -------
    float
        Mean over the epochs of the number of false estimates.

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.experiments.mapping.csi import false_vas
    >>> from skysense.mapping import default_scene, simulate
    >>> (data,) = simulate(default_scene(2), rng=0, bs_indices=[0])
    >>> truth = data.visibility.va_positions_m
    >>> false_vas((truth, np.vstack([truth, [0.0, 0.0, 500.0]])), data)
    0.5
    """
    vas = data.visibility.va_positions_m
    counts = [
        0
        if est.shape[0] == 0
        else int(
            np.sum(np.min(np.linalg.norm(est[:, None] - vas[None], axis=2), axis=1) > radius_m)
        )
        for est in estimates_m
    ]
    return float(np.mean(counts)) if counts else 0.0


#: Per-epoch front-end diagnostics of ``results["front_end"]`` (see :class:`MappingCsi`).
FRONT_END_DIAGNOSTICS = (
    "measurements",
    "specular_paths",
    "unmatched",
    "unsynchronised",
    "missynchronised",
)


def _front_end_diagnostics(
    link: BistaticCsi, meas: BistaticMeasurements, channel: BistaticChannel
) -> dict[str, float]:
    """What the mapper is fed, per epoch (the names of :data:`FRONT_END_DIAGNOSTICS`)."""
    from skysense.bistatic.scenario import SPEED_OF_LIGHT

    sc = channel.scenario
    half_cell_m = 0.5 * SPEED_OF_LIGHT / (sc.n_subcarriers * sc.subcarrier_spacing_hz)
    half_beam_a = 0.5 / (sc.n_rx * sc.spacing_rx_wavelengths)
    half_beam_d = 0.5 / (sc.n_tx * sc.spacing_tx_wavelengths)
    period = 1.0 / sc.subcarrier_spacing_hz  # ToAs and offsets are known modulo 1/df
    unmatched = 0
    for e, paths in enumerate(link.paths):
        r = meas.ranges_m[e]
        if r.shape[0] == 0:
            continue
        if paths is None:
            unmatched += r.shape[0]
            continue
        spec = ~link.diffuse[e]
        true_r = SPEED_OF_LIGHT * np.mod(paths.toa_s[spec] - link.timing_offset_s[e], period)
        near = (np.abs(r[:, None] - true_r[None]) <= half_cell_m) & (
            np.abs(np.sin(meas.aoa_rad[e])[:, None] - np.sin(paths.aoa_rad[spec])[None])
            <= half_beam_a
        )
        near &= (
            np.abs(np.sin(meas.aod_rad[e])[:, None] - np.sin(paths.aod_rad[spec])[None])
            <= half_beam_d
        )
        unmatched += int(np.sum(~near.any(axis=1)))
    n_ep = max(meas.n_epochs, 1)
    diff = meas.timing_offset_s - link.timing_offset_s
    err = np.abs(diff - period * np.round(diff / period))
    return {
        "measurements": float(meas.n_measurements.sum()) / n_ep,
        "specular_paths": float(link.n_specular.sum()) / n_ep,
        "unmatched": unmatched / n_ep,
        "unsynchronised": float(np.mean(~meas.synchronised)),
        "missynchronised": float(np.mean(err[meas.synchronised] > 0.125 / sc.subcarrier_spacing_hz))
        if meas.synchronised.any()
        else 0.0,
    }


def courtyard_scene(n_epochs: int = 300) -> Scene:
    """A second scene, of other geometry than the default one, for the mapping-csi targets.

    Fixed before any method was run on it (the issue's "scene of your own design"): four
    buildings of different sizes and heights around a courtyard, four BSs at 12 m and 18 m,
    and an L-shaped UAV path (west to east along y = 3 m, then south along x = 5 m) with a
    +-3 m lateral wiggle and an altitude of 30 +- 4 m.

    Parameters
    ----------
    n_epochs : int
        Epochs of the trajectory (>= 2).

    Returns
    -------
    skysense.mapping.Scene
        Buildings, BSs and the trajectory of ``n_epochs`` epochs.

    Examples
    --------
    >>> from skysense.experiments.mapping.csi import courtyard_scene
    >>> scene = courtyard_scene(50)
    >>> scene.n_bs, scene.n_epochs
    (4, 50)
    """
    buildings = [
        (-35.0, 35.0, 30.0, 30.0, 30.0),
        (35.0, 40.0, 40.0, 20.0, 40.0),
        (-30.0, -35.0, 20.0, 30.0, 25.0),
        (35.0, -30.0, 30.0, 40.0, 45.0),
    ]
    base_stations = [(0.0, 35.0, 12.0), (0.0, -35.0, 12.0), (-30.0, 0.0, 18.0), (40.0, 5.0, 18.0)]
    t = np.linspace(0.0, 1.0, n_epochs)
    corner = 65.0 / 128.0  # the first leg is 65 m of the 128 m
    first = t <= corner
    x = np.where(first, -60.0 + 128.0 * t, 5.0)
    y = np.where(first, 3.0, 3.0 - (128.0 * t - 65.0))
    wiggle = 3.0 * np.sin(2 * np.pi * 2 * t / corner) * first + 3.0 * np.sin(
        2 * np.pi * 2 * (t - corner) / (1 - corner)
    ) * (~first)
    x = x + np.where(first, 0.0, wiggle)
    y = y + np.where(first, wiggle, 0.0)
    z = 30.0 + 4.0 * np.sin(2 * np.pi * 3 * t)
    return Scene(np.array(buildings), np.array(base_stations), np.column_stack([x, y, z]))


#: Scenes of the experiment (``MappingCsi(scene=...)``).
CSI_SCENES = {"default": default_scene, "courtyard": courtyard_scene}


def _nan_to_none(values: np.ndarray) -> float | None:
    """Mean of the finite values (None where there are none: JSON has no NaN)."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else None


@dataclass(frozen=True)
class MappingCsi(Experiment):
    """MOSPA, completeness and time per epoch of the mapper from CSI and from ideal data.

    Per trial and BS: the measurement sets of :func:`skysense.mapping.simulate` (the
    ``_ideal`` rows), and the same sets with the bistatic pseudo-ranges replaced by
    PARAMING's estimates from the BS -> UAV CSI (:mod:`skysense.pipeline`; MDL order per
    epoch); each method runs on both.

    Parameters
    ----------
    methods : tuple of str
        Keys of :data:`skysense.mapping.SCHEMES` except ``"specular"``, or ``fusion3_angles``,
        ``fusion4_angles``, ``bistatic_angles``: the scheme with the angle-aided bistatic
        model (``MappingParams(bistatic_angles=True)``; the estimated AoA/AoD with their CRB).
    bs_indices : tuple of int
        BSs of the default scene (0..3: BS1-BS4).
    n_epochs, n_particles : int
        Epochs of the default trajectory and particles per PMF.
    snr_db : float
        :class:`~skysense.pipeline.BistaticChannel` SNR of a unit-gain path [dB].
    cutoff_m, order : float
        OSPA cut-off [m] and order.
    visibility_monostatic, birth_height_std_m, radius_m :
        As in :class:`~skysense.experiments.MappingMospa` (the fusion schemes' monostatic
        visibility 0.2, vertical-facade births, completeness radius [m]).
    chunk_size : int
        Trials per task.
    scene : {"default", "courtyard"}
        :func:`skysense.mapping.default_scene` or :func:`courtyard_scene`.
    monostatic_csi : bool
        False (default): the CSI rows take the simulator's monostatic sets. True: both links
        from CSI, the monostatic sets estimated from the BS's echo CSI
        (:func:`skysense.pipeline.simulate_monostatic_csi`, :func:`~skysense.pipeline.estimate_monostatic`,
        MDL order per panel); the front end's time then covers both links.
    diffuse_mean : float
        :class:`~skysense.pipeline.BistaticChannel` Poisson mean of the diffuse scatterers of a
        facade per epoch on the bistatic link (3, as the ideal sets; 0: LoS and specular
        paths only, the CSI of the first version of this experiment).
    timing_offset_std_s : float
        :class:`~skysense.pipeline.BistaticChannel` std of the unknown receiver clock offset
        per epoch [s] (0: synchronised; above 0 the front end synchronises on the LoS).
    cluster_db : float, optional
        :func:`~skysense.pipeline.estimate_bistatic` censoring of resolved diffuse paths
        (6 dB; None: off).
    angle_spread_rad : float, optional
        The methods' model-mismatch angle std (:class:`~skysense.mapping.MappingParams`
        ``angle_spread_rad``, read by the ``_angles`` methods; None: its default, 0.01 rad).
        0.02 rad (default): diffuse clusters bias the estimated angles of a facade path far
        beyond their CRB, by 0.015-0.017 rms in sine on the default scene
        (docs/pipeline.md, calibrated on seeds other than the experiment's).

    Notes
    -----
    Results: ``results[method][bs]`` and ``results[method + "_ideal"][bs]`` hold
    ``mospa_all_m`` (MOSPA over every epoch), ``mospa_last_m`` (over the last quarter),
    ``completeness``, ``class_b_recovered`` (:func:`class_b_recovered`) and ``ms_per_epoch``
    (filter, plus the front end for the CSI rows);
    ``results["front_end"][bs]`` the front end's and PARAMING's own ms per epoch (same run).
    ``results["front_end"][bs]`` also says what the mapper is fed from CSI, per epoch:
    ``measurements`` (bistatic estimates), ``specular_paths`` (true LoS and specular paths),
    ``unmatched`` (estimates farther than half a resolution cell in range, or half a
    beamwidth in either sine, from every true LoS and specular path: diffuse paths resolved
    as paths of their own, or noise), and ``unsynchronised`` / ``missynchronised`` (fraction
    of epochs without a LoS to synchronise on / with an offset estimate off by more than an
    eighth of a cell). ``results[key][bs]["false_vas"]``: detected VAs farther than
    ``radius_m`` from every VA of the BS, mean per epoch. The ideal sets carry angles
    (:func:`skysense.mapping.simulate` with the channel's ULA axes and its default 5 mrad noise),
    which only the ``_angles`` methods read.
    """

    name: ClassVar[str] = "mapping-csi"
    default_trials: ClassVar[int] = 1

    methods: tuple[str, ...] = (
        "fusion3",
        "fusion4",
        "fusion3_angles",
        "fusion4_angles",
        "monostatic",
        "bistatic",
        "bistatic_angles",
    )
    bs_indices: tuple[int, ...] = (0, 1, 2, 3)
    n_epochs: int = 300
    n_particles: int = 2000
    snr_db: float = 20.0
    cutoff_m: float = 10.0
    order: float = 2.0
    visibility_monostatic: float = 0.2
    birth_height_std_m: float | None = 1.0
    radius_m: float = 2.0
    chunk_size: int = 1
    scene: str = "default"
    monostatic_csi: bool = False
    diffuse_mean: float = 3.0
    timing_offset_std_s: float = 0.0
    cluster_db: float | None = 6.0
    angle_spread_rad: float | None = 0.02

    def __post_init__(self) -> None:
        object.__setattr__(self, "methods", tuple(self.methods))
        object.__setattr__(self, "bs_indices", tuple(int(i) for i in self.bs_indices))
        for m in self.methods:
            if m not in CSI_METHODS:
                raise ValueError(f"methods must be drawn from {CSI_METHODS}, got {m!r}")
        if not self.methods or not self.bs_indices:
            raise ValueError("methods and bs_indices must be non-empty")
        if self.scene not in CSI_SCENES:
            raise ValueError(f"scene must be one of {tuple(CSI_SCENES)}, got {self.scene!r}")
        scene = CSI_SCENES[self.scene](self.n_epochs)
        for i in self.bs_indices:
            scene.virtual_anchors(i)  # validates the index
        self.params()
        self.channel()  # validates snr_db, diffuse_mean, timing_offset_std_s
        if self.cluster_db is not None:
            check_positive(self.cluster_db, "cluster_db", strict=False)

    def channel(self) -> BistaticChannel:
        """The bistatic link of the CSI rows."""
        from skysense.pipeline import BistaticChannel

        return BistaticChannel(
            snr_db=self.snr_db,
            diffuse_mean=self.diffuse_mean,
            timing_offset_std_s=self.timing_offset_std_s,
        )

    def params(self, method: str = "fusion3") -> MappingParams:
        params = MappingParams(
            n_particles=self.n_particles,
            visibility_monostatic=self.visibility_monostatic
            if method.startswith("fusion")
            else 1.0,
            birth_height_std_m=self.birth_height_std_m,
            bistatic_angles=method.endswith("_angles"),
        )
        if self.angle_spread_rad is None:
            return params
        return replace(params, angle_spread_rad=self.angle_spread_rad)

    def _keys(self) -> list[str]:
        """Result rows: each method from CSI and from ideal data."""
        return [m + s for m in self.methods for s in ("", "_ideal")]

    def cells(self) -> tuple[int, ...]:
        return self.bs_indices

    def setup(self, cell: Hashable) -> Scene:
        return CSI_SCENES[self.scene](self.n_epochs)

    def run_chunk(
        self, cell: Hashable, state: Scene, n_trials: int, rng: np.random.Generator
    ) -> dict[str, np.ndarray]:
        from skysense.bistatic import paraming
        from skysense.pipeline import (
            estimate_bistatic,
            estimate_monostatic,
            simulate_bistatic_csi,
            simulate_monostatic_csi,
            with_bistatic_measurements,
            with_monostatic_measurements,
        )

        assert isinstance(cell, int)
        bs = cell
        channel = self.channel()
        keys = self._keys()
        out: dict[str, list[Any]] = {}
        for _ in range(n_trials):
            seeds = rng.spawn(2 + 2 * len(self.methods))
            method_seeds = dict(
                zip([m + s for m in self.methods for s in ("", "_ideal")], seeds[2:], strict=True)
            )
            (ideal,) = simulate(
                state,
                self.params(),
                rng=seeds[0],
                bs_indices=[bs],
                ula_axes=(channel.uav_axis, channel.bs_axis),
            )
            (link,) = simulate_bistatic_csi(state, channel, rng=seeds[1], bs_indices=[bs])
            t0 = time.perf_counter()
            meas = estimate_bistatic(
                link.csi,
                channel,
                bs_position_m=state.base_stations_m[bs],
                uav_positions_m=state.trajectory_m,
                cluster_db=self.cluster_db,
            )
            front_s = time.perf_counter() - t0
            for name, value in _front_end_diagnostics(link, meas, channel).items():
                out.setdefault(name, []).append(value)
            t0 = time.perf_counter()
            for e, q in enumerate(meas.n_measurements):
                if q:
                    paraming(link.csi[e], int(q), scenario=channel.scenario, workers=1)
            paraming_s = time.perf_counter() - t0
            from_csi = with_bistatic_measurements(ideal, meas, channel=channel)
            if self.monostatic_csi:
                # A child spawned after the others: the draws above do not depend on the flag.
                (echo,) = simulate_monostatic_csi(state, rng=rng.spawn(1)[0], bs_indices=[bs])
                t0 = time.perf_counter()
                echoes = estimate_monostatic(echo.csi, state.base_stations_m[bs], workers=1)
                front_s += time.perf_counter() - t0
                from_csi = with_monostatic_measurements(from_csi, echoes, self.params())
            out.setdefault("front_end_ms", []).append(1e3 * front_s / self.n_epochs)
            out.setdefault("paraming_ms", []).append(1e3 * paraming_s / self.n_epochs)
            for key in keys:
                mrng = method_seeds[key]
                method = key.removesuffix("_ideal")
                data = ideal if key.endswith("_ideal") else from_csi
                t0 = time.perf_counter()
                scheme = method.removesuffix("_angles")
                res = Mapper(scheme, self.params(method)).run(data, rng=mrng)
                ms = 1e3 * (time.perf_counter() - t0) / self.n_epochs
                if not key.endswith("_ideal"):
                    ms += 1e3 * front_s / self.n_epochs
                out.setdefault(f"ospa_{key}", []).append(
                    ospa_per_epoch(res.estimates_m, ideal, cutoff_m=self.cutoff_m, order=self.order)
                )
                out.setdefault(f"completeness_{key}", []).append(
                    completeness(res.estimates_m[-1], ideal, radius_m=self.radius_m)
                )
                out.setdefault(f"ms_{key}", []).append(ms)
                out.setdefault(f"class_b_{key}", []).append(
                    class_b_recovered(res.estimates_m, ideal)
                )
                out.setdefault(f"false_{key}", []).append(
                    false_vas(res.estimates_m, ideal, radius_m=self.radius_m)
                )
        return {k: np.asarray(v) for k, v in out.items()}

    def summarize(self, cell: Hashable, trials: dict[str, np.ndarray]) -> dict[str, Any]:
        last = max(1, self.n_epochs // 4)
        summary: dict[str, Any] = {
            "front_end": {
                "ms_per_epoch": float(trials["front_end_ms"].mean()),
                "paraming_ms_per_epoch": float(trials["paraming_ms"].mean()),
                **{name: float(trials[name].mean()) for name in FRONT_END_DIAGNOSTICS},
            }
        }
        for key in self._keys():
            ospa = trials[f"ospa_{key}"]
            summary[key] = {
                "mospa_all_m": float(ospa.mean()),
                "mospa_last_m": float(ospa[:, -last:].mean()),
                "completeness": float(trials[f"completeness_{key}"].mean()),
                "class_b_recovered": _nan_to_none(trials[f"class_b_{key}"]),
                "false_vas": float(trials[f"false_{key}"].mean()),
                "ms_per_epoch": float(trials[f"ms_{key}"].mean()),
            }
        return summary

    def report(self, summaries: dict[Hashable, dict[str, Any]]) -> dict[str, Any]:
        keys = ["front_end", *self._keys()]
        return {k: {f"BS{i + 1}": summaries[i][k] for i in self.bs_indices} for k in keys}

    def table(self, results: dict[str, Any]) -> str:
        """MOSPA (all / last quarter), completeness, class-B facades recovered (``-``: none),
        false VAs per epoch and ms per epoch per method and BS; the front end's diagnostics."""
        bs_names = list(results["front_end"])
        head = f"{'method':<22}" + "".join(
            f" | {b + ' MOSPA all/last  compl  B  false  ms':>42}" for b in bs_names
        )
        lines = [head, "-" * len(head)]
        for key in results:
            if key == "front_end":
                continue
            row = f"{key:<22}"
            for b in bs_names:
                s = results[key][b]
                rec = s.get("class_b_recovered")
                row += (
                    f" | {s['mospa_all_m']:6.2f} /{s['mospa_last_m']:6.2f} m"
                    f"  {s['completeness']:4.2f} {'  -' if rec is None else f'{rec:4.2f}'}"
                    f" {s.get('false_vas', 0.0):6.2f} {s['ms_per_epoch']:5.1f}"
                )
            lines.append(row)
        for b in bs_names:
            f = results["front_end"][b]
            lines.append(
                f"{b}: front end {f['ms_per_epoch']:.2f} ms/epoch, PARAMING alone "
                f"{f['paraming_ms_per_epoch']:.2f} ms/epoch (same run); per epoch "
                f"{f.get('measurements', 0.0):.2f} estimates for "
                f"{f.get('specular_paths', 0.0):.2f} LoS + specular paths, "
                f"{f.get('unmatched', 0.0):.2f} unmatched; epochs unsynchronised "
                f"{f.get('unsynchronised', 0.0):.3f}, missynchronised "
                f"{f.get('missynchronised', 0.0):.3f}"
            )
        return "\n".join(lines)

    def plot(self, results: dict[str, Any], path: str | Path) -> Path:
        """Grouped bars per BS: MOSPA over all epochs, completeness, ms per epoch."""
        from skysense.plotting import plot_bars

        bs_names = list(results["front_end"])
        rows = [k for k in results if k != "front_end"]
        panels = [
            (label, {k: [results[k][b][field] for b in bs_names] for k in rows})
            for label, field in (
                ("MOSPA, all epochs [m]", "mospa_all_m"),
                ("completeness", "completeness"),
                ("time per epoch [ms]", "ms_per_epoch"),
            )
        ]
        out: Path = plot_bars(panels, bs_names, path, title="mapping from CSI vs ideal")
        return out

    def paper(self) -> dict[str, Any]:
        return {
            "source": "not in either paper: the mapping paper assumes a channel estimator, "
            "the bistatic paper provides PARAMING",
            "schemes": {
                m: SCHEMES[m.removesuffix("_angles")]
                + (", angle-aided bistatic model (ours)" if m.endswith("_angles") else "")
                for m in self.methods
            },
        }
