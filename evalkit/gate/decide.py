"""Judging finished runs against a policy (the fixed-sample gate).

For every task of the policy: find the candidate run (and the reference run, for paired
criteria), then judge each criterion on one-sided confidence bounds of the drop. Bounds
come from `evalkit.reporting.compare` at two-sided level 2c − 1, so each end is a
one-sided bound at the policy's confidence c.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from evalkit.errors import UsageError
from evalkit.fidelity import FidelityResult
from evalkit.gate.policy import DropLimit, FidelityLimits, GatePolicy, RunFilter, TaskGate
from evalkit.gate.verdicts import FAIL, PASS, UNDECIDED, GateResult, Verdict, apply_on_inconclusive, judge
from evalkit.published import lookup
from evalkit.registry import get_task, list_tasks
from evalkit.reporting.compare import measured_interval, paired_comparison
from evalkit.reporting.run_report import failed_text
from evalkit.reporting.runs import RunData
from evalkit.stats import items_to_resolve, two_sided_level
from evalkit.wording import plural


@dataclass(frozen=True)
class DropBounds:
    """A drop (percentage points; positive = worse) with one-sided bounds at `confidence`."""

    estimate: float
    low: float
    high: float
    confidence: float
    method: str
    n_items: int
    sd: float  # spread of the per-item values (fractions), for "items needed" hints


def select_run(
    pool: Sequence[RunData], tg: TaskGate, role: RunFilter, exclude: RunData | None = None
) -> tuple[RunData | None, int]:
    """The run of `pool` that `tg` and `role` select, and how many other runs matched.

    Several matches: the one with the most samples, then the latest finished.
    """
    matches = [
        r
        for r in pool
        if tg.selects(r.metrics) and role.matches(r.metrics) and (exclude is None or r.path != exclude.path)
    ]
    if not matches:
        return None, 0
    best = max(matches, key=lambda r: (int(r.metrics.get("n_samples", 0)), r.finished))
    return best, len(matches) - 1


_SHORT_METHODS = (
    ("confidence sequence", "confidence sequence"),
    ("Tango", "Tango score"),
    ("Clopper", "exact Clopper-Pearson"),
    ("paired cluster bootstrap", "paired bootstrap"),
    ("cluster bootstrap", "cluster bootstrap"),
    ("paired normal", "paired normal"),
    ("normal", "normal"),
)


def short_method(method: str) -> str:
    """The method's name for a one-line verdict (the JSON keeps the full description)."""
    return next((short for key, short in _SHORT_METHODS if key in method), method)


def _task_hint(tg: TaskGate) -> str:
    if tg.task:
        return tg.task
    names = [t for t in list_tasks() if get_task(t).published_benchmark == tg.benchmark]
    return names[0] if len(names) == 1 else "<a task for " + str(tg.benchmark) + ">"


def published_figure(run: RunData) -> float | None:
    if not run.benchmark:
        return None
    row = lookup(run.benchmark, run.mode, run.reference_size)
    return row[0].value if row and row[0].value is not None else None


def placeholder_block(tg: TaskGate, run: RunData, criterion: str) -> Verdict | None:
    if tg.allow_placeholder or not (run.placeholder or run.synthetic_data):
        return None
    what = "the embedded tiny placeholder model" if run.placeholder else "synthetic sample data"
    return Verdict(
        UNDECIDED,
        tg.label,
        criterion,
        f"run {run.run_id} used {what}: a comparison with the published figure means nothing",
        reason="placeholder",
        hint="run the real model on the real data (or set allow_placeholder: true to exercise the gate)",
        runs=[run.run_id],
    )


def incomplete_block(tg: TaskGate, criterion: str, *runs: RunData | None) -> Verdict | None:
    """An incomplete run (some samples failed: errors, not answers) decides nothing."""
    for run in runs:
        if run is None or not run.metrics.get("incomplete"):
            continue
        return Verdict(
            UNDECIDED,
            tg.label,
            criterion,
            f"run {run.run_id} is incomplete: {failed_text(run.metrics)} (errors, not answers)",
            reason="incomplete",
            hint="rerun the same command to retry the failed requests (its errors.jsonl lists them)",
            numbers=dict(run.metrics.get("errors") or {}),
            runs=[r.run_id for r in runs if r is not None],
        )
    return None


