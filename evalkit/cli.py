"""evalkit: evaluate EXAONE 4.0 (and its GPTQ int4 checkpoint) against its model card.

commands (`evalkit COMMAND --help` for each; also `python -m evalkit`):
  list      the tasks (with their published figures) and the runner profiles
  run       run one task end to end: results/runs/<run-id>/ (cached; reruns resume)
  score     score responses produced elsewhere (JSONL in, JSONL verdicts out)
  generate  print one completion of a prompt
  report    re-render a run's report.md; with --out, compare many runs (md, csv, html, plots)
  gate      judge runs against a gate policy (exit 0 pass, 1 fail, 2 cannot decide)
  card      a whole model card in one command: plan, one runner for every task, card.md/html/csv
  fidelity  KL and top-1 agreement of two runners' next-token distributions
  serve     serve a runner over an OpenAI-compatible chat-completions API
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from evalkit.errors import EvalkitError, MissingRoleError
from evalkit.wording import role_hint

EXIT_USAGE = 2
EXIT_INCOMPLETE = 3  # the run finished, but some samples failed (errors, not answers)


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error and a hint, instead of the whole usage before it."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def positive_int(make_var: str | None = None) -> Any:
    """An argparse type: a positive integer, else exit 2 naming the flag (argparse puts
    "argument --limit:" first) and, for `make eval LIMIT=…` (the Makefile sets
    EVALKIT_INTERFACE=make), the make variable the user actually typed."""
    from evalkit.wording import via_make

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            value = 0
        if value < 1:
            via = f" (make variable {make_var}={text})" if make_var and via_make() else ""
            raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}{via}")
        return value

    parse.__name__ = "positive integer"  # what argparse calls the type in its messages
    return parse


def _cmd_list(args: argparse.Namespace) -> int:
    from evalkit.published import lookup
    from evalkit.registry import get_task, list_tasks
    from evalkit.runners.profiles import list_profiles, load_profile

    print("tasks:")
    for name in list_tasks():
        spec = get_task(name)
        pubs = []
        for mode in spec.modes:
            row = lookup(spec.published_benchmark, mode) if spec.published_benchmark else []
            if row and row[0].value is not None:
                pubs.append(f"{mode} {row[0].value:.1f}")
        sample = (
            "synthetic sample" if spec.data.sample_synthetic else "real sample" if spec.data.sample else ""
        )
        print(
            f"  {name:<22} {spec.title:<18} modes: {', '.join(spec.modes):<26} "
            f"published (32B): {'; '.join(pubs) or '—'}  [{sample}]"
        )
    print("runners:")
    for name in list_profiles():
        p = load_profile(name)
        print(f"  {name:<22} {p.description}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from evalkit.pipeline import RunConfig, run_eval
    from evalkit.reporting.run_report import failed_text, headline
    from evalkit.runners.overrides import parse_pairs
    from evalkit.wording import option

    cfg = RunConfig(
        task=args.task,
        runner=args.runner,
        model=args.model,
        mode=args.mode,
        limit=args.limit,
        n=args.n,
        max_new_tokens=args.max_new_tokens,
        data=args.data,
        seed=args.seed,
        run_id=args.run_id,
        progress=not args.no_progress,
        runner_args=parse_pairs(args.runner_arg or []),
    )
    if args.results_dir:
        cfg.results_dir = Path(args.results_dir)
    aux = {}
    from evalkit.runners.profiles import load_profile, make_runner

    if getattr(args, "judge", None):  # LLM-judged tasks: requests with role "judge" go here
        aux["judge"] = make_runner(load_profile(args.judge), args.judge_model)
    if getattr(args, "user_sim", None):  # agent tasks: the simulated user answers role "user"
        aux["user"] = make_runner(load_profile(args.user_sim), args.user_sim_model)
    runner = None
    try:
        if args.gpus is not None or args.dp != "auto":  # data parallel (docs/scale-out.md §5)
            from evalkit.runners.data_parallel import make_engines
            from evalkit.runners.overrides import apply_runner_args

            profile, _ = apply_runner_args(load_profile(args.runner), cfg.runner_args)
            runner = make_engines(profile, args.model, args.gpus or 1, dp=args.dp)
        res = run_eval(cfg, runner=runner, aux_runners=aux)
    finally:
        for r in [*aux.values(), *([runner] if runner else [])]:
            r.close()
    print(headline(res.metrics))
    print(f"report: {res.report_path}")
    if res.metrics.get("incomplete"):
        what = (
            f"{failed_text(res.metrics)} (their model calls returned errors; see {res.run_dir}/errors.jsonl)"
        )
        if args.allow_errors:
            print(f"evalkit: warning: {what}; the figure is incomplete", file=sys.stderr)
        else:
            print(
                f"evalkit: error: {what}; the figure is incomplete. Rerun the same command to retry "
                f"them, or pass {option('allow-errors')} to accept an incomplete run",
                file=sys.stderr,
            )
            return EXIT_INCOMPLETE
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    from evalkit.scoring.responses import score_responses

    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115
    try:
        summary = score_responses(args.task, Path(args.responses), data=args.data, mode=args.mode, out=out)
    finally:
        if args.out:
            out.close()
    print(summary, file=sys.stderr)
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from evalkit.records import ChatRequest, SamplingParams
    from evalkit.runners.profiles import load_profile, make_runner

    reasoning = args.mode == "reasoning"
    temperature = (
        0.0
        if args.greedy
        else (args.temperature if args.temperature is not None else (0.6 if reasoning else 0.0))
    )
    params = SamplingParams(
        temperature=temperature,
        top_p=0.95 if reasoning and not args.greedy else 1.0,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
    )
    runner = make_runner(load_profile(args.runner), args.model)
    try:
        req = ChatRequest(
            messages=[{"role": "user", "content": args.prompt}], params=params, enable_thinking=reasoning
        )
        for _, completion in runner.generate([req]):
            print(completion.text)
            print(
                f"[finish_reason={completion.finish_reason} prompt_tokens={completion.prompt_tokens} "
                f"completion_tokens={completion.completion_tokens}]",
                file=sys.stderr,
            )
    finally:
        runner.close()
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from evalkit.reporting.run_report import headline, write_report
    from evalkit.run_records import load_run_metrics

    if args.out or args.html or args.plots or args.baseline:  # the multi-run comparison
        from evalkit.reporting.command import run_command

        return run_command(args)
    for d in args.runs:
        path = Path(d) / "metrics.json"
        if not path.is_file():
            raise EvalkitError(f"{path} not found: is {d} a finished run directory?")
        m = load_run_metrics(path)
        print(headline(m))
        print(f"report: {write_report(Path(d), m)}")
    return 0


def _cmd_gate(args: argparse.Namespace) -> int:
    from evalkit.gate.command import run_command

    return run_command(args)


def _cmd_fidelity(args: argparse.Namespace) -> int:
    from evalkit.fidelity.command import run_command

    return run_command(args)


def _cmd_serve(args: argparse.Namespace) -> int:
    from evalkit.runners.profiles import load_profile, make_runner
    from evalkit.serve import serve

    profile = load_profile(args.runner)
    settings = dict(profile.settings)
    if args.max_batch_size is not None and "max_batch_size" in settings:
        settings["max_batch_size"] = args.max_batch_size
    profile = dataclasses.replace(profile, settings=settings)
    runner = make_runner(profile, args.model)
    name = args.served_model_name or args.model or profile.model
    print(
        f"evalkit serve: {name} ({profile.name}) on http://{args.host}:{args.port}/v1",
        file=sys.stderr,
        flush=True,
    )
    try:
        serve(
            runner,
            name,
            host=args.host,
            port=args.port,
            max_batch=args.max_batch_size or 64,
            reasoning_field=args.reasoning_field,
        )
    finally:
        runner.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    from evalkit import __version__
    from evalkit.cards.arguments import add_dp_argument

    p = _Parser(
        prog="evalkit",
        description="evalkit: evaluate EXAONE 4.0 (and its GPTQ int4 checkpoint) against its model card.",
        epilog="`evalkit COMMAND --help` describes each command. Runs are written to results/runs/<run-id> "
        "(a rerun resumes); the embedded tiny model and file digests are cached under "
        "~/.cache/evalkit (EVALKIT_CACHE).",
    )
    p.add_argument("--version", action="version", version=f"evalkit {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("list", help="list tasks and runner profiles").set_defaults(func=_cmd_list)

    r = sub.add_parser("run", help="run one task end to end")
    r.add_argument("task")
    r.add_argument("--runner", default="torch-int4", help="a profile in runners/ (default torch-int4)")
    r.add_argument("--model", help="override the profile's model: a path, a hub id, or an embedded 'tiny*'")
    r.add_argument("--mode", default="non-reasoning", choices=["reasoning", "non-reasoning"])
    r.add_argument("--limit", type=positive_int("LIMIT"), help="evaluate only the first N items")
    r.add_argument("--n", type=positive_int("N"), help="repeats per item (default: the task's protocol)")
    r.add_argument("--max-new-tokens", type=positive_int("MAX_NEW_TOKENS"))
    r.add_argument("--data", help="'sample', 'hub', 'local' (the spec's copy), or a path to a copy")
    r.add_argument("--seed", type=int, default=1234)
    r.add_argument(
        "--run-id", help="results/runs/<run-id> (default: derived from the settings; reruns resume)"
    )
    r.add_argument("--results-dir")
    r.add_argument("--no-progress", action="store_true")
    r.add_argument(
        "--allow-errors",
        action="store_true",
        help="exit 0 even when some model calls failed (the figure is then marked incomplete)",
    )
    r.add_argument(
        "--judge", help="runner profile of the judge model for LLM-judged tasks (e.g. openai; see runners/)"
    )
    r.add_argument("--judge-model", help="override the judge profile's model (e.g. gpt-4.1-2025-04-14)")
    r.add_argument(
        "--user-sim", help="runner profile of the simulated user for agent tasks (tau-bench), e.g. openai"
    )
    r.add_argument("--user-sim-model", help="override the user-simulator profile's model (e.g. gpt-4o)")
    r.add_argument(
        "--runner-arg",
        action="append",
        metavar="KEY=VALUE",
        help="change one of the runner profile's settings for this run (repeatable), e.g. "
        "--runner-arg max_model_len=32768; checked against the runner's settings, recorded in run.json",
    )
    r.add_argument(
        "--gpus",
        type=positive_int("GPUS"),
        help="one engine of the model per GPU, fed from one queue (default: one engine)",
    )
    add_dp_argument(r)
    r.set_defaults(func=_cmd_run)

    s = sub.add_parser("score", help="score responses produced elsewhere (JSONL in, JSONL verdicts out)")
    s.add_argument("task")
    s.add_argument("--responses", required=True, help="JSONL rows with id and response")
    s.add_argument("--data", help="where items named by id come from: 'sample', 'hub' or a path")
    s.add_argument("--out", help="write verdicts here instead of stdout")
    s.add_argument(
        "--mode",
        default="non-reasoning",
        choices=["reasoning", "non-reasoning"],
        help="reasoning: a response without </think> has no answer",
    )
    s.set_defaults(func=_cmd_score)

    g = sub.add_parser("generate", help="print one completion")
    g.add_argument("--model", help="a path, hub id or embedded 'tiny*' (default: the profile's)")
    g.add_argument("--runner", default="torch-int4")
    g.add_argument("--mode", default="non-reasoning", choices=["reasoning", "non-reasoning"])
    g.add_argument("--prompt", required=True)
    g.add_argument("--max-new-tokens", type=positive_int(), default=256)
    g.add_argument("--greedy", action="store_true")
    g.add_argument("--temperature", type=float)
    g.add_argument("--seed", type=int, default=0)
    g.set_defaults(func=_cmd_generate)

    rep = sub.add_parser(
        "report",
        help="re-render report.md of finished runs; with --out, compare many runs (md/csv/html/plots)",
    )
    rep.add_argument("runs", nargs="+", help="run directories (with --out, also directories of runs)")
    rep.add_argument("--out", help="write comparison.md and comparison.csv of all the runs into this folder")
    rep.add_argument("--html", action="store_true", help="with --out: also a self-contained comparison.html")
    rep.add_argument("--plots", action="store_true", help="with --out: also plots/ (PNG and SVG)")
    rep.add_argument("--baseline", nargs="+", help="runs to pair the others with (same task and mode)")
    rep.add_argument("--level", type=float, default=0.95, help="confidence level of the intervals")
    rep.set_defaults(func=_cmd_report)

    gt = sub.add_parser(
        "gate", help="judge runs against a gate policy (gates/*.yaml): exit 0 pass, 1 fail, 2 cannot decide"
    )
    gt.add_argument("policy", help="a gate policy YAML file, e.g. gates/exaone-4.0-32b-gptq.yaml")
    gt.add_argument("--runs", nargs="+", help="candidate runs or directories of runs (default results/runs)")
    gt.add_argument("--reference", nargs="+", help="reference runs (default: the policy's reference.runs)")
    gt.add_argument("--fidelity", nargs="+", help="`evalkit fidelity` results for the fidelity limits")
    gt.add_argument("--json", help="also write the verdicts as JSON here")
    gt.add_argument("--markdown", help="also append a Markdown summary here (e.g. $GITHUB_STEP_SUMMARY)")
    gt.add_argument("--sequential", action="store_true", help="run the candidate in looks until decided")
    gt.add_argument("--runner", help="--sequential: the candidate's runner profile")
    gt.add_argument("--model", help="--sequential: override the candidate profile's model")
    gt.add_argument("--reference-runner", help="--sequential: run this reference profile alongside")
    gt.add_argument("--reference-model", help="--sequential: the reference profile's model override")
    gt.add_argument("--data", help="--sequential: 'sample', 'hub' or a local copy")
    gt.add_argument("--n", type=positive_int("N"), help="--sequential: repeats per item")
    gt.add_argument("--max-new-tokens", type=positive_int("MAX_NEW_TOKENS"))
    gt.add_argument("--seed", type=int, default=1234)
    gt.add_argument("--results-dir")
    gt.set_defaults(func=_cmd_gate)

    from evalkit.cards.arguments import add_parser as add_card_parser

    add_card_parser(sub, positive_int)

    fd = sub.add_parser("fidelity", help="KL and top-1 agreement of two runners' next-token distributions")
    fd.add_argument("--runner", default="torch-int4", help="the candidate's runner profile")
    fd.add_argument("--model", help="the candidate model (default: the profile's)")
    fd.add_argument("--reference-runner", help="the reference's runner profile (default: --runner)")
    fd.add_argument("--reference-model", help="the reference model (default for tiny models: tiny-fp32)")
    fd.add_argument("--texts", help="a JSONL text set (default: the bundled one, evalkit/fidelity/texts)")
    fd.add_argument("--limit", type=positive_int("LIMIT"), help="only the first N texts")
    fd.add_argument("--no-hidden-states", action="store_true", help="skip the per-layer hidden-state errors")
    fd.add_argument("--out", help="where to write the result JSON (default under results/runs)")
    fd.set_defaults(func=_cmd_fidelity)

    sv = sub.add_parser("serve", help="serve a runner over an OpenAI-compatible chat-completions API")
    sv.add_argument("--runner", default="torch-int4", help="a profile in runners/ (or a .yaml path)")
    sv.add_argument("--model", help="override the profile's model")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--served-model-name", help="the name clients send as 'model' (default: the model)")
    sv.add_argument("--max-batch-size", type=positive_int(), help="requests batched per engine call")
    sv.add_argument(
        "--reasoning-field",
        action="store_true",
        help="return reasoning as reasoning_content instead of inline in content",
    )
    sv.set_defaults(func=_cmd_serve)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # name the subcommand whose help lists the valid options
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        sub.choices[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.func(args))
    except EvalkitError as e:
        hint = role_hint(e.role) if isinstance(e, MissingRoleError) else ""
        print(f"evalkit: error: {e}{hint}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("evalkit: interrupted (completed samples are kept; rerun to resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
