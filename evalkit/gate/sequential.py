"""The sequential gate: sample in looks, stop each task as soon as its verdict is clear.

`evalkit gate POLICY --sequential --runner PROFILE [--model M]` runs the candidate (and,
if the policy compares with a reference that has no finished run, the reference runner)
on a growing, seeded random prefix of each task's items: look k evaluates the first
k × batch_items items of one fixed shuffled order, so every look reuses the calls of the
looks before it from the run's store. After each look the drop's bounds come from an
anytime-valid confidence sequence (`evalkit.stats.sequential`), which stays valid however
often it is looked at; a task stops when all its criteria are PASS or FAIL, when its items
run out, or at `sequential.max_items` (then it stays UNDECIDED). A quantized model that is
clearly fine, or clearly broken, is settled on a fraction of the benchmark.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evalkit.errors import UsageError
from evalkit.fidelity import FidelityResult
from evalkit.gate.decide import (
    DropBounds,
    check_fidelity,
    incomplete_block,
    placeholder_block,
    published_figure,
    select_run,
    truncation,
    verdict_from_bounds,
)
from evalkit.gate.policy import GatePolicy, TaskGate
from evalkit.gate.verdicts import UNDECIDED, GateResult, Verdict, apply_on_inconclusive
from evalkit.registry import get_task, list_tasks
from evalkit.reporting.runs import RunData, load_run
from evalkit.runners.base import Runner
from evalkit.stats import confidence_sequence

METHOD = "anytime-valid confidence sequence"
_OPEN = ("inconclusive", "too few items")  # undecided verdicts that more items can settle


@dataclass
class SequentialPlan:
    """What to run: the candidate's profile and model, and optionally a reference to run alongside."""

    runner: str
    model: str | None = None
    reference_runner: str | None = None
    reference_model: str | None = None
    data: str | None = None
    n: int | None = None
    max_new_tokens: int | None = None
    seed: int = 1234
    results_dir: Path | None = None
    progress: bool = False


def task_name(tg: TaskGate) -> str:
    """The task a policy entry runs: its `task`, or the one task whose spec names its benchmark."""
    if tg.task:
        return tg.task
    names = [t for t in list_tasks() if get_task(t).published_benchmark == tg.benchmark]
    if len(names) != 1:
        found = ", ".join(names) or "none"
        raise UsageError(f"benchmark {tg.benchmark!r} maps to {found}: name the task in the policy")
    return names[0]


def _ordered_item_means(run: RunData) -> tuple[list[str], dict[str, float]]:
    """Item ids in the run's (shuffled) order and each item's mean score."""
    order: list[str] = []
    sums: dict[str, list[float]] = {}
    for r in run.records():
        i = str(r["id"])
        if i not in sums:
            order.append(i)
            sums[i] = []
        sums[i].append(float(r["score"]))
    return order, {i: float(np.mean(v)) for i, v in sums.items()}


def sequential_bounds_published(cand: RunData, pub: float, confidence: float, look: int) -> DropBounds:
    order, means = _ordered_item_means(cand)
    x = np.array([means[i] for i in order])
    lo, hi = confidence_sequence(x, alpha_lower=1 - confidence, alpha_upper=1 - confidence)
    sd = float(np.std(x, ddof=1)) if x.size > 1 else float("nan")
    est = pub - 100 * float(x.mean())
    return DropBounds(
        est,
        pub - 100 * float(hi[-1]),
        pub - 100 * float(lo[-1]),
        confidence,
        f"{METHOD}, look {look}",
        int(x.size),
        sd,
    )


def sequential_bounds_paired(cand: RunData, ref: RunData, confidence: float, look: int) -> DropBounds | None:
    order, _ = _ordered_item_means(cand)
    ref_scores: dict[tuple[str, int], float] = {
        (str(r["id"]), int(r.get("repeat", 0))): float(r["score"]) for r in ref.records()
    }
    # Pair on (id, repeat) as the fixed gate does; an item's value is its mean paired drop.
    drops: dict[str, list[float]] = {}
    for r in cand.records():
        key = (str(r["id"]), int(r.get("repeat", 0)))
        if key in ref_scores:
            drops.setdefault(key[0], []).append(ref_scores[key] - float(r["score"]))
    x = np.array([np.mean(drops[i]) for i in order if i in drops])
    if x.size == 0:
        return None
    lo, hi = confidence_sequence(
        x, alpha_lower=1 - confidence, alpha_upper=1 - confidence, low=-1.0, high=1.0
    )
    sd = float(np.std(x, ddof=1)) if x.size > 1 else float("nan")
    return DropBounds(
        100 * float(x.mean()),
        100 * float(lo[-1]),
        100 * float(hi[-1]),
        confidence,
        f"paired {METHOD}, look {look}",
        int(x.size),
        sd,
    )


def run_sequential_gate(
    policy: GatePolicy,
    plan: SequentialPlan,
    reference_runs: Sequence[RunData] = (),
    fidelity: Sequence[FidelityResult] = (),
    *,
    log: Callable[[str], None] = print,
    make_runner: Callable[[str, str | None], Runner] | None = None,
) -> GateResult:
    """Run every task of `policy` in looks until its verdicts are clear; judge as the fixed gate does."""
    from evalkit.runners.profiles import load_profile
    from evalkit.runners.profiles import make_runner as _make

    def build(profile: str, model: str | None) -> Runner:
        return make_runner(profile, model) if make_runner else _make(load_profile(profile), model)

    seq = policy.sequential
    runners: dict[str, Runner] = {}
    verdicts: list[Verdict] = []
    try:
        for tg in policy.tasks:
            verdicts += _gate_task(tg, policy, plan, reference_runs, runners, build, log)
    finally:
        for r in runners.values():
            r.close()
    if policy.fidelity is not None:
        verdicts += check_fidelity(policy.fidelity, fidelity, policy)
    notes = [f"items in a seeded random order (order_seed {seq.order_seed}), {seq.batch_items} per look"]
    return GateResult(policy, verdicts, "sequential", notes)