def _too_few(tg: TaskGate, n_items: int, criterion: str, runs: list[str]) -> Verdict | None:
    if n_items >= tg.min_items:
        return None
    return Verdict(
        UNDECIDED,
        tg.label,
        criterion,
        f"too few items: {n_items} < min_items {tg.min_items}",
        reason="too few items",
        hint=f"evaluate at least {tg.min_items} items (LIMIT= too small?)",
        numbers={"n_items": n_items, "min_items": tg.min_items},
        runs=runs,
    )


def verdict_from_bounds(
    tg: TaskGate,
    criterion: str,
    limit: DropLimit,
    b: DropBounds,
    prefix: str,
    runs: list[str],
    extra: str = "",
) -> Verdict:
    """PASS / FAIL / UNDECIDED from one-sided bounds of the drop, with its one-line explanation."""
    status = judge(b.low, b.high, limit.max_drop)
    pct = f"{100 * b.confidence:g}%"
    if status == PASS:
        why = f"{pct} upper bound {b.high:+.2f} <= allowed {limit.max_drop:g}"
    elif status == FAIL:
        why = f"{pct} lower bound {b.low:+.2f} > allowed {limit.max_drop:g}"
    else:
        why = f"{pct} bounds [{b.low:+.2f}, {b.high:+.2f}] straddle allowed {limit.max_drop:g}"
    msg = f"{prefix}drop {b.estimate:+.2f} pts; {why} ({short_method(b.method)}, {b.n_items} items{extra})"
    hint = ""
    if status == UNDECIDED:
        need = items_to_resolve(b.sd, abs(limit.max_drop - b.estimate) / 100, b.confidence)
        hint = (
            f"about {need:,} items would decide it at this spread (have {b.n_items}); "
            "more repeats per item also narrow it"
            if need
            else "the estimate sits on the allowance: more items, or a policy decision"
        )
    return Verdict(
        status,
        tg.label,
        criterion,
        msg,
        reason="inconclusive" if status == UNDECIDED else "",
        hint=hint,
        numbers={
            "drop": b.estimate,
            "drop_lower": b.low,
            "drop_upper": b.high,
            "allowed": limit.max_drop,
            "confidence": b.confidence,
            "method": b.method,
            "n_items": b.n_items,
        },
        runs=runs,
    )


def vs_published(tg: TaskGate, limit: DropLimit, cand: RunData) -> Verdict:
    crit = "vs published"
    pub = published_figure(cand)
    if pub is None:
        return Verdict(
            UNDECIDED,
            tg.label,
            crit,
            f"no published figure for {cand.benchmark or cand.task} ({cand.mode}, {cand.reference_size})",
            reason="missing",
            runs=[cand.run_id],
        )
    blocked = placeholder_block(tg, cand, crit) or _too_few(tg, cand.n_items, crit, [cand.run_id])
    if blocked:
        return blocked
    m = measured_interval(cand, two_sided_level(limit.confidence), limit.method)
    iv = m.interval
    b = DropBounds(
        pub - 100 * iv.estimate,
        pub - 100 * iv.high,
        pub - 100 * iv.low,
        limit.confidence,
        iv.method,
        m.n_items,
        m.sd,
    )
    reps = cand.metrics.get("n_repeats", 1)
    return verdict_from_bounds(
        tg,
        crit,
        limit,
        b,
        f"measured {100 * iv.estimate:.1f} vs published {pub:.1f}: ",
        [cand.run_id],
        f" × {reps} repeats" if reps and reps > 1 else "",
    )


