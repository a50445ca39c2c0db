"""pytest-benchmark harness: every kernel is timed next to its reference in the same run.

Run with ``python -m pytest bench/ --benchmark-only`` (or ``skysense bench``). A test times
its implementation with ``benchmark.pedantic(fn, ...)`` and records it with
``ratios.record(benchmark, group, name, reference=..., target=...)``:

- a row without ``reference`` keeps pytest-benchmark's rounds (median and min; at least 5,
  except a single round, which is a long run timed once), each round wrapped in the load
  probe of :mod:`skysense._bench`;
- a row with ``reference`` is timed again against the reference's callable (recorded earlier
  in the same module) in interleaved rounds, at least 5, so that both see the same load; its
  median, min and ratio come from those rounds, and it is flagged when the two waited for a
  CPU for shares of their time that differ by more than ``skysense._bench.LOAD_MARGIN``.

The terminal summary prints the machine (CPU, cores, BLAS and its threads), the load
average before and after, and the table; ``--save-ratios`` writes the same as JSON (default
``bench/results/ratios-<UTC time>.json``).
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from skysense import _bench

_RECORD_KEY = pytest.StashKey["RatioTable"]()


def pytest_addoption(parser):
    group = parser.getgroup("skysense bench")
    group.addoption(
        "--save-ratios",
        nargs="?",
        const="",
        default=None,
        metavar="PATH",
        help="write the table as JSON to PATH (default bench/results/ratios-<UTC>.json)",
    )


class Captured:
    """What a test's ``benchmark`` timed, and the load of each of its rounds.

    Attached to pytest-benchmark's fixture as ``benchmark.skysense`` by the ``benchmark``
    fixture below, which also wraps its ``pedantic``: the timed callable is remembered, and
    each round is wrapped in :func:`skysense._bench.probe` through pedantic's own ``setup``
    and ``teardown`` hooks (outside the timed region).
    """

    def __init__(self, fixture):
        self.call: tuple[Any, tuple, dict] | None = None
        self.requested_rounds = 1
        self.rounds = _bench.Rounds()
        self.n_probed = 0
        self._before: _bench.Probe | None = None
        self._skip = 0
        self._pedantic = fixture.pedantic
        fixture.pedantic = self.pedantic
        fixture.skysense = self

    def pedantic(
        self,
        target,
        args=(),
        kwargs=None,
        setup=None,
        teardown=None,
        rounds=1,
        warmup_rounds=0,
        iterations=1,
    ):
        self.call = (target, tuple(args), dict(kwargs or {}))
        if 1 < rounds < _bench.MIN_ROUNDS:  # a timing: median and min of at least 5 rounds
            rounds = _bench.MIN_ROUNDS  # (one round is a long run, timed once on purpose)
        self.requested_rounds = rounds
        if setup is None and teardown is None and iterations == 1:
            self._skip = warmup_rounds  # the probes of warm-up rounds are dropped
            setup, teardown = self._probe_before, self._probe_after
        return self._pedantic(
            target,
            args=args,
            kwargs=kwargs,
            setup=setup,
            teardown=teardown,
            rounds=rounds,
            warmup_rounds=warmup_rounds,
            iterations=iterations,
        )

    def _probe_before(self):
        self._before = _bench.probe()  # returns None: pedantic keeps its args

    def _probe_after(self, *args, **kwargs):
        after = _bench.probe()
        if self._skip:
            self._skip -= 1
        elif self._before is not None:
            self.rounds.add_load(self._before, after)  # the times come from pytest-benchmark
            self.n_probed += 1

    def callable(self):
        """``fn()`` running what the test timed, or None."""
        if self.call is None:
            return None
        fn, args, kwargs = self.call
        return lambda: fn(*args, **kwargs)


@pytest.fixture
def benchmark(benchmark):
    """pytest-benchmark's fixture with :class:`Captured` attached (``benchmark.skysense``)."""
    Captured(benchmark)
    return benchmark