def _gate_task(
    tg: TaskGate,
    policy: GatePolicy,
    plan: SequentialPlan,
    reference_runs: Sequence[RunData],
    runners: dict[str, Runner],
    build: Callable[[str, str | None], Runner],
    log: Callable[[str], None],
) -> list[Verdict]:
    from evalkit.pipeline import RunConfig, run_eval  # the pipeline imports the runners' stack

    seq = policy.sequential
    try:
        task = task_name(tg)
    except UsageError as e:  # a benchmark no task of this checkout runs (yet)
        return [Verdict(UNDECIDED, tg.label, "runs", str(e), reason="missing")]
    baseline, _ = select_run(reference_runs, tg, policy.reference) if tg.vs_reference else (None, 0)
    ref_profile = plan.reference_runner if tg.vs_reference is not None and baseline is None else None

    def evaluate(profile: str, model: str | None, limit: int) -> RunData:
        key = f"{profile}|{model}"
        if key not in runners:
            runners[key] = build(profile, model)
        cfg = RunConfig(
            task=task,
            runner=profile,
            model=model,
            mode=tg.mode,
            limit=limit,
            n=plan.n,
            max_new_tokens=plan.max_new_tokens,
            data=plan.data,
            seed=plan.seed,
            progress=plan.progress,
            order_seed=seq.order_seed,
        )
        if plan.results_dir is not None:
            cfg.results_dir = plan.results_dir
        return load_run(run_eval(cfg, runner=runners[key]).run_dir)

    look, items = 0, 0
    current: list[Verdict] = []
    cand: RunData | None = None
    while True:
        look += 1
        limit = look * seq.batch_items
        if seq.max_items is not None:
            limit = min(limit, seq.max_items)
        cand = evaluate(plan.runner, plan.model, limit)
        ref = baseline or (evaluate(ref_profile, plan.reference_model, limit) if ref_profile else None)
        exhausted = (
            cand.n_items <= items
            or cand.n_items < limit
            or (seq.max_items is not None and limit >= seq.max_items)
        )
        items = cand.n_items
        current = _judge_look(tg, cand, ref, look, policy)
        open_ = [v for v in current if v.status == UNDECIDED and v.reason in _OPEN]
        log(
            f"  {tg.label} look {look}: {items} items; "
            + "; ".join(f"{v.criterion} {v.status}" for v in current)
        )
        if not open_ or exhausted:
            break
    assert cand is not None
    why = "all there are" if cand.n_items < limit else "max_items"
    for v in current:
        if v.reason == "inconclusive":
            v.hint = f"stopped after {items} items ({why}); " + v.hint
    if tg.max_truncation_rate is not None and not cand.metrics.get("incomplete"):
        current.insert(0, truncation(tg, cand))
    return [apply_on_inconclusive(v, policy) for v in current]


def _judge_look(
    tg: TaskGate, cand: RunData, ref: RunData | None, look: int, policy: GatePolicy
) -> list[Verdict]:
    blocked = incomplete_block(tg, "runs", cand, ref)
    if blocked:  # more items cannot settle it: the look stops here
        return [blocked]
    out: list[Verdict] = []
    if tg.vs_published is not None:
        limit = tg.vs_published
        pub = published_figure(cand)
        blocked = placeholder_block(tg, cand, "vs published")
        if pub is None:
            out.append(Verdict(UNDECIDED, tg.label, "vs published", "no published figure", reason="missing"))
        elif blocked:
            out.append(blocked)
        else:
            b = sequential_bounds_published(cand, pub, limit.confidence, look)
            out.append(
                _with_min_items(
                    tg,
                    verdict_from_bounds(
                        tg,
                        "vs published",
                        limit,
                        b,
                        f"measured {pub - b.estimate:.1f} vs published {pub:.1f}: ",
                        [cand.run_id],
                    ),
                )
            )
    if tg.vs_reference is not None:
        limit = tg.vs_reference
        if ref is None:
            out.append(
                Verdict(
                    UNDECIDED,
                    tg.label,
                    "vs reference",
                    f"no reference run ({policy.reference.describe()}) and no --reference-runner to run one",
                    reason="missing",
                    runs=[cand.run_id],
                )
            )
        else:
            b2 = sequential_bounds_paired(cand, ref, limit.confidence, look)
            if b2 is None:
                out.append(
                    Verdict(
                        UNDECIDED,
                        tg.label,
                        "vs reference",
                        f"runs {cand.run_id} and {ref.run_id} share no (id, repeat) pairs",
                        reason="missing",
                        runs=[cand.run_id, ref.run_id],
                    )
                )
            else:
                out.append(
                    _with_min_items(
                        tg, verdict_from_bounds(tg, "vs reference", limit, b2, "", [cand.run_id, ref.run_id])
                    )
                )
    return out


def _with_min_items(tg: TaskGate, v: Verdict) -> Verdict:
    """A decision needs min_items; before that the verdict stays open."""
    n = int(v.numbers.get("n_items", 0))
    if v.status != UNDECIDED and n < tg.min_items:
        v.message = f"(not before min_items {tg.min_items}) " + v.message
        v.status, v.reason = UNDECIDED, "too few items"
    return v
