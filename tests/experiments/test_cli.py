import io
import json
import sys

import pytest

import skysense
from skysense.cli import Progress, main

SMALL = ["reproduce", "imaging-table2", "--trials", "2", "--modes", "a", "--d0", "5"]


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["reproduce", "imaging-table3"], "did you mean 'imaging-table2'"),
        (["reproduce", "imaging-tabel2"], "did you mean 'imaging-table2'"),
        (["reproduce", "nothing-like-it"], "unknown experiment 'nothing-like-it' (choose from"),
        (["reproduce", "imaging-table2", "--trials", "0"], "--trials must be >= 1, got 0"),
        (["reproduce", "imaging-table2", "--trials", "two"], "invalid int value"),
        (["reproduce", "imaging-table2", "--seed", "-1"], "--seed must be >= 0"),
        (["reproduce", "imaging-table2", "--processes", "-2"], "--processes must be >= 0"),
        (
            ["reproduce", "imaging-table2", "--processes", "2", "--scheduler", "tcp://x:1"],
            "omit it with --scheduler",
        ),
        (["reproduce", "imaging-table2", "--bogus", "1"], "unrecognized arguments: --bogus 1"),
        (["reproduce", "imaging-table2", "--workers", "2"], "unrecognized arguments: --workers"),
        (["reproduce", "imaging-psf", "--modes", "A"], "imaging-table2 only"),
        (["reproduce", "imaging-table2", "--modes", "A,D"], "modes"),
        (["reproduce", "imaging-table2", "--d0", "1,x"], "comma-separated"),
        (["reproduce", "imaging-table2", "--d0", "0"], "voxel_size_m"),
        (["reproduce", "imaging-table2", "--threads", "0"], "--threads: workers must be >= 1"),
        (["reproduce", "imaging-psf", "--methods", "sp"], "does not apply to imaging-psf"),
        (["reproduce", "bistatic-latency", "--methods", "esprit"], "methods must be drawn"),
        (["reproduce", "imaging-psf", "--pretrained", "default"], "imaging-offgrid only"),
        (["reproduce", "mapping-runtime", "--threads", "0"], "workers"),
    ],
)
def test_reproduce_argument_errors_print_the_reproduce_usage(argv, match, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert match in err
    assert err.startswith("usage: skysense reproduce ")


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["demo", "--frames", "0"], "--frames must be >= 1, got 0"),
        (["demo", "--bogus", "2"], "unrecognized arguments: --bogus 2"),
    ],
)
def test_demo_argument_errors_print_the_demo_usage(argv, match, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert match in err and err.startswith("usage: skysense demo ")


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"skysense {skysense.__version__}\n"


@pytest.mark.parametrize("command", [[], ["demo"], ["reproduce"], ["bench"], ["train-imager"]])
def test_help_is_plain_text(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: skysense")
    for markup in ("``", ":func:", ":class:", ":mod:", ":data:"):
        assert markup not in out


def test_reproduce_help_lists_the_experiments_and_the_vocabulary(capsys):
    with pytest.raises(SystemExit):
        main(["reproduce", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "imaging-table2" in out and "mapping-mospa" in out
    assert "--processes N" in out and "--threads N" in out and "--scheduler ADDRESS" in out
    assert "the API's workers" in out


@pytest.mark.parametrize("kind", ["parent is a file", "a folder"])
def test_unwritable_json_fails_before_any_trial(kind, tmp_path, monkeypatch, capsys):
    import skysense.experiments

    def no_trials(*args, **kwargs):
        raise AssertionError("trials ran although --json cannot be written")

    monkeypatch.setattr(skysense.experiments, "run_trials", no_trials)
    (tmp_path / "file").write_text("")
    target = tmp_path / "file" / "t.json" if kind == "parent is a file" else tmp_path
    with pytest.raises(SystemExit) as exc:
        main([*SMALL, "--processes", "0", "--json", str(target)])
    assert exc.value.code == 2
    assert f"--json: cannot write {target}" in capsys.readouterr().err


def test_writable_json_check_leaves_no_file_behind(tmp_path, monkeypatch):
    import skysense.experiments

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(skysense.experiments, "run_trials", stop)
    target = tmp_path / "new" / "t.json"
    with pytest.raises(KeyboardInterrupt):
        main([*SMALL, "--processes", "0", "--json", str(target)])
    assert target.parent.is_dir() and not target.exists()


@pytest.mark.parametrize(
    ("blocked", "argv", "command"),
    [
        ("distributed", [*SMALL, "--processes", "1"], "pip install 'skysense[experiments]'"),
        ("threadpoolctl", [*SMALL, "--processes", "0"], "pip install 'skysense[experiments]'"),
        ("matplotlib", [*SMALL, "--processes", "0", "--plot", "x.png"], "skysense[plot]"),
        ("matplotlib", ["demo", "--frames", "1"], "pip install 'skysense[demo]'"),
    ],
)
def test_missing_optional_dependency_prints_the_install_command(
    blocked, argv, command, monkeypatch, capsys, tmp_path
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, blocked, None)  # import raises ModuleNotFoundError
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert command in err and blocked in err
    assert "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "skysense-out").exists()  # the demo stopped before running


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_progress_eta_ignores_the_slow_first_chunk():
    clock = FakeClock()
    progress = Progress("exp", stream=io.StringIO(), clock=clock)
    clock.now = 30.0  # cluster start-up and per-cell setup
    progress(1, 100)
    assert progress.eta_s(1, 100, clock.now) is None
    assert progress.line(1, 100, clock.now) == "exp: 1/100 chunks, 30 s, ETA after the second chunk"
    clock.now = 31.0
    progress(3, 100)  # two workers: chunks 2 and 3 finished in 1 s
    assert progress.eta_s(3, 100, clock.now) == pytest.approx(0.5 * 97)
    assert progress.line(3, 100, clock.now) == "exp: 3/100 chunks, 31 s, ETA 48 s"
    assert progress.line(100, 100, 80.0) == "exp: 100/100 chunks, 1 min 20 s, done"


def test_progress_off_a_terminal_writes_a_line_every_10_s_and_at_the_end():
    clock = FakeClock()
    stream = io.StringIO()
    progress = Progress("exp", stream=stream, clock=clock)
    for done in range(1, 5):
        clock.now = 4.0 * done
        progress(done, 4)
    lines = stream.getvalue().splitlines()
    assert lines == [
        "exp: 1/4 chunks, 4 s, ETA after the second chunk",
        "exp: 4/4 chunks, 16 s, done",
    ]
    quiet = io.StringIO()
    silent = Progress("exp", stream=quiet, clock=clock, enabled=False)
    silent(1, 1)
    assert quiet.getvalue() == ""


def test_reproduce_prints_progress_and_the_run(capsys):
    main([*SMALL, "--processes", "0", "--threads", "2"])
    printed = capsys.readouterr()
    assert "imaging-table2: 1/1 chunks" in printed.err and ", done" in printed.err
    assert "1 process(es) x 2 thread(s) per call" in printed.out


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
            "--processes",
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
        "    benchmark.pedantic(time.sleep, args=(0.05,), rounds=3)\n"
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
    # 1 ms against 50 ms: the order holds on a loaded machine
    assert rows["fast"]["reference"] == "ref" and 0.0 < rows["fast"]["ratio"] < 1.0
    assert rows["fast"]["status"] == "ok"
