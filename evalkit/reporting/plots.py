"""Report figures with matplotlib, each written as PNG and SVG, sized to be read.

- measured_<size>_<mode>: one figure per report table: each benchmark a band of rows, one
  row per run (its score with the interval), the published EXAONE 4.0 figure (black
  diamond) and the card's peers (grey) on the same horizontal 0-100 axis.
- paired_deltas: each run's paired difference from its baseline run, with intervals (or,
  without baselines, measured − published: deltas_vs_published).
- breakdown_<task>_<mode>: per-category scores (the task's breakdown field) per run.

Figures are horizontal, so labels stack instead of colliding; their height grows with
their rows, their width is fixed (about 1,000 px in the PNG). Constrained layout keeps
every text inside the image, which `text_problems` checks (the report warns; tests assert).
Figures are built on `matplotlib.figure.Figure` directly (no pyplot global state, no GUI
backend); SVG text stays text, so an HTML report that inlines the SVG is searchable.
"""

from __future__ import annotations

import re
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from evalkit.reporting.fonts import font_chain, missing_glyphs_note
from evalkit.reporting.table import OTHER, Comparison, Table
from evalkit.stats import Z95

_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]
PLACEHOLDER_TAG = "placeholder model: scores are meaningless"
WIDTH_IN = 9.0
PNG_DPI = 110
ROW_IN = 0.3  # height of one plotted row
LEGEND_CHARS = 150  # characters of 8 pt legend text across the figure, both columns together


@contextmanager
def _style() -> Iterator[None]:
    import matplotlib

    with matplotlib.rc_context(
        {
            "font.family": font_chain(),
            "svg.fonttype": "none",
            "svg.hashsalt": "evalkit",
            "axes.titlesize": 9,
            "axes.labelsize": 9,
            "xtick.labelsize": 8,
            "ytick.labelsize": 8,
            "legend.fontsize": 8,
        }
    ):
        yield


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_").lower()


def _figure(height_in: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, max(height_in, 2.4)), layout="constrained")
    FigureCanvasAgg(fig)  # a renderer to measure text with (text_problems)
    return fig


def _texts(fig: Any) -> list[Any]:
    """The texts a drawn figure shows (tick labels of ticks outside the view are never drawn)."""
    from matplotlib.text import Text

    hidden: set[int] = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not lo - 1e-9 * (hi - lo) <= tick.get_loc() <= hi + 1e-9 * (hi - lo):
                    hidden |= {id(tick.label1), id(tick.label2)}
    return [
        t for t in fig.findobj(Text) if t.get_visible() and str(t.get_text()).strip() and id(t) not in hidden
    ]


def _save(fig: Any, out_dir: Path, name: str) -> list[Path]:
    paths = []
    for ext in ("png", "svg"):
        p = out_dir / f"{name}.{ext}"
        # Fixed metadata: the same runs give byte-identical SVGs (no creation date).
        fig.savefig(p, dpi=PNG_DPI if ext == "png" else None, metadata={"Date": None} if ext == "svg" else {})
        paths.append(p)
    return paths


def _title(fig: Any, ax: Any, text: str, placeholder: bool) -> None:
    """Title across the figure; the placeholder warning above the axes whenever a plotted run is one."""
    fig.suptitle(text, x=0.01, ha="left", fontsize=11)
    if placeholder:
        ax.set_title(PLACEHOLDER_TAG, loc="left", color="#b00020", fontsize=8)


def _legend_layout(labels: list[str]) -> tuple[int, list[str]]:
    """(columns, wrapped labels): two columns while the labels are short, else one, with long
    labels wrapped so that the legend stays inside the figure."""
    ncols = 2 if len(labels) > 2 and max(map(len, labels), default=0) <= LEGEND_CHARS // 2 - 6 else 1
    width = LEGEND_CHARS // ncols - 6
    return ncols, [textwrap.fill(label, width, break_long_words=True) for label in labels]


def _legend_height(labels: list[str]) -> float:
    ncols, wrapped = _legend_layout(labels)
    lines = [w.count("\n") + 1 for w in wrapped]
    per_col = [sum(lines[i::ncols]) for i in range(ncols)]
    return 0.25 + 0.17 * max(per_col, default=0)


def _legend(fig: Any) -> None:
    handles: list[Any] = []
    labels: list[str] = []
    for ax in fig.axes:
        h, lab = ax.get_legend_handles_labels()
        handles += h
        labels += lab
    ncols, wrapped = _legend_layout(labels)
    fig.legend(handles, wrapped, loc="outside lower center", ncols=ncols, frameon=False)


def _colors(c: Comparison) -> dict[str, str]:
    """One colour per run label, the same in every figure."""
    systems = list(
        dict.fromkeys(cell.label for t in c.tables for row in t.rows for cell in row.cells.values())
    )
    return {s: _COLORS[k % len(_COLORS)] for k, s in enumerate(systems)}


