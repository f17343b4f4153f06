"""Every number a report shows is formatted here: run reports (report.md), the comparison in
Markdown and HTML, and the families' own tables in metrics.json. Percentage points, one
decimal."""

from __future__ import annotations

import math
from typing import Any

from evalkit.run_records import Cell, DataTable, Percent, PercentSE, ReportTable
from evalkit.stats import Interval

MINUS = "−"  # typographic minus: columns of signed numbers line up


def pct(x: float | None) -> str:
    """A rate in [0, 1] in percent, ASCII: '85.2' (report.md and metrics.json tables)."""
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def num(x: float | None, signed: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if round(x, 1) == 0:
        x = 0.0  # no "−0.0"
    s = f"{x:+.1f}" if signed else f"{x:.1f}"
    return s.replace("-", MINUS)


def interval(iv: Interval | None, signed: bool = False) -> str:
    """'+1.2 [−0.3, +2.7]' (an interval already in percentage points)."""
    if iv is None:
        return "—"
    return f"{num(iv.estimate, signed)} [{num(iv.low, signed)}, {num(iv.high, signed)}]"


def rate(x: Any) -> str:
    return "—" if x is None else f"{100 * float(x):.1f}%"


def seconds(x: Any) -> str:
    if x is None:
        return "—"
    x = float(x)
    if x < 120:
        return f"{x:.1f} s"
    if x < 7200:
        return f"{x / 60:.1f} min"
    return f"{x / 3600:.2f} h"


def cell(c: Cell) -> str | int:
    """One cell of a family's table as report.md prints it (text and counts as they are)."""
    if isinstance(c, Percent):
        return pct(c.value)
    if isinstance(c, PercentSE):
        return f"{pct(c.value)} ± {pct(c.se)}"
    return c


def report_table(t: DataTable) -> ReportTable:
    """A family's table with its cells rendered, as metrics.json stores it."""
    return {
        "title": t["title"],
        "columns": t["columns"],
        "rows": [[cell(c) for c in row] for row in t["rows"]],
        "note": t["note"],
    }
