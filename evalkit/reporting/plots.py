"""Report figures with matplotlib, each written as PNG and SVG.

- measured_vs_published: every benchmark's measured score per system with its interval,
  the published EXAONE 4.0 figure (black diamond) and the card's peers (grey).
- paired_deltas: each system's paired difference from its baseline run, with intervals
  (or, without baselines, measured − published: deltas_vs_published).
- breakdown_<task>_<mode>: per-category scores (the task's breakdown field) per system.

Figures are built on `matplotlib.figure.Figure` directly (no pyplot global state, no GUI
backend); SVG text stays text, so an HTML report that inlines the SVG is searchable.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from evalkit.reporting.table import Comparison

_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]
PLACEHOLDER_TAG = "placeholder model: scores are meaningless"


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_").lower()


def _save(fig: Any, out_dir: Path, name: str) -> list[Path]:
    import matplotlib

    paths = []
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "evalkit"}):
        for ext in ("png", "svg"):
            p = out_dir / f"{name}.{ext}"
            fig.savefig(p, dpi=130 if ext == "png" else None, bbox_inches="tight", metadata=_metadata(ext))
            paths.append(p)
    return paths


def _metadata(ext: str) -> dict[str, Any]:
    # Fixed metadata: the same runs give byte-identical SVGs (no creation date).
    return {"Date": None} if ext == "svg" else {}


def _title(ax: Any, text: str, placeholder: bool) -> None:
    """Title, with the placeholder warning above the axes whenever a plotted run is a placeholder."""
    ax.set_title(text, fontsize=11, loc="left", pad=18 if placeholder else 6)
    if placeholder:
        ax.text(0.0, 1.01, PLACEHOLDER_TAG, transform=ax.transAxes, color="#b00020", fontsize=8, va="bottom")


def _colors(c: Comparison) -> dict[str, str]:
    """One colour per system, the same in every figure."""
    systems = list(dict.fromkeys(s for t in c.tables for s in t.systems))
    return {s: _COLORS[k % len(_COLORS)] for k, s in enumerate(systems)}


def measured_vs_published(c: Comparison, out_dir: Path) -> list[Path]:
    from matplotlib.figure import Figure

    rows = [(t, r) for t in c.tables for r in t.rows]
    colors = _colors(c)
    systems = list(colors)
    fig = Figure(figsize=(max(6.0, 1.3 * len(rows) + 2), 4.6))
    ax = fig.add_subplot()
    width = 0.7 / max(len(systems), 1)
    peer_shown = pub_shown = False
    labelled: set[str] = set()  # one legend entry per system
    for x, (_t, row) in enumerate(rows):
        for k, s in enumerate(systems):
            cell = row.cells.get(s)
            if cell is None:
                continue
            lo, hi = cell.ci
            ax.errorbar(
                [x - 0.35 + width * (k + 0.5)],
                [cell.value],
                yerr=[[cell.value - lo], [hi - cell.value]],
                fmt="o",
                color=colors[s],
                capsize=3,
                label=None if s in labelled else s,
            )
            labelled.add(s)
        for f in row.peers:
            if f.value is not None:
                ax.plot(
                    [x + 0.4],
                    [f.value],
                    "o",
                    ms=3,
                    color="#9a9a9a",
                    label=None if peer_shown else "card peers",
                )
                peer_shown = True
        if row.published and row.published.value is not None:
            ax.plot(
                [x + 0.4],
                [row.published.value],
                "D",
                ms=7,
                color="black",
                label=None if pub_shown else "published EXAONE 4.0",
            )
            pub_shown = True
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([f"{r.key}\n({r.mode})" for _, r in rows], fontsize=8)
    ax.set_ylabel("score (%)")
    ax.set_ylim(-2, 102)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _title(ax, f"Measured ({round(100 * c.level)}% CI) vs published", c.any_placeholder)
    return _save(fig, out_dir, "measured_vs_published")


def deltas(c: Comparison, out_dir: Path) -> list[Path]:
    """Paired differences from baselines where there are any, else measured − published."""
    from matplotlib.figure import Figure

    paired = any(cell.delta_baseline is not None for cell in c.cells())
    lines = []
    placeholder = False
    for t in c.tables:
        for row in t.rows:
            for cell in row.cells.values():
                iv = cell.delta_baseline if paired else cell.delta_published
                if iv is not None:
                    lines.append((f"{row.key} ({row.mode})\n{cell.label}", iv))
                    placeholder |= cell.run.placeholder or bool(cell.baseline and cell.baseline.placeholder)
    if not lines:
        return []
    fig = Figure(figsize=(7.0, 0.55 * len(lines) + 1.6))
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
    ax.set_yticklabels([label for label, _ in lines], fontsize=8)
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)
    pct = round(100 * c.level)
    if paired:
        ax.set_xlabel("candidate − baseline (percentage points), paired on (item, repeat)")
        _title(ax, f"Paired differences from the baseline run ({pct}% CI)", placeholder)
        return _save(fig, out_dir, "paired_deltas")
    ax.set_xlabel("measured − published (percentage points)")
    _title(ax, f"Measured − published ({pct}% CI of the measurement)", placeholder)
    return _save(fig, out_dir, "deltas_vs_published")


def breakdowns(c: Comparison, out_dir: Path) -> list[Path]:
    """One figure per task and mode whose runs report two or more categories."""
    from matplotlib.figure import Figure

    z = 1.959963984540054
    colors = _colors(c)
    paths: list[Path] = []
    for t in c.tables:
        for row in t.rows:
            per_system: dict[str, dict[str, Any]] = {}
            for s, cell in row.cells.items():
                b = cell.run.metrics.get("breakdown")
                if isinstance(b, dict) and len(b.get("groups", {})) > 1:
                    per_system[s] = b
            if not per_system:
                continue
            groups = sorted({g for b in per_system.values() for g in b["groups"]})
            field = next(iter(per_system.values())).get("field", "category")
            fig = Figure(figsize=(7.0, 0.32 * len(groups) * max(1, len(per_system)) + 1.6))
            ax = fig.add_subplot()
            h = 0.8 / len(per_system)
            for k, (s, b) in enumerate(per_system.items()):
                ys, vals, errs = [], [], []
                for i, g in enumerate(groups):
                    v = b["groups"].get(g)
                    if v is None:
                        continue
                    ys.append(i - 0.4 + h * (k + 0.5))
                    vals.append(100 * v["value"])
                    errs.append(_group_error(v, z))
                xerr = [[e[0] for e in errs], [e[1] for e in errs]]
                ax.barh(ys, vals, height=h, xerr=xerr, color=colors[s], label=s, capsize=2)
            ax.set_yticks(range(len(groups)))
            ax.set_yticklabels(groups, fontsize=8)
            ax.invert_yaxis()
            ax.set_xlim(0, 100)
            ax.set_xlabel("score (%)")
            ax.grid(axis="x", alpha=0.3)
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
            placeholder = any(row.cells[s].run.placeholder for s in per_system)
            _title(ax, f"{row.key} ({row.mode}) by {field} (95% CI)", placeholder)
            paths += _save(fig, out_dir, f"breakdown_{_slug(row.task)}_{_slug(row.mode)}")
    return paths


def make_plots(c: Comparison, out_dir: Path) -> list[Path]:
    """Write every figure into `out_dir` (PNG and SVG); returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return measured_vs_published(c, out_dir) + deltas(c, out_dir) + breakdowns(c, out_dir)


def _group_error(group: dict[str, Any], z: float) -> tuple[float, float]:
    """(below, above) the group's value in points: its 95 % interval from metrics.json
    (`evalkit.stats.rates`, never of zero width), else ± z·SE for runs written before it."""
    ci = group.get("ci95")
    if isinstance(ci, list) and len(ci) == 2:
        return 100 * (group["value"] - ci[0]), 100 * (ci[1] - group["value"])
    se = group.get("se")
    half = 0.0 if se is None or se != se else 100 * z * se
    return half, half
