"""pytest-benchmark harness: every kernel is timed next to its reference in the same run.

Run with ``python -m pytest bench/ --benchmark-only``. Each benchmark records its median
through the session-scoped :func:`ratios` fixture; at the end a table of
``median(kernel) / median(reference)`` is printed, with the target where one is set.
``--save-ratios`` also writes it to ``bench/results/ratios-<UTC time>.json``.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

_RATIOS_KEY = pytest.StashKey["RatioTable"]()
_THREAD_ENV = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "NUMBA_THREADING_LAYER",
    "OMP_WAIT_POLICY",
)


def pytest_addoption(parser):
    group = parser.getgroup("skysense bench")
    group.addoption(
        "--save-ratios",
        nargs="?",
        const="",
        default=None,
        metavar="PATH",
        help="write the ratio table as JSON to PATH (default bench/results/ratios-<UTC>.json)",
    )


@dataclass
class Entry:
    """One timed implementation inside a comparison group."""

    group: str
    name: str
    median_s: float
    min_s: float
    reference: str | None = None
    target: float | None = None
    note: str = ""
    flops: float | None = None


@dataclass
class RatioTable:
    """Medians of the session's benchmarks, keyed by ``(group, name)``."""

    entries: dict = field(default_factory=dict)

    def record(self, benchmark, group, name, *, reference=None, target=None, note="", flops=None):
        """Store the median of a finished ``benchmark`` run.

        Parameters
        ----------
        benchmark : pytest_benchmark.fixture.BenchmarkFixture
        group, name : str
            Comparison group and implementation label.
        reference : str, optional
            Label in the same group to divide by.
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
        median, fastest = float(stats.stats.median), float(stats.stats.min)
        benchmark.extra_info.update({"group": group, "name": name, "reference": reference})
        self.entries[group, name] = Entry(
            group, name, median, fastest, reference, target, note, flops
        )

    def rows(self):
        """Rows ``(group, name, median_s, min_s, reference, ratio, ratio_min, target, status,
        note, flops)``.

        ``ratio`` divides the medians (judged against ``target``); ``ratio_min`` divides the
        fastest rounds, which is less sensitive to other load on a shared machine.
        """
        out = []
        for (group, _), e in self.entries.items():
            ref = self.entries.get((group, e.reference)) if e.reference else None
            ratio = e.median_s / ref.median_s if ref else None
            ratio_min = e.min_s / ref.min_s if ref else None
            status = ""
            if ratio is not None and e.target is not None:
                status = "ok" if ratio <= e.target else "MISS"
            out.append(
                (
                    group,
                    e.name,
                    e.median_s,
                    e.min_s,
                    e.reference,
                    ratio,
                    ratio_min,
                    e.target,
                    status,
                    e.note,
                    e.flops,
                )
            )
        return out


def _ratio(r):
    """A ratio for the table: two decimals, or two significant digits below 0.1 (0.0043x)."""
    return f"{r:5.2f}x" if r >= 0.1 else f"{r:.2g}x".rjust(6) if r >= 1e-3 else f"{r:.0e}x"


@pytest.fixture(scope="session")
def ratios(request):
    """The session's :class:`RatioTable`."""
    table = request.config.stash.get(_RATIOS_KEY, None)
    if table is None:
        table = RatioTable()
        request.config.stash[_RATIOS_KEY] = table
    return table


def _environment():
    import numba

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "numba_threading_layer": numba.config.THREADING_LAYER,
        "thread_env": {k: os.environ[k] for k in _THREAD_ENV if k in os.environ},
    }


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    table = config.stash.get(_RATIOS_KEY, None)
    if table is None or not table.entries:
        return
    rows = table.rows()
    tr = terminalreporter
    tr.section("skysense: kernel / reference (medians, same run)")
    env = _environment()
    tr.write_line(
        f"{env['cpus']} CPUs, numpy {env['numpy']}, numba {env['numba']} "
        f"({env['numba_threading_layer']} layer, {env['numba_threads']} threads), "
        f"thread env {env['thread_env'] or 'unset'}"
    )
    width = max(24, max(len(r[0]) for r in rows) + 2)
    header = (
        f"{'group':<{width}}{'implementation':<25}{'median':>10}{'min':>10}  "
        f"{'ratio':>6} {'(min)':>6}  {'vs':<16}{'target':<12}note"
    )
    tr.write_line(header)
    tr.write_line("-" * len(header))
    for group, name, median, fastest, ref, ratio, ratio_min, target, status, note, flops in rows:
        ratio_s = f"{_ratio(ratio)} {_ratio(ratio_min)}" if ratio is not None else " " * 13
        target_s = f"<={target:g}x {status}" if target is not None else ""
        if flops:  # the paper's count beside the measured time
            # above the CPU's peak when the implementation does less work than the paper's
            note = f"[paper: {flops:.3g} flop, {flops / median / 1e9:.3g} Gflop/s equiv.] {note}"
        tr.write_line(
            f"{group:<{width}}{name:<25}{median * 1e3:8.1f}ms{fastest * 1e3:8.1f}ms  "
            f"{ratio_s}  {ref or '':<16}{target_s:<12}{note}"
        )
    target = config.getoption("--save-ratios")
    if target is not None:
        if target:
            path = Path(target)
        else:
            stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
            path = Path(__file__).parent / "results" / f"ratios-{stamp}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        keys = (
            "group",
            "name",
            "median_s",
            "min_s",
            "reference",
            "ratio",
            "ratio_min",
            "target",
            "status",
            "note",
            "flops",
        )
        path.write_text(
            json.dumps(
                {"environment": env, "rows": [dict(zip(keys, r, strict=True)) for r in rows]},
                indent=2,
            )
        )
        tr.write_line(f"ratios written to {path}")
