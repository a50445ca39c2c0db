import json

import pytest

from skysense.cli import main


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["reproduce", "imaging-table3"], "invalid choice"),
        (["reproduce", "imaging-table2", "--trials", "0"], "--trials must be >= 1"),
        (["reproduce", "imaging-table2", "--trials", "two"], "invalid int value"),
        (["reproduce", "imaging-table2", "--seed", "-1"], "--seed must be >= 0"),
        (["reproduce", "imaging-table2", "--workers", "-2"], "--workers must be >= 0"),
        (
            ["reproduce", "imaging-table2", "--workers", "2", "--scheduler", "tcp://x:1"],
            "omit it with --scheduler",
        ),
        (["reproduce", "imaging-psf", "--modes", "A"], "imaging-table2 only"),
        (["reproduce", "imaging-table2", "--modes", "A,D"], "modes"),
        (["reproduce", "imaging-table2", "--d0", "1,x"], "comma-separated"),
        (["reproduce", "imaging-table2", "--d0", "0"], "voxel_size_m"),
        (["demo", "--frames", "0"], "--frames must be >= 1"),
        (["reproduce", "imaging-psf", "--methods", "sp"], "does not apply to imaging-psf"),
        (["reproduce", "bistatic-latency", "--methods", "esprit"], "methods must be drawn"),
        (["reproduce", "imaging-psf", "--pretrained", "default"], "imaging-offgrid only"),
        (["reproduce", "imaging-psf", "--threads", "2"], "does not apply to imaging-psf"),
        (["reproduce", "mapping-runtime", "--threads", "0"], "workers"),
    ],
)
def test_argument_errors(argv, match, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert match in capsys.readouterr().err


def test_reproduce_in_process_writes_json_and_plot(tmp_path, capsys):
    out_json, out_png = tmp_path / "t2.json", tmp_path / "fig" / "t2.png"
    main(
        [
            "reproduce",
            "imaging-table2",
            "--trials",
            "2",
            "--modes",
            "a",
            "--d0",
            "5",
            "--workers",
            "0",
            "--seed",
            "5",
            "--json",
            str(out_json),
            "--plot",
            str(out_png),
            "--quiet",
        ]
    )
    doc = json.loads(out_json.read_text())
    assert doc["experiment"] == "imaging-table2" and doc["seed"] == 5 and doc["n_trials"] == 2
    assert set(doc["results"]) == {"A"} and set(doc["results"]["A"]) == {"5"}
    assert {"dr", "far", "mse"} <= set(doc["results"]["A"]["5"])
    assert out_png.stat().st_size > 0
    printed = capsys.readouterr()
    assert "99.78" in printed.out  # the paper's DR next to ours
    assert printed.err == ""  # --quiet: no progress bar


def test_bench_needs_a_suite(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--path", str(tmp_path)])
    assert "no bench suite" in capsys.readouterr().err


def test_bench_runs_a_suite_and_writes_ratios(tmp_path):
    suite = tmp_path / "bench"
    suite.mkdir()
    (suite / "conftest.py").write_text(
        "def pytest_addoption(parser):\n"
        "    parser.addoption('--save-ratios', default=None)\n"
        "def pytest_sessionfinish(session):\n"
        "    import pathlib\n"
        "    pathlib.Path(session.config.getoption('--save-ratios')).write_text('{}')\n"
    )
    (suite / "test_x.py").write_text("def test_x():\n    assert True\n")
    (suite / "pytest.ini").write_text("[pytest]\n")
    out = tmp_path / "r.json"
    pytest.importorskip("pytest_benchmark")
    assert main(["bench", "--path", str(suite), "--json", str(out)]) == 0
    assert out.read_text() == "{}"


def test_bench_table_carries_the_paper_counts(tmp_path):
    """The real bench/conftest.py: ratios in the same run and the paper's flop counts in JSON."""
    pytest.importorskip("pytest_benchmark")
    import json
    import shutil
    from pathlib import Path

    suite = tmp_path / "bench"
    suite.mkdir()
    shutil.copy(Path(__file__).parents[2] / "bench" / "conftest.py", suite / "conftest.py")
    (suite / "test_x.py").write_text(
        "import time\n"
        "def test_ref(benchmark, ratios):\n"
        "    benchmark.pedantic(time.sleep, args=(0.002,), rounds=3)\n"
        "    ratios.record(benchmark, 'g', 'ref', flops=2e6)\n"
        "def test_fast(benchmark, ratios):\n"
        "    benchmark.pedantic(time.sleep, args=(0.001,), rounds=3)\n"
        "    ratios.record(benchmark, 'g', 'fast', reference='ref', target=1.0)\n"
    )
    (suite / "pytest.ini").write_text("[pytest]\n")
    out = tmp_path / "r.json"
    assert main(["bench", "--path", str(suite), "--json", str(out)]) == 0
    rows = {r["name"]: r for r in json.loads(out.read_text())["rows"]}
    assert rows["ref"]["flops"] == 2e6 and rows["fast"]["flops"] is None
    assert rows["fast"]["reference"] == "ref" and 0.2 < rows["fast"]["ratio"] < 1.0
    assert rows["fast"]["status"] == "ok"
