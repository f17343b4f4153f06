"""One evaluation run: task spec -> samples -> runner (through the store) -> verdicts -> report."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit import __version__
from evalkit.data import default_source, load_rows
from evalkit.errors import MissingRoleError, UsageError
from evalkit.families import BuildContext, Family, ScoreContext, Solver, load_family
from evalkit.fingerprint import hash_obj
from evalkit.jsonl import dumps_line
from evalkit.kv_planning import KVPlanner, planner_for
from evalkit.longctx.tokens import load_tokenizer
from evalkit.models import check_model, is_tiny
from evalkit.records import Completion, Sample, SamplingParams
from evalkit.registry import REPO_ROOT, get_task, import_object
from evalkit.reporting.metrics import run_metrics
from evalkit.reporting.run_report import write_report
from evalkit.run_records import RunInfo, RunMetrics, SampleRecord, error_record, error_summary, sample_record
from evalkit.runners.base import Runner
from evalkit.runners.overrides import apply_runner_args
from evalkit.runners.profiles import RunnerProfile, load_profile, make_runner
from evalkit.scheduler import EpisodeKey, run_episodes
from evalkit.solvers import Episode, EpisodeOutput
from evalkit.specs import MODES, TaskSpec
from evalkit.store import SampleStore, find_stores
from evalkit.wording import option

DEFAULT_RESULTS = REPO_ROOT / "results" / "runs"


@dataclass
class RunConfig:
    task: str
    runner: str = "torch-int4"
    model: str | None = None  # overrides the profile's model
    mode: str = "non-reasoning"
    limit: int | None = None
    n: int | None = None  # repeats per item; default from the task spec
    max_new_tokens: int | None = None
    data: str | None = None  # "sample", "hub" or a path; default: sample for tiny models, else hub
    seed: int = 1234
    results_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("EVALKIT_RESULTS", DEFAULT_RESULTS))
    )
    run_id: str | None = None
    progress: bool = True
    # Items in a seeded random order before `limit` applies (sequential gates: each look's
    # items extend the previous look's, so their stored calls are reused). None: file order.
    order_seed: int | None = None
    # `--runner-arg KEY=VALUE` (raw strings): the profile's settings changed for this run.
    runner_args: dict[str, str] = field(default_factory=dict)


@dataclass
class RunResult:
    run_dir: Path
    metrics: RunMetrics
    report_path: Path


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", Path(s).name or s).strip("-")[:40] or "model"


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


class _Progress:
    """A progress bar counted per model call (multi-turn tasks make many per episode), with its
    ETA from an estimated total: calls so far plus the unfinished episodes' expected calls."""

    def __init__(self, episodes: int, enabled: bool, desc: str):
        from tqdm import tqdm

        self.bar = tqdm(
            total=episodes, unit="call", desc=desc, disable=not enabled, file=sys.stderr, dynamic_ncols=True
        )
        self.t0 = time.time()
        self.tokens = 0
        self.episodes = episodes
        self.finished = 0
        self.calls = 0
        self.calls_of_finished = 0
        self.per_episode: dict[Any, int] = {}

    def call(self, key: Any, completion_tokens: int, cached: bool) -> None:
        if not cached:
            self.tokens += completion_tokens
        self.calls += 1
        self.per_episode[key] = self.per_episode.get(key, 0) + 1
        self._update(1)

    def episode_done(self, key: Any) -> None:
        self.finished += 1
        self.calls_of_finished += self.per_episode.pop(key, 0)
        self._update(0)

    def expected_total(self) -> int:
        unfinished = self.episodes - self.finished
        made = self.calls - self.calls_of_finished  # calls of the unfinished episodes so far
        if self.finished:
            guess = self.calls_of_finished / self.finished
        else:
            guess = max(self.per_episode.values(), default=1)  # as many as the busiest episode so far
        return self.calls + max(round(guess * unfinished) - made, unfinished - len(self.per_episode), 0)

    def _update(self, n: int) -> None:
        self.bar.total = max(self.expected_total(), self.calls)
        rate = self.tokens / max(time.time() - self.t0, 1e-9)
        self.bar.set_postfix_str(f"{self.finished}/{self.episodes} episodes, {rate:.1f} tok/s", refresh=False)
        self.bar.update(n)

    def close(self) -> None:
        self.bar.close()


