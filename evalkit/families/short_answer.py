"""Short-answer tasks configured entirely in YAML: find the answer, normalise it, match it.

A spec with `family: short_answer` needs no Python. Its rows have a question and a gold
answer (`data.fields.question` / `.answer`; the answer column may hold a list of accepted
answers). Its `scoring:` block (schema: evalkit.spec_schema.ShortAnswerScoringSchema, checked
when the spec is loaded; guide: docs/short-answer-tasks.md):

    match: exact | numeric | math   how the answer is compared with the gold answers
    patterns: [regex, ...]          regexes with one capture group, tried in order; the
    occurrence: last                first pattern that matches decides, at its first or last match
    extractor: boxed                or a registered extractor (evalkit.scoring.extractors)
    normalize: [strip, lower]       normalisers (evalkit.scoring.short_answer), exact and numeric
    lang: en                        numeric / math: how numbers are written (es: 1.234,5)
    abs_tol: 0, rel_tol: 0          numeric: |answer - gold| <= max(abs_tol, rel_tol * |gold|)
    timeout_s: 5.0                  math: time limit of one math-verify check

Without `patterns` or `extractor` the whole answer is the answer (math mode: math-verify's own
search for the final answer, as in the math family). The answer is read from the answer part
of the completion (`ScoreContext.split`); no answer, or nothing found, scores zero with the
reason. Metric: accuracy (the default aggregate).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from evalkit.data import Row
from evalkit.errors import DataError
from evalkit.families.base import BuildContext
from evalkit.families.defaults import aggregate as aggregate
from evalkit.families.defaults import inline_sample as inline_sample
from evalkit.families.defaults import output_from_response as output_from_response
from evalkit.families.defaults import solver as solver
from evalkit.families.defaults import verdict_row as verdict_row
from evalkit.families.math import gold_text
from evalkit.prompts import render_prompt
from evalkit.records import Message, Sample, Verdict
from evalkit.scoring.extractors import Extraction, get_extractor
from evalkit.scoring.math_answer import FoundAnswer, find_final_answer
from evalkit.scoring.math_equiv import check_found
from evalkit.scoring.short_answer import last_number, normalize, numbers_match, parse_number
from evalkit.spec_schema import ShortAnswerScoringSchema
from evalkit.specs import TaskSpec

if TYPE_CHECKING:
    from evalkit.families import ScoreContext
    from evalkit.solvers import EpisodeOutput

MAX_EXTRACTED_CHARS = 1000  # a longer extracted answer is not a short answer
EXTRACTED = "extracted"  # math mode: where the answer was found, when the spec's patterns found it


def settings(spec: TaskSpec) -> ShortAnswerScoringSchema:
    """The spec's `scoring:` block as a typed record (validated when the spec was loaded)."""
    return ShortAnswerScoringSchema.model_validate(spec.scoring)


def _field(row: Row, name: str, where: str) -> Any:
    if name not in row.fields or row.fields[name] is None:
        raise DataError(where, row.index + 1, name, "missing")
    return row.fields[name]


def gold_answers(row: Row, spec: TaskSpec, where: str) -> list[str]:
    """The accepted answers of a row, each checked as the match mode will read it."""
    acol = spec.data.fields.get("answer", "answer")
    raw = _field(row, acol, where)
    if hasattr(raw, "tolist"):  # numpy arrays from parquet
        raw = raw.tolist()
    values = raw if isinstance(raw, list) else [raw]
    if not values:
        raise DataError(where, row.index + 1, acol, "an empty list of accepted answers")
    golds = [gold_text(v, where, row.index + 1, acol) for v in values]
    s = settings(spec)
    for g in golds:
        if s.match == "numeric" and parse_number(g, s.lang).value is None:
            problem = f"gold answer {g!r} is not a number (lang {s.lang}): {parse_number(g, s.lang).reason}"
            raise DataError(where, row.index + 1, acol, problem)
        if s.match == "exact" and not normalize(g, s.normalize):
            raise DataError(where, row.index + 1, acol, f"gold answer {g!r} is empty once normalised")
    return golds


def build_sample(row: Row, spec: TaskSpec, ctx: BuildContext) -> Sample:
    """One question -> one user message (the spec's prompt); the accepted answers are the target."""
    where = ctx.where
    qcol = spec.data.fields.get("question", "question")
    question = _field(row, qcol, where)
    if not isinstance(question, str) or not question.strip():
        raise DataError(where, row.index + 1, qcol, "expected a non-empty question text")
    golds = gold_answers(row, spec, where)
    content = render_prompt(spec.prompt["template"], question=question.strip(), row=row.fields)
    messages: list[Message] = []
    if spec.prompt.get("system"):
        messages.append({"role": "system", "content": str(spec.prompt["system"])})
    messages.append({"role": "user", "content": content})
    metadata = {"golds": golds} if len(golds) > 1 else {}
    return Sample(id=row.id, messages=messages, target=golds[0], metadata=metadata)


