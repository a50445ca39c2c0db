"""The per-epoch particle sum-product module, one call per BS and stage (mapping paper Sec. IV)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from skysense._results import Result
from skysense._rng import RngLike, as_generator
from skysense._workers import resolve_workers
from skysense.mapping._spa_numpy import spa_update_numpy
from skysense.mapping.link import Link
from skysense.mapping.params import MappingParams
from skysense.mapping.state import PmfState

__all__ = ["ENGINES", "SpaResult", "spa_update"]

#: Implementations of the module: the C++ kernel and its pure NumPy twin.
ENGINES = ("cpp", "numpy")


@dataclass(frozen=True, repr=False)
class SpaResult(Result):
    """Output of one module call.

    Attributes
    ----------
    state : PmfState
        Legacy PMFs (same order) then one new PMF per birth-link measurement, resampled and
        jittered, with posterior existence log-odds (``-inf``: new PMF without birth support,
        or censored). Not pruned unless the call asked for it.
    estimates_m : ndarray, shape (n_pmfs, 3), float64 [m]
        MMSE positions (posterior weighted means before resampling; NaN for dropped PMFs).
    inputs : PmfState or None
        With ``return_inputs``: the particles, log weights and prior log-odds the messages were
        computed on (after prediction and births). A new PMF uses its first
        ``params.n_birth_particles`` particles (:attr:`n_particles_used`); the rest of its row
        repeats them cyclically with log weight ``-inf``.
    posterior_log_weights : ndarray, shape (n_pmfs, n_particles), float64, or None
        With ``return_inputs``: the unnormalised posterior log weights (``-inf`` beyond the
        particles a PMF uses).

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.mapping import Link, MappingParams, PmfState, spa_update
    >>> link = Link("bistatic", [80.0, 95.0], [0.0, 0.0, 30.0])
    >>> res = spa_update(PmfState.empty(200), [link], MappingParams(), rng=0, return_inputs=True)
    >>> res.n_particles_used, res.detected(0.5)
    (array([200, 200]), array([False, False]))
    """

    state: PmfState
    estimates_m: npt.NDArray[np.float64]
    inputs: PmfState | None = None
    posterior_log_weights: npt.NDArray[np.float64] | None = None

    @property
    def n_particles_used(self) -> npt.NDArray[np.int64] | None:
        """With ``return_inputs``: particles each PMF's messages used, shape (n_pmfs,)."""
        if self.inputs is None:
            return None
        return np.isfinite(self.inputs.log_weights).sum(axis=1)

    def detected(self, threshold: float) -> npt.NDArray[np.bool_]:
        """Mask (n_pmfs,) of PMFs whose existence probability exceeds ``threshold``."""
        return self.state.existence_logodds > np.log(threshold) - np.log1p(-threshold)


def _seed(rng: RngLike) -> int:
    """The kernel's seed: one draw from ``rng``."""
    return int(as_generator(rng).integers(0, 2**63, dtype=np.int64))


