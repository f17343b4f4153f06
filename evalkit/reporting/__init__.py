"""Multi-run reports: Markdown, a self-contained HTML page, CSV, and plots (PNG + SVG).

`evalkit report RUN_DIR... --out DIR [--html] [--plots] [--baseline RUN_DIR...]` writes
them with `write_comparison`; `build_comparison` gives the same content as data. Run
directories are read through `evalkit.reporting.runs` (also used by `evalkit gate`).
"""

from evalkit.reporting.compare import (
    Measured,
    PairedComparison,
    measured_interval,
    paired_comparison,
)
from evalkit.reporting.runs import RunData, discover_runs, load_run
from evalkit.reporting.table import Comparison, build_comparison, comparison_records
from evalkit.reporting.write import ReportFiles, write_comparison

__all__ = [
    "Comparison",
    "Measured",
    "PairedComparison",
    "ReportFiles",
    "RunData",
    "build_comparison",
    "comparison_records",
    "discover_runs",
    "load_run",
    "measured_interval",
    "paired_comparison",
    "write_comparison",
]
