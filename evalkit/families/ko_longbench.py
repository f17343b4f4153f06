"""Ko-LongBench: LG's in-house Korean long-context benchmark, read from a user's local copy in
evalkit's own schema (NOT LG's, which is unpublished; see docs/long-context.md).

Schema, one JSON object per line: `id` (str), `category` (str, e.g. document_qa, dialogue,
table_qa), `context` (str), `question` (str), `answers` (non-empty list of str; a single
`answer` string is accepted too), optional `metric` ("subem", the default, or "char_f1").
The prompt is middle-truncated in the model's tokens to extra.max_input_tokens before the chat
template (LongBench's rule). The headline is the unweighted mean of category means.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from typing import Any

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
from evalkit.prompts import render_prompt
from evalkit.records import Sample, Verdict
from evalkit.run_records import FamilyMetrics, SampleRecord
from evalkit.solvers import EpisodeOutput
from evalkit.specs import TaskSpec
from evalkit.wording import plural

METRICS = ("subem", "char_f1")
_PUNCT = set(string.punctuation) | set("·…“”‘’「」『』〈〉《》、。")


def normalize(text: str) -> str:
    """NFKC, lower case, no punctuation, single spaces (Korean has no articles to drop)."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    return " ".join(text.split())


def subem(prediction: str, answers: list[str]) -> float:
    """Substring exact match: 1.0 if any normalised answer occurs in the normalised prediction."""
    pred = normalize(prediction)
    return 1.0 if any(normalize(a) and normalize(a) in pred for a in answers) else 0.0


def char_f1(prediction: str, answers: list[str]) -> float:
    """KorQuAD-style character F1 (whitespace removed), the max over the answers."""

    def f1(pred: str, gold: str) -> float:
        p, g = list(re.sub(r"\s", "", normalize(pred))), list(re.sub(r"\s", "", normalize(gold)))
        same = sum((Counter(p) & Counter(g)).values())
        if same == 0:
            return 0.0
        precision, recall = same / len(p), same / len(g)
        return 2 * precision * recall / (precision + recall)

    return max((f1(prediction, a) for a in answers), default=0.0)


def _answers(f: dict[str, Any], where: str, line: int) -> list[str]:
    if "answers" in f:
        a = f["answers"]
        if not isinstance(a, list) or not a or not all(isinstance(x, str) and x.strip() for x in a):
            raise DataError(where, line, "answers", "expected a non-empty list of non-empty strings")
        return list(a)
    if isinstance(f.get("answer"), str) and f["answer"].strip():
        return [f["answer"]]
    raise DataError(where, line, "answers", "missing (give `answers`, a list, or `answer`, a string)")


def build_sample(row: Row, spec: TaskSpec, ctx: BuildContext) -> Sample:
    where = ctx.where
    f, line = row.fields, row.index + 1
    for key in ("category", "context", "question"):
        if not isinstance(f.get(key), str) or not f[key].strip():
            raise DataError(where, line, key, "missing, empty or not a string")
    metric = f.get("metric") or "subem"
    if metric not in METRICS:
        raise DataError(where, line, "metric", f"{metric!r} is not one of {', '.join(METRICS)}")
    answers = _answers(f, where, line)
    text = render_prompt(spec.prompt["template"], context=f["context"], question=f["question"])
    cut = middle_truncate(ctx.tokenizer(spec.name), text, int(spec.extra.get("max_input_tokens", 127500)))
    return Sample(
        id=row.id,
        messages=[{"role": "user", "content": cut.text}],
        target=answers,
        metadata={
            "subject": f["category"],
            "metric": metric,
            "max_new_tokens": int(spec.extra.get("answer_max_new_tokens", 256)),
            "prompt_tokens_before_truncation": cut.tokens_before,
            "middle_truncated": cut.truncated,
        },
    )


def score(sample: Sample, output: EpisodeOutput, ctx: ScoreContext) -> Verdict:
    c = output.final
    split = ctx.split(c)
    if split.answer is None:
        return Verdict(None, False, "no answer (unclosed think block)", 0.0)
    metric = sample.metadata["metric"]
    answers = list(sample.target)
    value = subem(split.answer, answers) if metric == "subem" else char_f1(split.answer, answers)
    return Verdict(
        split.answer[:300],
        value >= 1.0,
        f"{metric} = {value:.3f}",
        value,
        {"middle_truncated": sample.metadata["middle_truncated"], "metric": metric},
    )


def aggregate(records: list[SampleRecord], n_repeats: int, spec: TaskSpec) -> FamilyMetrics:
    """Unweighted mean of category means (evalkit's choice; LG's averaging is unknown)."""
    out = default_aggregate(records, n_repeats=n_repeats)
    cats = {k: g["value"] for k, g in out["breakdown"]["groups"].items()}
    out["categories"] = cats
    if cats:
        out["value"] = sum(cats.values()) / len(cats)
    out["metric"] = f"mean of {plural(len(cats), 'category mean')} (evalkit's schema and metrics, not LG's)"
    out["reproducible"] = False
    out["note"] = (
        "The card's Ko-LongBench figure is from LG's in-house set; this score is on the data you "
        "supplied and is not comparable to it."
    )
    out["middle_truncated_rate"] = (
        sum(1 for r in records if r["details"].get("middle_truncated")) / len(records) if records else 0.0
    )
    return out
