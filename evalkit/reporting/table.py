"""The comparison behind every multi-run report: benchmarks × systems, as the model card lays them out.

One table per model-card table (size × mode) that the runs touch; its rows are the
benchmarks that were run, in the card's order; its columns are our measured systems
(one per model · runner profile), then the published EXAONE 4.0 figure, then the card's
peers. Tasks with no published figure go to a table of their own. Every measured cell
carries its interval, its difference from the published figure, and, when a baseline run
of the same task and mode is given, the paired difference from that baseline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import yaml

from evalkit.errors import UsageError
from evalkit.published import PUBLISHED_DIR, PublishedFigure, lookup
from evalkit.reporting.compare import Measured, PairedComparison, measured_interval, paired_comparison
from evalkit.reporting.runs import RunData, UnfinishedRun, system_labels
from evalkit.stats import Interval

OTHER = "other"


@dataclass
class Cell:
    """One measured system on one benchmark (percentage points throughout)."""

    run: RunData
    label: str
    measured: Measured
    published: float | None
    baseline: RunData | None = None
    paired: PairedComparison | None = None
    flag: str = ""  # a gate's verdict on measured − published (`evalkit card --gate`)

    @property
    def value(self) -> float:
        return 100 * self.measured.interval.estimate

    @property
    def ci(self) -> tuple[float, float]:
        return 100 * self.measured.interval.low, 100 * self.measured.interval.high

    @property
    def delta_published(self) -> Interval | None:
        """measured − published, with the measured interval carried over (published is fixed)."""
        if self.published is None:
            return None
        return self.measured.interval.shifted(-self.published / 100).shifted(0.0, 100.0)

    @property
    def delta_baseline(self) -> Interval | None:
        return None if self.paired is None else self.paired.interval.shifted(0.0, 100.0)


@dataclass
class Row:
    key: str  # what the row shows: the benchmark, or the task title
    task: str
    mode: str
    category: str
    published: PublishedFigure | None
    peers: list[PublishedFigure]
    cells: dict[str, Cell] = field(default_factory=dict)
    not_run: str = ""  # a model-card row without a run (`evalkit card`): why, shown in its place


@dataclass
class Table:
    title: str
    mode: str
    size: str  # model-card size ("32B", "1.2B") or OTHER
    systems: list[str]
    subject: str | None  # the published EXAONE column's name
    peers: list[tuple[str, str]]  # (name, size) of the card's peers, in card order
    rows: list[Row]
    source: str = ""


@dataclass
class Comparison:
    tables: list[Table]
    runs: list[RunData]
    labels: dict[str, str]  # run_id -> system label
    level: float
    baselines: list[RunData]
    unfinished: list[UnfinishedRun] = field(default_factory=list)  # listed, not scored

    @property
    def any_placeholder(self) -> bool:
        return any(r.placeholder for r in self.runs)

    @property
    def any_incomplete(self) -> bool:
        return any(r.incomplete for r in self.runs)

    @property
    def any_synthetic(self) -> bool:
        return any(r.synthetic_data for r in self.runs)

    def cells(self) -> list[Cell]:
        return [c for t in self.tables for row in t.rows for c in row.cells.values()]


@lru_cache(maxsize=1)
def _card_order() -> dict[tuple[str, str, str], tuple[int, str]]:
    """(benchmark, mode, size) -> (row position on the card, category), from results/published."""
    order: dict[tuple[str, str, str], tuple[int, str]] = {}
    for path in sorted(PUBLISHED_DIR.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for t in raw.get("tables", []):
            for i, row in enumerate(t.get("rows", [])):
                order[(row["benchmark"], t["mode"], str(t["model_size"]))] = (i, str(row.get("category", "")))
    return order


def card_category(benchmark: str, mode: str, size: str) -> str:
    """The category the model card files a benchmark under ("World Knowledge", ...)."""
    return _card_order().get((benchmark, mode, size), (0, ""))[1]


def _baseline_for(run: RunData, baselines: Sequence[RunData]) -> RunData | None:
    for b in baselines:
        if b.task == run.task and b.mode == run.mode and b.run_id != run.run_id:
            return b
    return None


def build_comparison(
    runs: Sequence[RunData],
    *,
    baselines: Sequence[RunData] = (),
    level: float = 0.95,
    unfinished: Sequence[UnfinishedRun] = (),
) -> Comparison:
    """Group runs into model-card tables, with intervals at `level` (two-sided); `unfinished`
    runs are carried along to be listed as such."""
    all_runs = list(runs) + [b for b in baselines if b.run_id not in {r.run_id for r in runs}]
    labels = system_labels(all_runs)
    card = _card_order()
    tables: dict[tuple[str, str], Table] = {}
    rows: dict[tuple[str, str, str], Row] = {}
    for run in all_runs:
        pub = lookup(run.benchmark, run.mode, run.reference_size) if run.benchmark else []
        size = run.reference_size if pub else OTHER
        tkey = (size, run.mode)
        if tkey not in tables:
            subject = pub[0] if pub else None
            tables[tkey] = Table(
                title=subject.table if subject else f"Tasks without a published figure ({run.mode})",
                mode=run.mode,
                size=size,
                systems=[],
                subject=subject.system if subject else None,
                peers=[(f.system, f.system_size) for f in pub if not f.is_subject],
                rows=[],
                source=subject.source if subject else "",
            )
        table = tables[tkey]
        label = labels[run.run_id]
        if label not in table.systems:
            table.systems.append(label)
        rkey = (size, run.mode, run.task)
        if rkey not in rows:
            subject_fig = pub[0] if pub else None
            rows[rkey] = Row(
                key=run.benchmark if pub and run.benchmark else run.title,
                task=run.task,
                mode=run.mode,
                category=card.get((run.benchmark or "", run.mode, size), (0, ""))[1],
                published=subject_fig,
                peers=[f for f in pub if not f.is_subject],
            )
            table.rows.append(rows[rkey])
        base = _baseline_for(run, baselines)
        paired = None
        if base and run.has_samples and base.has_samples:
            try:
                paired = paired_comparison(run, base, level)
            except UsageError:  # no shared (id, repeat): the cell shows no paired difference
                paired = None
        subject_fig = rows[rkey].published
        rows[rkey].cells[label] = Cell(
            run=run,
            label=label,
            measured=measured_interval(run, level),
            published=subject_fig.value if subject_fig else None,
            baseline=base if paired else None,
            paired=paired,
        )
    for t in tables.values():
        keys = [r.key for r in t.rows]
        for r in t.rows:  # two tasks for one benchmark: say which task each row is
            if keys.count(r.key) > 1:
                r.key = f"{r.key} — {r.task}"
        t.rows.sort(
            key=lambda r: (
                card.get((r.published.benchmark, r.mode, t.size), (math.inf, ""))[0]
                if r.published
                else math.inf,
                r.key,
            )
        )
    ordered = sorted(tables.values(), key=lambda t: (t.size == OTHER, t.size != "32B", t.mode != "reasoning"))
    return Comparison(
        tables=ordered,
        runs=all_runs,
        labels=labels,
        level=level,
        baselines=list(baselines),
        unfinished=list(unfinished),
    )


def _pct_or_none(x: Any) -> float | None:
    return None if x is None else 100 * float(x)


def comparison_records(c: Comparison) -> list[dict[str, object]]:
    """One flat record per measured cell and per published figure (the CSV's rows)."""
    out: list[dict[str, object]] = []
    pct = round(100 * c.level)
    for t in c.tables:
        for row in t.rows:
            for cell in row.cells.values():
                r, m = cell.run, cell.run.metrics
                dp, db = cell.delta_published, cell.delta_baseline
                tok = m.get("tokens") or {}
                out.append(
                    {
                        "table": t.title,
                        "benchmark": row.key,
                        "task": row.task,
                        "mode": row.mode,
                        "category": row.category,
                        "system": cell.label,
                        "kind": "measured",
                        "value": cell.value,
                        f"ci{pct}_low": cell.ci[0],
                        f"ci{pct}_high": cell.ci[1],
                        "interval_method": cell.measured.interval.method,
                        "metric": m.get("metric"),
                        "n_items": r.n_items,
                        "n_repeats": m.get("n_repeats"),
                        "published": cell.published,
                        "delta_vs_published": None if dp is None else dp.estimate,
                        f"delta_vs_published_ci{pct}_low": None if dp is None else dp.low,
                        f"delta_vs_published_ci{pct}_high": None if dp is None else dp.high,
                        "baseline": None if cell.baseline is None else c.labels[cell.baseline.run_id],
                        "delta_vs_baseline": None if db is None else db.estimate,
                        f"delta_vs_baseline_ci{pct}_low": None if db is None else db.low,
                        f"delta_vs_baseline_ci{pct}_high": None if db is None else db.high,
                        "paired_items": None if cell.paired is None else cell.paired.paired.n_items,
                        "mcnemar_p": None
                        if cell.paired is None or cell.paired.mcnemar is None
                        else cell.paired.mcnemar.p_two_sided,
                        # repeated-sampling estimates, where the task reports them (math tasks)
                        "maj_at_n": _pct_or_none((m.get("maj@n") or {}).get("value")),
                        "pass_at_k": "; ".join(
                            f"pass@{k} {100 * e['value']:.1f}" for k, e in (m.get("pass@k") or {}).items()
                        )
                        or None,
                        "truncation_rate": m.get("truncation_rate"),
                        "no_answer_rate": m.get("no_answer_rate"),
                        "completion_tokens_mean": tok.get("completion_mean"),
                        "completion_tokens_total": tok.get("completion_total"),
                        "generation_time_s": m.get("generation_time_s"),
                        "device_type": r.device_type,
                        "placeholder_model": r.placeholder,
                        "synthetic_data": r.synthetic_data,
                        "run_id": r.run_id,
                        "model": r.model,
                        "runner_profile": r.runner_profile,
                        "gate": cell.flag or None,
                    }
                )
            if row.not_run and not row.cells:
                out.append(
                    {
                        "table": t.title,
                        "benchmark": row.key,
                        "task": row.task,
                        "mode": row.mode,
                        "category": row.category,
                        "kind": "not run",
                        "note": row.not_run,
                    }
                )
            figs = ([row.published] if row.published else []) + row.peers
            for f in figs:
                out.append(
                    {
                        "table": t.title,
                        "benchmark": row.key,
                        "task": row.task,
                        "mode": row.mode,
                        "category": row.category,
                        "system": f.system,
                        "kind": "published" if f.is_subject else "peer",
                        "value": f.value,
                        "model": f"{f.system} ({f.system_size})",
                    }
                )
    return out
