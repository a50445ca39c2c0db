"""The timing machinery of ``skysense bench`` and the demo (``skysense._bench``)."""

import json
import sys
import time

import pytest

from skysense import _bench
from skysense._bench import (
    MIN_ROUNDS,
    BenchRecord,
    Comparison,
    Probe,
    Rounds,
    Row,
    compare,
    time_rounds,
)

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _spin(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_time_rounds_takes_at_least_five_rounds_after_the_warm_up():
    calls = []
    rounds = time_rounds(lambda: calls.append(1), rounds=2, warmup_rounds=3)
    assert len(calls) == 3 + MIN_ROUNDS and rounds.n_rounds == MIN_ROUNDS
    assert rounds.min_s <= rounds.median_s
    more = time_rounds(lambda: None, rounds=9, warmup_rounds=0)
    assert more.n_rounds == 9


def test_compare_interleaves_reference_and_subject():
    order = []
    pair = compare(lambda: order.append("s"), lambda: order.append("r"), warmup_rounds=1)
    # warm-up r s, then r s | s r | r s | s r | r s: neither always runs first
    assert "".join(order) == "rs" + "rssrrssrrs"
    assert pair.subject.n_rounds == pair.reference.n_rounds == MIN_ROUNDS


def test_compare_measures_the_ratio_in_the_same_run():
    pair = compare(lambda: time.sleep(0.03), lambda: time.sleep(0.003), rounds=5)
    assert 2.5 < pair.ratio < 12.0  # 10x asleep: sleeping is nearly immune to CPU load
    assert pair.ratio_min > 2.5


def test_compare_stops_at_the_time_budget_after_the_minimum():
    pair = compare(lambda: time.sleep(0.01), lambda: None, rounds=1000, max_seconds=0.05)
    assert MIN_ROUNDS <= pair.subject.n_rounds < 1000


@linux
def test_probe_accounts_for_the_wall_time_of_a_busy_round():
    """CPU time plus run-queue wait of a busy thread is its wall time (whatever the load)."""
    rounds = time_rounds(lambda: _spin(0.05), rounds=5, warmup_rounds=0)
    assert rounds.cpu_s is not None and rounds.wait_s is not None
    wall = sum(rounds.times_s)
    assert rounds.cpu_s + rounds.wait_s == pytest.approx(wall, rel=0.25)
    assert 0.0 <= rounds.wait_fraction < 1.0
    asleep = time_rounds(lambda: time.sleep(0.05), rounds=5, warmup_rounds=0)
    assert asleep.cpu_s < 0.5 * sum(asleep.times_s)  # sleeping is neither CPU nor wait


def _rounds(wait_s, cpu_s=1.0, steal=0, total=1000):
    r = Rounds(times_s=[0.1] * 5, cpu_s=cpu_s, wait_s=wait_s, steal=steal, total=total)
    return r


def test_a_load_difference_between_subject_and_reference_is_flagged():
    same = Comparison(_rounds(0.5), _rounds(0.55))
    assert same.load_flag is None  # 33% against 35%
    busy = Comparison(_rounds(1.0), _rounds(0.1))  # 50% against 9%
    assert busy.load_flag == "run-queue wait 50% (subject) vs 9% (reference)"
    stolen = Comparison(_rounds(0.1, steal=300), _rounds(0.1, steal=10))
    assert "CPU steal 30% (subject) vs 1% (reference)" in stolen.load_flag
    unknown = Comparison(Rounds([0.1], None, None, None, None), _rounds(0.1))
    assert unknown.load_flag is None  # no probe: nothing to judge


def test_record_renders_the_machine_the_load_and_the_flag():
    record = BenchRecord()
    record.start()
    record.rows = [
        Row("g", "ref", _rounds(0.1), note="reference"),
        Row("g", "fast", _rounds(0.1), "ref", Comparison(_rounds(1.0), _rounds(0.1)), 1.0),
    ]
    record.finish()
    text = record.render()
    lines = text.splitlines()
    assert lines[0].startswith(record.machine["cpu_model"])
    assert "load average (1, 5, 15 min) before" in lines[1]
    row = next(line for line in lines if "! fast" in line)
    assert "1.00x" in row and "<=1x ok" in row and "50/9" in row
    assert "different load" in text
    doc = json.loads(json.dumps(record.to_json(), allow_nan=False))
    machine = doc["machine"]
    for key in ("cpu_model", "cpus", "usable_cpus", "blas", "numba_threads", "workers"):
        assert key in machine
    assert doc["load_margin"] == _bench.LOAD_MARGIN
    fast = doc["rows"][1]
    assert fast["ratio"] == 1.0 and fast["interleaved"] and fast["status"] == "ok"
    assert fast["load_flag"].startswith("run-queue wait 50%")
    assert fast["rounds"] == 5 and len(fast["subject"]["times_s"]) == 5


def test_machine_names_the_blas_and_its_threads():
    pytest.importorskip("threadpoolctl")
    import numpy as np

    np.ones((4, 4)) @ np.ones((4, 4))  # NumPy's BLAS is loaded
    record = _bench.machine()
    assert any(p["user_api"] == "blas" and p["num_threads"] >= 1 for p in record["blas"])
    assert "thread(s)" in _bench.machine_summary(record)


def test_probe_without_proc_gives_none(monkeypatch):
    def missing(*args, **kwargs):
        raise OSError

    monkeypatch.setattr(_bench.os, "listdir", missing)
    monkeypatch.setattr("builtins.open", missing)
    assert _bench.probe() == Probe(None, None, None, None)