@dataclass
class RunPlan:
    """Everything decided about a run before a model is loaded (`plan_run`)."""

    spec: TaskSpec
    family: Family
    profile: RunnerProfile
    model_name: str
    samples: list[Sample]
    source: str
    synthetic: bool
    params: SamplingParams
    capped: bool
    n: int
    runner_args: dict[str, Any]


def plan_run(cfg: RunConfig, aux_roles: frozenset[str] = frozenset()) -> RunPlan:
    """Everything decided before a model is loaded: bad input fails here, cheaply. `aux_roles`:
    the roles besides "model" the run will have runners for."""
    for flag, value in (("--limit", cfg.limit), ("--n", cfg.n), ("--max-new-tokens", cfg.max_new_tokens)):
        # bool is an int; 0 would read as "not given" below, a negative limit as a slice
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise UsageError(f"{flag} must be a positive integer, got {value!r}")
    spec = get_task(cfg.task)
    if cfg.mode not in MODES:
        raise UsageError(f"mode must be one of {', '.join(MODES)}, got {cfg.mode!r}")
    if cfg.mode not in spec.modes:
        raise UsageError(f"task {spec.name} has no {cfg.mode} mode (it has {', '.join(spec.modes)})")
    settings = spec.settings(cfg.mode)
    profile, runner_args = apply_runner_args(load_profile(cfg.runner), cfg.runner_args)
    model_name = cfg.model or profile.model
    loaded = load_rows(
        spec,
        cfg.data or ("sample" if is_tiny(model_name) else default_source(spec)),
        cfg.limit if cfg.order_seed is None else None,
    )
    family = load_family(spec.family)
    build = BuildContext(where=loaded.path, model=model_name)  # long prompts are sized in its tokens
    samples = [family.build_sample(row, spec, build) for row in loaded.rows]
    if cfg.order_seed is not None:
        samples = sorted(samples, key=lambda s: hash_obj([cfg.order_seed, s.id]))[: cfg.limit]
    if not samples:
        raise UsageError(f"no rows to evaluate in {loaded.path}")
    max_new = cfg.max_new_tokens if cfg.max_new_tokens is not None else settings.max_new_tokens
    capped = False
    if cfg.max_new_tokens is None and "max_new_tokens" in profile.limits:
        capped = int(profile.limits["max_new_tokens"]) < max_new
        max_new = min(max_new, int(profile.limits["max_new_tokens"]))
    params = SamplingParams(
        temperature=settings.temperature,
        top_p=settings.top_p,
        top_k=settings.top_k,
        presence_penalty=settings.presence_penalty,
        max_new_tokens=max_new,
    )
    _check_roles(family, spec, samples[0], params, cfg.mode == "reasoning", frozenset({"model"}) | aux_roles)
    return RunPlan(
        spec,
        family,
        profile,
        model_name,
        samples,
        loaded.source,
        loaded.synthetic,
        params,
        capped,
        cfg.n if cfg.n is not None else settings.n,
        runner_args,
    )


def _check_roles(
    family: Family,
    spec: TaskSpec,
    sample: Sample,
    params: SamplingParams,
    reasoning: bool,
    roles: frozenset[str],
) -> None:
    """Start one episode up to its first request (no model involved): a task whose first call
    goes to a role without a runner (tau-bench's simulated user) fails before the model loads."""
    episode = family.solver(spec, roles)(sample, params, reasoning, 0)
    try:
        first = next(episode)
    except StopIteration:
        return
    episode.close()
    if first.role not in roles:
        raise MissingRoleError(first.role, sorted(roles))


def _kv_planner(spec: TaskSpec, model_name: str, runner: Runner) -> KVPlanner | None:
    """The model runner's KV-cache plan, when it reports its memory. Tasks whose protocol
    middle-truncates prompts (`extra.max_input_tokens`: LongBench, Ko-LongBench) get a request
    too long for the memory cut the same way; every other task refuses it."""
    return planner_for(
        runner,
        lambda: load_tokenizer(model_name),
        cuts_prompts=spec.extra.get("max_input_tokens") is not None,
    )


def _record(s: Sample, r: int, out: EpisodeOutput, family: Family, ctx: ScoreContext) -> SampleRecord:
    return sample_record(s, r, out, family.score(s, out, ctx), ctx.split(out.final))


