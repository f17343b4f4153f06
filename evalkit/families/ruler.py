"""RULER: samples generated per model from a plan of (task, index, length) rows, scored by
RULER's string match (all-match for needle, variable-tracking and word tasks, part-match
for QA); the task score is the mean of the 13 task means (RULER's per-length average)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from evalkit.benchmarks.ruler import metrics
from evalkit.benchmarks.ruler.samples import generated
from evalkit.benchmarks.ruler.tasks import TASKS
from evalkit.data import Row
from evalkit.errors import DataError
from evalkit.families import ScoreContext
from evalkit.families.base import BuildContext
from evalkit.families.defaults import inline_sample as inline_sample
from evalkit.families.defaults import output_from_response as output_from_response
from evalkit.families.defaults import solver as solver
from evalkit.families.defaults import verdict_row as verdict_row
from evalkit.metrics import aggregate as default_aggregate
from evalkit.records import Sample, Verdict
from evalkit.run_records import FamilyMetrics, SampleRecord
from evalkit.solvers import EpisodeOutput
from evalkit.specs import TaskSpec
from evalkit.stats import Z95


def corpus_dir(spec: TaskSpec) -> Path:
    """EVALKIT_RULER_CORPUS, else the spec's extra.corpus_dir (relative to the repository root)."""
    env = os.environ.get("EVALKIT_RULER_CORPUS")
    if env:
        return Path(env).expanduser()
    return (spec.tasks_dir.parent / str(spec.extra.get("corpus_dir", "../shared/data/ruler"))).resolve()


def _field(row: Row, name: str, kind: type, where: str) -> Any:
    v = row.fields.get(name)
    if not isinstance(v, kind) or isinstance(v, bool):
        raise DataError(where, row.index + 1, name, f"expected {kind.__name__}, got {v!r}")
    return v


def build_sample(row: Row, spec: TaskSpec, ctx: BuildContext) -> Sample:
    where = ctx.where
    task = _field(row, "task", str, where)
    if task not in TASKS:
        raise DataError(
            where, row.index + 1, "task", f"unknown RULER task {task!r} (known: {', '.join(TASKS)})"
        )
    index, length = _field(row, "index", int, where), _field(row, "length", int, where)
    if index < 0 or length < 1024:
        raise DataError(where, row.index + 1, "length", "index must be >= 0 and length >= 1024")
    want = row.fields.get("num_samples", index + 1)
    s = generated(
        ctx.tokenizer(spec.name),
        task,
        length,
        index,
        want=int(want),
        seed=int(spec.extra.get("seed", 42)),
        corpus=corpus_dir(spec),
    )
    # The answer prefix is pre-filled inside the assistant turn upstream; chat requests here
    # cannot pre-fill, so `prompt.answer_prefix: user` appends it to the user turn and `omit`
    # (the default) leaves it out; it is kept in the metadata either way.
    content = s.input + (s.answer_prefix if spec.prompt.get("answer_prefix") == "user" else "")
    kind = TASKS[task]
    return Sample(
        id=row.id,
        messages=[{"role": "user", "content": content}],
        target=list(s.outputs),
        metadata={
            "subject": task,
            "length": length,
            "generated_tokens": s.length,
            "answer_prefix": s.answer_prefix,
            "max_new_tokens": kind.spec.tokens_to_generate,  # the generic solver caps the call with it
            "match": kind.spec.metric,
        },
    )


def score(sample: Sample, output: EpisodeOutput, ctx: ScoreContext) -> Verdict:
    c = output.final
    split = ctx.split(c)
    if split.answer is None:
        return Verdict(None, False, "no answer (unclosed think block)", 0.0)
    refs = list(sample.target)
    fn = metrics.string_match_all if sample.metadata["match"] == "all" else metrics.string_match_part
    value = fn(split.answer, refs)
    found = [r for r in refs if r.lower() in metrics.postprocess(split.answer).lower()]
    return Verdict(
        metrics.postprocess(split.answer)[:200],
        value >= 1.0,
        f"{len(found)}/{len(refs)} references found ({sample.metadata['match']}-match)",
        value,
        {"found": found, "length": sample.metadata["length"]},
    )


def aggregate(records: list[SampleRecord], n_repeats: int, spec: TaskSpec) -> FamilyMetrics:
    """Per-task means, and the headline = unweighted mean of the task means (as RULER averages)."""
    out = default_aggregate(records, n_repeats=n_repeats)
    groups = out["breakdown"]["groups"]
    means = [g["value"] for g in groups.values()]
    out["value"] = sum(means) / len(means)
    out["se"] = math.sqrt(sum(g["se"] ** 2 for g in groups.values())) / len(means)
    out["ci95"] = [out["value"] - Z95 * out["se"], out["value"] + Z95 * out["se"]]
    out["metric"] = f"string-match, mean of {len(means)} task means"
    out["lengths"] = sorted({int(r["details"]["length"]) for r in records if "length" in r["details"]})
    return out
