"""imaging-tracking: configuration, cells, summaries and the report (no simulation here: the
experiment itself runs in `skysense reproduce imaging-tracking`)."""

import numpy as np
import pytest

from skysense.experiments import EXPERIMENTS, ImagingTracking


def test_registered():
    assert "imaging-tracking" in {cls.name for cls in EXPERIMENTS}


def test_cells_cover_both_rois_and_imagers():
    exp = ImagingTracking()
    assert exp.cells() == (("3d", "sp"), ("3d", "dnn"), ("2d", "sp"), ("2d", "dnn"))
    assert ImagingTracking(dims=("2d",), imagers=("sp",)).cells() == (("2d", "sp"),)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dims": ("4d",)}, "dims must be drawn from"),
        ({"imagers": ()}, "imagers must be drawn from"),
        ({"trackers": ("_kalman",)}, "trackers must be drawn from"),
        ({"frame_rate_hz": 0.0}, "frame_rate_hz must be > 0"),
        ({"n_uavs": 0}, "n_uavs must be >= 1"),
    ],
)
def test_rejects_bad_configuration(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ImagingTracking(**kwargs)


def test_summary_and_report():
    exp = ImagingTracking(dims=("2d", "3d"), imagers=("sp", "dnn"))
    trials = {
        "imaging_ms_per_frame": np.array([3.0, 5.0]),
        "sp/gospa_m": np.array([10.0, 20.0]),
        "sp/rmse_m": np.array([1.0, np.nan]),
        "sp/ms_per_frame": np.array([0.1, 0.3]),
        "sp_bp/gospa_m": np.array([5.0, 7.0]),
    }
    summary = exp.summarize(("2d", "sp"), trials)
    assert summary["sp"]["gospa_m"] == 15.0
    # Student t with 1 degree of freedom: 12.706 * 7.071 / sqrt(2)
    assert summary["sp"]["gospa_ci95_m"] == pytest.approx(
        12.7062 * np.std([10, 20], ddof=1) / np.sqrt(2), rel=1e-4
    )
    assert summary["sp"]["rmse_m"] == 1.0 and summary["sp"]["rmse_ci95_m"] is None
    assert summary["sp"]["ms_per_frame"] == pytest.approx(0.2)
    results = exp.report({("2d", "sp"): summary})
    assert results["2d"]["sp_bp"]["gospa_m"] == 6.0
    assert results["2d"]["sp_imaging_ms_per_frame"] == 4.0
    assert "dnn_skipped" not in results["3d"]  # the 3-D detector is shipped
    text = exp.table(results)
    assert "sp_bp" in text and "GOSPA" in text


def test_tiny_run_end_to_end(tmp_path):
    """A short 2-D SP run through the shared runner: every method scored, the figure drawn."""
    from skysense.experiments import run_trials

    exp = ImagingTracking(
        dims=("2d",),
        imagers=("sp",),
        trackers=("", "_bp", "_bp_smoothed", "_bp_cv", "_bp_cv_smoothed"),
        n_frames=15,
        n_uavs=3,
        calibration_frames=15,
        smoothing_lag=3,
    )
    out = run_trials(exp, 1, rng=3)
    rows = out.results["2d"]
    for method in ("sp", "sp_bp", "sp_bp_smoothed", "sp_bp_cv", "sp_bp_cv_smoothed"):
        for key in ("gospa_m", "ospa2_m", "id_switches", "ms_per_frame"):
            assert np.isfinite(rows[method][key]), (method, key)
        assert "nees" in rows[method]  # None where no track was ever matched
    assert rows["sp"]["nees"] > 0
    # RTS smoothing alone keeps the filter's tracks (same identities and existence), moves
    # positions; "_bp_smoothed" adds fixed-lag confirmation on a tracker with tentative tracks
    assert rows["sp_bp_cv_smoothed"]["id_switches"] == rows["sp_bp_cv"]["id_switches"]
    assert rows["sp_bp_cv_smoothed"]["ms_per_frame"] > rows["sp_bp_cv"]["ms_per_frame"]
    assert rows["sp_covariance_scale"] >= 1.0
    assert rows["sp_bp"]["gospa_m"] > 0 and rows["sp_imaging_ms_per_frame"] > 0
    path = exp.plot(out.results, tmp_path / "tracking.png")
    assert path is not None and path.stat().st_size > 0


def test_tiny_3d_learned_run():
    """The shipped 3-D detector feeds the 3-D cell (Scenario.paper_3d())."""
    pytest.importorskip("torch")
    from skysense.experiments import run_trials

    exp = ImagingTracking(
        dims=("3d",),
        imagers=("dnn",),
        trackers=("", "_bp", "_bp_smoothed"),
        n_frames=12,
        n_uavs=3,
        calibration_frames=12,
        smoothing_lag=3,
    )
    rows = run_trials(exp, 1, rng=5).results["3d"]
    for method in ("dnn", "dnn_bp", "dnn_bp_smoothed"):
        assert np.isfinite(rows[method]["gospa_m"]), method
    assert rows["dnn_imaging_ms_per_frame"] > 0
