"""Number formatting shared by the Markdown and HTML reports (percentage points, one decimal)."""

from __future__ import annotations

import math
from typing import Any

from evalkit.stats import Interval

MINUS = "−"  # typographic minus: columns of signed numbers line up


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
