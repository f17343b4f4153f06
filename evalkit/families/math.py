"""Math problems with a final answer (AIME, HMMT, MATH500 (ES), KSM), scored by equivalence.

A row has a problem and a gold answer (`data.fields.question` / `.answer`). The answer is
checked with math-verify under a time limit (evalkit.scoring.math_equiv), never by string
match. Spec `scoring` keys:

    lang: en | es | ko         how numbers are written (a Spanish decimal comma), default en
    timeout_s: 5.0             time limit of one equivalence check
    answer_format: integer     gold answers must be integers (AIME: 0-999); default: any
    choices: true              questions may list numbered options (①-⑤ or "1." lines);
                               the text of the gold option then also counts as correct

With repeats the run reports, besides pass@1[avg-of-n] and its item-clustered SE, maj@n
(majority vote over each item's n answers) and unbiased pass@k (evalkit.stats.passk).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

from evalkit.data import Row
from evalkit.errors import DataError
from evalkit.families.base import BuildContext
from evalkit.families.defaults import output_from_response as output_from_response
from evalkit.families.defaults import solver as solver
from evalkit.families.defaults import verdict_row as verdict_row
from evalkit.metrics import aggregate as base_aggregate
from evalkit.prompts import render_prompt
from evalkit.records import Message, Sample, Verdict
from evalkit.run_records import EstimateFigure, FamilyMetrics, SampleRecord
from evalkit.scoring.math_answer import option_texts
from evalkit.scoring.math_equiv import DEFAULT_TIMEOUT_S, check_answer
from evalkit.specs import TaskSpec
from evalkit.stats import Estimate, default_ks, majority_estimate, pass_at_k_estimate

if TYPE_CHECKING:
    from evalkit.families import ScoreContext
    from evalkit.solvers import EpisodeOutput

_INTEGER = re.compile(r"[-+]?\d+")
_INTEGRAL_FLOAT = re.compile(r"[-+]?\d+\.0+")


def gold_text(value: Any, where: str, row: int, field: str, answer_format: str = "any") -> str:
    """A gold answer as the text the checker reads; bad values name file, row and field."""
    if isinstance(value, bool) or value is None:
        raise DataError(where, row, field, f"missing or not an answer: {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise DataError(where, row, field, f"not a finite number: {value!r}")
        text = str(int(value)) if value.is_integer() else repr(value)  # CSV readers give 3.0 for 3
    elif isinstance(value, (int, str)):
        text = str(value).strip()
        if _INTEGRAL_FLOAT.fullmatch(text):  # "3.0" from a CSV column read as text
            text = text.split(".")[0]
    else:
        raise DataError(where, row, field, f"expected a string or a number, got {type(value).__name__}")
    if not text:
        raise DataError(where, row, field, "empty answer")
    if answer_format == "integer" and not _INTEGER.fullmatch(text):
        raise DataError(where, row, field, f"expected an integer answer, got {text!r}")
    return text


def _field(row: Row, name: str, where: str) -> Any:
    if name not in row.fields or row.fields[name] is None:
        raise DataError(where, row.index + 1, name, "missing")
    return row.fields[name]


def _metadata(spec: TaskSpec, question: str | None, fields: dict[str, Any]) -> dict[str, Any]:
    subject_col = spec.data.fields.get("subject")
    return {
        "subject": str(fields.get(subject_col) or "") if subject_col else None,
        "choices": option_texts(question) if question and spec.scoring.get("choices") else {},
    }


def build_sample(row: Row, spec: TaskSpec, ctx: BuildContext) -> Sample:
    """One problem -> one user message (the spec's prompt); the gold answer is the target."""
    where = ctx.where
    qcol = spec.data.fields.get("question", "question")
    acol = spec.data.fields.get("answer", "answer")
    question = _field(row, qcol, where)
    if not isinstance(question, str) or not question.strip():
        raise DataError(where, row.index + 1, qcol, "expected a non-empty problem text")
    gold = gold_text(
        _field(row, acol, where), where, row.index + 1, acol, spec.scoring.get("answer_format", "any")
    )
    content = render_prompt(spec.prompt["template"], question=question.strip(), row=row.fields)
    messages: list[Message] = []
    if spec.prompt.get("system"):
        messages.append({"role": "system", "content": str(spec.prompt["system"])})
    messages.append({"role": "user", "content": content})
    return Sample(id=row.id, messages=messages, target=gold, metadata=_metadata(spec, question, row.fields))


def inline_sample(rec: dict[str, Any], spec: TaskSpec, where: str, row: int) -> Sample | None:
    """For `evalkit score`: a response row that carries its own `gold` answer (no dataset item
    needed, so any set of answers can be checked with this task's checker). None otherwise."""
    if "gold" not in rec:
        return None
    gold = gold_text(rec["gold"], where, row, "gold")  # any answer, not only the dataset's format
    qcol = spec.data.fields.get("question", "question")
    question = rec.get(qcol) if isinstance(rec.get(qcol), str) else None
    return Sample(id=str(rec["id"]), messages=[], target=gold, metadata=_metadata(spec, question, rec))


def score(sample: Sample, output: EpisodeOutput, ctx: ScoreContext) -> Verdict:
    """Find the final answer in the answer part and check it against the gold answer."""
    c = output.final
    split = ctx.split(c)
    if split.answer is None:
        reason = "reasoning not closed with </think>: no answer" if split.unclosed_think else "no answer"
        return Verdict(extracted=None, correct=False, reason=reason, details={"method": "none"})
    sc = ctx.spec.scoring
    chk = check_answer(
        split.answer,
        str(sample.target),
        lang=str(sc.get("lang", "en")),
        choices=sample.metadata.get("choices") or None,
        timeout_s=float(sc.get("timeout_s", DEFAULT_TIMEOUT_S)),
    )
    return Verdict(
        extracted=chk.extracted,
        correct=chk.correct,
        reason=chk.reason,
        score=1.0 if chk.correct else 0.0,
        details={
            "method": chk.method,
            "how": chk.how,
            "vote_key": chk.vote_key,
            "check_s": round(chk.elapsed_s, 4),
            "timed_out": chk.timed_out,
        },
    )


def _estimate_dict(est: Estimate, metric: str) -> EstimateFigure:
    return {
        "metric": metric,
        "value": est.mean,
        "se": est.se,
        "ci95": list(est.ci95),
        "n_items": est.n_items,
    }


def aggregate(records: list[SampleRecord], n_repeats: int, spec: TaskSpec) -> FamilyMetrics:
    """pass@1[avg-of-n] with its item-clustered SE (the headline), plus maj@n and unbiased
    pass@k when there are repeats, and how the answers were found and checked."""
    out = base_aggregate(
        records, n_repeats=n_repeats, breakdown_field="subject" if spec.data.fields.get("subject") else None
    )
    by_item: dict[str, list[SampleRecord]] = defaultdict(list)
    for r in sorted(records, key=lambda r: (str(r["id"]), int(r.get("repeat", 0)))):
        by_item[str(r["id"])].append(r)
    if n_repeats > 1 and by_item:
        votes = {
            item: [
                (
                    (r.get("details") or {}).get("vote_key") if r["extracted"] is not None else None,
                    r["correct"],
                )
                for r in rs
            ]
            for item, rs in by_item.items()
        }
        out["maj@n"] = _estimate_dict(majority_estimate(votes), f"maj@{n_repeats}")
        correct = {item: [bool(r["correct"]) for r in rs] for item, rs in by_item.items()}
        n_min = min(len(v) for v in correct.values())
        out["pass@k"] = {
            str(k): _estimate_dict(pass_at_k_estimate(correct, k), f"pass@{k}") for k in default_ks(n_min)
        }
    details = [r.get("details") or {} for r in records]
    out["answer_check"] = {
        "found_in": dict(Counter(d.get("method", "none") for d in details)),
        "timeouts": sum(1 for d in details if d.get("timed_out")),
        "failed": sum(1 for r in records if str(r.get("reason", "")).startswith("equivalence check failed")),
        "time_limit_s": float(spec.scoring.get("timeout_s", DEFAULT_TIMEOUT_S)),
        "mean_check_s": (sum(float(d.get("check_s", 0.0)) for d in details) / len(details))
        if details
        else 0.0,
    }
    if spec.extra.get("data_note"):
        out["data_note"] = str(spec.extra["data_note"]).strip()
    return out
