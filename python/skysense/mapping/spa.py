"""The per-epoch particle sum-product module (spec section 3), one call per BS and stage."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skysense._validation import resolve_workers
from skysense.mapping._spa_numpy import spa_update_numpy
from skysense.mapping.link import Link
from skysense.mapping.params import MappingParams
from skysense.mapping.state import PmfState

__all__ = ["ENGINES", "SpaResult", "spa_update"]

#: Implementations of the module: the C++ kernel and its pure NumPy reference.
ENGINES = ("cpp", "numpy")


@dataclass(frozen=True)
class SpaResult:
    """Output of one module call.

    Attributes
    ----------
    state : PmfState
        Legacy PMFs (same order) then one new PMF per birth-link measurement, resampled and
        jittered, with posterior existence log-odds (``-inf``: new PMF without birth support).
        Not pruned.
    estimates : ndarray, shape (n_pmfs, 3), [m]
        MMSE positions (posterior weighted means before resampling; NaN for dropped PMFs).
    inputs : PmfState or None
        With ``return_inputs``: the particles, log weights and prior log-odds the messages were
        computed on (after prediction and births). A new PMF uses its first
        ``params.n_birth_particles`` particles (see :attr:`n_used`); the rest of its row
        repeats them cyclically with log weight ``-inf``.
    posterior_log_weights : ndarray, shape (n_pmfs, n_particles) or None
        With ``return_inputs``: the unnormalised posterior log weights S (``-inf`` beyond the
        particles a PMF uses).
    """

    state: PmfState
    estimates: np.ndarray
    inputs: PmfState | None = None
    posterior_log_weights: np.ndarray | None = None

    @property
    def n_used(self) -> np.ndarray | None:
        """With ``return_inputs``: particles each PMF's messages used, shape (n_pmfs,)."""
        if self.inputs is None:
            return None
        return np.isfinite(self.inputs.log_weights).sum(axis=1)

    def detected(self, threshold: float) -> np.ndarray:
        """Mask (n_pmfs,) of PMFs whose existence probability exceeds ``threshold``."""
        return self.state.logodds > np.log(threshold) - np.log1p(-threshold)


def _seed(rng) -> int:
    return int(np.random.default_rng(rng).integers(0, 2**63, dtype=np.int64))


def spa_update(
    state: PmfState,
    links,
    params: MappingParams,
    *,
    predict: bool = True,
    rng=None,
    engine: str = "cpp",
    workers: int = 1,
    return_inputs: bool = False,
    prune: bool = False,
) -> SpaResult:
    """One module call: prediction, births, T message-passing iterations, beliefs, resampling.

    Parameters
    ----------
    state : PmfState
        Legacy PMFs (posterior of the previous epoch or stage).
    links : sequence of Link
        Links of this call; each link's ``births`` says whether it creates new PMFs.
    params : MappingParams
        Model constants; ``params.n_particles`` is not used (``state`` fixes P).
    predict : bool
        Apply the temporal prediction (survival ``p_s``, process noise) to legacy PMFs; False is
        Scheme II's deterministic cross-link transition.
    rng : None, int or numpy.random.Generator
        Source of the kernel seed (``cpp``) or of all draws (``numpy``).
    engine : {"cpp", "numpy"}
        The C++ kernel or the NumPy reference (slow; same equations).
    workers : int
        Threads of the C++ kernel (results do not depend on it).
    return_inputs : bool
        Also return the particles the messages used and the posterior log weights (cpp only).
    prune : bool
        Return only the PMFs whose existence probability is at least
        ``params.prune_threshold`` (in order; ``state`` and ``estimates`` alike), as
        :meth:`PmfState.prune` would; the C++ kernel then does not write the particles of the
        others. Not with ``return_inputs``.

    Returns
    -------
    SpaResult

    Notes
    -----
    Legacy PMF k on link l carries the visibility factor
    :math:`\\Phi_l(x) = (1 - p_v) + p_v e^{-\\mu_l} \\prod_m \\gamma_{m \\to k}(x)` (spec 3.7,
    :math:`p_v = 1` is the paper's pseudo-prior :math:`e^{-\\mu_l}`); new PMFs start with
    log-odds :math:`\\log \\mu_n - \\mu_l`. Messages are in log form with a floor of -700.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if not isinstance(prune, (bool, np.bool_)):
        raise TypeError(f"prune must be a bool, got {type(prune).__name__}")
    if prune and return_inputs:
        raise ValueError("prune and return_inputs cannot be combined")
    if not isinstance(state, PmfState):
        raise TypeError(f"state must be a PmfState, got {type(state).__name__}")
    links = list(links)
    for link in links:
        if not isinstance(link, Link):
            raise TypeError(f"links must hold Link objects, got {type(link).__name__}")
        link.check_region(params)
    kp = params.kernel_dict()
    k_leg, n_p = state.n_pmfs, state.n_particles
    # legacy PMFs that were dropped (-inf) are removed before the call
    if np.isneginf(state.logodds).any():
        state = state.select(np.isfinite(state.logodds))
        k_leg = state.n_pmfs
    kt = k_leg + sum(link.n_meas for link in links if link.births)
    if engine == "numpy":
        if return_inputs:
            raise ValueError("return_inputs is only available with engine='cpp'")
        x_out, eta, x_hat = spa_update_numpy(
            state.positions,
            state.log_weights,
            state.logodds,
            links,
            kp,
            predict,
            np.random.default_rng(rng),
        )
        res = SpaResult(PmfState(x_out, np.zeros((kt, n_p)), eta), x_hat)
        if prune:
            keep = eta >= kp["log_prune"]
            res = SpaResult(res.state.select(keep), x_hat[keep])
        return res
    from skysense import _blas, _core  # noqa: F401  (_blas first: loads the LAPACK of _core)

    x_out = np.empty((kt, n_p, 3))
    eta = np.empty(kt)
    x_hat = np.empty((kt, 3))
    extra = {}
    if return_inputs:
        extra = {
            "x_in": np.empty((kt, n_p, 3)),
            "lam_in": np.empty((kt, n_p)),
            "eta_in": np.empty(kt),
            "log_weights": np.empty((kt, n_p)),
        }
    sensors = np.array([link.sensor for link in links], dtype=np.float64).reshape(len(links), 3)
    _core.spa_update(
        kp,
        state.positions,
        state.log_weights,
        state.logodds,
        [0 if link.kind == "bistatic" else 1 for link in links],
        [link.z for link in links],
        sensors,
        [bool(link.births) for link in links],
        [bool(link.diffuse) for link in links],
        [float(link.visibility) for link in links],
        bool(predict),
        _seed(rng),
        x_out,
        eta,
        x_hat,
        n_threads=resolve_workers(workers),
        prune=bool(prune),
        **extra,
    )
    if prune:  # the survivors fill the first rows of x_out (the rest is never touched)
        keep = eta >= kp["log_prune"]
        n_keep = int(keep.sum())
        out = PmfState._trusted(x_out[:n_keep], np.zeros((n_keep, n_p)), eta[keep])
        return SpaResult(out, x_hat[keep])
    # kernel outputs: finite particles, log-odds finite or -inf (no re-validation)
    out = PmfState._trusted(x_out, np.zeros((kt, n_p)), eta)
    if not return_inputs:
        return SpaResult(out, x_hat)
    inputs = PmfState(extra["x_in"], extra["lam_in"], extra["eta_in"])
    return SpaResult(out, x_hat, inputs, extra["log_weights"])
