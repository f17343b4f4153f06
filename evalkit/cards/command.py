"""`evalkit card CARD`: plan the card, run every cell through one runner, write the card.

Exit codes: 0 the card is written (or, with --plan, the plan); 2 the plan has cells that
cannot run (without --skip-missing) or a blocking problem, or the input is bad; 3 the card
is written but some cells failed or some of their samples did (a rerun retries them).
"""

from __future__ import annotations

import argparse
import sys

from evalkit.cards.card import load_card
from evalkit.cards.options import CardOptions
from evalkit.cards.plan import make_plan, render_plan, write_plan
from evalkit.cards.render import write_card
from evalkit.cards.run import run_cells
from evalkit.errors import UsageError
from evalkit.specs import MODES
from evalkit.wording import option, plural

EXIT_USAGE, EXIT_INCOMPLETE = 2, 3


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (text or "").split(",") if p.strip())


def options_from_args(args: argparse.Namespace) -> CardOptions:
    from pathlib import Path

    from evalkit.runners.overrides import parse_pairs

    opts = CardOptions(
        runner=args.runner,
        model=args.model,
        limit=args.limit,
        n=args.n,
        max_new_tokens=args.max_new_tokens,
        modes=_split(args.modes),
        benchmarks=_split(args.benchmarks),
        data=args.data,
        judge=args.judge,
        judge_model=args.judge_model,
        user_sim=args.user_sim,
        user_sim_model=args.user_sim_model,
        skip_missing=args.skip_missing,
        gate=args.gate,
        seed=args.seed,
        gpus=args.gpus,
        dp=args.dp,
        runner_args=parse_pairs(args.runner_arg or []),
        id=args.id,
        progress=not args.no_progress,
    )
    bad = [m for m in opts.modes if m not in MODES]
    if bad:
        raise UsageError(f"{option('modes')}: unknown mode {bad[0]!r} (modes: {', '.join(MODES)})")
    if args.results_dir:
        opts.results_dir = Path(args.results_dir)
    if args.cards_dir:
        opts.cards_dir = Path(args.cards_dir)
    return opts


def run_command(args: argparse.Namespace) -> int:
    card = load_card(args.card)
    opts = options_from_args(args)
    known = {r.benchmark for r in card.rows()}
    unknown = [b for b in opts.benchmarks if b not in known]
    if unknown:
        have = ", ".join(sorted(known))
        raise UsageError(f"card {card.id} has no benchmark {unknown[0]!r} (it has: {have})")
    plan = make_plan(card, opts)
    out_dir = opts.cards_dir / plan.card_id
    _, plan_md = write_plan(plan, out_dir)
    print(render_plan(plan))
    print(f"plan: {plan_md}")
    if args.plan:
        return 0
    if plan.problems:
        print(f"evalkit: error: {'; '.join(plan.problems)}", file=sys.stderr)
        return EXIT_USAGE
    missing = plan.missing()
    if missing and not opts.skip_missing:
        print(
            f"evalkit: error: {plural(len(missing), 'cell')} of the card cannot run (listed above: "
            + "; ".join(f"{c.key}: {c.reason}" for c in missing[:3])
            + ("; ..." if len(missing) > 3 else "")
            + f"). Provide what they need, or pass {option('skip-missing')} to mark them "
            '"not run" in the card.',
            file=sys.stderr,
        )
        return EXIT_USAGE
    results = run_cells(card, plan, opts, out_dir)
    files = write_card(card, plan, results, out_dir, gate=opts.gate)
    failed = [r for r in results if r.run_dir is None or r.incomplete]
    for r in failed:
        what = (
            f"failed: {r.error}"
            if r.run_dir is None
            else f"incomplete ({r.incomplete}; a rerun retries them)"
        )
        print(f"evalkit: warning: {r.cell.key} {what}", file=sys.stderr)
    print(f"html: {files.html}")
    print(f"csv: {files.csv}")
    print(f"card: {files.markdown}")
    return EXIT_INCOMPLETE if failed else 0