def measured_figure(c: Comparison, t: Table, colors: dict[str, str]) -> Any:
    """One table's benchmarks: a band per benchmark, a row per run, published and peers beside."""
    card = t.size != OTHER
    bands = [(row, sorted(row.cells.values(), key=lambda x: x.label)) for row in t.rows]
    n_rows = sum(len(cells) + (1 if card else 0) for _, cells in bands) + 0.4 * len(bands)
    shown = list(dict.fromkeys(cell.label for _, cells in bands for cell in cells))
    fig = _figure(1.3 + ROW_IN * n_rows + _legend_height([*shown, "card peers", str(t.subject)]))
    ax = fig.add_subplot()
    y, centers, labelled = 0.0, [], set()
    peer_shown = pub_shown = False
    for row, cells in bands:
        top = y
        for cell in cells:
            lo, hi = cell.ci
            ax.errorbar(
                [cell.value],
                [y],
                xerr=[[cell.value - lo], [hi - cell.value]],
                fmt="o",
                ms=5,
                color=colors[cell.label],
                capsize=3,
                label=None if cell.label in labelled else cell.label,
            )
            labelled.add(cell.label)
            y += 1
        figures = [f for f in row.peers if f.value is not None]
        if row.published and row.published.value is not None:
            figures.append(row.published)
        if figures:  # the card's figures on a row of their own, under the runs
            for f in row.peers:
                if f.value is not None:
                    ax.plot(
                        [f.value],
                        [y],
                        "o",
                        ms=3.5,
                        color="#9a9a9a",
                        label=None if peer_shown else "card peers",
                    )
                    peer_shown = True
            if row.published and row.published.value is not None:
                ax.plot(
                    [row.published.value],
                    [y],
                    "D",
                    ms=6,
                    color="black",
                    label=None if pub_shown else t.subject,
                )
                pub_shown = True
            y += 1
        centers.append((top + y - 1) / 2)
        ax.axhspan(top - 0.5, y - 0.5, color="#f2f2f2" if len(centers) % 2 else "white", zorder=0)
        y += 0.4
    ax.set_yticks(centers)
    ax.set_yticklabels([row.key for row, _ in bands])
    ax.set_ylim(y - 0.4 - 0.5, -0.5)
    ax.set_xlim(-2, 102)
    ax.set_xlabel(f"score (%), {round(100 * c.level)}% CI")
    ax.grid(axis="x", alpha=0.3)
    _legend(fig)
    what = "measured vs published" if card else "measured"
    placeholder = any(cell.run.placeholder for _, cells in bands for cell in cells)
    _title(fig, ax, f"{t.title}: {what}", placeholder)
    return fig


def deltas_figure(c: Comparison) -> tuple[str, Any] | None:
    """Paired differences from baselines where there are any, else measured − published."""
    paired = any(cell.delta_baseline is not None for cell in c.cells())
    lines = []
    placeholder = False
    for t in c.tables:
        for row in t.rows:
            for cell in sorted(row.cells.values(), key=lambda x: x.label):
                iv = cell.delta_baseline if paired else cell.delta_published
                if iv is not None:
                    lines.append((f"{row.key} ({row.mode})\n{cell.label}", iv))
                    placeholder |= cell.run.placeholder or bool(cell.baseline and cell.baseline.placeholder)
    if not lines:
        return None
    fig = _figure(1.4 + 2 * ROW_IN * len(lines))
    ax = fig.add_subplot()
    for y, (_label, iv) in enumerate(lines):
        color = "#d62728" if iv.high < 0 else "#2ca02c" if iv.low > 0 else "#1f77b4"
        ax.errorbar(
            [iv.estimate],
            [y],
            xerr=[[iv.estimate - iv.low], [iv.high - iv.estimate]],
            fmt="s",
            color=color,
            capsize=3,
        )
    ax.axvline(0.0, color="black", lw=0.8)
    ax.set_yticks(range(len(lines)))
    ax.set_yticklabels([label for label, _ in lines])
    ax.set_ylim(len(lines) - 0.5, -0.5)
    ax.grid(axis="x", alpha=0.3)
    pct = round(100 * c.level)
    if paired:
        ax.set_xlabel("candidate − baseline (percentage points), paired on (item, repeat)")
        _title(fig, ax, f"Paired differences from the baseline run ({pct}% CI)", placeholder)
        return "paired_deltas", fig
    ax.set_xlabel("measured − published (percentage points)")
    _title(fig, ax, f"Measured − published ({pct}% CI of the measurement)", placeholder)
    return "deltas_vs_published", fig


