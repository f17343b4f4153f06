"""`evalkit report RUN_DIR... --out DIR`: the multi-run outputs of the report subcommand."""

from __future__ import annotations

import argparse
from pathlib import Path

from evalkit.errors import UsageError
from evalkit.reporting.runs import discover_runs, discover_unfinished
from evalkit.reporting.write import write_comparison
from evalkit.wording import plural


def run_command(args: argparse.Namespace) -> int:
    """Write comparison.md and comparison.csv (and comparison.html, plots/) into args.out."""
    if not args.out:
        if args.html or args.plots or args.baseline:
            raise UsageError("--html, --plots and --baseline write multi-run outputs: give --out DIR")
        return 0
    runs = discover_runs(args.runs)
    unfinished = discover_unfinished(args.runs)
    baselines = discover_runs(args.baseline) if args.baseline else []
    if not runs:
        extra = f" ({plural(len(unfinished), 'unfinished run')})" if unfinished else ""
        raise UsageError("no finished runs found in " + ", ".join(args.runs) + extra)
    files = write_comparison(
        runs,
        Path(args.out),
        baselines=baselines,
        html=args.html,
        plots=args.plots,
        level=args.level,
        unfinished=unfinished,
    )
    print(f"comparison of {plural(len(runs), 'run')}: {files.markdown}, {files.csv}")
    for u in unfinished:
        print(f"not finished: {u.path} ({u.status}{': ' + u.error if u.error else ''})")
    if files.html:
        print(f"html: {files.html}")
    if files.plots:
        print(f"plots: {len(files.plots)} files in {files.plots[0].parent}")
    return 0
