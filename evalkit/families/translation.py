"""Translation (WMT24++ en->es_MX): the model translates one segment; chrF (sacrebleu) always,
and, when the run has a judge runner (`evalkit run --judge PROFILE`), an LLM-judge score
on a 0-100 scale. The card's WMT24++ (ES) figure is judge-based, so the headline is the
judge mean when there is one, else chrF, and the metric name says which.
"""

from __future__ import annotations

import re
from typing import Any

from evalkit.chat import split_completion
from evalkit.data import Row
from evalkit.errors import DataError
from evalkit.families import ScoreContext
from evalkit.families.base import BuildContext, Solver
from evalkit.families.defaults import inline_sample as inline_sample
from evalkit.families.defaults import output_from_response as output_from_response
from evalkit.families.defaults import verdict_row as verdict_row
from evalkit.metrics import aggregate as default_aggregate
from evalkit.prompts import render_prompt
from evalkit.records import ChatRequest, Completion, Sample, SamplingParams, Verdict
from evalkit.run_records import FamilyMetrics, SampleRecord
from evalkit.solvers import Episode, EpisodeOutput
from evalkit.specs import TaskSpec

_SCORE = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d+)?)(?!\d|\.\d)")


def _languages(spec: TaskSpec) -> dict[str, str]:
    langs: dict[str, str] = spec.extra.get("languages", {"source": "English", "target": "Spanish"})
    return langs


def build_sample(row: Row, spec: TaskSpec, ctx: BuildContext) -> Sample:
    where = ctx.where
    f = spec.data.fields
    source, target = row.fields.get(f.get("source", "source")), row.fields.get(f.get("target", "target"))
    for name, value in (("source", source), ("target", target)):
        if not isinstance(value, str) or not value.strip():
            raise DataError(where, row.index + 1, f.get(name, name), "missing or empty segment")
    prompt = render_prompt(spec.prompt["template"], source=source, **_languages(spec))
    return Sample(
        id=row.id,
        messages=[{"role": "user", "content": prompt}],
        target=target,
        metadata={"subject": row.fields.get("domain"), "source": source},
    )


def judge_request(spec: TaskSpec, sample: Sample, translation: str, params: SamplingParams) -> ChatRequest:
    """The judge's prompt (the spec's extra.judge.template), greedy, short answer."""
    text = render_prompt(
        spec.extra.get("judge", {}).get("template", ""),
        source=sample.metadata["source"],
        translation=translation,
        reference=sample.target,
        **_languages(spec),
    )
    return ChatRequest(
        messages=[{"role": "user", "content": text}],
        params=SamplingParams(temperature=0.0, max_new_tokens=16, seed=params.seed),
        role="judge",
    )


def solver(spec: TaskSpec, roles: frozenset[str]) -> Solver:
    """Translate; then, if the run has a judge, ask it to score the translation."""
    judged = "judge" in roles

    def solve(sample: Sample, params: SamplingParams, enable_thinking: bool, repeat: int = 0) -> Episode:
        c = yield ChatRequest(messages=list(sample.messages), params=params, enable_thinking=enable_thinking)
        calls = [c]
        info: dict[str, Any] = {}
        split = split_completion(c.text, c.reasoning_content, reasoning_mode=enable_thinking)
        if judged and split.answer is not None:
            j: Completion = yield judge_request(spec, sample, split.answer.strip(), params)
            calls.append(j)
            info["judge_text"] = j.text
        return EpisodeOutput(calls=calls, final=c, info=info)

    return solve


def parse_judge_score(text: str) -> float | None:
    """The first number in [0, 100] in the judge's reply; None if there is none."""
    for m in _SCORE.finditer(text or ""):
        v = float(m.group(1))
        if 0.0 <= v <= 100.0:
            return v
    return None


def chrf(hypothesis: str, reference: str) -> float:
    """Sentence chrF (sacrebleu defaults: char 6-grams, beta 2), 0-100."""
    from sacrebleu.metrics import CHRF

    return float(CHRF().sentence_score(hypothesis, [reference]).score)


def score(sample: Sample, output: EpisodeOutput, ctx: ScoreContext) -> Verdict:
    c = output.final
    split = ctx.split(c)
    if split.answer is None:
        return Verdict(None, False, "no answer (unclosed think block)", 0.0, {"chrf": 0.0, "judge": None})
    hyp = split.answer.strip()
    value = chrf(hyp, sample.target)
    judged = parse_judge_score(output.info["judge_text"]) if "judge_text" in output.info else None
    reason = f"chrF {value:.1f}" + (f"; judge {judged:g}" if judged is not None else "")
    if "judge_text" in output.info and judged is None:
        reason += "; judge reply had no 0-100 score"
    main = judged if judged is not None else value
    return Verdict(
        hyp[:300], main >= 50.0, reason, main / 100.0, {"chrf": value, "judge": judged, "hyp": hyp}
    )


def aggregate(records: list[SampleRecord], n_repeats: int, spec: TaskSpec) -> FamilyMetrics:
    """Corpus chrF always; the judge mean when every record was judged (then the headline)."""
    from sacrebleu.metrics import CHRF

    out = default_aggregate(records, n_repeats=n_repeats, breakdown_field="subject")
    hyps = [r["details"].get("hyp", "") for r in records]
    refs = [str(r["target"]) for r in records]
    out["chrf_corpus"] = float(CHRF().corpus_score(hyps, [refs]).score)
    judged = [r["details"].get("judge") for r in records]
    judge = spec.extra.get("judge", {})
    if records and all(j is not None for j in judged):
        out["metric"] = f"LLM-judge score 0-100 (mean; judge prompt {judge.get('name', '?')})"
        out["judge_mean"] = out["value"] * 100
    else:
        n = sum(j is not None for j in judged)
        out["metric"] = "chrF (sentence mean) - NOT the card's metric: the card's figure is LLM-judged"
        out["judge_coverage"] = n / len(records) if records else 0.0
    out["judge_protocol"] = {
        "name": judge.get("name"),
        "scale": judge.get("scale"),
        "card_judge": judge.get("card_judge"),
        "template": judge.get("template"),
    }
    return out
