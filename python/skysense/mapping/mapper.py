"""Scheme I / Scheme II mappers and the single-link and one-to-one baselines (spec 4)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from skysense.mapping.link import Link
from skysense.mapping.one_to_one import one_to_one_init, one_to_one_update
from skysense.mapping.params import MappingParams
from skysense.mapping.spa import ENGINES, spa_update
from skysense.mapping.state import PmfState

__all__ = ["SCHEMES", "MapResult", "Mapper", "union_map"]

#: scheme name -> description (the paper's labels).
SCHEMES = {
    "fusion1": "Scheme I, bistatic dominant (Fusion 1)",
    "fusion2": "Scheme I, monostatic dominant (Fusion 2)",
    "fusion3": "Scheme II, bistatic -> monostatic (Fusion 3)",
    "fusion4": "Scheme II, monostatic -> bistatic (Fusion 4)",
    "monostatic": "monostatic only",
    "bistatic": "bistatic only, diffuse-aware ([29]-style)",
    "specular": "fusion without diffuse modelling ([23]-style, one-to-one)",
}

#: LoS gate: bistatic ranges within this many sigma_r of |u - p_B| are the direct path.
LOS_GATE_SIGMAS = 3.0


@dataclass(frozen=True)
class MapResult:
    """Output of :meth:`Mapper.run` for one BS.

    Attributes
    ----------
    estimates : tuple of ndarray, each shape (n_detected, 3), [m]
        Detected VA estimates (MMSE) per epoch.
    n_pmfs : ndarray, shape (n_epochs,), int
        PMFs carried after pruning.
    state : PmfState
        Final PMFs.
    """

    estimates: tuple
    n_pmfs: np.ndarray
    state: PmfState


def union_map(results) -> np.ndarray:
    """Union of the final per-BS maps (facade planes differ per BS), shape (n, 3) [m]."""
    return np.concatenate([r.estimates[-1] for r in results]).reshape(-1, 3)


@dataclass(frozen=True)
class Mapper:
    """Per-BS mapper built from the per-epoch module.

    Parameters
    ----------
    scheme : str
        One of :data:`SCHEMES`.
    params : MappingParams
    engine : {"cpp", "numpy"}
        Module implementation (the one-to-one baseline is NumPy only).
    workers : int
        Threads of the C++ module.

    Notes
    -----
    Per epoch: Scheme I makes one module call over both links, the dominant one creating
    births and the auxiliary one updating legacy PMFs only; Scheme II makes two calls, the
    second on the first's output without temporal prediction (p_cs = 1, p_cb = 0); single-link
    baselines make one call on one link. Bistatic ranges matching the LoS are gated out.
    With ``params.birth_height_std_m`` set and ``params.birth_height_m`` unset, bistatic births
    use the vertical-facade birth pdf centred on this BS's height (the VA height of every
    vertical facade).
    """

    scheme: str = "fusion3"
    params: MappingParams = field(default_factory=MappingParams)
    engine: str = "cpp"
    workers: int = 1

    def __post_init__(self):
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {tuple(SCHEMES)}, got {self.scheme!r}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {self.engine!r}")
        if not isinstance(self.params, MappingParams):
            raise TypeError("params must be a MappingParams")

    def _links(self, zb, zm, uav, bs):
        prm = self.params
        zb = np.asarray(zb, float).reshape(-1)
        los = np.linalg.norm(np.asarray(uav, float) - bs)
        zb = zb[np.abs(zb - los) >= LOS_GATE_SIGMAS * prm.range_std_m]
        b = Link("bistatic", zb, uav, visibility=prm.visibility_b)
        m = Link("monostatic", zm, bs, visibility=prm.visibility_m)
        return b, m

    def step(self, state: PmfState, zb, zm, uav, bs, rng, *, first_epoch=False):
        """One epoch; returns ``(state, estimates)`` (pruned PMFs, detected MMSE positions)."""
        prm = self.params
        if prm.birth_height_std_m is not None and prm.birth_height_m is None:
            prm = replace(prm, birth_height_m=float(np.asarray(bs, float)[2]))
        if self.scheme == "specular":
            zb = np.asarray(zb, float).reshape(-1)
            zb = zb[
                np.abs(zb - np.linalg.norm(np.asarray(uav) - bs))
                >= LOS_GATE_SIGMAS * prm.range_std_m
            ]
            if first_epoch:
                state = one_to_one_init(zm, bs, prm, rng)
            state = one_to_one_update(state, zb, np.asarray(uav, float), prm, rng).prune(
                prm.prune_threshold
            )
            p = state.existence
            return state, state.means()[p > prm.detect_threshold]
        b, m = self._links(zb, zm, uav, bs)
        kw = {"engine": self.engine, "workers": self.workers}
        if self.scheme in ("fusion1", "fusion2"):
            dom, aux = (b, m) if self.scheme == "fusion1" else (m, b)
            aux = Link(aux.kind, aux.z, aux.sensor, births=False, visibility=aux.visibility)
            stages = [[dom, aux]]
        elif self.scheme in ("fusion3", "fusion4"):
            stages = [[b], [m]] if self.scheme == "fusion3" else [[m], [b]]
        else:
            stages = [[b]] if self.scheme == "bistatic" else [[m]]
        res = None
        for s, links in enumerate(stages):
            res = spa_update(state, links, prm, predict=s == 0, rng=rng, prune=True, **kw)
            state = res.state
        return state, res.estimates[res.detected(prm.detect_threshold)]

    def run(self, data, *, rng=None, n_epochs: int | None = None) -> MapResult:
        """Map one BS over its epochs.

        Parameters
        ----------
        data : BsData
            From :func:`skysense.mapping.simulate`.
        rng : None, int or numpy.random.Generator
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

    def epochs(self, data, *, rng=None, n_epochs: int | None = None):
        """Iterate :meth:`step` over the epochs of ``data`` (a ``BsData``) from an empty map,
        yielding ``(state, estimates)`` after each epoch (for streaming and monitoring)."""
        rng = np.random.default_rng(rng)
        n = data.n_epochs if n_epochs is None else min(int(n_epochs), data.n_epochs)
        state = PmfState.empty(self.params.n_particles)
        for e in range(n):
            state, est = self.step(
                state,
                data.bistatic[e],
                data.monostatic[e],
                data.uav[e],
                data.bs_position,
                rng,
                first_epoch=e == 0,
            )
            yield state, est