def breakdown_figures(c: Comparison, colors: dict[str, str]) -> list[tuple[str, Any]]:
    """One figure per task and mode whose runs report two or more categories."""
    out: list[tuple[str, Any]] = []
    for t in c.tables:
        for row in t.rows:
            per_run: dict[str, dict[str, Any]] = {}
            for label, cell in sorted(row.cells.items()):
                b = cell.run.metrics.get("breakdown")
                if isinstance(b, dict) and len(b.get("groups", {})) > 1:
                    per_run[label] = b
            if not per_run:
                continue
            groups = sorted({g for b in per_run.values() for g in b["groups"]})
            field = next(iter(per_run.values())).get("field", "category")
            fig = _figure(1.3 + ROW_IN * len(groups) * max(1, len(per_run)) + _legend_height(list(per_run)))
            ax = fig.add_subplot()
            h = 0.8 / len(per_run)
            for k, (label, b) in enumerate(per_run.items()):
                ys, vals, errs = [], [], []
                for i, g in enumerate(groups):
                    v = b["groups"].get(g)
                    if v is None:
                        continue
                    ys.append(i - 0.4 + h * (k + 0.5))
                    vals.append(100 * v["value"])
                    errs.append(_group_error(v, Z95))
                xerr = [[e[0] for e in errs], [e[1] for e in errs]]
                bars = ax.barh(ys, vals, height=h, xerr=xerr, color=colors[label], label=label, capsize=2)
                # the value at the bar's base: a score of 0 is then visibly a 0, not a gap
                ax.bar_label(
                    bars, labels=[f"{v:.0f}" for v in vals], label_type="edge", padding=2, fontsize=6
                )
            ax.set_yticks(range(len(groups)))
            ax.set_yticklabels(groups)
            ax.set_ylim(len(groups) - 0.5, -0.5)
            ax.set_xlim(0, 102)
            ax.set_xlabel("score (%), 95% CI")
            ax.grid(axis="x", alpha=0.3)
            _legend(fig)
            placeholder = any(row.cells[s].run.placeholder for s in per_run)
            _title(fig, ax, f"{row.key} ({row.mode}) by {field}", placeholder)
            out.append((f"breakdown_{_slug(row.task)}_{_slug(row.mode)}", fig))
    return out


def figures(c: Comparison) -> list[tuple[str, Any]]:
    """Every figure of the report as (file stem, matplotlib Figure), not yet drawn."""
    colors = _colors(c)
    with _style():
        out = [(f"measured_{_slug(t.size)}_{_slug(t.mode)}", measured_figure(c, t, colors)) for t in c.tables]
        delta = deltas_figure(c)
        out += [delta] if delta else []
        out += breakdown_figures(c, colors)
    return out


def text_problems(fig: Any) -> list[str]:
    """Texts of a figure that reach outside the image, or tick labels that overlap each other."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    w, h = fig.bbox.width, fig.bbox.height
    problems = []
    for text in _texts(fig):
        bb = text.get_window_extent(renderer)
        if bb.x0 < -1 or bb.y0 < -1 or bb.x1 > w + 1 or bb.y1 > h + 1:
            problems.append(f"text {text.get_text()!r} reaches outside the {w:.0f}x{h:.0f} image")
    for ax in fig.axes:
        for ticks in (ax.get_xticklabels(), ax.get_yticklabels()):
            boxes = [
                (t.get_text(), t.get_window_extent(renderer))
                for t in ticks
                if t.get_visible() and t.get_text()
            ]
            for i in range(len(boxes)):
                for j in range(i + 1, len(boxes)):
                    if boxes[i][1].overlaps(boxes[j][1]):
                        problems.append(f"tick labels {boxes[i][0]!r} and {boxes[j][0]!r} overlap")
    return problems


def make_plots(c: Comparison, out_dir: Path) -> list[Path]:
    """Write every figure into `out_dir` (PNG and SVG); returns the paths. Warns on stderr when
    Korean text has no font, or a figure's text would not fit."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    labels: list[str] = []
    with _style():
        for name, fig in figures(c):
            for problem in text_problems(fig):
                print(f"evalkit report: warning: {name}: {problem}", file=sys.stderr)
            labels += [str(t.get_text()) for t in _texts(fig)]
            paths += _save(fig, out_dir, name)
    note = missing_glyphs_note(labels)
    if note:
        print(f"evalkit report: warning: {note}", file=sys.stderr)
    return paths


def _group_error(group: dict[str, Any], z: float) -> tuple[float, float]:
    """(below, above) the group's value in points: its 95 % interval from metrics.json
    (`evalkit.stats.rates`, never of zero width), else ± z·SE for runs written before it."""
    ci = group.get("ci95")
    if isinstance(ci, list) and len(ci) == 2:
        return 100 * (group["value"] - ci[0]), 100 * (ci[1] - group["value"])
    se = group.get("se")
    half = 0.0 if se is None or se != se else 100 * z * se
    return half, half
