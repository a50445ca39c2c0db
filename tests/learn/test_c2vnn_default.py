import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skysense import bistatic as bs
from skysense.experiments.bistatic._common import METHODS, matched_errors
from skysense.learn import C2vnnConfig, IfftC2vnn

#: Medians measured at 20-30 dB are ~0.008 rad and ~0.01 of 1/(N df); bounds leave 5x margin.
MEDIAN_AOA_RAD = 0.04
MEDIAN_TOA_RES = 0.05


@pytest.fixture(scope="module")
def default():
    return IfftC2vnn.load_default()


def test_shipped_model_config_and_record(default):
    assert default.config == C2vnnConfig()
    tc = default.metadata["train_config"]
    assert tc["batch_size"] == 128
    assert tc["snr_db"] == [0.0, 30.0]  # mixed SNR
    assert np.isfinite(default.metadata["final_validation_loss"])


def test_shipped_model_accuracy_at_30db(default):
    """Default scenario, 30 dB: the shipped model locates every path (matched errors)."""
    sc = bs.Scenario()
    rng = np.random.default_rng(7)
    errs = []
    for _ in range(8):
        paths = bs.random_paths(sc, rng=rng)
        e = default.estimate(bs.simulate(sc, paths, 30.0, rng=rng).csi[0], 4)
        errs.append(matched_errors(e, paths, sc))
    aoa = np.concatenate([x["aoa"] for x in errs])
    toa = np.concatenate([x["toa"] for x in errs])
    assert np.median(np.abs(aoa)) < MEDIAN_AOA_RAD
    assert np.median(np.abs(toa)) < MEDIAN_TOA_RES


def test_experiment_method_table(default):
    sc = bs.Scenario()
    rng = np.random.default_rng(3)
    csi = bs.simulate(sc, bs.random_paths(sc, rng=rng), 20.0, rng=rng).csi[0]
    e = METHODS["ifft_c2vnn"](csi, 4, sc, None)
    assert e.toa_s.shape == (4,)
    with pytest.raises(ValueError, match="trained for the default Scenario"):
        METHODS["ifft_c2vnn"](csi[:4], 4, bs.Scenario(n_tx=4), None)


def test_doppler_and_timing_offset_experiments_take_the_shipped_model():
    from skysense.experiments import BistaticDoppler, BistaticTimingOffset
    from skysense.experiments.runner import run_trials

    dop = BistaticDoppler(snrs_db=(30.0,), methods=("paraming", "ifft_c2vnn"), chunk_size=1)
    res = run_trials(dop, 2, rng=2).results["30"]
    assert set(res) == {"paraming", "ifft_c2vnn"}
    assert np.isfinite(res["ifft_c2vnn"]["mae_hz"]) and res["ifft_c2vnn"]["n_trials"] == 2
    off = BistaticTimingOffset(offsets_cells=(1.0,), methods=("ifft_c2vnn",), chunk_size=1)
    res = run_trials(off, 2, rng=1).results["1"]["ifft_c2vnn"]
    assert np.isfinite(res["toa_bias"])