def vs_reference(
    tg: TaskGate, limit: DropLimit, cand: RunData, ref: RunData | None, ref_filter: str
) -> Verdict:
    crit = "vs reference"
    if ref is None:
        return Verdict(
            UNDECIDED,
            tg.label,
            crit,
            f"no reference run among {ref_filter}",
            reason="missing",
            hint="run the reference (e.g. the bf16 model) on the same task, mode and seed, "
            "or pass --reference",
            runs=[cand.run_id],
        )
    if not (cand.has_samples and ref.has_samples):
        missing = cand if not cand.has_samples else ref
        return Verdict(
            UNDECIDED,
            tg.label,
            crit,
            f"run {missing.run_id} has no samples.jsonl: a paired comparison needs per-sample records",
            reason="missing",
            runs=[cand.run_id, ref.run_id],
        )
    blocked = incomplete_block(tg, crit, cand, ref)
    if blocked:
        return blocked
    try:
        pc = paired_comparison(cand, ref, two_sided_level(limit.confidence), limit.method)
    except UsageError as e:
        return Verdict(UNDECIDED, tg.label, crit, str(e), reason="missing", runs=[cand.run_id, ref.run_id])
    runs = [cand.run_id, ref.run_id]
    blocked = _too_few(tg, pc.paired.n_items, crit, runs)
    if blocked:
        return blocked
    iv = pc.interval
    b = DropBounds(
        -100 * iv.estimate,
        -100 * iv.high,
        -100 * iv.low,
        limit.confidence,
        iv.method,
        pc.paired.n_items,
        pc.sd,
    )
    extra = ""
    if pc.mcnemar is not None:
        extra += (
            f"; exact McNemar p {pc.mcnemar.p_two_sided:.3g} ({pc.mcnemar.candidate_wins} won, "
            f"{pc.mcnemar.reference_wins} lost)"
        )
    if not pc.seeds_match:
        extra += "; seeds differ"
    if pc.paired.only_candidate or pc.paired.only_reference:
        extra += f"; {pc.paired.only_candidate + pc.paired.only_reference} unpaired samples left out"
    v = verdict_from_bounds(
        tg,
        crit,
        limit,
        b,
        f"{100 * pc.paired.candidate.mean():.1f} vs reference {100 * pc.paired.reference.mean():.1f}: ",
        runs,
        extra,
    )
    if pc.mcnemar is not None:
        v.numbers["mcnemar_p"] = pc.mcnemar.p_two_sided
    return v


def truncation(tg: TaskGate, cand: RunData) -> Verdict:
    rate = float(cand.metrics.get("truncation_rate") or 0.0)
    limit = tg.max_truncation_rate
    assert limit is not None
    budget = (cand.metrics.get("params") or {}).get("max_new_tokens")
    ok = rate <= limit
    return Verdict(
        PASS if ok else FAIL,
        tg.label,
        "truncation",
        f"{100 * rate:.1f}% of samples hit max_new_tokens={budget} "
        f"({'<=' if ok else '>'} allowed {100 * limit:.1f}%)",
        hint="" if ok else "a truncated answer scores 0: raise MAX_NEW_TOKENS before trusting the score",
        numbers={"truncation_rate": rate, "allowed": limit},
        runs=[cand.run_id],
    )


def check_task(
    tg: TaskGate, policy: GatePolicy, runs: Sequence[RunData], reference_pool: Sequence[RunData]
) -> list[Verdict]:
    cand, others = select_run(runs, tg, policy.candidate)
    if cand is None:
        return [
            Verdict(
                UNDECIDED,
                tg.label,
                "runs",
                f"no candidate run ({policy.candidate.describe()}) among {plural(len(runs), 'run')}",
                reason="missing",
                hint=f"run it: make eval TASK={_task_hint(tg)} MODE={tg.mode}"
                + (f" RUNNER={policy.candidate.runner_profile}" if policy.candidate.runner_profile else ""),
            )
        ]
    blocked = incomplete_block(tg, "runs", cand)
    if blocked:
        return [blocked]
    out: list[Verdict] = []
    if tg.max_truncation_rate is not None:
        out.append(truncation(tg, cand))
    if tg.vs_published is not None:
        out.append(vs_published(tg, tg.vs_published, cand))
    if tg.vs_reference is not None:
        ref, _ = select_run(reference_pool, tg, policy.reference, exclude=cand)
        where = f"{len(reference_pool)} reference runs ({policy.reference.describe()})"
        out.append(vs_reference(tg, tg.vs_reference, cand, ref, where))
    if others:
        for v in out:
            v.message += f" [{others} other matching run(s) ignored]"
    return [apply_on_inconclusive(v, policy) for v in out]


