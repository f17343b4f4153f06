"""The comparison as one self-contained HTML page (inline CSS, plots inlined as SVG): no
scripts, no external fetches, so it opens anywhere and can be attached to a CI run."""

from __future__ import annotations

import html
import re
from pathlib import Path

from evalkit.reporting import format as fmt
from evalkit.reporting.markdown import incomplete_note, placeholder_note, synthetic_note
from evalkit.reporting.runs import short_model
from evalkit.reporting.table import OTHER, Cell, Comparison, Row, Table
from evalkit.wording import plural

CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, "Noto Sans", "Noto Sans CJK KR", sans-serif;
       margin: 1.5em 2em; color: #1d1d1f; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.88em; width: 100%; }
th, td { border-top: 1px solid #d0d0d0; border-bottom: 1px solid #d0d0d0; padding: 0.35em 0.6em;
         vertical-align: top; overflow-wrap: break-word; }
thead th { background: #f4f4f6; vertical-align: bottom; text-align: left; }
th .size { font-weight: normal; color: #555; font-size: 0.9em; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; overflow-wrap: normal; }
td.cat { font-weight: 600; background: #fafafa; }
th.measured, td.measured { background: #eef5ff; }
th.subject, td.subject { background: #fff6e5; font-weight: 600; }
td.peer, th.peer { color: #444; }
td.run { min-width: 12em; }
tr.first td { border-top: 2px solid #9a9a9a; }
.ci { color: #666; font-size: 0.85em; }
.warn { border-left: 4px solid #b00020; background: #fdecee; padding: 0.6em 1em; }
.note { border-left: 4px solid #c08a00; background: #fff8e1; padding: 0.6em 1em; }
.small { color: #555; font-size: 0.85em; }
.wide { overflow-x: auto; max-width: 100%; }
figure { margin: 1.2em 0; } figure svg { max-width: 100%; height: auto; }
code { overflow-wrap: anywhere; }
.peer .size { white-space: nowrap; }
td.not-run { color: #555; font-style: italic; }
.flag { color: #b00020; }
"""


def _e(s: object) -> str:
    return html.escape(str(s))


def _spans(keys: list[str]) -> list[int]:
    """Rowspan per position: the length of the run of equal keys starting there, 0 inside a run."""
    out = [0] * len(keys)
    i = 0
    while i < len(keys):
        j = i
        while j < len(keys) and keys[j] == keys[i]:
            j += 1
        out[i] = j - i
        i = j
    return out


def _card_table(t: Table, level: float) -> str:
    """One row per measured run: category, benchmark, the run (named by what sets it apart),
    its figure with the interval, items, then the published figure and the card's peers."""
    pct = round(100 * level)
    card = t.size != OTHER
    head = [
        "<th>Category</th>" if card else "",
        f"<th>{'Benchmark' if card else 'Task'}</th>",
        "<th>Run</th>",
        f'<th class="measured num">measured<br><span class="size">[{pct}% CI]</span></th>',
        '<th class="num">items × N</th>',
    ]
    if card:
        head += [
            f'<th class="subject num">{_e(t.subject)}<br><span class="size">published</span></th>',
            '<th class="num">measured − published</th>',
        ]
        head += [
            f'<th class="peer num">{_e(n)}<br><span class="size">{_e(sz)}</span></th>' for n, sz in t.peers
        ]
    lines: list[tuple[Row, Cell | None]] = []
    for row in t.rows:
        cells = sorted(row.cells.values(), key=lambda c: c.label)
        lines += [(row, cell) for cell in cells] or ([(row, None)] if row.not_run else [])
    cat_spans = _spans([row.category for row, _ in lines])
    bench_spans = _spans([row.key for row, _ in lines])
    body: list[str] = []
    for i, (row, cell) in enumerate(lines):
        tds: list[str] = []
        b = bench_spans[i]
        if card and cat_spans[i]:
            tds.append(f'<td class="cat" rowspan={cat_spans[i]}>{_e(row.category)}</td>')
        if b:
            tds.append(f"<td rowspan={b}>{_e(row.key)}</td>")
        if cell is None:  # a card row without a run (`evalkit card`): its place, and why
            tds.append(f'<td class="run">—</td><td class="not-run" colspan=2>not run: {_e(row.not_run)}</td>')
            if card:
                by_name = {f.system: f.value for f in row.peers}
                pub = fmt.num(row.published.value if row.published else None)
                tds += [f'<td class="subject num">{pub}</td>', '<td class="num">—</td>']
                tds += [f'<td class="peer num">{fmt.num(by_name.get(n))}</td>' for n, _ in t.peers]
            body.append(f"<tr{' class=first' if b and i else ''}>" + "".join(tds) + "</tr>")
            continue
        lo, hi = cell.ci
        m = cell.run.metrics
        tds += [
            f'<td class="run">{_e(cell.label)}</td>',
            f'<td class="measured num" data-task="{_e(row.task)}" data-system="{_e(cell.label)}">'
            f'<b>{fmt.num(cell.value)}</b> <span class="ci">[{fmt.num(lo)}, {fmt.num(hi)}]</span></td>',
            f'<td class="num">{m.get("n_items")} × {m.get("n_repeats")}</td>',
        ]
        if card:
            if b:
                tds.append(
                    f'<td class="subject num" rowspan={b}>'
                    f"{fmt.num(row.published.value if row.published else None)}</td>"
                )
            flag = f' <b class="flag">{_e(cell.flag)}</b>' if cell.flag else ""
            tds.append(f'<td class="num">{fmt.interval(cell.delta_published, True)}{flag}</td>')
            if b:
                by_name = {f.system: f.value for f in row.peers}
                tds += [
                    f'<td class="peer num" rowspan={b}>{fmt.num(by_name.get(n))}</td>' for n, _ in t.peers
                ]
        body.append(f"<tr{' class=first' if b and i else ''}>" + "".join(tds) + "</tr>")
    foot = (
        f"Measured: the task's metric in percent, with its {pct}% confidence interval; one row per run, "
        "runs of one system told apart by the settings in which they differ."
    )
    if t.source:
        foot += f" Published: {_e(t.source)}; the card's figures are for the unquantized model."
    rows = "\n".join(body)
    return (
        f"<h2>{_e(t.title)}</h2>\n<div class=wide><table class=card>\n<thead><tr>{''.join(head)}</tr></thead>"
        f'\n<tbody>\n{rows}\n</tbody></table></div>\n<p class="small">{foot}</p>\n'
    )


def _unfinished_table(c: Comparison) -> list[str]:
    if not c.unfinished:
        return []
    out = [
        "<h2 id=unfinished>Unfinished or failed runs (not in the tables above)</h2>",
        "<div class=wide><table><thead><tr><th>Run</th><th>Task</th><th>Mode</th><th>System</th>"
        '<th>Status</th><th class="num">calls stored</th><th class="num">planned</th><th>Error</th>'
        "</tr></thead><tbody>",
    ]
    for u in c.unfinished:
        out.append(
            f"<tr><td><code>{_e(u.run_id)}</code></td><td>{_e(u.task)}</td><td>{_e(u.mode)}</td>"
            f"<td>{_e(short_model(u.model))} · {_e(u.runner_profile)}</td><td>{_e(u.status)}</td>"
            f'<td class="num">{u.calls_stored}</td><td class="num">{_e(u.planned or "—")}</td>'
            f"<td>{_e(u.error or '—')}</td></tr>"
        )
    out.append("</tbody></table></div>")
    return out


def _inline_svg(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"^<\?xml[^>]*>\s*", "", text)
    return re.sub(r"^<!DOCTYPE[^>]*>\s*", "", text, flags=re.S)


def render_html(
    c: Comparison, plots: list[Path] | None = None, title: str | None = None, intro: str = ""
) -> str:
    """The whole page; SVG plots among `plots` are inlined; `title` and `intro` (HTML) replace
    the heading (`evalkit card`)."""
    pct = round(100 * c.level)
    heading = title or (
        f"evalkit comparison: {plural(len(c.runs), 'run')}, {plural(len({r.task for r in c.runs}), 'task')}"
        + (f" ({plural(len(c.unfinished), 'unfinished run')})" if c.unfinished else "")
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title or 'evalkit comparison: ' + plural(len(c.runs), 'run'))}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{_e(heading)}</h1>",
        *([intro] if intro else []),
    ]
    if c.any_placeholder:
        parts.append(f'<p class="warn" id="placeholder">{_md_bold(placeholder_note(c))}</p>')
    if c.any_incomplete:
        parts.append(f'<p class="warn" id="incomplete">{_md_bold(incomplete_note(c))}</p>')
    if c.any_synthetic:
        parts.append(f'<p class="note">{_md_bold(synthetic_note(c))}</p>')
    if c.unfinished:
        parts.append(
            f'<p class="note"><a href="#unfinished">{plural(len(c.unfinished), "unfinished or failed run")}'
            "</a> (no metrics.json) are listed at the end, not scored.</p>"
        )
    parts += [_card_table(t, c.level) for t in c.tables]

    parts.append(f"<h2>Differences (percentage points, {pct}% confidence interval)</h2>")
    parts.append(
        "<div class=wide><table><thead><tr><th>Benchmark</th><th>Mode</th><th>System</th>"
        '<th class="num">measured − published</th><th class="num">paired vs baseline</th>'
        '<th>baseline</th><th class="num">paired '
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
    parts.append("</tbody></table></div>")

    parts.append("<h2>Run health</h2>")
    parts.append(
        "<div class=wide><table><thead><tr><th>System</th><th>Benchmark</th><th>Mode</th>"
        '<th class="num">items × repeats</th><th class="num">truncated</th><th class="num">no answer</th>'
        '<th class="num">completion '
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
    parts.append("</tbody></table></div>")

    parts += _unfinished_table(c)
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
