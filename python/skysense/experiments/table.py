"""Console tables of the experiments: labelled columns, ours against the paper.

An experiment describes its table with :class:`Column` objects and returns a
:class:`ConsoleTable` from :meth:`Experiment.console_table`; ``skysense reproduce`` prints
:meth:`ConsoleTable.render`. A column compared with the paper holds ``(ours, paper)`` pairs
and is printed as two sub-columns headed ``ours`` and ``paper``; below the table a legend says
what each column is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real

__all__ = ["Column", "ConsoleTable"]

_MISSING = "-"
_GAP = "  "


@dataclass(frozen=True)
class Column:
    """One column of a :class:`ConsoleTable`.

    Parameters
    ----------
    header : str
        Short heading with the unit, e.g. ``"DR [%]"``.
    description : str
        What the column is, for the legend (``"detection rate over all frames"``).
    paper : bool
        The cells are ``(ours, paper)`` pairs, printed as two sub-columns.
    fmt : str
        Format spec of real numbers (``".2f"``); integers and text print as they are.
    """

    header: str
    description: str
    paper: bool = False
    fmt: str = ".4g"

    def __post_init__(self) -> None:
        if not self.header:
            raise ValueError("Column header must be a non-empty string, got ''")


def _format(value: object, fmt: str) -> str:
    """A cell's text: ``-`` for None or NaN, numbers with ``fmt``."""
    if value is None:
        return _MISSING
    if isinstance(value, bool | str):
        return str(value)
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        number = float(value)
        return _MISSING if math.isnan(number) else format(number, fmt)
    return str(value)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class ConsoleTable:
    """A plain-text table whose columns say what they are.

    Parameters
    ----------
    columns : sequence of Column
        Column headers with their legend entries, in print order.
    rows : sequence of sequence
        One value per column; a ``paper`` column takes ``(ours, paper)`` (``None`` for a
        value the paper does not give).
    title : str
        First line (e.g. the table of the paper reproduced).
    notes : sequence of str
        Lines printed after the legend.

    Examples
    --------
    >>> from skysense.experiments.table import Column, ConsoleTable
    >>> table = ConsoleTable(
    ...     [Column("d0 [m]", "voxel size"),
    ...      Column("DR [%]", "detection rate", paper=True, fmt=".1f")],
    ...     [(1, (41.3, 40.8)), (2, (83.6, None))],
    ... )
    >>> print(table.render())
    d0 [m]  DR [%]
            ours  paper
    ------  ----  -----
         1  41.3   40.8
         2  83.6      -
    <BLANKLINE>
    d0 [m]  voxel size
    DR [%]  detection rate (ours | the paper's; - where it gives none)
    """

    columns: Sequence[Column]
    rows: Sequence[Sequence[object]]
    title: str = ""
    notes: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        n = len(self.columns)
        if n == 0:
            raise ValueError("ConsoleTable needs at least one column, got 0")
        for i, row in enumerate(self.rows):
            if len(row) != n:
                raise ValueError(
                    f"ConsoleTable row {i} has {len(row)} values, expected one per column ({n})"
                )
            for column, value in zip(self.columns, row, strict=True):
                if column.paper and not (isinstance(value, tuple) and len(value) == 2):
                    raise ValueError(
                        f"column {column.header!r} compares with the paper: its cells must be "
                        f"(ours, paper) pairs, got {value!r} in row {i}"
                    )

    def _cells(self) -> list[list[str]]:
        """Body text, one entry per printed sub-column."""
        body = []
        for row in self.rows:
            cells: list[str] = []
            for column, value in zip(self.columns, row, strict=True):
                if column.paper:
                    assert isinstance(value, tuple)
                    cells += [_format(value[0], column.fmt), _format(value[1], column.fmt)]
                else:
                    cells.append(_format(value, column.fmt))
            body.append(cells)
        return body

    def render(self) -> str:
        """The table, a rule under the headings, and the legend of the columns."""
        top: list[str] = []
        sub: list[str] = []
        spans: list[int] = []  # sub-columns per column
        for column in self.columns:
            if column.paper:
                top += [column.header, ""]
                sub += ["ours", "paper"]
                spans.append(2)
            else:
                top.append(column.header)
                sub.append("")
                spans.append(1)
        body = self._cells()
        widths = [max([len(sub[j]), *(len(r[j]) for r in body)]) for j in range(len(sub))]
        # a heading wider than its sub-columns widens the last of them
        j = 0
        for column, span in zip(self.columns, spans, strict=True):
            room = sum(widths[j : j + span]) + len(_GAP) * (span - 1)
            widths[j + span - 1] += max(0, len(column.header) - room)
            j += span
        numeric = [
            all(_is_number(r[j]) or r[j] == _MISSING for r in body) and bool(body)
            for j in range(len(sub))
        ]

        def line(cells: list[str], align: bool) -> str:
            parts = [
                text.rjust(w) if align and numeric[j] else text.ljust(w)
                for j, (text, w) in enumerate(zip(cells, widths, strict=True))
            ]
            return _GAP.join(parts).rstrip()

        heading = []
        j = 0
        for column, span in zip(self.columns, spans, strict=True):
            width = sum(widths[j : j + span]) + len(_GAP) * (span - 1)
            heading.append(column.header.ljust(width))
            j += span
        lines = [self.title] if self.title else []
        lines.append(_GAP.join(heading).rstrip())
        if any(spans[k] == 2 for k in range(len(spans))):
            lines.append(line(sub, align=False))
        lines.append(_GAP.join("-" * w for w in widths))
        lines += [line(cells, align=True) for cells in body]
        lines.append("")
        key = max(len(c.header) for c in self.columns)
        for column in self.columns:
            what = column.description
            if column.paper:
                what += " (ours | the paper's; - where it gives none)"
            lines.append(f"{column.header.ljust(key)}  {what}")
        lines += list(self.notes)
        return "\n".join(lines)
