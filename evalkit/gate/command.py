"""`evalkit gate`: the command behind the CLI subcommand (argument handling and output)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from evalkit.errors import UsageError
from evalkit.fidelity import FidelityResult
from evalkit.gate.decide import evaluate_gate
from evalkit.gate.explain import render_markdown, render_text
from evalkit.gate.policy import load_policy
from evalkit.gate.sequential import SequentialPlan, run_sequential_gate
from evalkit.gate.verdicts import GateResult
from evalkit.registry import REPO_ROOT
from evalkit.reporting.runs import RunData, discover_runs


def default_runs_dir() -> Path:
    return Path(os.environ.get("EVALKIT_RESULTS", REPO_ROOT / "results" / "runs"))


def _pool(paths: list[str] | None, fallback: list[Path]) -> list[RunData]:
    dirs = [Path(p) for p in paths] if paths else [p for p in fallback if p.is_dir()]
    return discover_runs(dirs) if dirs else []


def _fidelity(paths: list[str] | None) -> list[FidelityResult]:
    out = []
    for p in paths or []:
        try:
            out.append(FidelityResult.from_dict(json.loads(Path(p).read_text(encoding="utf-8"))))
        except (OSError, ValueError, KeyError) as e:
            raise UsageError(f"{p}: not a readable evalkit fidelity result ({e})") from e
    return out


def run_command(args: argparse.Namespace) -> int:
    """Run the gate; print the one-screen explanation; return 0 pass, 1 fail, 2 cannot decide."""
    policy = load_policy(Path(args.policy))
    references = _pool(args.reference, policy.reference_runs)
    fidelity = _fidelity(args.fidelity)
    result: GateResult
    if args.sequential:
        if not args.runner:
            raise UsageError("--sequential needs --runner PROFILE (the candidate to sample)")
        plan = SequentialPlan(
            runner=args.runner,
            model=args.model,
            reference_runner=args.reference_runner,
            reference_model=args.reference_model,
            data=args.data,
            n=args.n,
            max_new_tokens=args.max_new_tokens,
            seed=args.seed,
            results_dir=Path(args.results_dir) if args.results_dir else None,
        )
        result = run_sequential_gate(
            policy, plan, references, fidelity, log=lambda s: print(s, file=sys.stderr, flush=True)
        )
    else:
        runs = _pool(args.runs, [default_runs_dir()])
        result = evaluate_gate(policy, runs, references, fidelity)
    print(render_text(result))
    if args.json:
        Path(args.json).write_text(
            json.dumps(result.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8"
        )
    if args.markdown:
        with open(args.markdown, "a", encoding="utf-8") as f:  # appends: $GITHUB_STEP_SUMMARY is shared
            f.write(render_markdown(result))
    return result.exit_code