def _refuse_other_result_set(run_dir: Path, result_key: str, n_items: int, n: int) -> None:
    """A run directory holds one result set: another (other items or repeats) never overwrites it."""
    try:
        old = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # a new directory, or one from before result keys (its store key still guards it)
    if isinstance(old, dict) and old.get("result_key") not in (None, result_key):
        raise UsageError(
            f"{run_dir} holds another run ({old.get('planned_items')} items x {old.get('planned_repeats')} "
            f"repeats; this one: {n_items} x {n}); it is left as it is: choose another {option('run-id')}"
        )


def run_eval(
    cfg: RunConfig,
    runner: Runner | None = None,
    aux_runners: Mapping[str, Runner] | None = None,
) -> RunResult:
    """Run one task end to end and write results/runs/<run-id>/. Resumes an interrupted run.

    The default run id names the result set (task, mode, model, runner settings, data, sampling
    params, seed, and which items with how many repeats): another LIMIT or N is another run
    directory, which copies the calls it shares with earlier runs from their stores instead of
    making them again, and leaves those runs as they are. Samples whose model calls failed are
    written to errors.jsonl, left out of every figure, and retried by the next run; the metrics
    then say `incomplete`.

    `aux_runners` answer requests of other roles (a judge, a simulated user); their
    settings enter the run key like the model's. A run that stops on an error (or Ctrl-C)
    says so in its run.json (`status`, `error`), so that reports list it as failed.
    """
    started: list[Path] = []  # the run directory, once run.json is written
    try:
        return _run_eval(cfg, runner, aux_runners, started)
    except BaseException as e:
        if started:
            mark_stopped(started[0], e)
        raise


