"""The card: card.md, card.html and card.csv in results/cards/<id>/, laid out like the model
card's tables (its rows, order and peer columns), built with evalkit.reporting's table
builder and renderers. Rows the card has but no run measured say why they were not run; with
a gate policy, each measured − published difference carries the policy's verdict on it.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evalkit.cards.card import Card
from evalkit.cards.plan import RUN, Plan
from evalkit.cards.run import CellResult
from evalkit.gate.decide import vs_published
from evalkit.gate.policy import load_policy
from evalkit.gate.verdicts import FAIL, PASS
from evalkit.published import lookup
from evalkit.reporting.html import render_html
from evalkit.reporting.markdown import render_markdown
from evalkit.reporting.runs import RunData, load_run
from evalkit.reporting.table import (
    Comparison,
    Row,
    Table,
    build_comparison,
    card_category,
    comparison_records,
)


@dataclass
class CardFiles:
    markdown: Path
    html: Path
    csv: Path


def _as_card_size(run: RunData, size: str) -> RunData:
    """The run compared with this card's tables, whatever its runner profile's reference_size."""
    return dataclasses.replace(run, metrics={**run.metrics, "reference_size": size})


def _reasons(plan: Plan, results: Sequence[CellResult]) -> dict[tuple[str, str], str]:
    """(benchmark, mode) -> why the cell has no run."""
    out = {(c.benchmark, c.mode): c.reason for c in plan.cells if c.status != RUN}
    for r in results:
        if r.run_dir is None:
            out[(r.cell.benchmark, r.cell.mode)] = f"failed: {r.error}"
    for c in plan.runnable():  # planned, but the invocation stopped before it
        out.setdefault((c.benchmark, c.mode), "not reached")
    return out


def build_card_comparison(card: Card, plan: Plan, results: Sequence[CellResult]) -> Comparison:
    """The comparison of the card's runs, with every row of every card table in the card's order."""
    runs = [_as_card_size(load_run(r.run_dir), card.model_size) for r in results if r.run_dir is not None]
    c = build_comparison(runs)
    done = {(r.cell.benchmark, r.cell.mode) for r in results if r.run_dir is not None}
    reasons = _reasons(plan, results)
    by_key = {(t.size, t.mode): t for t in c.tables}
    tables: list[Table] = []
    for ct in card.tables:
        pub = lookup(ct.rows[0].benchmark, ct.mode, card.model_size)
        subject = pub[0]
        table = by_key.pop((card.model_size, ct.mode), None) or Table(
            title=subject.table,
            mode=ct.mode,
            size=card.model_size,
            systems=[],
            subject=subject.system,
            peers=[(f.system, f.system_size) for f in pub if not f.is_subject],
            rows=[],
            source=subject.source,
        )
        measured = {r.published.benchmark: r for r in table.rows if r.published}
        rows: list[Row] = []
        for cr in ct.rows:
            if (cr.benchmark, ct.mode) in done and cr.benchmark in measured:
                rows.append(measured.pop(cr.benchmark))
                continue
            figs = lookup(cr.benchmark, ct.mode, card.model_size)
            rows.append(
                Row(
                    key=cr.benchmark,
                    task=cr.task or "—",
                    mode=ct.mode,
                    category=card_category(cr.benchmark, ct.mode, card.model_size),
                    published=figs[0] if figs else None,
                    peers=[f for f in figs if not f.is_subject],
                    not_run=reasons.get((cr.benchmark, ct.mode), "not run"),
                )
            )
        table.rows = rows + list(measured.values())
        tables.append(table)
    c.tables = tables + list(by_key.values())
    return c


def flag_with_gate(c: Comparison, policy_path: str) -> None:
    """Mark each measured cell with the policy's vs-published verdict (pass cells say so quietly)."""
    policy = load_policy(Path(policy_path))
    for cell in c.cells():
        tg = next((g for g in policy.tasks if g.selects(cell.run.metrics)), None)
        if tg is None or tg.vs_published is None:
            cell.flag = "(no gate)"
            continue
        v = vs_published(tg, tg.vs_published, cell.run)
        allowed = f"allowed drop {tg.vs_published.max_drop:g}"
        if v.status == FAIL:
            cell.flag = f"⚠ outside the allowance ({allowed})"
        elif v.status == PASS:
            cell.flag = f"within ({allowed})"
        else:
            cell.flag = f"undecided: {v.reason or 'inconclusive'} ({allowed})"


def _intro(card: Card, plan: Plan, c: Comparison, gate: str | None) -> list[str]:
    measured = sum(1 for t in c.tables for r in t.rows if r.cells)
    lines = [
        f"Model: {plan.model} · runner profile {plan.runner_profile}; compared with the published "
        f"{card.title} tables ({card.model}). Card file: {card.path.name}; plan: plan.md.",
        "",
        f'{measured} of {len(plan.cells)} cells measured; rows marked "not run" say why.',
        "",
    ]
    if gate:
        lines += [f"Differences from the published figures judged by the gate policy {gate}.", ""]
    if card.notes:
        lines += [f"Notes: {card.notes}", ""]
    return lines


def write_card(
    card: Card, plan: Plan, results: Sequence[CellResult], out_dir: Path, gate: str | None = None
) -> CardFiles:
    import pandas as pd

    c = build_card_comparison(card, plan, results)
    if gate:
        flag_with_gate(c, gate)
    title = f"{card.title} model card: {plan.model} ({plan.runner_profile})"
    intro = _intro(card, plan, c, gate)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = CardFiles(out_dir / "card.md", out_dir / "card.html", out_dir / "card.csv")
    files.markdown.write_text(render_markdown(c, title=title, intro=intro), encoding="utf-8")
    html_intro = "\n".join(f"<p>{html.escape(line)}</p>" for line in intro if line)
    files.html.write_text(render_html(c, title=title, intro=html_intro), encoding="utf-8")
    pd.DataFrame(comparison_records(c)).to_csv(files.csv, index=False)
    return files
