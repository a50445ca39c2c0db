"""``mapping-mospa`` and ``mapping-runtime`` on tiny settings: structure, seeding, figure."""

import json

import numpy as np
import pytest

from skysense.experiments import EXPERIMENTS, MappingMospa, MappingRuntime, run_trials
from skysense.experiments.mapping.runtime import pkm_fit
from skysense.mapping import SCHEMES


def test_registered():
    names = {cls.name for cls in EXPERIMENTS}
    assert {"mapping-mospa", "mapping-runtime"} <= names


def test_mospa_results_structure(tmp_path):
    exp = MappingMospa(
        methods=("fusion3", "bistatic", "specular"), bs_indices=(0,), n_epochs=12, n_particles=150
    )
    res = run_trials(exp, 1, rng=3)
    again = run_trials(exp, 1, rng=3)
    doc = json.loads(json.dumps(res.to_json(), allow_nan=False))
    results = doc["results"]
    for m in exp.methods:
        assert len(results[m]["mospa"]) == 12
        assert 0.0 <= results[m]["completeness"] <= 1.0
        assert all(0.0 <= v <= exp.cutoff_m for v in results[m]["mospa"])
        np.testing.assert_array_equal(results[m]["mospa"], again.results[m]["mospa"])
    assert results["visibility"]["BS1"]["classes"] == ["A", "A", "B", "C"]
    assert "MOSPA" in exp.table(results)
    path = exp.plot(results, tmp_path / "mospa.png")
    assert path.stat().st_size > 0


def test_mospa_rejects_unknown_method():
    with pytest.raises(ValueError, match="methods"):
        MappingMospa(methods=("fusion9",))
    with pytest.raises(ValueError, match="bs_index"):
        MappingMospa(bs_indices=(7,))


def test_mospa_birth_particles_option():
    kw = {"methods": ("fusion3", "bistatic"), "bs_indices": (0,), "n_epochs": 12}
    kw["n_particles"] = 150
    exp = MappingMospa(n_birth_particles=40, **kw)
    assert all(exp.params(m).n_birth_particles == 40 for m in SCHEMES)
    res = run_trials(exp, 2, rng=3)
    doc = json.loads(json.dumps(res.to_json(), allow_nan=False))
    assert doc["config"]["n_birth_particles"] == 40
    for m in exp.methods:
        cell = doc["results"][m]["per_bs"]["BS1"]
        assert len(cell["mospa_mean_trials"]) == len(cell["completeness_trials"]) == 2
        assert np.mean(cell["mospa_mean_trials"]) == pytest.approx(cell["mospa_mean"])
        assert np.mean(cell["mospa_last_quarter_trials"]) == pytest.approx(
            cell["mospa_last_quarter"]
        )
        assert np.mean(cell["completeness_trials"]) == pytest.approx(cell["completeness"])
    # a cap >= P is no cap: the same numbers as the paper's setting (None)
    full = run_trials(MappingMospa(n_birth_particles=None, **kw), 1, rng=3).results
    capped_at_p = run_trials(MappingMospa(n_birth_particles=150, **kw), 1, rng=3).results
    for m in exp.methods:
        np.testing.assert_array_equal(full[m]["mospa"], capped_at_p[m]["mospa"])
    with pytest.raises(ValueError, match="n_birth_particles"):
        MappingMospa(n_birth_particles=0)
    with pytest.raises(TypeError, match="n_birth_particles"):
        MappingMospa(n_birth_particles=2.5)


def test_runtime_results_structure(tmp_path):
    exp = MappingRuntime(particles=(100,), loads=(1.0,), n_warmup=2, n_timed=2)
    res = run_trials(exp, 1, rng=0)
    (cell,) = res.results.values()
    assert cell["scheme1_s"] > 0 and cell["scheme2_s"] > 0
    assert cell["speedup"] == pytest.approx(cell["scheme2_s"] / cell["scheme1_s"])
    assert "Scheme II" in exp.table(res.results)
    assert exp.plot(res.results, tmp_path / "runtime.png").stat().st_size > 0
    for n in (1, 2):
        assert len(cell[f"pkm_scheme{n}"]) == len(cell[f"epochs_scheme{n}_s"]) == 2
        assert all(x > 0 and x % 100 == 0 for x in cell[f"pkm_scheme{n}"])  # P = 100 divides


def test_runtime_pkm_slope_and_threads():
    exp = MappingRuntime(particles=(60, 120), loads=(1.0,), n_warmup=1, n_timed=2, workers=2)
    res = run_trials(exp, 1, rng=0)
    assert all(r["scheme1_s"] > 0 for r in res.results.values())
    assert "ns x P K M" in exp.table(res.results)
    with pytest.raises(ValueError, match="workers"):
        MappingRuntime(workers=0)
    with pytest.raises(TypeError, match="workers"):
        MappingRuntime(workers=1.5)
    assert MappingRuntime().workers is None  # skysense.get_workers() where the trials run


def test_pkm_fit():
    x = np.array([1e6, 2e6, 4e6, 8e6])
    fit = pkm_fit(x, 0.002 + 3e-9 * x)
    assert fit["slope_ns"] == pytest.approx(3.0)
    assert fit["intercept_s"] == pytest.approx(0.002)
    assert fit["r2"] == pytest.approx(1.0) and fit["n"] == 4
    with pytest.raises(ValueError, match="pkm_fit"):
        pkm_fit([1.0, 1.0], [0.1, 0.2])
    with pytest.raises(ValueError, match="pkm_fit"):
        pkm_fit([1.0, 2.0], [0.1])


def test_runtime_birth_particles_option():
    exp = MappingRuntime(particles=(60,), loads=(1.0,), n_warmup=1, n_timed=1, n_birth_particles=20)
    assert exp.params(60, 1.0).n_birth_particles == 20
    res = run_trials(exp, 1, rng=0)
    assert next(iter(res.results.values()))["scheme1_s"] > 0
    with pytest.raises(ValueError, match="n_birth_particles"):
        MappingRuntime(n_birth_particles=0)