def _by_patterns(text: str, patterns: list[str], occurrence: str) -> Extraction:
    for i, pattern in enumerate(patterns, 1):
        compiled = re.compile(pattern)
        group: int | str = "answer" if "answer" in compiled.groupindex else 1
        found = None
        for m in compiled.finditer(text):
            if m.group(group) is not None:
                found = m
                if occurrence == "first":
                    break
        if found is not None:
            return Extraction(found.group(group).strip(), f"pattern {i}, {occurrence} match")
    return Extraction(None, f"no match of the {len(patterns)} answer pattern(s)")


def extract(text: str, s: ShortAnswerScoringSchema) -> Extraction:
    """The answer as the spec finds it: by patterns, a registered extractor, or the whole text."""
    if s.patterns is not None:
        found = _by_patterns(text, s.patterns, s.occurrence)
    elif s.extractor is not None:
        found = get_extractor(s.extractor)(text)
    else:
        found = Extraction(text.strip() or None, "the whole answer" if text.strip() else "empty answer")
    if found.value is not None and len(found.value) > MAX_EXTRACTED_CHARS:
        reason = f"extracted answer is {len(found.value)} characters (limit {MAX_EXTRACTED_CHARS})"
        return Extraction(None, reason)
    return found


def _exact(found: Extraction, golds: list[str], s: ShortAnswerScoringSchema) -> Verdict:
    assert found.value is not None
    answer = normalize(found.value, s.normalize)
    details = {"normalized": answer}
    if not answer:
        return Verdict(found.value, False, f"{found.reason}; empty once normalised", 0.0, details)
    correct = answer in {normalize(g, s.normalize) for g in golds}
    how = "equals a gold answer" if correct else "equals no gold answer"
    return Verdict(found.value, correct, f"{found.reason}; {how} (normalised)", float(correct), details)


def _numeric(found: Extraction, golds: list[str], s: ShortAnswerScoringSchema) -> Verdict:
    assert found.value is not None
    number = last_number(normalize(found.value, s.normalize), s.lang)
    if number.value is None:
        return Verdict(found.value, False, f"{found.reason}; {number.reason}", score=0.0)
    gold_values = [parse_number(g, s.lang).value for g in golds]
    correct = any(g is not None and numbers_match(number.value, g, s.abs_tol, s.rel_tol) for g in gold_values)
    how = "equals a gold answer" if correct else "differs from every gold answer"
    tol = f" within abs {s.abs_tol:g} / rel {s.rel_tol:g}" if s.abs_tol or s.rel_tol else ""
    details = {"number": str(number.value)}
    return Verdict(number.text, correct, f"{found.reason}; {how}{tol}", float(correct), details)


def _math(found: FoundAnswer, golds: list[str], s: ShortAnswerScoringSchema) -> Verdict:
    chk = check_found(found, golds[0], lang=s.lang, timeout_s=s.timeout_s)
    for gold in golds[1:]:
        if chk.correct:
            break
        chk = check_found(found, gold, lang=s.lang, timeout_s=s.timeout_s)
    details = {"method": chk.method, "how": chk.how, "vote_key": chk.vote_key, "timed_out": chk.timed_out}
    return Verdict(chk.extracted, chk.correct, chk.reason, score=1.0 if chk.correct else 0.0, details=details)


def score(sample: Sample, output: EpisodeOutput, ctx: ScoreContext) -> Verdict:
    """Find the answer in the answer part, then compare it as the spec's `match` says."""
    split = ctx.split(output.final)
    if split.answer is None:
        reason = "reasoning not closed with </think>: no answer" if split.unclosed_think else "no answer"
        return Verdict(None, False, reason, score=0.0)
    s = settings(ctx.spec)
    golds = [str(g) for g in sample.metadata.get("golds") or [sample.target]]
    if s.match == "math" and s.patterns is None and s.extractor is None:
        return _math(find_final_answer(split.answer), golds, s)  # as the math family finds it
    found = extract(split.answer, s)
    if found.value is None:
        return Verdict(None, False, found.reason, score=0.0)
    if s.match == "math":
        return _math(FoundAnswer(found.value, EXTRACTED), golds, s)
    return _exact(found, golds, s) if s.match == "exact" else _numeric(found, golds, s)