def check_fidelity(
    limits: FidelityLimits, results: Sequence[FidelityResult], policy: GatePolicy
) -> list[Verdict]:
    if not results:
        return [
            Verdict(
                UNDECIDED,
                "fidelity",
                "runs",
                "the policy has fidelity limits but no fidelity result was given",
                reason="missing",
                hint="run `evalkit fidelity ... --out F.json` and pass --fidelity F.json",
            )
        ]
    out: list[Verdict] = []
    level = two_sided_level(limits.confidence)
    pct = f"{100 * limits.confidence:g}%"
    for r in results:
        label = f"fidelity {r.candidate.get('model', '?')} vs {r.reference.get('model', '?')}"
        if r.placeholder_model and not limits.allow_placeholder:
            out.append(
                Verdict(
                    UNDECIDED,
                    label,
                    "fidelity",
                    "placeholder model: figures describe the tiny model",
                    reason="placeholder",
                )
            )
            continue
        if limits.max_mean_kl is not None:
            kl = r.kl_interval(level)
            status = judge(kl.low, kl.high, limits.max_mean_kl)
            bound = kl.high if status == PASS else kl.low
            out.append(
                apply_on_inconclusive(
                    Verdict(
                        status,
                        label,
                        "mean KL",
                        f"mean KL {kl.estimate:.4g} nats/token, {pct} bounds "
                        f"[{kl.low:.4g}, {kl.high:.4g}] vs allowed {limits.max_mean_kl:g} "
                        f"({len(r.texts)} texts, {r.tokens} tokens; "
                        f"{'upper' if status == PASS else 'lower'} bound {bound:.4g})",
                        reason="inconclusive" if status == UNDECIDED else "",
                        numbers={
                            "mean_kl": kl.estimate,
                            "lower": kl.low,
                            "upper": kl.high,
                            "allowed": limits.max_mean_kl,
                        },
                    ),
                    policy,
                )
            )
        if limits.min_top1_agreement is not None:
            t1 = r.top1_interval(level)
            # A shortfall below the minimum is the "drop": judge 1 - agreement against 1 - minimum.
            status = judge(1 - t1.high, 1 - t1.low, 1 - limits.min_top1_agreement)
            out.append(
                apply_on_inconclusive(
                    Verdict(
                        status,
                        label,
                        "top-1",
                        f"top-1 agreement {100 * t1.estimate:.2f}%, {pct} bounds [{100 * t1.low:.2f}, "
                        f"{100 * t1.high:.2f}] vs required {100 * limits.min_top1_agreement:g}%",
                        reason="inconclusive" if status == UNDECIDED else "",
                        numbers={
                            "top1": t1.estimate,
                            "lower": t1.low,
                            "upper": t1.high,
                            "required": limits.min_top1_agreement,
                        },
                    ),
                    policy,
                )
            )
    return out


def evaluate_gate(
    policy: GatePolicy,
    runs: Sequence[RunData],
    reference_runs: Sequence[RunData] = (),
    fidelity: Sequence[FidelityResult] = (),
) -> GateResult:
    """Judge finished runs (and fidelity results) against every criterion of `policy`.

    `reference_runs` is the pool reference runs are chosen from; when empty, the
    candidate pool is used (the policy's reference filter tells the roles apart).
    """
    pool = list(reference_runs) or list(runs)
    # A run given as a reference is never judged as a candidate (both may sit in one folder).
    ref_paths = {r.path.resolve() for r in reference_runs}
    candidates = [r for r in runs if r.path.resolve() not in ref_paths]
    verdicts: list[Verdict] = []
    for tg in policy.tasks:
        verdicts += check_task(tg, policy, candidates, pool)
    if policy.fidelity is not None:
        verdicts += check_fidelity(policy.fidelity, fidelity, policy)
    return GateResult(policy, verdicts, "fixed")
