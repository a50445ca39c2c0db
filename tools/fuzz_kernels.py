"""Fuzz the public entry points of the compiled kernels with atheris (coverage-guided):
sensing matrix, operator, back-projection, SP, CORDIC phase, PARAMING and the mapping SPA.

    pip install atheris
    python tools/fuzz_kernels.py -max_total_time=300       # libFuzzer flags pass through

Each input is decoded into arguments of one entry point (array shapes, dtypes, strides,
NaN/Inf/huge values, odd scenario parameters). An input passes when the call returns
finite results or raises ``ValueError``/``TypeError``/``MemoryLimitError``; anything else
(another exception, NaN in a result, a crash of the process) is a finding. Build the
extension with ``tools/sanitize.sh`` first to also catch invalid memory accesses. Under GCC's
``libasan.so`` in ``LD_PRELOAD`` the sanitizer coverage symbols resolve to libasan's rather than
atheris' libFuzzer, so that run is not coverage-guided (the corpus stays at one unit; atheris warns
"Coverage symbols are being provided by a library other than libFuzzer"): it is a random-input
memory-error campaign. Run on a plain build for a coverage-guided one.
"""

import base64
import os
import sys
import traceback
from typing import Any

import atheris
import numpy as np

# Instrument skysense only: atheris' bytecode hooks inside numba's compiler (or inside a function
# numba compiles from its bytecode) crash CPython (SEGV in Py_INCREF under numba's dispatcher),
# and numpy's coverage only adds noise.
NUMBA_MODULES = [
    "skysense.metrics._detection_numba",
    "skysense.imaging._sensing_numba",
    "skysense.mapping._tracer_numba",
]
with atheris.instrument_imports(include=["skysense"], exclude=NUMBA_MODULES):
    from skysense import MemoryLimitError, bistatic, cordic
    from skysense.imaging import (
        Scenario,
        SensingOperator,
        backproject,
        sensing_matrix,
        subspace_pursuit,
    )
    from skysense.mapping import Link, MappingParams, PmfState, spa_update

# FUZZ_FINDINGS=path: log each distinct Python finding (type and line) there and go on,
# instead of stopping at the first one; crashes (ASan, UBSan, signals) still stop the run.
FINDINGS = os.environ.get("FUZZ_FINDINGS")
SEEN: set[str] = set()
EXPECTED = (ValueError, TypeError, MemoryLimitError)
SPECIAL = (0.0, -0.0, 1e-300, 1e300, np.inf, -np.inf, np.nan, 1.0, -1.0)


def _float(fdp: Any) -> float:
    if fdp.ConsumeBool():
        return SPECIAL[fdp.ConsumeIntInRange(0, len(SPECIAL) - 1)]
    return fdp.ConsumeFloat()


