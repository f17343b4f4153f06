"""The comparison as Markdown: model-card tables, differences with intervals, run health."""

from __future__ import annotations

from evalkit.reporting import format as fmt
from evalkit.reporting.run_report import PLACEHOLDER_WARNING
from evalkit.reporting.runs import short_model
from evalkit.reporting.table import OTHER, Comparison, Table
from evalkit.wording import plural


def placeholder_note(c: Comparison) -> str:
    names = sorted({c.labels[r.run_id] for r in c.runs if r.placeholder})
    return f"{PLACEHOLDER_WARNING} Systems concerned: {', '.join(names)}."


def incomplete_note(c: Comparison) -> str:
    runs = "; ".join(f"{c.labels[r.run_id]}, {r.task}: {r.failed_text}" for r in c.runs if r.incomplete)
    return (
        "**Incomplete runs.** Some samples of these runs failed (their model calls returned errors, "
        f"listed in the run's errors.jsonl); their figures cover only the samples answered: {runs}."
    )


def synthetic_note(c: Comparison) -> str:
    tasks = sorted({r.task for r in c.runs if r.synthetic_data})
    return (
        "**Synthetic data.** These tasks ran on their bundled synthetic sample, not the real "
        f"benchmark: {', '.join(tasks)}."
    )


def _card_table(t: Table, level: float) -> list[str]:
    """One row per run: the measured figure and the published one first, then the card's peers."""
    pct = round(100 * level)
    card = t.size != OTHER
    head = ["Category", "Benchmark"] if card else ["Task"]
    head += ["Run", f"measured [{pct}% CI]", "items × N"]
    if card:
        head += [f"{t.subject} (published)", "measured − published", *[f"{n} ({sz})" for n, sz in t.peers]]
    lead = 4 if card else 3
    lines = [
        f"## {t.title}",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * (lead - 1) + "---:|" * (len(head) - lead + 1),
    ]
    for row in t.rows:
        if not row.cells and row.not_run:  # a card row without a run: its place, and why
            cells = [row.category or "", row.key] if card else [row.key]
            cells += ["—", f"not run: {row.not_run}".replace("|", "\\|"), "—"]
            if card:
                by_name = {f.system: f.value for f in row.peers}
                cells += [fmt.num(row.published.value if row.published else None), "—"]
                cells += [fmt.num(by_name.get(n)) for n, _ in t.peers]
            lines.append("| " + " | ".join(cells) + " |")
        for k, cell in enumerate(sorted(row.cells.values(), key=lambda c: c.label)):
            first = k == 0  # benchmark, published and peers once per benchmark
            cells = [row.category or "", row.key] if card else [row.key]
            cells = cells if first else [""] * len(cells)
            m = cell.run.metrics
            cells += [
                cell.label,
                f"**{fmt.num(cell.value)}** [{fmt.num(cell.ci[0])}, {fmt.num(cell.ci[1])}]",
                f"{m.get('n_items')} × {m.get('n_repeats')}",
            ]
            if card:
                by_name = {f.system: f.value for f in row.peers}
                pub = fmt.num(row.published.value if row.published else None)
                peers = [fmt.num(by_name.get(n)) for n, _ in t.peers]
                flag = f" **{cell.flag}**" if cell.flag else ""
                cells += [pub if first else "", fmt.interval(cell.delta_published, True) + flag]
                cells += peers if first else [""] * len(peers)
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Measured: the task's metric in percent, with its {pct}% confidence interval."]
    if t.source:
        lines.append(f"Published: {t.source}; the card's figures are for the unquantized model.")
    return [*lines, ""]


def _unfinished(c: Comparison) -> list[str]:
    if not c.unfinished:
        return []
    lines = [
        "## Unfinished or failed runs (not in the tables above)",
        "",
        "| Run | Task | Mode | System | Status | calls stored | planned | Error |",
        "|---|---|---|---|---|---:|---:|---|",
    ]
    for u in c.unfinished:
        err = (u.error or "—").replace("|", "\\|").replace("\n", " ")
        lines.append(
            f"| `{u.run_id}` | {u.task} | {u.mode} | {short_model(u.model)} · {u.runner_profile} "
            f"| {u.status} | {u.calls_stored} | {u.planned or '—'} | {err} |"
        )
    return [*lines, ""]


def render_markdown(
    c: Comparison, plots: list[str] | None = None, title: str | None = None, intro: list[str] | None = None
) -> str:
    """The whole report; `plots` are image paths relative to the report; `title` and `intro`
    (Markdown lines) replace the heading (`evalkit card`)."""
    pct = round(100 * c.level)
    title = title or (
        f"evalkit comparison: {plural(len(c.runs), 'run')}, {plural(len({r.task for r in c.runs}), 'task')}"
    )
    lines = [f"# {title}", "", *(intro or [])]
    if c.any_placeholder:
        lines += [f"> {placeholder_note(c)}", ""]
    if c.any_incomplete:
        lines += [f"> {incomplete_note(c)}", ""]
    if c.any_synthetic:
        lines += [f"> {synthetic_note(c)}", ""]
    if c.unfinished:
        lines += [
            f"> {plural(len(c.unfinished), 'unfinished or failed run')}: listed at the end, not scored.",
            "",
        ]
    for t in c.tables:
        lines += _card_table(t, c.level)

    lines += [
        f"## Differences (percentage points, {pct}% confidence interval)",
        "",
        "| Benchmark | Mode | System | measured − published | paired vs baseline | baseline | paired items "
        "| exact McNemar p |",
        "|---|---|---|---:|---:|---|---:|---:|",
    ]
    for t in c.tables:
        for row in t.rows:
            for cell in row.cells.values():
                p = cell.paired
                lines.append(
                    f"| {row.key} | {row.mode} | {cell.label} | {fmt.interval(cell.delta_published, True)} | "
                    f"{fmt.interval(cell.delta_baseline, True)} | "
                    f"{c.labels[cell.baseline.run_id] if cell.baseline else '—'} | "
                    f"{p.paired.n_items if p else '—'} | "
                    f"{f'{p.mcnemar.p_two_sided:.3g}' if p and p.mcnemar else '—'} |"
                )
    lines += [
        "",
        "measured − published carries the measured interval (the published figure has none). The paired "
        "difference pairs the two runs on (item, repeat); its method is in the CSV.",
        "",
        "## Run health",
        "",
        "| System | Benchmark | Mode | items × repeats | truncated | no answer "
        "| completion tokens mean / total | generation time | device |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for t in c.tables:
        for row in t.rows:
            for cell in row.cells.values():
                m = cell.run.metrics
                tok = m.get("tokens") or {}
                lines.append(
                    f"| {cell.label} | {row.key} | {row.mode} | {m.get('n_items')} × {m.get('n_repeats')} | "
                    f"{fmt.rate(m.get('truncation_rate'))} | {fmt.rate(m.get('no_answer_rate'))} | "
                    f"{tok.get('completion_mean', 0):.0f} / {tok.get('completion_total', 0)} | "
                    f"{fmt.seconds(m.get('generation_time_s'))} | {cell.run.device_type or '—'} |"
                )
    lines.append("")
    lines += _unfinished(c)
    if plots:
        lines += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    lines += ["## Runs", ""] + [
        f"- `{r.run_id}`: {c.labels[r.run_id]}, {r.task} {r.mode}, {r.path}" for r in c.runs
    ]
    return "\n".join(lines) + "\n"
