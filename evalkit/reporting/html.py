"""The comparison as one self-contained HTML page (inline CSS, plots inlined as SVG): no
scripts, no external fetches, so it opens anywhere and can be attached to a CI run."""

from __future__ import annotations

import html
import re
from pathlib import Path

from evalkit.reporting import format as fmt
from evalkit.reporting.markdown import placeholder_note, synthetic_note
from evalkit.reporting.table import OTHER, Comparison, Table

CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, "Noto Sans", "Noto Sans CJK KR", sans-serif;
       margin: 2em auto; max-width: 1200px; color: #1d1d1f; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.88em; }
th, td { border-top: 1px solid #d0d0d0; border-bottom: 1px solid #d0d0d0; padding: 0.35em 0.6em; }
thead th { background: #f4f4f6; vertical-align: bottom; }
thead tr.sizes th { font-weight: normal; color: #555; font-size: 0.9em; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.cat { font-weight: 600; background: #fafafa; }
th.measured, td.measured { background: #eef5ff; }
th.subject, td.subject { background: #fff6e5; font-weight: 600; }
.ci { color: #666; font-size: 0.85em; }
.warn { border-left: 4px solid #b00020; background: #fdecee; padding: 0.6em 1em; }
.note { border-left: 4px solid #c08a00; background: #fff8e1; padding: 0.6em 1em; }
.small { color: #555; font-size: 0.85em; }
.wide { overflow-x: auto; }
figure { margin: 1.2em 0; } figure svg { max-width: 100%; height: auto; }
"""


def _e(s: object) -> str:
    return html.escape(str(s))


def _card_table(t: Table, level: float) -> str:
    pct = round(100 * level)
    card = t.size != OTHER
    h1 = ["<th rowspan=2>Category</th>", "<th rowspan=2>Benchmark</th>"]
    h2: list[str] = []
    for s in t.systems:
        h1.append(f'<th class="measured num">{_e(s)}</th>')
        h2.append(f'<th class="measured num">measured [{pct}% CI]</th>')
    if card:
        h1.append(f'<th class="subject num">{_e(t.subject)}</th>')
        h2.append('<th class="subject num">published</th>')
        for name, size in t.peers:
            h1.append(f'<th class="num">{_e(name)}</th>')
            h2.append(f'<th class="num">{_e(size)}</th>')
    body: list[str] = []
    cats = [r.category for r in t.rows]
    for i, row in enumerate(t.rows):
        tds: list[str] = []
        if i == 0 or cats[i] != cats[i - 1]:
            span = 1
            while i + span < len(cats) and cats[i + span] == cats[i]:
                span += 1
            tds.append(f'<td class="cat" rowspan={span}>{_e(row.category)}</td>')
        tds.append(f"<td>{_e(row.key)}</td>")
        for s in t.systems:
            cell = row.cells.get(s)
            if cell is None:
                tds.append('<td class="measured num">—</td>')
                continue
            lo, hi = cell.ci
            tds.append(
                f'<td class="measured num" data-task="{_e(row.task)}" data-system="{_e(s)}">'
                f'<b>{fmt.num(cell.value)}</b> <span class="ci">[{fmt.num(lo)}, {fmt.num(hi)}]</span></td>'
            )
        if card:
            tds.append(
                f'<td class="subject num">{fmt.num(row.published.value if row.published else None)}</td>'
            )
            by_name = {f.system: f.value for f in row.peers}
            tds += [f'<td class="num">{fmt.num(by_name.get(n))}</td>' for n, _ in t.peers]
        body.append("<tr>" + "".join(tds) + "</tr>")
    foot = f"Measured: the task's metric in percent, with its {pct}% confidence interval."
    if t.source:
        foot += f" Published: {_e(t.source)}; the card's figures are for the unquantized model."
    head = f'<thead><tr>{"".join(h1)}</tr><tr class="sizes">{"".join(h2)}</tr></thead>'
    rows = "\n".join(body)
    return (
        f"<h2>{_e(t.title)}</h2>\n<div class=wide><table class=card>\n{head}\n<tbody>\n{rows}\n</tbody>"
        f'</table></div>\n<p class="small">{foot}</p>\n'
    )


def _inline_svg(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"^<\?xml[^>]*>\s*", "", text)
    return re.sub(r"^<!DOCTYPE[^>]*>\s*", "", text, flags=re.S)


def render_html(c: Comparison, plots: list[Path] | None = None) -> str:
    """The whole page; SVG plots among `plots` are inlined."""
    pct = round(100 * c.level)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>evalkit comparison: {len(c.runs)} runs</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>evalkit comparison: {len(c.runs)} runs, {len({r.task for r in c.runs})} tasks</h1>",
    ]
    if c.any_placeholder:
        parts.append(f'<p class="warn" id="placeholder">{_md_bold(placeholder_note(c))}</p>')
    if c.any_synthetic:
        parts.append(f'<p class="note">{_md_bold(synthetic_note(c))}</p>')
    parts += [_card_table(t, c.level) for t in c.tables]

    parts.append(f"<h2>Differences (percentage points, {pct}% confidence interval)</h2>")
    parts.append(
        '<table><thead><tr><th>Benchmark</th><th>Mode</th><th>System</th><th class="num">measured − '
        'published</th><th class="num">paired vs baseline</th><th>baseline</th><th class="num">paired '
        'items</th><th class="num">exact McNemar p</th></tr></thead><tbody>'
    )
    for t in c.tables:
        for row in t.rows:
            for cell in row.cells.values():
                p = cell.paired
                parts.append(
                    f"<tr><td>{_e(row.key)}</td><td>{_e(row.mode)}</td><td>{_e(cell.label)}</td>"
                    f'<td class="num">{fmt.interval(cell.delta_published, True)}</td>'
                    f'<td class="num">{fmt.interval(cell.delta_baseline, True)}</td>'
                    f"<td>{_e(c.labels[cell.baseline.run_id]) if cell.baseline else '—'}</td>"
                    f'<td class="num">{p.paired.n_items if p else "—"}</td>'
                    f'<td class="num">{f"{p.mcnemar.p_two_sided:.3g}" if p and p.mcnemar else "—"}</td></tr>'
                )
    parts.append("</tbody></table>")

    parts.append("<h2>Run health</h2>")
    parts.append(
        '<table><thead><tr><th>System</th><th>Benchmark</th><th>Mode</th><th class="num">items × repeats'
        '</th><th class="num">truncated</th><th class="num">no answer</th><th class="num">completion '
        'tokens mean / total</th><th class="num">generation time</th><th>device</th></tr></thead><tbody>'
    )
    for t in c.tables:
        for row in t.rows:
            for cell in row.cells.values():
                m = cell.run.metrics
                tok = m.get("tokens") or {}
                parts.append(
                    f"<tr><td>{_e(cell.label)}</td><td>{_e(row.key)}</td><td>{_e(row.mode)}</td>"
                    f'<td class="num">{m.get("n_items")} × {m.get("n_repeats")}</td>'
                    f'<td class="num">{fmt.rate(m.get("truncation_rate"))}</td>'
                    f'<td class="num">{fmt.rate(m.get("no_answer_rate"))}</td>'
                    f'<td class="num">{tok.get("completion_mean", 0):.0f} / '
                    f"{tok.get('completion_total', 0)}</td>"
                    f'<td class="num">{fmt.seconds(m.get("generation_time_s"))}</td>'
                    f"<td>{_e(cell.run.device_type or '—')}</td></tr>"
                )
    parts.append("</tbody></table>")

    svgs = [p for p in plots or [] if p.suffix == ".svg"]
    if svgs:
        parts.append("<h2>Plots</h2>")
        parts += [f'<figure id="{_e(p.stem)}">{_inline_svg(p)}</figure>' for p in svgs]
    parts.append("<h2>Runs</h2><ul>")
    parts += [
        f"<li><code>{_e(r.run_id)}</code>: {_e(c.labels[r.run_id])}, {_e(r.task)} {_e(r.mode)}</li>"
        for r in c.runs
    ]
    parts.append("</ul></body></html>")
    return "\n".join(parts) + "\n"


def _md_bold(text: str) -> str:
    """Escape, then turn the notes' **bold** into <b>."""
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", _e(text))