def _array(fdp: Any, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    n = int(np.prod(shape))
    values = np.array([complex(_float(fdp), _float(fdp)) for _ in range(n)])
    values = values.reshape(shape)
    arr = values.astype(dtype) if np.dtype(dtype).kind == "c" else values.real.astype(dtype)
    layout = fdp.ConsumeIntInRange(0, 2)
    if layout == 1 and arr.ndim == 2:
        arr = np.asfortranarray(arr)
    elif layout == 2 and arr.ndim >= 1:
        wide = np.zeros(arr.shape[:-1] + (2 * arr.shape[-1],), arr.dtype)
        wide[..., ::2] = arr
        arr = wide[..., ::2]
    return arr


def _scenario(fdp: Any) -> Scenario:
    kwargs = {
        "roi_size_m": (fdp.ConsumeFloatInRange(-5, 30), fdp.ConsumeFloatInRange(-5, 30), 0.0),
        "voxel_size_m": _float(fdp) if fdp.ConsumeBool() else fdp.ConsumeFloatInRange(1, 10),
        "n_bs": fdp.ConsumeIntInRange(-1, 5),
        "n_antennas_side": fdp.ConsumeIntInRange(-1, 3),
        "n_subcarriers": fdp.ConsumeIntInRange(0, 3),
        "spacing_factor": fdp.ConsumeFloatInRange(-1, 4),
        "mode": ["A", "B", "C", "D"][fdp.ConsumeIntInRange(0, 3)],
    }
    return Scenario(**kwargs)


def _mostly(fdp: Any, lo: float, hi: float, shape: tuple[int, ...] = ()) -> np.ndarray | float:
    """Values in [lo, hi], one in 16 a special value (so that most calls reach the kernel)."""
    out = np.empty(int(np.prod(shape)))
    for i in range(out.size):
        if fdp.ConsumeIntInRange(0, 15) == 0:
            out[i] = SPECIAL[fdp.ConsumeIntInRange(0, len(SPECIAL) - 1)]
        else:
            out[i] = fdp.ConsumeFloatInRange(lo, hi)
    return out.reshape(shape) if shape else float(out[0])


def _spa(fdp: Any) -> None:
    """One mapping module call on fuzzed PMFs, links and model constants."""
    k, p = fdp.ConsumeIntInRange(0, 3), fdp.ConsumeIntInRange(1, 12)
    state = PmfState(
        _mostly(fdp, -300, 300, (k, p, 3)),
        _mostly(fdp, -800, 5, (k, p)),
        _mostly(fdp, -50, 50, (k,)),
    )
    links = []
    for _ in range(fdp.ConsumeIntInRange(0, 2)):
        kind = ("bistatic", "monostatic")[fdp.ConsumeIntInRange(0, 1)]
        n = fdp.ConsumeIntInRange(0, 4)
        lo = 0 if kind == "bistatic" else -300
        z = _mostly(fdp, lo, 400, (n,) if kind == "bistatic" else (n, 3))
        links.append(
            Link(
                kind,
                z,
                _mostly(fdp, -300, 300, (3,)),
                births=fdp.ConsumeBool(),
                diffuse=fdp.ConsumeBool(),
                visibility=_mostly(fdp, 0, 1),
            )
        )
    params = MappingParams(
        n_particles=p,
        range_std_m=_mostly(fdp, 0, 20),
        position_std_m=_mostly(fdp, 0, 20),
        roi_radius_m=_mostly(fdp, 0, 1e4),
        jitter_std_m=_mostly(fdp, 0, 5),
        process_std_m=_mostly(fdp, 0, 5),
        survival_probability=_mostly(fdp, 0, 1),
        n_iterations=fdp.ConsumeIntInRange(0, 3),
        birth_height_std_m=_mostly(fdp, 0, 10) if fdp.ConsumeBool() else None,
        birth_height_m=_mostly(fdp, -50, 50),
    )
    res = spa_update(state, links, params, predict=fdp.ConsumeBool(), rng=1)
    # Dropped PMFs (log-odds -inf) have NaN estimates by contract; the rest must be finite.
    alive = np.isfinite(res.state.existence_logodds)
    _check_finite(res.estimates_m[alive], res.state.positions_m[alive])
    if np.isnan(res.state.existence_logodds).any() or np.isnan(res.state.log_weights).any():
        raise AssertionError("NaN log-odds or log weights without an error")


def _check_finite(*arrays: Any) -> None:
    for arr in arrays:
        if np.asarray(arr).dtype.kind in "fc" and not np.isfinite(arr).all():
            raise AssertionError("non-finite result without an error")


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    target = fdp.ConsumeIntInRange(0, 6)
    dtype = [np.complex64, np.complex128, np.float64][fdp.ConsumeIntInRange(0, 2)]
    try:
        if target == 0:
            s = _scenario(fdp)
            _check_finite(sensing_matrix(s, dtype, max_bytes=2**24))
        elif target == 1:
            s = _scenario(fdp)
            op = SensingOperator(s, dtype)
            k = fdp.ConsumeIntInRange(0, 4)
            y = _array(fdp, (k, op.shape[0]), np.complex128)
            _check_finite(op.rmatvec(y))
        elif target == 4:
            z = _array(fdp, (fdp.ConsumeIntInRange(0, 9),), dtype)
            iterations = fdp.ConsumeIntInRange(-1, 70)
            fixed = None
            if fdp.ConsumeBool():
                fixed = (fdp.ConsumeIntInRange(0, 70), fdp.ConsumeIntInRange(-1, 70))
            out = cordic.phase(z, iterations=iterations, fixed_point=fixed)
            _check_finite(out)
            # the tested bound: 2^-(n-1) rad for n iterations, plus (n + 2) fixed-point LSBs of
            # rounded arctangent-table entries (tests/test_cordic.py)
            lsb = 2.0 ** -fixed[1] if fixed else 0.0
            bound = 2.0 ** -(iterations - 1) + (iterations + 2) * lsb
            bound += 64 * np.finfo(out.dtype).eps  # rounding of the result's precision
            if out.size and np.abs(out).max() > np.pi + bound:
                raise AssertionError("phase outside [-pi - bound, pi + bound]")
        elif target == 6:
            _spa(fdp)
        elif target == 5:
            shape = tuple(fdp.ConsumeIntInRange(0, 5) for _ in range(3))
            csi = _array(fdp, (fdp.ConsumeIntInRange(0, 2), *shape), dtype)
            n_paths = [fdp.ConsumeIntInRange(-1, 6), "mdl", "aic"][fdp.ConsumeIntInRange(0, 2)]
            est = bistatic.paraming(csi, n_paths)
            _check_finite(est.toa_s, est.aoa_rad, est.aod_rad)
        else:
            m, n = fdp.ConsumeIntInRange(0, 12), fdp.ConsumeIntInRange(0, 9)
            a = _array(fdp, (m, n), dtype)
            y = _array(fdp, (fdp.ConsumeIntInRange(0, 3), fdp.ConsumeIntInRange(0, 12)), dtype)
            if target == 2:
                _check_finite(backproject(a, y))
            else:
                res = subspace_pursuit(a, y, fdp.ConsumeIntInRange(-1, 5))
                _check_finite(res.image, res.relative_residual)
    except EXPECTED:
        pass
    except Exception as exc:  # a finding
        if FINDINGS is None:
            raise
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        key = f"{type(exc).__name__} at {tb.filename}:{tb.lineno}: {str(exc)[:160]}"
        if key not in SEEN:
            SEEN.add(key)
            with open(FINDINGS, "a") as f:
                f.write(f"{key}\n    input (base64): {base64.b64encode(data).decode()}\n")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
