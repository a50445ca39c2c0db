"""Scheme I / Scheme II mappers and the single-link and one-to-one baselines (paper Sec. IV)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from skysense._results import Result
from skysense._rng import RngLike, as_generator
from skysense._workers import resolve_workers
from skysense.mapping.link import BistaticAngles, Link
from skysense.mapping.one_to_one import one_to_one_init, one_to_one_update
from skysense.mapping.params import MappingParams
from skysense.mapping.simulate import BsData
from skysense.mapping.spa import ENGINES, spa_update
from skysense.mapping.state import PmfState

__all__ = ["LOS_GATE_SIGMAS", "SCHEMES", "MapResult", "Mapper", "union_map"]

FloatArray = npt.NDArray[np.float64]

#: scheme name -> description (the paper's labels, Sec. V).
SCHEMES = {
    "fusion1": "Scheme I, bistatic dominant (Fusion 1)",
    "fusion2": "Scheme I, monostatic dominant (Fusion 2)",
    "fusion3": "Scheme II, bistatic -> monostatic (Fusion 3)",
    "fusion4": "Scheme II, monostatic -> bistatic (Fusion 4)",
    "monostatic": "monostatic only",
    "bistatic": "bistatic only, diffuse-aware ([29]-style)",
    "specular": "fusion without diffuse modelling ([23]-style, one-to-one)",
}

#: LoS gate: bistatic ranges within this many ``range_std_m`` of |u - p_B| are the direct path.
LOS_GATE_SIGMAS = 3.0


@dataclass(frozen=True, repr=False)
class MapResult(Result):
    """Output of :meth:`Mapper.run` for one BS.

    Attributes
    ----------
    estimates_m : tuple of ndarray, each shape (n_detected, 3) [m]
        Detected VA estimates (MMSE) per epoch.
    n_pmfs : ndarray, shape (n_epochs,), int
        PMFs carried after pruning, per epoch.
    state : PmfState
        Final PMFs.

    Examples
    --------
    >>> from skysense.mapping import Mapper, MappingParams, default_scene, simulate
    >>> (data,) = simulate(default_scene(20), rng=1, bs_indices=[0])
    >>> res = Mapper("monostatic", MappingParams(n_particles=300)).run(data, rng=0)
    >>> res.estimates_m[-1].shape[1], res.state.n_particles
    (3, 300)
    """

    estimates_m: tuple[FloatArray, ...]
    n_pmfs: npt.NDArray[np.int64]
    state: PmfState


def union_map(results: Iterable[MapResult]) -> FloatArray:
    """Union of the final per-BS maps (facade planes differ per BS; paper Sec. IV-A).

    Parameters
    ----------
    results : iterable of MapResult
        One per BS.

    Returns
    -------
    ndarray, shape (n, 3) [m]
        Estimated VA positions of every BS's last epoch, stacked.

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.mapping import MapResult, PmfState, union_map
    >>> one = MapResult((np.ones((2, 3)),), np.array([2]), PmfState.empty(1))
    >>> union_map([one, one]).shape
    (4, 3)
    """
    return np.concatenate([r.estimates_m[-1] for r in results]).reshape(-1, 3)


@dataclass(frozen=True)
class Mapper:
    """Per-BS mapper built from the per-epoch module (:func:`~skysense.mapping.spa_update`).

    Parameters
    ----------
    scheme : str
        One of :data:`SCHEMES`.
    params : MappingParams
        Measurement model, birth model and sum-product settings.
    engine : {"cpp", "numpy"}
        Module implementation (the one-to-one baseline is NumPy only).
    workers : int or None
        Threads of the C++ module (``None``: :func:`skysense.get_workers`; ``-1``: all CPUs);
        results do not depend on it.

    Notes
    -----
    Per epoch: Scheme I makes one module call over both links, the dominant one creating
    births and the auxiliary one updating legacy PMFs only (paper eq. (21) and Sec. IV-B);
    Scheme II makes two calls, the second on the first's output without temporal prediction
    (eqs. (14)-(17) with p_cs = 1, p_cb = 0); single-link baselines make one call on one link.
    Bistatic ranges matching the LoS are gated out. With ``params.birth_height_std_m`` set and
    ``params.birth_height_m`` unset, bistatic births use the vertical-facade birth pdf centred
    on this BS's height (the VA height of every vertical facade).

    Examples
    --------
    >>> from skysense.mapping import Mapper, MappingParams, default_scene, simulate
    >>> (data,) = simulate(default_scene(20), rng=1, bs_indices=[0])
    >>> res = Mapper("fusion3", MappingParams(n_particles=300)).run(data, rng=0, n_epochs=3)
    >>> len(res.estimates_m), res.n_pmfs.shape
    (3, (3,))
    """

    scheme: str = "fusion3"
    params: MappingParams = field(default_factory=MappingParams)
    engine: str = "cpp"
    workers: int | None = None

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {tuple(SCHEMES)}, got {self.scheme!r}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {self.engine!r}")
        if not isinstance(self.params, MappingParams):
            raise TypeError(f"params must be a MappingParams, got {type(self.params).__name__}")
        resolve_workers(self.workers)  # validates

    def _bistatic_without_los(
        self, bistatic_ranges_m: npt.ArrayLike, uav: FloatArray, bs: FloatArray
    ) -> FloatArray:
        zb = np.asarray(bistatic_ranges_m, float).reshape(-1)
        return zb[self._not_los(zb, uav, bs)]

    def _not_los(self, zb: FloatArray, uav: FloatArray, bs: FloatArray) -> npt.NDArray[np.bool_]:
        los = np.linalg.norm(uav - bs)
        return np.asarray(np.abs(zb - los) >= LOS_GATE_SIGMAS * self.params.range_std_m)

    def _links(
        self,
        bistatic_ranges_m: npt.ArrayLike,
        monostatic_positions_m: npt.ArrayLike,
        uav_position_m: npt.ArrayLike,
        bs_position_m: npt.ArrayLike,
        bistatic_angles: BistaticAngles | None = None,
    ) -> tuple[Link, Link]:
        """The bistatic (LoS gated out) and monostatic links of one epoch."""
        prm = self.params
        uav, bs = np.asarray(uav_position_m, float), np.asarray(bs_position_m, float)
        zb = np.asarray(bistatic_ranges_m, float).reshape(-1)
        keep = self._not_los(zb, uav, bs)
        angles = None
        if prm.bistatic_angles:  # angle-aided (ours; docs/pipeline.md)
            if bistatic_angles is None:
                raise ValueError(
                    "params.bistatic_angles=True needs the bistatic angles (bistatic_angles, "
                    "or BsData.bistatic_angles: skysense.pipeline.with_bistatic_measurements)"
                )
            if not isinstance(bistatic_angles, BistaticAngles):
                raise TypeError(
                    "bistatic_angles must be a BistaticAngles, got "
                    f"{type(bistatic_angles).__name__}"
                )
            if bistatic_angles.n_measurements != zb.shape[0]:
                raise ValueError(
                    f"bistatic_angles must have one entry per bistatic range ({zb.shape[0]}), "
                    f"got {bistatic_angles.n_measurements}"
                )
            angles = bistatic_angles.select(keep)
        b = Link("bistatic", zb[keep], uav, visibility=prm.visibility_bistatic, angles=angles)
        zm = np.asarray(monostatic_positions_m, float)
        m = Link("monostatic", zm, bs, visibility=prm.visibility_monostatic)
        return b, m

    def step(
        self,
        state: PmfState,
        bistatic_ranges_m: npt.ArrayLike,
        monostatic_positions_m: npt.ArrayLike,
        uav_position_m: npt.ArrayLike,
        bs_position_m: npt.ArrayLike,
        *,
        rng: RngLike = None,
        first_epoch: bool = False,
        bistatic_angles: BistaticAngles | None = None,
    ) -> tuple[PmfState, FloatArray]:
        """One epoch of the scheme.

        Parameters
        ----------
        state : PmfState
            PMFs after the previous epoch.
        bistatic_ranges_m : array_like, shape (n_bistatic,) [m]
            Bistatic pseudo-ranges of the epoch (the LoS is gated out here).
        monostatic_positions_m : array_like, shape (n_monostatic, 3) [m]
            Monostatic pseudo-positions of the epoch.
        uav_position_m, bs_position_m : array_like, shape (3,) [m]
            UAV and BS positions.
        rng : None, int, numpy.random.SeedSequence or numpy.random.Generator
            Source of the module calls' seeds.
        first_epoch : bool
            The one-to-one baseline initialises its PMFs from the monostatic points.
        bistatic_angles : BistaticAngles, optional
            AoA and AoD of each bistatic range; used (and required) with
            ``params.bistatic_angles`` (the angle-aided model, docs/pipeline.md).

        Returns
        -------
        state : PmfState
            Pruned PMFs.
        estimates_m : ndarray, shape (n_detected, 3) [m]
            MMSE positions of the detected PMFs.
        """
        gen = as_generator(rng)
        prm = self.params
        bs = np.asarray(bs_position_m, float)
        if prm.birth_height_std_m is not None and prm.birth_height_m is None:
            prm = replace(prm, birth_height_m=float(bs[2]))
        if self.scheme == "specular":
            uav = np.asarray(uav_position_m, float)
            zb = self._bistatic_without_los(bistatic_ranges_m, uav, bs)
            if first_epoch:
                state = one_to_one_init(monostatic_positions_m, bs, prm, rng=gen)
            state = one_to_one_update(state, zb, uav, prm, rng=gen).prune(prm.prune_threshold)
            p = state.existence
            return state, state.mean_positions_m()[p > prm.detect_threshold]
        b, m = self._links(
            bistatic_ranges_m, monostatic_positions_m, uav_position_m, bs, bistatic_angles
        )
        if self.scheme in ("fusion1", "fusion2"):
            dom, aux = (b, m) if self.scheme == "fusion1" else (m, b)
            aux = replace(aux, births=False)
            stages = [[dom, aux]]
        elif self.scheme in ("fusion3", "fusion4"):
            stages = [[b], [m]] if self.scheme == "fusion3" else [[m], [b]]
        else:
            stages = [[b]] if self.scheme == "bistatic" else [[m]]
        res = spa_update(
            state, stages[0], prm, rng=gen, engine=self.engine, workers=self.workers, prune=True
        )
        for links in stages[1:]:  # Scheme II's second link: no temporal prediction
            res = spa_update(
                res.state,
                links,
                prm,
                predict=False,
                rng=gen,
                engine=self.engine,
                workers=self.workers,
                prune=True,
            )
        state = res.state
        return state, res.estimates_m[res.detected(prm.detect_threshold)]

    def run(self, data: BsData, *, rng: RngLike = None, n_epochs: int | None = None) -> MapResult:
        """Map one BS over its epochs, from an empty map.

        Parameters
        ----------
        data : BsData
            From :func:`skysense.mapping.simulate`.
        rng : None, int, numpy.random.SeedSequence or numpy.random.Generator
        n_epochs : int, optional
            Only the first ``n_epochs`` epochs.

        Returns
        -------
        MapResult
        """
        estimates, n_pmfs = [], []
        state = PmfState.empty(self.params.n_particles)
        for state, est in self.epochs(data, rng=rng, n_epochs=n_epochs):
            estimates.append(est)
            n_pmfs.append(state.n_pmfs)
        return MapResult(tuple(estimates), np.array(n_pmfs, np.int64), state)

    def epochs(
        self, data: BsData, *, rng: RngLike = None, n_epochs: int | None = None
    ) -> Iterator[tuple[PmfState, FloatArray]]:
        """Iterate :meth:`step` over the epochs of ``data`` from an empty map, yielding
        ``(state, estimates_m)`` after each epoch (for streaming and monitoring).

        Parameters and the random stream are those of :meth:`run`.
        """
        gen = as_generator(rng)
        n = data.n_epochs if n_epochs is None else min(int(n_epochs), data.n_epochs)
        state = PmfState.empty(self.params.n_particles)
        angles = data.bistatic_angles if self.params.bistatic_angles else None
        for e in range(n):
            state, est = self.step(
                state,
                data.bistatic_ranges_m[e],
                data.monostatic_positions_m[e],
                data.uav_positions_m[e],
                data.bs_position_m,
                rng=gen,
                first_epoch=e == 0,
                bistatic_angles=None if angles is None else angles[e],
            )
            yield state, est
