"""Timings a reader can trust: rounds, same-run ratios, load probes and the machine record.

The one place of the timing machinery of ``skysense bench`` (``bench/conftest.py``, with
pytest-benchmark as the harness) and of the demo's latency table:

- :func:`machine` records the CPU model, the cores, the BLAS libraries and their threads
  (threadpoolctl), numba's threads and the thread variables of the environment;
- :func:`time_rounds` times ``fn`` over at least 5 rounds (median and min);
- :func:`compare` times a subject and its reference in *interleaved* rounds (reference,
  subject, subject, reference, ...), so that both see the same load, and gives their ratio;
- every round is wrapped in a load probe (:func:`probe`, outside the timed region): the time
  the process's threads spent waiting for a CPU while runnable (``/proc/self/task/*/schedstat``)
  and the machine's CPU steal (``/proc/stat``). A comparison whose subject and reference waited
  for a CPU (or lost it to steal) for fractions of their time that differ by more than
  :data:`LOAD_MARGIN` is flagged: its ratio measures the load, not the code.
- :class:`BenchRecord` holds the rows with the machine and the load average before and after,
  renders the table and writes JSON.

Linux gives every probe; elsewhere the probes are ``None`` and nothing is flagged.
"""

from __future__ import annotations

import importlib
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "LOAD_MARGIN",
    "MIN_ROUNDS",
    "BenchRecord",
    "Comparison",
    "Probe",
    "Rounds",
    "Row",
    "compare",
    "load_average",
    "machine",
    "machine_summary",
    "probe",
    "time_rounds",
]

#: Largest difference between the subject's and the reference's fraction of time spent
#: waiting for a CPU (or stolen by the hypervisor) before a ratio is flagged.
LOAD_MARGIN = 0.10
#: Fewest rounds of a timing (median and min of at least this many).
MIN_ROUNDS = 5
#: Thread variables of the environment recorded with the machine.
THREAD_ENV = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "NUMBA_THREADING_LAYER",
    "OMP_WAIT_POLICY",
)
#: Jiffies (1/100 s) of /proc/stat below which a steal fraction is too coarse to judge.
_MIN_JIFFIES = 50


# -- probes ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Probe:
    """A snapshot of the counters a round is judged by.

    Attributes
    ----------
    cpu_s, wait_s : float or None
        CPU time of this process's threads, and time they spent runnable but waiting for a
        CPU (run-queue delay), summed over threads [s] (``/proc/self/task/*/schedstat``).
    steal, total : int or None
        Machine-wide steal and total CPU jiffies (``/proc/stat``).
    """

    cpu_s: float | None
    wait_s: float | None
    steal: int | None
    total: int | None


def _schedstat() -> tuple[float, float] | tuple[None, None]:
    cpu = wait = 0
    try:
        for task in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{task}/schedstat") as f:
                    fields = f.read().split()
            except OSError:  # the thread ended meanwhile
                continue
            cpu += int(fields[0])
            wait += int(fields[1])
    except (OSError, IndexError, ValueError):
        return None, None
    return cpu * 1e-9, wait * 1e-9


def _proc_stat() -> tuple[int, int] | tuple[None, None]:
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        values = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
    except (OSError, ValueError):
        return None, None
    if fields[:1] != ["cpu"] or len(values) < 8:
        return None, None
    return values[7], sum(values)


def probe() -> Probe:
    """The load counters now (``None`` where the platform has no such counter)."""
    cpu, wait = _schedstat()
    steal, total = _proc_stat()
    return Probe(cpu, wait, steal, total)


def load_average() -> tuple[float, float, float] | None:
    """The 1-, 5- and 15-minute load averages (``None`` where unavailable)."""
    try:
        one, five, fifteen = os.getloadavg()
    except (AttributeError, OSError):
        return None
    return (round(one, 2), round(five, 2), round(fifteen, 2))


