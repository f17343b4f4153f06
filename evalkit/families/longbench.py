"""LongBench v1 (English and code tasks): LongBench's per-task prompt, middle truncation by the
model's tokens before the chat template, per-task output length, LongBench's metrics, and
its averaging (mean of category means, each category the mean of its tasks)."""

from __future__ import annotations

from evalkit.benchmarks.longbench import metrics as M
from evalkit.benchmarks.longbench.prompts import max_new_tokens, prompts
from evalkit.data import Row
from evalkit.errors import DataError
from evalkit.families import ScoreContext
from evalkit.families.base import BuildContext
from evalkit.families.defaults import inline_sample as inline_sample
from evalkit.families.defaults import output_from_response as output_from_response
from evalkit.families.defaults import solver as solver
from evalkit.families.defaults import verdict_row as verdict_row
from evalkit.longctx.truncation import middle_truncate
from evalkit.metrics import aggregate as default_aggregate
from evalkit.records import Sample, Verdict
from evalkit.run_records import FamilyMetrics, SampleRecord
from evalkit.solvers import EpisodeOutput
from evalkit.specs import TaskSpec
from evalkit.wording import plural


def build_sample(row: Row, spec: TaskSpec, ctx: BuildContext) -> Sample:
    where = ctx.where
    f, line = row.fields, row.index + 1
    dataset = f.get("dataset")
    if dataset not in M.METRICS:
        raise DataError(where, line, "dataset", f"{dataset!r} is not a LongBench English/code task")
    for key in ("input", "context"):
        if not isinstance(f.get(key), str):
            raise DataError(where, line, key, "missing or not a string")
    answers = f.get("answers")
    if not isinstance(answers, list) or not answers or not all(isinstance(a, str) for a in answers):
        raise DataError(where, line, "answers", "expected a non-empty list of strings")
    text = prompts()[dataset].format(input=f["input"], context=f["context"])
    cut = middle_truncate(ctx.tokenizer(spec.name), text, int(spec.extra.get("max_input_tokens", 127500)))
    return Sample(
        id=row.id,
        messages=[{"role": "user", "content": cut.text}],
        target=list(answers),
        metadata={
            "subject": dataset,
            "all_classes": list(f.get("all_classes") or []),
            "max_new_tokens": max_new_tokens()[dataset],
            "prompt_tokens_before_truncation": cut.tokens_before,
            "middle_truncated": cut.truncated,
        },
    )


def score(sample: Sample, output: EpisodeOutput, ctx: ScoreContext) -> Verdict:
    c = output.final
    split = ctx.split(c)
    if split.answer is None:
        return Verdict(None, False, "no answer (unclosed think block)", 0.0)
    dataset = sample.metadata["subject"]
    value = M.sample_score(dataset, split.answer, list(sample.target), sample.metadata["all_classes"])
    return Verdict(
        split.answer[:300],
        value >= 1.0,
        f"{M.METRICS[dataset].__name__} = {value:.3f}",
        value,
        {"middle_truncated": sample.metadata["middle_truncated"]},
    )


def aggregate(records: list[SampleRecord], n_repeats: int, spec: TaskSpec) -> FamilyMetrics:
    """LongBench's English average: the mean of category means (README leaderboard)."""
    out = default_aggregate(records, n_repeats=n_repeats)
    tasks = {k: g["value"] for k, g in out["breakdown"]["groups"].items()}
    cats = {
        name: sum(tasks[t] for t in members if t in tasks) / sum(1 for t in members if t in tasks)
        for name, members in M.CATEGORIES.items()
        if any(t in tasks for t in members)
    }
    out["categories"] = cats
    out["value"] = sum(cats.values()) / len(cats)
    out["metric"] = f"LongBench score, mean of {plural(len(cats), 'category mean')}"
    out["middle_truncated_rate"] = sum(1 for r in records if r["details"].get("middle_truncated")) / len(
        records
    )
    return out
