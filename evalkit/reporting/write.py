"""Writing a comparison to a directory: comparison.md, comparison.csv, comparison.html, plots/."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from evalkit.reporting.html import render_html
from evalkit.reporting.markdown import render_markdown
from evalkit.reporting.runs import RunData, UnfinishedRun
from evalkit.reporting.table import build_comparison, comparison_records


@dataclass
class ReportFiles:
    markdown: Path
    csv: Path
    html: Path | None = None
    plots: list[Path] = field(default_factory=list)


def write_comparison(
    runs: Sequence[RunData],
    out_dir: Path,
    *,
    baselines: Sequence[RunData] = (),
    html: bool = False,
    plots: bool = False,
    level: float = 0.95,
    unfinished: Sequence[UnfinishedRun] = (),
) -> ReportFiles:
    """Build the comparison of `runs` and write its files into `out_dir`."""
    import pandas as pd

    out_dir.mkdir(parents=True, exist_ok=True)
    c = build_comparison(runs, baselines=baselines, level=level, unfinished=unfinished)
    plot_paths: list[Path] = []
    if plots:
        from evalkit.reporting.plots import make_plots

        plot_paths = make_plots(c, out_dir / "plots")
    md = out_dir / "comparison.md"
    md.write_text(
        render_markdown(c, [str(p.relative_to(out_dir)) for p in plot_paths if p.suffix == ".png"]),
        encoding="utf-8",
    )
    csv = out_dir / "comparison.csv"
    pd.DataFrame(comparison_records(c)).to_csv(csv, index=False)
    files = ReportFiles(markdown=md, csv=csv, plots=plot_paths)
    if html:
        files.html = out_dir / "comparison.html"
        files.html.write_text(render_html(c, plot_paths), encoding="utf-8")
    return files