# -- rounds ---------------------------------------------------------------------------------
@dataclass
class Rounds:
    """Timings of one implementation: seconds per round and the load they ran under.

    Attributes
    ----------
    times_s : list of float
        Wall time of each round [s].
    cpu_s, wait_s : float or None
        Summed over the rounds: CPU time of the process's threads and their run-queue wait [s].
    steal, total : int or None
        Summed over the rounds: the machine's steal and total CPU jiffies.
    """

    times_s: list[float] = field(default_factory=list)
    cpu_s: float | None = 0.0
    wait_s: float | None = 0.0
    steal: int | None = 0
    total: int | None = 0

    def add(self, seconds: float, before: Probe, after: Probe) -> None:
        """One round of ``seconds`` between the probes ``before`` and ``after``."""
        self.times_s.append(float(seconds))
        self.add_load(before, after)

    def add_load(self, before: Probe, after: Probe) -> None:
        """The load counters of one round (timed elsewhere) between two probes."""
        if self.cpu_s is not None and self.wait_s is not None:
            if before.cpu_s is None or after.cpu_s is None:
                self.cpu_s = self.wait_s = None
            else:
                assert before.wait_s is not None and after.wait_s is not None
                self.cpu_s += max(after.cpu_s - before.cpu_s, 0.0)
                self.wait_s += max(after.wait_s - before.wait_s, 0.0)
        if self.steal is not None and self.total is not None:
            if before.steal is None or after.steal is None:
                self.steal = self.total = None
            else:
                assert before.total is not None and after.total is not None
                self.steal += after.steal - before.steal
                self.total += after.total - before.total

    def per(self, count: int) -> Rounds:
        """The same rounds per unit of work, when each round did ``count`` units."""
        return Rounds(
            [t / count for t in self.times_s], self.cpu_s, self.wait_s, self.steal, self.total
        )

    @property
    def n_rounds(self) -> int:
        return len(self.times_s)

    @property
    def median_s(self) -> float:
        return float(statistics.median(self.times_s)) if self.times_s else math.nan

    @property
    def min_s(self) -> float:
        return min(self.times_s) if self.times_s else math.nan

    @property
    def wait_fraction(self) -> float | None:
        """Share of the threads' runnable time spent waiting for a CPU (0: never)."""
        if self.cpu_s is None or self.wait_s is None or self.cpu_s + self.wait_s <= 0:
            return None
        return self.wait_s / (self.cpu_s + self.wait_s)

    @property
    def steal_fraction(self) -> float | None:
        """Share of the machine's CPU time stolen by the hypervisor during the rounds."""
        if self.steal is None or self.total is None or self.total < _MIN_JIFFIES:
            return None
        return self.steal / self.total

    def to_json(self) -> dict[str, Any]:
        return {
            "rounds": self.n_rounds,
            "median_s": _finite(self.median_s),
            "min_s": _finite(self.min_s),
            "times_s": [_finite(t) for t in self.times_s],
            "wait_fraction": _rounded(self.wait_fraction),
            "steal_fraction": _rounded(self.steal_fraction),
        }


