"""metrics.json: a family's figures, its tables rendered, then the run's settings."""

from __future__ import annotations

from evalkit.reporting.format import report_table
from evalkit.run_records import FamilyMetrics, RunInfo, RunMetrics


def run_metrics(family: FamilyMetrics, info: RunInfo) -> RunMetrics:
    """The content of metrics.json, keys in the order they have always been written: the
    family's (its tables, data until here, rendered in place), then the run's."""
    out: RunMetrics = {**family, **info}  # type: ignore[typeddict-item]  # tables: replaced below
    if "tables" in family:
        out["tables"] = [report_table(t) for t in family["tables"]]
    return out
