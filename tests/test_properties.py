"""Property-based tests (hypothesis): each C++ kernel against its NumPy reference over random
shapes, dtypes and memory layouts (strided, Fortran-ordered, read-only inputs)."""

import numpy as np
from _reference import sensing_matrix as reference_sensing_matrix
from _reference import subspace_pursuit as reference_sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skysense.imaging import (
    Scenario,
    SensingOperator,
    backproject,
    sensing_matrix,
    subspace_pursuit,
)

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DTYPES = st.sampled_from([np.complex64, np.complex128])
RTOL = {np.complex64: 1e-5, np.complex128: 1e-12}


@st.composite
def scenarios(draw):
    voxel = draw(st.sampled_from([2.0, 3.0, 5.0]))
    nx, ny, nz = (draw(st.integers(1, 6)) for _ in range(3))
    three_d = draw(st.booleans())
    return Scenario(
        roi_size_m=(nx * voxel, ny * voxel, nz * voxel if three_d else 0.0),
        voxel_size_m=voxel,
        n_bs=draw(st.integers(2, 5)),
        n_antennas_side=draw(st.integers(1, 4)),
        n_subcarriers=draw(st.integers(1, 3)),
        spacing_factor=draw(st.sampled_from([0.5, 1.0, 2.5])),
        mode=draw(st.sampled_from(["A", "B", "C"])),
        subcarrier_grid=draw(st.sampled_from(["centered", "edges"])),
    )


def _rel_err(x, ref):
    return np.linalg.norm(x - ref) / np.linalg.norm(ref)


def _layout(arr, kind):
    """The same values in another memory layout."""
    if kind == "fortran":
        return np.asfortranarray(arr)
    if kind == "strided":
        wide = np.zeros(arr.shape[:-1] + (2 * arr.shape[-1],), arr.dtype)
        wide[..., ::2] = arr
        return wide[..., ::2]
    if kind == "readonly":
        out = arr.copy()
        out.flags.writeable = False
        return out
    return arr


LAYOUTS = st.sampled_from(["c", "fortran", "strided", "readonly"])


@SETTINGS
@given(scenario=scenarios(), dtype=DTYPES)
def test_sensing_matrix_matches_reference(scenario, dtype):
    a = sensing_matrix(scenario, dtype)
    assert a.shape == scenario.shape and a.dtype == dtype
    assert _rel_err(a, reference_sensing_matrix(scenario)) <= RTOL[dtype]


@SETTINGS
@given(scenario=scenarios(), dtype=DTYPES, n_frames=st.integers(1, 20), layout=LAYOUTS)
def test_operator_matches_dense(scenario, dtype, n_frames, layout):
    op = SensingOperator(scenario, dtype)
    a = reference_sensing_matrix(scenario)
    rng = np.random.default_rng(n_frames)
    y = rng.standard_normal((n_frames, a.shape[0])) + 1j * rng.standard_normal(
        (n_frames, a.shape[0])
    )
    x = rng.standard_normal((n_frames, a.shape[1])) + 1j * rng.standard_normal(
        (n_frames, a.shape[1])
    )
    tol = 10 * RTOL[dtype]
    assert _rel_err(op.rmatvec(_layout(y, layout)), y @ a.conj()) <= tol
    assert _rel_err(op.matvec(_layout(x, layout)), x @ a.T) <= tol
    assert _rel_err(backproject(_layout(a, layout), y), y @ a.conj()) <= 1e-12


@SETTINGS
@given(
    m=st.integers(20, 90),
    n_voxels=st.integers(5, 60),
    sparsity=st.integers(1, 4),
    n_frames=st.integers(1, 5),
    layout=LAYOUTS,
    seed=st.integers(0, 2**32 - 1),
)
def test_subspace_pursuit_matches_reference(m, n_voxels, sparsity, n_frames, layout, seed):
    # Complex Gaussian A with m >= 4K rows is well conditioned on any 2K columns.
    rng = np.random.default_rng(seed)
    m = max(m, 8 * sparsity)
    a = (rng.standard_normal((m, n_voxels)) + 1j * rng.standard_normal((m, n_voxels))) / np.sqrt(
        2 * m
    )
    y = rng.standard_normal((n_frames, m)) + 1j * rng.standard_normal((n_frames, m))
    res = subspace_pursuit(_layout(a, layout), _layout(y, layout), sparsity)
    for f in range(n_frames):
        x_ref, support_ref, _, _ = reference_sp(a, y[f], sparsity)
        assert np.array_equal(res.support[f], support_ref)
        np.testing.assert_allclose(res.image[f], x_ref, rtol=0, atol=1e-9 * np.abs(x_ref).max())