def mark_stopped(run_dir: Path, e: BaseException) -> None:
    """run.json says the run stopped (`interrupted` on Ctrl-C, else `failed`) and why."""
    path = run_dir / "run.json"
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    interrupted = isinstance(e, KeyboardInterrupt)
    info["status"] = "interrupted" if interrupted else "failed"
    info["error"] = "interrupted (Ctrl-C)" if interrupted else f"{type(e).__name__}: {e}"[:500]
    info["stopped"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    _atomic_write(path, json.dumps(info, indent=2, ensure_ascii=False))


@dataclass
class PreparedRun:
    """One run planned and started (run.json written, status running), before any model call.

    `episodes()` gives its (key, episode) pairs; `generate_runs` drives the episodes of one or
    several prepared runs through one scheduler call; `finish_run` scores and writes the rest."""

    cfg: RunConfig
    plan: RunPlan
    runners: dict[str, Runner]  # role -> runner ("model" and the auxiliary roles)
    run_key: str
    result_key: str
    run_id: str
    run_dir: Path
    meta: dict[str, Any]
    planner: KVPlanner | None
    solver: Solver
    keys: list[EpisodeKey]
    t_start: float

    def episodes(self) -> list[tuple[EpisodeKey, Episode]]:
        by_id = {s.id: s for s in self.plan.samples}
        reasoning = self.cfg.mode == "reasoning"
        return [
            (k, self.solver(by_id[k.sample_id], self.plan.params, reasoning, k.repeat)) for k in self.keys
        ]


@dataclass
class RunOutputs:
    """What generation produced for one prepared run."""

    outputs: dict[EpisodeKey, EpisodeOutput]
    reused: int  # calls answered from a store
    generation_time_s: float


def prepare_run(
    cfg: RunConfig,
    runner: Runner,
    aux_runners: Mapping[str, Runner] | None = None,
    *,
    plan: RunPlan | None = None,
    t_start: float | None = None,
) -> PreparedRun:
    """Plan the run (unless `plan` is given), key it, and start its directory: run.json says
    `running` from here on (`mark_stopped` says otherwise if it then fails)."""
    t_start = time.time() if t_start is None else t_start
    plan = plan or plan_run(cfg, frozenset(aux_runners or {}))
    spec = plan.spec
    runners: dict[str, Runner] = {"model": runner, **(aux_runners or {})}
    desc = runner.describe()
    run_key = hash_obj(
        {
            "task": spec.name,
            "spec": spec.path.read_text(encoding="utf-8"),
            "data": plan.source,
            "runners": {role: r.describe() for role, r in runners.items()},
            "mode": cfg.mode,
            "params": plan.params.to_dict(),
            "seed": cfg.seed,
        }
    )
    # The result set: which items, how many repeats. A run of another set is another run
    # (its own directory); calls it shares with one are copied from that run's store.
    result_key = hash_obj({"run_key": run_key, "items": [s.id for s in plan.samples], "n": plan.n})
    run_id = (
        cfg.run_id or f"{spec.name}-{cfg.mode}-{_slug(plan.model_name)}-{plan.profile.name}-{result_key[:8]}"
    )
    run_dir = cfg.results_dir / run_id
    _refuse_other_result_set(run_dir, result_key, len(plan.samples), plan.n)
    run_dir.mkdir(parents=True, exist_ok=True)
    planner = _kv_planner(spec, plan.model_name, runner)
    meta = {
        "task": spec.name,
        "mode": cfg.mode,
        "model": plan.model_name,
        "runner_profile": plan.profile.name,
        "runner": desc,
        "aux_runners": {role: r.describe() for role, r in runners.items() if role != "model"},
        "data_source": plan.source,
        "params": plan.params.to_dict(),
        "seed": cfg.seed,
        # --runner-arg overrides; those that change results also change runner.describe(),
        # so they enter the run key and every call's cache key through it.
        "runner_args": plan.runner_args,
        "evalkit_version": __version__,
    }
    kv_plan = planner.record() if planner else None
    planned = {"planned_items": len(plan.samples), "planned_repeats": plan.n, "status": "running"}
    _atomic_write(
        run_dir / "run.json",
        json.dumps(
            {**meta, "run_key": run_key, "result_key": result_key, "kv_plan": kv_plan, **planned},
            indent=2,
            ensure_ascii=False,
        ),
    )
    return PreparedRun(
        cfg=cfg,
        plan=plan,
        runners=runners,
        run_key=run_key,
        result_key=result_key,
        run_id=run_id,
        run_dir=run_dir,
        meta=meta,
        planner=planner,
        solver=plan.family.solver(spec, frozenset(runners)),  # a judge is asked only if there is one
        keys=[EpisodeKey(s.id, r, run_id) for s in plan.samples for r in range(plan.n)],
        t_start=t_start,
    )


def generate_runs(prepared: Sequence[PreparedRun], *, progress: bool = True) -> list[RunOutputs]:
    """Every episode of the prepared runs through ONE scheduler call, each call through its own
    run's store (resumed, or copied from sibling runs' stores). The runs share their runners:
    a role answered by different runners in two of them is refused. A failure marks every run
    stopped in its run.json before it propagates."""
    try:
        return _generate_runs(prepared, progress)
    except BaseException as e:
        for p in prepared:
            mark_stopped(p.run_dir, e)
        raise


def _generate_runs(prepared: Sequence[PreparedRun], progress: bool) -> list[RunOutputs]:
    runners: dict[str, Runner] = {}
    for p in prepared:
        for role, r in p.runners.items():
            if runners.setdefault(role, r) is not r:
                raise UsageError(
                    f"runs given to one generation must share their {role!r} runner ({p.run_id})"
                )
    if len({p.run_id for p in prepared}) != len(prepared):
        raise UsageError("the same run was given twice to one generation")
    by_run = {p.run_id: p for p in prepared}
    episodes = [e for p in prepared for e in p.episodes()]
    outputs: dict[str, dict[EpisodeKey, EpisodeOutput]] = {p.run_id: {} for p in prepared}
    desc = prepared[0].plan.spec.name if len(prepared) == 1 else f"{len(prepared)} runs"
    bar = _Progress(len(episodes), progress, desc)

    def on_done(key: EpisodeKey, out: EpisodeOutput, cached: bool) -> None:
        outputs[key.run][key] = out
        bar.episode_done(key)

    def on_call(key: EpisodeKey, role: str, completion: Completion, cached: bool) -> None:
        bar.call(key, completion.completion_tokens, cached)

    def planner_of(key: EpisodeKey, role: str) -> KVPlanner | None:
        return by_run[key.run].planner if role == "model" else None

    t_gen = time.time()
    with ExitStack() as stack:
        stores = {
            p.run_id: stack.enter_context(
                SampleStore(
                    p.run_dir / "generations.jsonl",
                    p.run_key,
                    p.meta,
                    reuse_from=find_stores(
                        p.cfg.results_dir, p.run_key, exclude=p.run_dir / "generations.jsonl"
                    ),
                )
            )
            for p in prepared
        }
        run_episodes(
            episodes,
            runners,
            stores,
            run_seed={p.run_id: p.cfg.seed for p in prepared},
            on_done=on_done,
            on_call=on_call,
            planners=planner_of,
        )
        reused = {run_id: store.hits for run_id, store in stores.items()}
    bar.close()
    gen_time = time.time() - t_gen
    return [RunOutputs(outputs[p.run_id], reused[p.run_id], gen_time) for p in prepared]


def _run_eval(
    cfg: RunConfig,
    runner: Runner | None,
    aux_runners: Mapping[str, Runner] | None,
    started: list[Path],
) -> RunResult:
    t_start = time.time()
    if runner is None:  # the model is named before any data is fetched, if it cannot be there
        profile = load_profile(cfg.runner)
        if not getattr(import_object(profile.runner), "remote_model", False):
            check_model(cfg.model or profile.model)
    plan = plan_run(cfg, frozenset(aux_runners or {}))
    own_runner = runner is None
    runner = runner or make_runner(plan.profile, plan.model_name)
    try:
        prepared = prepare_run(cfg, runner, aux_runners, plan=plan, t_start=t_start)
        started.append(prepared.run_dir)
        (generated,) = generate_runs([prepared], progress=cfg.progress)
    finally:
        if own_runner:
            runner.close()
    return finish_run(prepared, generated)


def finish_run(prepared: PreparedRun, generated: RunOutputs) -> RunResult:
    """Score the run's outputs and write samples.jsonl, errors.jsonl, metrics.json and the report;
    run.json then says `finished` (with `incomplete` when some samples failed)."""
    plan, cfg, run_dir, outputs = prepared.plan, prepared.cfg, prepared.run_dir, generated.outputs
    spec, planner, runner = plan.spec, prepared.planner, prepared.runners["model"]
    ctx = ScoreContext(spec=spec, reasoning_mode=cfg.mode == "reasoning")
    keys = prepared.keys
    by_id = {s.id: s for s in plan.samples}
    failed = [k for k in keys if outputs[k].final.finish_reason == "error"]
    records = [
        _record(by_id[k.sample_id], k.repeat, outputs[k], plan.family, ctx)
        for k in keys
        if outputs[k].final.finish_reason != "error"
    ]
    _atomic_write(run_dir / "samples.jsonl", "".join(dumps_line(x) for x in records))
    # Failed samples are not answers: listed apart, left out of every figure, retried by a rerun.
    errors = [error_record(k.sample_id, k.repeat, outputs[k]) for k in failed]
    if errors:
        _atomic_write(run_dir / "errors.jsonl", "".join(dumps_line(x) for x in errors))
    else:
        (run_dir / "errors.jsonl").unlink(missing_ok=True)

    info: RunInfo = {
        "incomplete": bool(errors),
        "errors": error_summary(errors, len(keys)),
        "task": spec.name,
        "title": spec.title,
        "benchmark": spec.published_benchmark,
        "mode": cfg.mode,
        "model": plan.model_name,
        "runner_profile": plan.profile.name,
        "runner": prepared.meta["runner"],
        "runner_args": plan.runner_args,
        "aux_runners": prepared.meta["aux_runners"],
        "placeholder_model": runner.is_placeholder_model,
        "reference_size": plan.profile.reference_size,
        "data_source": plan.source,
        "synthetic_data": plan.synthetic,
        "params": plan.params.to_dict(),
        "max_new_tokens_capped_by_profile": plan.capped,
        "seed": cfg.seed,
        "order_seed": cfg.order_seed,
        "run_id": prepared.run_id,
        "wall_time_s": time.time() - prepared.t_start,
        "generation_time_s": generated.generation_time_s,
        "calls_reused_from_store": generated.reused,
        # Requests per generate() call planned from the runner's KV-cache budget (None: the
        # runner reports none, so it batches on its own).
        "kv_plan": planner.record() if planner else None,
        "prompt_source": spec.prompt.get("source", ""),
        "evalkit_version": __version__,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    metrics = run_metrics(plan.family.aggregate(records, plan.n, spec), info)
    _atomic_write(run_dir / "metrics.json", json.dumps(metrics, indent=2, ensure_ascii=False))
    run_info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    # "finished" even when some samples failed: metrics.json (and the report) then say incomplete
    run_info.update(status="finished", finished=metrics["finished"], incomplete=bool(errors))
    run_info.pop("error", None)
    _atomic_write(run_dir / "run.json", json.dumps(run_info, indent=2, ensure_ascii=False))
    return RunResult(run_dir=run_dir, metrics=metrics, report_path=write_report(run_dir, metrics))