def _rounded(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def _finite(x: float | None) -> float | None:
    """``x``, or ``None`` for a missing or non-finite value (strict JSON)."""
    return x if x is not None and math.isfinite(x) else None


def _timed_round(fn: Callable[[], object], rounds: Rounds) -> object:
    before = probe()
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    rounds.add(seconds, before, probe())
    return out


def time_rounds(
    fn: Callable[[], object], *, rounds: int = MIN_ROUNDS, warmup_rounds: int = 1
) -> Rounds:
    """Time ``fn()`` over ``max(rounds, MIN_ROUNDS)`` rounds after ``warmup_rounds`` calls.

    Examples
    --------
    >>> from skysense._bench import time_rounds
    >>> r = time_rounds(lambda: sum(range(1000)))
    >>> r.n_rounds, r.min_s <= r.median_s
    (5, True)
    """
    for _ in range(warmup_rounds):
        fn()
    out = Rounds()
    for _ in range(max(rounds, MIN_ROUNDS)):
        _timed_round(fn, out)
    return out


@dataclass
class Comparison:
    """A subject and its reference timed in interleaved rounds of the same run."""

    subject: Rounds
    reference: Rounds
    margin: float = LOAD_MARGIN

    @property
    def ratio(self) -> float:
        """``median(subject) / median(reference)``."""
        return self.subject.median_s / self.reference.median_s

    @property
    def ratio_min(self) -> float:
        """``min(subject) / min(reference)``: the least sensitive to other load."""
        return self.subject.min_s / self.reference.min_s

    @property
    def load_flag(self) -> str | None:
        """Why the two ran under different load, or ``None`` if they did not (or unknown)."""
        reasons = []
        for what, a, b in (
            ("run-queue wait", self.subject.wait_fraction, self.reference.wait_fraction),
            ("CPU steal", self.subject.steal_fraction, self.reference.steal_fraction),
        ):
            if a is not None and b is not None and abs(a - b) > self.margin:
                reasons.append(f"{what} {a:.0%} (subject) vs {b:.0%} (reference)")
        return "; ".join(reasons) or None


def compare(
    subject: Callable[[], object],
    reference: Callable[[], object],
    *,
    rounds: int = MIN_ROUNDS,
    warmup_rounds: int = 1,
    max_seconds: float = 30.0,
    margin: float = LOAD_MARGIN,
) -> Comparison:
    """Time ``subject()`` against ``reference()`` in interleaved rounds.

    Round ``k`` runs the reference then the subject for even ``k`` and the other way round
    for odd ``k`` (so neither always comes first), for ``rounds`` rounds, at least
    :data:`MIN_ROUNDS`, and no more than fit in ``max_seconds`` once that minimum is done.

    Examples
    --------
    >>> from skysense._bench import compare
    >>> c = compare(lambda: sum(range(20_000)), lambda: sum(range(2_000)))
    >>> c.subject.n_rounds == c.reference.n_rounds == 5 and c.ratio > 1
    True
    """
    for _ in range(warmup_rounds):
        reference()
        subject()
    pair = Comparison(Rounds(), Rounds(), margin)
    start = time.perf_counter()
    k = 0
    while k < max(rounds, MIN_ROUNDS):
        if k >= MIN_ROUNDS and time.perf_counter() - start > max_seconds:
            break
        order = ((reference, pair.reference), (subject, pair.subject))
        for fn, into in order if k % 2 == 0 else order[::-1]:
            _timed_round(fn, into)
        k += 1
    return pair


# -- the machine ----------------------------------------------------------------------------
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _blas() -> list[dict[str, Any]] | None:
    """The thread pools threadpoolctl sees (BLAS, OpenMP): library, version and threads."""
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")
    except ImportError:
        return None
    keys = ("user_api", "internal_api", "version", "num_threads", "threading_layer")
    return [
        {**{k: info.get(k) for k in keys}, "library": Path(str(info.get("filepath", ""))).name}
        for info in threadpoolctl.threadpool_info()
    ]


def machine() -> dict[str, Any]:
    """The machine record: CPU, cores, BLAS and its threads, numba, versions, thread env."""
    import numpy as np

    from skysense import __version__, get_workers

    usable: int | None
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    record: dict[str, Any] = {
        "cpu_model": _cpu_model(),
        "cpus": os.cpu_count(),
        "usable_cpus": usable,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "skysense": __version__,
        "workers": get_workers(),
        "blas": _blas(),
        "thread_env": {k: os.environ[k] for k in THREAD_ENV if k in os.environ},
    }
    try:
        import numba

        record["numba"] = numba.__version__
        record["numba_threads"] = numba.get_num_threads()
        record["numba_threading_layer"] = getattr(numba.config, "THREADING_LAYER", None)
    except ImportError:  # pragma: no cover - numba is a core dependency
        pass
    return record


def machine_summary(record: dict[str, Any]) -> str:
    """One line: CPU model, cores, kernel threads, BLAS threads."""
    blas = record.get("blas")
    if blas:
        pools = ", ".join(
            f"{p['internal_api']} {p['library']} {p['num_threads']} thread(s)"
            for p in blas
            if p.get("user_api") == "blas"
        )
    else:
        pools = "BLAS threads unknown (no threadpoolctl)"
    return (
        f"{record['cpu_model']}, {record['cpus']} CPUs ({record['usable_cpus']} usable); "
        f"{record['workers']} kernel thread(s) per call; {pools or 'no BLAS loaded'}; "
        f"numba {record.get('numba_threads', '?')} thread(s)"
    )


# -- rows and the record ----------------------------------------------------------------------
@dataclass
class Row:
    """One timed implementation, with its reference in the same run if it has one."""

    group: str
    name: str
    rounds: Rounds
    reference: str | None = None
    comparison: Comparison | None = None
    target: float | None = None
    note: str = ""
    flops: float | None = None
    load_average: tuple[Any, Any] = (None, None)

    @property
    def timing(self) -> Rounds:
        """The subject's rounds: the interleaved ones where there is a reference."""
        return self.comparison.subject if self.comparison is not None else self.rounds

    @property
    def ratio(self) -> float | None:
        return self.comparison.ratio if self.comparison is not None else None

    @property
    def ratio_min(self) -> float | None:
        return self.comparison.ratio_min if self.comparison is not None else None

    @property
    def status(self) -> str:
        if self.ratio is None or self.target is None:
            return ""
        return "ok" if self.ratio <= self.target else "MISS"

    @property
    def load_flag(self) -> str | None:
        return self.comparison.load_flag if self.comparison is not None else None

    def to_json(self) -> dict[str, Any]:
        t = self.timing
        ref = self.comparison.reference if self.comparison is not None else None
        return {
            "group": self.group,
            "name": self.name,
            "rounds": t.n_rounds,
            "median_s": _finite(t.median_s),
            "min_s": _finite(t.min_s),
            "reference": self.reference,
            "reference_median_s": None if ref is None else _finite(ref.median_s),
            "reference_min_s": None if ref is None else _finite(ref.min_s),
            "ratio": _finite(self.ratio),
            "ratio_min": _finite(self.ratio_min),
            "interleaved": self.comparison is not None,
            "harness_median_s": _finite(self.rounds.median_s),
            "target": self.target,
            "status": self.status,
            "wait_fraction": _rounded(t.wait_fraction),
            "reference_wait_fraction": None if ref is None else _rounded(ref.wait_fraction),
            "load_flag": self.load_flag,
            "load_average_before": self.load_average[0],
            "load_average_after": self.load_average[1],
            "note": self.note,
            "flops": self.flops,
            "subject": t.to_json(),
            "reference_rounds": None if ref is None else ref.to_json(),
        }


def _ratio_text(r: float | None) -> str:
    """Two decimals, or two significant digits below 0.1 (0.0043x)."""
    if r is None or not math.isfinite(r):
        return ""
    return f"{r:.2f}x" if r >= 0.1 else f"{r:.2g}x" if r >= 1e-3 else f"{r:.0e}x"


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g}" if seconds < 1e-2 else f"{seconds * 1e3:.1f}"


