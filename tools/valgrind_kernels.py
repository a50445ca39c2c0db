"""Call every entry point of the compiled extension once, on small inputs, for valgrind.

    valgrind --error-exitcode=1 --suppressions=tools/valgrind-python.supp \\
        python tools/valgrind_kernels.py

Each ``skysense._core`` function (and each stage method of ``_core._spa_stages.ModuleCall``) is
wrapped to count its calls; the script fails if one was not reached. Inputs are tiny so that the
whole run takes a few minutes under memcheck. Reach each kernel through its public wrapper where
there is one, directly otherwise (tracking stages, mapping stages, test helpers).
"""

import sys
from collections import Counter
from typing import Any

import numpy as np

from skysense import _blas, _core  # noqa: F401  (_blas first: loads the LAPACK of _core)

CALLS: Counter[str] = Counter()


def _counted(name: str, fn: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        CALLS[name] += 1
        return fn(*args, **kwargs)

    return wrapper


FUNCTIONS = sorted(
    n
    for n in dir(_core)
    if not n.startswith("__") and callable(getattr(_core, n)) and n != "_spa_stages"
)
for _name in FUNCTIONS:
    setattr(_core, _name, _counted(_name, getattr(_core, _name)))
STAGES = _core._spa_stages
STAGE_METHODS = [
    "predict_legacy_pmfs",
    "add_legacy_edges",
    "censor_new_pmfs",
    "draw_new_pmfs",
    "add_new_pmf_edges",
    "iterate_messages",
    "beliefs_and_estimates",
    "resample_pmfs",
    "pmfs",
    "edges",
    "beliefs",
    "resampled",
]
STAGE_FUNCTIONS = ["birth_randoms", "place_new_pmf", "systematic_resample"]


def imaging() -> None:
    from skysense.imaging import Scenario, SensingOperator, backproject, sensing_matrix, simulate
    from skysense.imaging import subspace_pursuit as sp

    s = Scenario(roi_size_m=(9.0, 6.0, 0.0), n_bs=2, n_antennas_side=2, n_subcarriers=3)
    for dtype in (np.complex64, np.complex128):
        a = sensing_matrix(s, dtype)  # sensing_matrix
        op = SensingOperator(s, dtype)  # link_matrix
        batch = simulate(s, 2, 2, rng=1, dtype=dtype, min_separation_voxels=1.0)  # point_target_csi
        y = batch.measurements
        op.rmatvec(y)
        op.matvec(np.ones(a.shape[1], dtype))
        backproject(a, y)
        sp(a, y, 2, method="residual")  # subspace_pursuit_matrix
        sp(op, y, 2, method="residual")  # subspace_pursuit_links
        op.gram(np.array([0, 3]))  # link_gram (columns)
        sp(op, y, 2, method="gram")  # link_gram (full) + subspace_pursuit_gram


def bistatic() -> None:
    from skysense import bistatic as bs
    from skysense import cordic
    from skysense.bistatic.paraming import _hankel_svd, _ml_refine

    sc = bs.Scenario(n_tx=4, n_rx=3, n_subcarriers=12, n_symbols=6)
    paths = bs.random_paths(sc, rng=0, n_targets=1)
    csi = bs.simulate(sc, paths, snr_db=20, rng=1, n_subframes=2, pilots="orthogonal").csi
    for method in ("krylov", "gram", "svd"):
        bs.paraming(csi[0], 2, scenario=sc, method=method)  # paraming (+ refinement inside)
    bs.paraming(csi, 2, scenario=sc, subframes=True, refine=False)
    bs.paraming(csi[0], "mdl", scenario=sc)
    _hankel_svd(csi[0], 2, scenario=sc)  # hankel_svd
    est = bs.paraming(csi[0], 2, scenario=sc, refine=False)
    eta = np.stack(
        [
            est.toa_s * sc.subcarrier_spacing_hz,
            np.sin(est.aoa_rad) * sc.spacing_rx_wavelengths,
            np.sin(est.aod_rad) * sc.spacing_tx_wavelengths,
        ],
        axis=0,
    )
    _ml_refine(csi[0], eta)  # paraming_refine
    z = np.exp(1j * np.linspace(-3, 3, 7))
    cordic.phase(z)  # cordic_atan2
    cordic.phase(z.astype(np.complex64), fixed_point=(32, 28))


def mapping() -> None:
    from skysense.mapping import Link, MappingParams, PmfState, spa_update

    rng = np.random.default_rng(0)
    va = np.array([-50.0, 30.0, 15.0])
    bs_pos = np.array([0.0, 30.0, 15.0])
    uav = np.array([3.0, 10.0, 35.0])
    state = PmfState(
        va + rng.standard_normal((2, 40, 3)),
        0.1 * rng.standard_normal((2, 40)),
        np.array([1.0, 2.0]),
    )
    h = np.linalg.norm(uav - va)
    links = [
        Link("bistatic", np.array([h, h + 3.0]), uav),
        Link("monostatic", 0.5 * (bs_pos + va)[None, :] + rng.standard_normal((2, 3)), bs_pos),
    ]
    params = MappingParams(n_particles=40, n_birth_particles=15, n_iterations=2)
    spa_update(state, links, params, rng=1)  # spa_update, mapping_isa
    kc = params._kernel_constants()
    call = STAGES.ModuleCall(
        params=kc.as_dict(),
        positions_m=state.positions_m,
        log_weights=state.log_weights,
        logodds=state.existence_logodds,
        link_kinds=[0 if link.kind == "bistatic" else 1 for link in links],
        measurements=[link.measurements_m for link in links],
        sensors_m=np.array([link.sensor_position_m for link in links]),
        births=[link.births for link in links],
        diffuse=[link.diffuse for link in links],
        visibility=[link.visibility for link in links],
        seed=7,
    )
    call.predict_legacy_pmfs(True)
    call.add_legacy_edges()
    call.censor_new_pmfs()
    call.draw_new_pmfs()
    call.add_new_pmf_edges()
    call.iterate_messages()
    call.beliefs_and_estimates()
    call.pmfs()
    call.edges()
    call.beliefs()
    call.resample_pmfs()
    call.resampled()
    for name in ("exp", "log", "softplus", "erfcx", "sin_2pi", "cos_2pi"):
        _core._fastmath(name, np.linspace(0.1, 2.0, 9))


def mapping_stage_helpers() -> None:
    kc = (
        __import__("skysense.mapping", fromlist=["MappingParams"])
        .MappingParams()
        ._kernel_constants()
    )
    draws = STAGES.birth_randoms(7, 0, "sphere", 5)
    STAGES.place_new_pmf(
        params=kc.as_dict(),
        link_kind=0,
        measurements=np.array([60.0, 90.0]),
        sensor_m=np.array([3.0, 10.0, 35.0]),
        diffuse=True,
        measurement_index=1,
        draws=draws,
    )
    STAGES.systematic_resample(weights=np.array([0.1, 0.5, 0.4]), n_out=5, offset=0.3)
    rng = STAGES.Rng(seed=1, purpose=0, index=2)
    rng.uniform()
    rng.uniforms(n=4)
    rng.normals(n=4)


def _spd(rng: np.random.Generator, n: int, size: int, scale: float) -> np.ndarray:
    a = rng.standard_normal((n, size, size))
    return scale * (a @ np.swapaxes(a, 1, 2) + size * np.eye(size))


def tracking() -> None:
    rng = np.random.default_rng(3)
    d, k, m, p = 2, 3, 4, 50
    s = 2 * d
    mean = rng.normal(0, 5, (k, s))
    cov = _spd(rng, k, s, 0.5)
    ex = rng.uniform(0.1, 0.9, k)
    z = mean[rng.integers(k, size=m), :d] + rng.normal(0, 1.5, (m, d))
    zcov = _spd(rng, m, d, 0.3)
    clutter = rng.uniform(1e-3, 1e-2, m)
    f = np.eye(s) + np.diag(np.full(d, 0.1), d)
    q = _spd(rng, 1, s, 0.01)[0]
    _core.tracking_predict_gaussian(
        mean=mean, cov=cov, existence=ex, transition=f, noise_cov=q, survival=0.97
    )
    beta, ratio = _core.tracking_evaluate_gaussian(
        mean=mean, cov=cov, existence=ex, z=z, zcov=zcov, clutter=clutter,
        detection_probability=0.8, gate=30.0,
    )  # fmt: skip
    kappa, _, _ = _core.tracking_associate(beta=beta, xi=1.0 + clutter, max_iter=50, tol=1e-9)
    _core.tracking_update_gaussian(
        mean=mean, cov=cov, existence=ex, z=z, zcov=zcov, ratio=ratio, kappa=kappa,
        detection_probability=0.8,
    )  # fmt: skip
    x = mean[:, None, :] + rng.normal(0, 1, (k, p, s))
    x, ex2 = _core.tracking_predict_particles(
        particles=x, existence=ex, transition=f, noise_chol=np.linalg.cholesky(q), survival=0.9,
        seed=3, n_threads=2,
    )  # fmt: skip
    beta, ratio, lik, connected = _core.tracking_evaluate_particles(
        particles=x, existence=ex2, z=z, zcov=zcov, clutter=clutter, detection_probability=0.8,
        gate=30.0, n_threads=2,
    )  # fmt: skip
    kappa, _, _ = _core.tracking_associate(beta=beta, xi=1.0 + clutter, max_iter=50, tol=1e-9)
    _core.tracking_update_particles(
        particles=x, existence=ex2, lik=lik, connected=connected, kappa=kappa,
        detection_probability=0.8, seed=4, n_threads=2,
    )  # fmt: skip
    _core.tracking_birth_particles(
        z=z, zcov=zcov, n_particles=p, velocity_std=1.0, seed=5, n_threads=2
    )


def main() -> int:
    imaging()
    bistatic()
    mapping()
    mapping_stage_helpers()
    tracking()
    _core._spin_interruptible(seconds=0.05, workers=2)
    _core.mapping_isa()
    missing = [n for n in FUNCTIONS if CALLS[n] == 0]
    print("calls:", dict(sorted(CALLS.items())))
    if missing:
        print("NOT REACHED:", missing)
        return 2
    print(f"all {len(FUNCTIONS)} entry points reached")
    return 0


if __name__ == "__main__":
    sys.exit(main())