@dataclass
class RatioTable:
    """The session's rows (a :class:`skysense._bench.BenchRecord`) and the callables of the
    rows a later row may name as its reference (kept for the module that timed them)."""

    bench: _bench.BenchRecord = field(default_factory=_bench.BenchRecord)
    references: dict = field(default_factory=dict)

    def record(self, benchmark, group, name, *, reference=None, target=None, note="", flops=None):
        """Add the finished ``benchmark`` run as row ``name`` of ``group``.

        Parameters
        ----------
        benchmark : pytest_benchmark.fixture.BenchmarkFixture
            The test's ``benchmark`` fixture after ``benchmark.pedantic(...)``.
        group, name : str
            Comparison group and implementation label.
        reference : str, optional
            Label of a row of the same group, recorded earlier in this module: this row is
            then timed against it in interleaved rounds (ratio of medians and of minima).
        target : float, optional
            Largest acceptable ``median / median(reference)``.
        note : str
            Free text printed next to the row.
        flops : float, optional
            The paper's operation count of the algorithm (real flops per call), printed
            beside the time with the rate it implies (e.g. ``bistatic.operation_counts``).
        """
        stats = getattr(benchmark, "stats", None)
        if not stats:  # --benchmark-disable: nothing was timed
            return
        times = [float(t) for t in stats.stats.data]
        rounds = _bench.Rounds(times_s=times, cpu_s=None, wait_s=None, steal=None, total=None)
        captured = getattr(benchmark, "skysense", None)
        if captured is not None and captured.n_probed == len(times):
            probed = captured.rounds  # the load of each timed round
            rounds.cpu_s, rounds.wait_s = probed.cpu_s, probed.wait_s
            rounds.steal, rounds.total = probed.steal, probed.total
        fn = captured.callable() if captured is not None else None
        load_before = _bench.load_average()
        comparison = None
        if reference is not None:
            ref_fn = self.references.get((group, reference))
            if fn is not None and ref_fn is not None:
                requested = captured.requested_rounds if captured is not None else 1
                comparison = _bench.compare(fn, ref_fn, rounds=max(requested, _bench.MIN_ROUNDS))
            else:
                note = f"{note} (reference {reference!r} not timed in this run)".strip()
        elif fn is not None:
            self.references[group, name] = fn
        benchmark.extra_info.update({"group": group, "name": name, "reference": reference})
        self.bench.rows.append(
            _bench.Row(
                group=group,
                name=name,
                rounds=rounds,
                reference=reference,
                comparison=comparison,
                target=target,
                note=note,
                flops=flops,
                load_average=(load_before, _bench.load_average()),
            )
        )


@pytest.fixture(scope="session")
def ratios(request):
    """The session's :class:`RatioTable`."""
    table = request.config.stash.get(_RECORD_KEY, None)
    if table is None:
        table = RatioTable()
        request.config.stash[_RECORD_KEY] = table
    return table


@pytest.fixture(autouse=True, scope="module")
def _forget_references(request):
    """Drop the module's reference callables (and the arrays they hold) after it."""
    yield
    table = request.config.stash.get(_RECORD_KEY, None)
    if table is not None:
        table.references.clear()


def pytest_sessionstart(session):
    table = RatioTable()
    table.bench.start()
    session.config.stash[_RECORD_KEY] = table


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    table = config.stash.get(_RECORD_KEY, None)
    if table is None or not table.bench.rows:
        return
    record = table.bench
    record.finish()
    tr = terminalreporter
    tr.section("skysense: kernels against their references (same run, interleaved rounds)")
    for line in record.render().splitlines():
        tr.write_line(line)
    target = config.getoption("--save-ratios")
    if target is not None:
        if target:
            path = Path(target)
        else:
            stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
            path = Path(__file__).parent / "results" / f"ratios-{stamp}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record.to_json(), indent=2, allow_nan=False) + "\n")
        tr.write_line(f"table written to {path}")
