"""LiveCodeBench code generation: the official chat prompt, the last fenced block, graded in the sandbox.

Rows are `livecodebench/code_generation_lite` problems (evalkit.benchmarks.livecodebench.problems); the
program is run on public + private tests by evalkit.benchmarks.livecodebench.grade with the official
runner's rules, inside evalkit.sandbox. A sample is correct iff every test passes; the
metric is pass@1 averaged over the n samples of each problem (the official pass@1 with
k=1 is exactly c/n), with pass@k for the other k the repeats allow.
"""

from __future__ import annotations

import functools

from evalkit.benchmarks.livecodebench.extract import last_fenced_block
from evalkit.benchmarks.livecodebench.grade import DEFAULT_TIMEOUT_S, grade
from evalkit.benchmarks.livecodebench.problems import Problem, parse_problem
from evalkit.data import Row
from evalkit.families import ScoreContext
from evalkit.families.base import BuildContext
from evalkit.families.defaults import inline_sample as inline_sample
from evalkit.families.defaults import output_from_response as output_from_response
from evalkit.families.defaults import solver as solver
from evalkit.families.defaults import verdict_row as verdict_row
from evalkit.metrics import aggregate as default_aggregate
from evalkit.prompts import render_prompt
from evalkit.records import Message, Sample, Verdict
from evalkit.run_records import FamilyMetrics, SampleRecord
from evalkit.sandbox import Sandbox
from evalkit.solvers import EpisodeOutput
from evalkit.specs import TaskSpec


@functools.lru_cache(maxsize=1)
def sandbox() -> Sandbox:
    """One sandbox per process, created (and its isolation probed) on first use."""
    return Sandbox()


def build_sample(row: Row, spec: TaskSpec, ctx: BuildContext) -> Sample:
    where = ctx.where
    problem = parse_problem(row.fields, where, row.index + 1)
    fmt = "functional" if problem.starter_code else "stdin"
    user = render_prompt(
        spec.prompt["template"],
        question_content=problem.content,
        starter_code=problem.starter_code,
        format=fmt,
    )
    messages: list[Message] = []
    if spec.prompt.get("system"):
        messages.append({"role": "system", "content": str(spec.prompt["system"]).strip()})
    messages.append({"role": "user", "content": user})
    return Sample(
        id=row.id,
        messages=messages,
        target=f"{len(problem.tests)} tests",
        metadata={
            "subject": problem.difficulty,
            "problem": problem,
            "platform": problem.platform,
            "contest_date": problem.contest_date.isoformat(),
        },
    )


def score(sample: Sample, output: EpisodeOutput, ctx: ScoreContext) -> Verdict:
    c = output.final
    split = ctx.split(c)
    if split.unclosed_think:
        return Verdict(None, False, "no answer: the think block never closed")
    code = last_fenced_block(split.answer or "")
    if not code.strip():
        return Verdict(None, False, "no code: fewer than two ``` fence lines in the answer")
    problem: Problem = sample.metadata["problem"]
    timeout = int(ctx.spec.scoring.get("timeout_s", DEFAULT_TIMEOUT_S))
    res = grade(sandbox(), problem, code, timeout_s=timeout)
    return Verdict(
        extracted=code,
        correct=res.passed,
        reason=res.reason,
        score=1.0 if res.passed else 0.0,
        details={"results": res.results, "sandbox": res.sandbox, "isolation": sandbox().level},
    )


def aggregate(records: list[SampleRecord], n_repeats: int, spec: TaskSpec) -> FamilyMetrics:
    out = default_aggregate(records, n_repeats=n_repeats)
    try:
        from evalkit.stats.passk import default_ks, pass_at_k_estimate
    except ImportError:  # pragma: no cover - the pass@k module is optional
        return out
    by_item: dict[str, list[bool]] = {}
    for r in records:
        by_item.setdefault(r["id"], []).append(bool(r["correct"]))
    if by_item and min(len(v) for v in by_item.values()) == n_repeats:
        out["pass_at_k"] = {
            f"pass@{k}": {"value": (e := pass_at_k_estimate(by_item, k)).mean, "se": e.se}
            for k in default_ks(n_repeats)
        }
    isolation = {r["details"].get("isolation") for r in records if r["details"]} - {None}
    out["sandbox_isolation"] = sorted(str(x) for x in isolation)
    return out
