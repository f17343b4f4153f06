"""The `evalkit card` command line (kept apart from the command so that building the parser
imports nothing heavy)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def add_dp_argument(parser: Any) -> None:
    """`--dp`: where the engines of --gpus live (shared by `evalkit card` and `evalkit run`)."""
    parser.add_argument(
        "--dp",
        choices=["auto", "threads", "processes"],
        default="auto",
        help="engines of --gpus as threads of this process (profiles with a device setting) or one "
        "worker process each (any local runner, vLLM included); auto: threads where the profile "
        "has a device setting, else processes (docs/scale-out.md)",
    )


def add_parser(sub: Any, positive_int: Callable[[str], Any]) -> None:
    c = sub.add_parser(
        "card",
        help="a whole model card in one command: plan, run every cell through one runner, write the card",
    )
    c.add_argument("card", help="a card in cards/ (e.g. exaone-4.0-32b) or a card YAML file")
    c.add_argument("--runner", default="torch-int4", help="a profile in runners/ (default torch-int4)")
    c.add_argument("--model", help="override the profile's model")
    c.add_argument("--limit", type=positive_int("LIMIT"), help="only the first N items of every task")
    c.add_argument("--n", type=positive_int("N"), help="repeats per item, every cell (default: the card's)")
    c.add_argument("--max-new-tokens", type=positive_int("MAX_NEW_TOKENS"))
    c.add_argument("--modes", help="comma-separated modes to run (default: all the card's tables)")
    c.add_argument("--benchmarks", help="comma-separated benchmarks to run, as the card spells them")
    c.add_argument("--data", help="as `evalkit run --data`, for every task (default: each task's own)")
    c.add_argument("--judge", help="runner profile of the LLM judge (rows whose figure is a judge score)")
    c.add_argument("--judge-model", help="override the judge profile's model")
    c.add_argument("--user-sim", help="runner profile of the simulated user (tau-bench rows)")
    c.add_argument("--user-sim-model", help="override the user-simulator profile's model")
    c.add_argument(
        "--skip-missing", action="store_true", help="run what can run; the other cells say 'not run' and why"
    )
    c.add_argument("--plan", action="store_true", help="print and save the plan only (no model is loaded)")
    c.add_argument("--gate", help="a gate policy (gates/*.yaml): flag differences outside its allowance")
    c.add_argument("--seed", type=int, default=1234)
    c.add_argument(
        "--gpus",
        type=positive_int("GPUS"),
        help="one engine of the model per GPU, fed from one queue (default: every visible GPU)",
    )
    add_dp_argument(c)
    c.add_argument("--runner-arg", action="append", metavar="KEY=VALUE", help="as `evalkit run --runner-arg`")
    c.add_argument("--results-dir", help="where the cells' run directories go (default results/runs)")
    c.add_argument("--cards-dir", help="where results/cards/<id>/ goes (default results/cards)")
    c.add_argument("--id", help="the card's directory name (default: card, model, runner, LIMIT, N)")
    c.add_argument("--no-progress", action="store_true")
    c.set_defaults(func=_cmd)


def _cmd(args: argparse.Namespace) -> int:
    from evalkit.cards.command import run_command

    return run_command(args)
