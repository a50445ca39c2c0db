import io
import json
import shlex
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
    assert main([*SMALL, "--processes", "0", "--json", str(target)]) == 130
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
    doc = json.loads(out.read_text())
    rows = {r["name"]: r for r in doc["rows"]}
    assert rows["ref"]["flops"] == 2e6 and rows["fast"]["flops"] is None
    # 1 ms against 50 ms: the order holds on a loaded machine
    assert rows["fast"]["reference"] == "ref" and 0.0 < rows["fast"]["ratio"] < 1.0
    assert rows["fast"]["status"] == "ok"
    # the ratio row is timed again against the reference, interleaved, at least 5 rounds
    fast = rows["fast"]
    assert fast["interleaved"] and fast["rounds"] >= 5
    assert fast["reference_rounds"]["rounds"] == fast["rounds"]
    assert fast["median_s"] < fast["reference_median_s"]
    assert "load_flag" in fast and "wait_fraction" in fast
    assert rows["ref"]["rounds"] == 5 and not rows["ref"]["interleaved"]  # 3 asked: 5 run
    # the machine and the load around the run
    assert doc["machine"]["cpus"] >= 1 and "cpu_model" in doc["machine"]
    assert len(doc["load_average_before"]) == len(doc["load_average_after"]) == 3


def _documented_reproduce_commands():
    """``skysense reproduce ...`` commands of the README and the docs (code spans and blocks)."""
    import re
    from pathlib import Path

    root = Path(__file__).parents[2]
    pages = [root / "README.md", *root.glob("docs/**/*.md"), *root.glob("python/**/README.md")]
    commands = []
    for page in pages:
        text = page.read_text()
        found = re.findall(r"`(skysense reproduce [^`]*)`", text)
        found += re.findall(r"^\s*(skysense reproduce .*)$", text, flags=re.MULTILINE)
        for command in found:
            command = " ".join(command.split("#")[0].split())
            if "|" in command or "[" in command or command == "skysense reproduce":
                continue  # a synopsis, not a command
            commands.append(pytest.param(command, id=f"{page.name}: {command}"))
    return commands


@pytest.mark.parametrize("command", _documented_reproduce_commands())
def test_documented_reproduce_commands_parse_and_build_their_experiment(
    command, tmp_path, monkeypatch
):
    """Every command the README and the docs show runs as written up to its first trial."""
    import contextlib
    import shlex

    import skysense.experiments

    class Reached(Exception):
        pass

    def first_trial(experiment, n_trials, **kwargs):
        assert isinstance(experiment, skysense.experiments.Experiment) and n_trials >= 1
        raise Reached

    monkeypatch.chdir(tmp_path)  # --json/--plot targets are created here, then removed
    monkeypatch.setattr(skysense.experiments, "run_trials", first_trial)
    monkeypatch.setattr(
        skysense.experiments, "dask_client", lambda *a, **k: contextlib.nullcontext(None)
    )
    argv = shlex.split(command)[1:]
    if "--help" in argv:  # the documented way to list the experiments: prints, exits 0
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 0
        return
    with pytest.raises(Reached):
        main(argv)


# A slow experiment for the Ctrl-C test, added to the CLI's experiments in a child process.
SLOW_CLI = """
import sys, time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

import skysense.experiments
from skysense.cli import main
from skysense.experiments import Experiment


@dataclass(frozen=True)
class Slow(Experiment):
    name: ClassVar[str] = "slow-toy"
    default_trials: ClassVar[int] = 12
    chunk_size: int = 1
    delay_s: float = 0.1

    def cells(self):
        return ("a", "b")

    def setup(self, cell):
        return None

    def run_chunk(self, cell, state, n_trials, rng):
        time.sleep(self.delay_s)  # Ctrl-C lands here
        return {"x": rng.standard_normal(n_trials)}

    def summarize(self, cell, trials):
        return {"sum": float(trials["x"].sum()), "first": float(trials["x"][0])}

    def report(self, summaries):
        return summaries

    def plot(self, results, path):
        return None


skysense.experiments.EXPERIMENTS = (*skysense.experiments.EXPERIMENTS, Slow)
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_keeps_finished_chunks_and_resume_gives_the_uninterrupted_results(tmp_path):
    """A real SIGINT mid-run: finished chunks kept, the exact resume command printed, and the
    resumed run's JSON identical to an uninterrupted run's."""
    import signal
    import subprocess
    import time

    script = tmp_path / "slow_cli.py"
    # SIGINT may be inherited as ignored (a background job of a CI script): the child restores
    # Python's handler first, or it would never see the signal
    script.write_text(
        "import signal\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n" + SLOW_CLI
    )
    out = tmp_path / "out.json"
    argv = ["reproduce", "slow-toy", "--processes", "0", "--seed", "4", "--json", str(out)]

    def run(*extra, **kwargs):
        return subprocess.run(
            [sys.executable, str(script), *argv, *extra],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
            **kwargs,
        )

    child = subprocess.Popen(
        [sys.executable, str(script), *argv, "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        partial = tmp_path / "out.json.partial"
        deadline = time.monotonic() + 90
        while len(list(partial.glob("*/*.npz"))) < 3:  # a few of the 24 chunks are done
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "no chunk finished in 90 s"
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 130, stderr
    kept = len(list(partial.glob("*/*.npz")))
    assert 3 <= kept < 24 and not out.exists()
    command = shlex.join(["skysense", *argv, "--quiet", "--resume"])
    assert f"interrupted; {kept} of 24 chunks kept in {partial}" in stderr
    assert f"resume with: {command}" in stderr
    assert "Traceback" not in stderr

    # without --resume the kept chunks are not silently replaced
    refused = run("--quiet")
    assert refused.returncode == 2 and "add --resume" in refused.stderr
    resumed = run("--quiet", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed: {kept} finished chunk(s) loaded" in resumed.stdout
    assert not partial.exists()  # the results are written: the chunks are gone
    document = json.loads(out.read_text())

    out.unlink()
    fresh = run("--quiet")
    assert fresh.returncode == 0, fresh.stderr
    reference = json.loads(out.read_text())
    document.pop("wall_time_s"), reference.pop("wall_time_s")
    assert document == reference


def test_resume_needs_json(capsys):
    with pytest.raises(SystemExit):
        main([*SMALL, "--processes", "0", "--resume"])
    assert "--resume needs --json FILE" in capsys.readouterr().err


def test_resume_says_when_the_kept_chunks_are_of_another_seed(tmp_path, capsys):
    out = tmp_path / "t.json"
    from skysense.experiments import ImagingTable2, run_trials

    exp = ImagingTable2(modes=("A",), voxel_sizes_m=(5.0,))
    run_trials(exp, 2, rng=1, checkpoint=tmp_path / "t.json.partial")  # seed 1's chunks
    main([*SMALL, "--processes", "0", "--seed", "2", "--json", str(out), "--resume", "--quiet"])
    printed = capsys.readouterr()
    assert "holds chunks of another configuration or seed only" in printed.err
    assert json.loads(out.read_text())["seed"] == 2 and "resumed:" not in printed.out


def test_progress_eta_after_a_resume_counts_only_the_new_chunks():
    clock = FakeClock()
    progress = Progress("exp", stream=io.StringIO(), clock=clock)
    clock.now = 10.0
    progress(41, 100)  # 40 chunks loaded from FILE.partial, then the first new one
    assert progress.eta_s(41, 100, clock.now) is None
    clock.now = 12.0
    progress(43, 100)  # two more in 2 s
    assert progress.eta_s(43, 100, clock.now) == pytest.approx(57.0)