def spa_update(
    state: PmfState,
    links: Iterable[Link],
    params: MappingParams,
    *,
    predict: bool = True,
    rng: RngLike = None,
    engine: str = "cpp",
    workers: int | None = None,
    return_inputs: bool = False,
    prune: bool = False,
) -> SpaResult:
    """One module call: prediction, births, T message-passing iterations, beliefs, resampling.

    Parameters
    ----------
    state : PmfState
        Legacy PMFs (posterior of the previous epoch or stage).
    links : iterable of Link
        Links of this call; each link's ``births`` says whether it creates new PMFs.
    params : MappingParams
        Model constants; ``params.n_particles`` is not used (``state`` fixes P).
    predict : bool
        Apply the temporal prediction (survival, process noise; mapping paper eqs. (12)-(13))
        to the legacy PMFs; False is Scheme II's deterministic cross-link transition
        (eqs. (16)-(17) with p_cs = 1, p_cb = 0).
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator
        Source of the kernel seed (``cpp``: one draw) or of all draws (``numpy``).
    engine : {"cpp", "numpy"}
        The C++ kernel or its NumPy twin (slow; same equations, other random draws).
    workers : int or None
        Threads of the C++ kernel (``None``: :func:`skysense.get_workers`, ``-1``: all CPUs);
        results do not depend on it.
    return_inputs : bool
        Also return the particles the messages used and the posterior log weights (cpp only).
    prune : bool
        Return only the PMFs whose existence probability is at least
        ``params.prune_threshold`` (in order; ``state`` and ``estimates_m`` alike), as
        :meth:`PmfState.prune` would; the C++ kernel then does not write the particles of the
        others. Not with ``return_inputs``.

    Returns
    -------
    SpaResult
        Updated PMFs, their MMSE position estimates and optional message inputs.

    Raises
    ------
    ValueError
        For a measurement outside the clutter region of ``params``, an unknown engine, or
        ``prune`` with ``return_inputs``.
    TypeError
        For links that are not :class:`Link` objects or a state that is not a
        :class:`PmfState`.

    Notes
    -----
    Legacy PMF k on link l carries the visibility factor
    :math:`\\Phi_l(x) = (1 - p_v) + p_v e^{-\\mu_l} \\prod_m \\gamma_{m \\to k}(x)`
    (docs/mapping_model.md, section 3.4; :math:`p_v = 1` is the paper's pseudo-prior
    :math:`e^{-\\mu_l}` of eq. (26)); new PMFs start with log-odds
    :math:`\\log \\mu_n - \\mu_l` (eq. (27)). Messages are in log form with a floor of -700.

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.mapping import Link, MappingParams, PmfState, spa_update
    >>> params = MappingParams(n_particles=500)
    >>> bs = np.array([0.0, 30.0, 15.0])
    >>> link = Link("monostatic", [[-25.0, 31.0, 16.0], [-25.1, 28.0, 12.0]], bs)
    >>> res = spa_update(PmfState.empty(500), [link], params, rng=0)
    >>> res.state.n_pmfs, res.estimates_m.shape  # one new PMF per measurement
    (2, (2, 3))
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if not isinstance(prune, bool | np.bool_):
        raise TypeError(f"prune must be a bool, got {type(prune).__name__}")
    if prune and return_inputs:
        raise ValueError("prune and return_inputs cannot be combined")
    if not isinstance(state, PmfState):
        raise TypeError(f"state must be a PmfState, got {type(state).__name__}")
    n_threads = resolve_workers(workers)
    links = list(links)
    for link in links:
        if not isinstance(link, Link):
            raise TypeError(f"links must hold Link objects, got {type(link).__name__}")
        link.check_region(params)
    kc = params._kernel_constants()
    # legacy PMFs that were dropped (-inf) are removed before the call
    if np.isneginf(state.existence_logodds).any():
        state = state.select(np.isfinite(state.existence_logodds))
    n_p = state.n_particles
    kt = state.n_pmfs + sum(link.n_measurements for link in links if link.births)
    if engine == "numpy":
        if return_inputs:
            raise ValueError("return_inputs is only available with engine='cpp'")
        positions, logodds, estimates = spa_update_numpy(
            state.positions_m,
            state.log_weights,
            state.existence_logodds,
            links,
            kc,
            predict,
            as_generator(rng),
        )
        res = SpaResult(PmfState(positions, np.zeros((kt, n_p)), logodds), estimates)
        if prune:
            keep = logodds >= kc.log_prune_odds
            res = SpaResult(res.state.select(keep), estimates[keep])
        return res
    from skysense import _blas, _core  # noqa: F401  (_blas first: loads the LAPACK of _core)

    positions = np.empty((kt, n_p, 3))
    logodds = np.empty(kt)
    estimates = np.empty((kt, 3))
    extra: dict[str, npt.NDArray[np.float64]] = {}
    if return_inputs:
        extra = {
            "out_input_positions_m": np.empty((kt, n_p, 3)),
            "out_input_log_weights": np.empty((kt, n_p)),
            "out_input_logodds": np.empty(kt),
            "out_posterior_log_weights": np.empty((kt, n_p)),
        }
    sensors = np.array([link.sensor_position_m for link in links], dtype=np.float64)
    if any(link.angles is not None for link in links):  # angle-aided (docs/pipeline.md)
        extra_any: dict[str, object] = {
            "angles": [
                None if link.angles is None else link.angles.kernel_rows(params.angle_spread_rad)
                for link in links
            ],
            "angle_geometry": np.array(
                [
                    np.zeros(9)
                    if link.angles is None
                    else np.concatenate(
                        [link.angles.uav_axis, link.angles.bs_axis, link.angles.bs_position_m]
                    )
                    for link in links
                ]
            ).reshape(len(links), 9),
        }
    else:
        extra_any = {}
    _core.spa_update(
        params=kc.as_dict(),
        positions_m=state.positions_m,
        log_weights=state.log_weights,
        logodds=state.existence_logodds,
        link_kinds=[0 if link.kind == "bistatic" else 1 for link in links],
        measurements=[link.measurements_m for link in links],
        sensors_m=sensors.reshape(len(links), 3),
        births=[bool(link.births) for link in links],
        diffuse=[bool(link.diffuse) for link in links],
        visibility=[float(link.visibility) for link in links],
        predict=bool(predict),
        seed=_seed(rng),
        out_positions_m=positions,
        out_logodds=logodds,
        out_estimates_m=estimates,
        n_threads=n_threads,
        prune=bool(prune),
        **extra,
        **extra_any,
    )
    if prune:  # the survivors fill the first rows of positions (the rest is never touched)
        keep = logodds >= kc.log_prune_odds
        n_keep = int(keep.sum())
        out = PmfState._trusted(positions[:n_keep], np.zeros((n_keep, n_p)), logodds[keep])
        return SpaResult(out, estimates[keep])
    # kernel outputs: finite particles, log-odds finite or -inf (no re-validation)
    out = PmfState._trusted(positions, np.zeros((kt, n_p)), logodds)
    if not return_inputs:
        return SpaResult(out, estimates)
    inputs = PmfState(
        extra["out_input_positions_m"], extra["out_input_log_weights"], extra["out_input_logodds"]
    )
    return SpaResult(out, estimates, inputs, extra["out_posterior_log_weights"])