@dataclass
class BenchRecord:
    """Rows of a benchmark run with the machine and the load average around it."""

    rows: list[Row] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=dict)
    load_before: tuple[float, float, float] | None = None
    load_after: tuple[float, float, float] | None = None
    margin: float = LOAD_MARGIN

    def start(self) -> None:
        """Record the load average before the first row."""
        self.load_before = load_average()

    def finish(self) -> None:
        """Record the machine and the load average after the last row."""
        self.load_after = load_average()
        self.machine = machine()

    def to_json(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "load_average_before": self.load_before,
            "load_average_after": self.load_after,
            "load_margin": self.margin,
            "rows": [row.to_json() for row in self.rows],
        }

    def header(self) -> list[str]:
        m = self.machine
        return [
            machine_summary(m),
            (
                f"load average (1, 5, 15 min) before {self.load_before}, after "
                f"{self.load_after}; thread env {m.get('thread_env') or 'unset'}"
            ),
        ]

    def render(self) -> str:
        """The table: median and min of each row, and the ratio to its reference."""
        cells = [
            (
                "group",
                "implementation",
                "rounds",
                "median ms",
                "min ms",
                "ratio",
                "(min)",
                "vs",
                "target",
                "wait %",
                "note",
            )
        ]
        flagged = False
        for row in self.rows:
            t = row.timing
            ref = row.comparison.reference if row.comparison is not None else None
            wait = t.wait_fraction
            wait_text = "" if wait is None else f"{100 * wait:.0f}"
            if ref is not None and ref.wait_fraction is not None:
                wait_text += f"/{100 * ref.wait_fraction:.0f}"
            mark = ""
            if row.load_flag:
                mark, flagged = "! ", True
            note = row.note
            if row.flops:  # the paper's count beside the measured time
                rate = row.flops / t.median_s / 1e9
                note = f"[paper: {row.flops:.3g} flop, {rate:.3g} Gflop/s equiv.] {note}"
            target = f"<={row.target:g}x {row.status}" if row.target is not None else ""
            cells.append(
                (
                    row.group,
                    mark + row.name,
                    str(t.n_rounds),
                    _ms(t.median_s),
                    _ms(t.min_s),
                    _ratio_text(row.ratio),
                    _ratio_text(row.ratio_min),
                    row.reference or "",
                    target,
                    wait_text,
                    note,
                )
            )
        widths = [max(len(c[i]) for c in cells) for i in range(len(cells[0]) - 1)]
        right = {2, 3, 4, 5, 6, 9}
        lines = []
        for c in cells:
            parts = [c[i].rjust(w) if i in right else c[i].ljust(w) for i, w in enumerate(widths)]
            lines.append("  ".join(parts) + "  " + c[-1])
        lines.insert(1, "-" * len(lines[0]))
        legend = [
            (
                "ratio: median / median of the reference, timed in interleaved rounds of the "
                "same run; (min): fastest / fastest"
            ),
            "wait %: share of the runnable time spent waiting for a CPU, subject/reference",
        ]
        if flagged:
            legend.append(
                f"! reference and subject ran under different load (wait or steal differs by "
                f"more than {100 * self.margin:.0f} points): the ratio is not trustworthy"
            )
        return "\n".join([*self.header(), "", *lines, "", *legend])
