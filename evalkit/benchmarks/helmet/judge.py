"""HELMET's model-based scores (scripts/eval_gpt4_longqa.py and eval_gpt4_summ.py @4526dfb),
asked of a judge model through evalkit's judge role (`evalkit run helmet --judge PROFILE`).

* LongQA (NarrativeQA): one call; the judge returns {"fluency": 0|1, "correctness": 0..3};
  the score is fluency x correctness / 3 (collect_results.py scales the mean by 100/3).
* Summ (InfiniteBench En.Sum, Multi-LexSum): three calls, fluency (0|1), key-point recall
  (#key points supported / #key points) and sentence precision (#sentences supported by the
  expert summary / #sentences); the score is fluency x F1(recall, precision).

The judge's sampling is upstream's `OpenAIModel("gpt-4o-2024-05-13", temperature=0.1)`:
top-p 0.9, seed 42, 2048 new tokens for LongQA and 4096 for Summ, no system message.

A reply without a usable JSON score scores 0 with the reason given. Upstream leaves such items
out of the mean instead (and its LongQA script fails on a JSON without both keys); counting
them as 0 keeps the denominator the items scored, and the run reports how many there were.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any

from evalkit.benchmarks.helmet import judge_prompts as P
from evalkit.chat import split_completion
from evalkit.records import ChatRequest, Completion, Sample, SamplingParams
from evalkit.solvers import Episode, EpisodeOutput

CARD_JUDGE = "gpt-4o-2024-05-13 (HELMET's default; the EXAONE report does not name its judge)"


def judge_params(kind: str, seed: int | None = 42) -> SamplingParams:
    return SamplingParams(
        temperature=0.1, top_p=0.9, max_new_tokens=2048 if kind == "longqa" else 4096, seed=seed
    )


def longqa_parse_output(output: str, prefix: str = "Answer:") -> str:
    """eval_gpt4_longqa.parse_output: newlines to spaces, then the text after `prefix` (else the
    first line, which is now the whole output)."""
    output = output.replace("\n", " ")
    m = re.search(f"(?:{prefix})(.*)(?:\n|$)", output, flags=re.IGNORECASE) or re.search(
        r"(?:^)(.*)(?:\n|$)", output
    )
    assert m is not None  # the second pattern always matches
    return re.sub(f"^{re.escape(prefix)}", "", m[1].strip(), flags=re.IGNORECASE).strip()


def longqa_prompt(question: str, answers: list[str], output: str) -> str:
    # upstream formats the answer list as Python prints it: ['a', 'b']
    return P.LONGQA.format(
        question=question, correct_answers=str(list(answers)), parsed_output=longqa_parse_output(output)
    )


def summ_prompts(book: bool, output: str, keypoints: list[str], expert_summary: str) -> list[str]:
    """The fluency, recall and precision prompts (the `_book` ones for InfiniteBench En.Sum)."""
    text = output.strip()
    kp = "\n".join(f"{i + 1}. {k}" for i, k in enumerate(keypoints))
    if book:
        return [
            P.FLUENCY_BOOK.format(text=text),
            P.RECALL_BOOK.format(keypoints=kp, summary=text),
            P.PRECISION_BOOK.format(expert_summary=expert_summary, summary=text),
        ]
    return [
        P.FLUENCY.format(text=text),
        P.RECALL.format(keypoints=kp, summary=text),
        P.PRECISION.format(expert_summary=expert_summary, summary=text),
    ]


def parse_json(text: str, fenced: bool = False) -> dict[str, object] | None:
    """The last `{...}` of the reply as JSON (eval_gpt4_*.parse_json); with `fenced` (the Summ
    script), a ```json block when that last brace group is not valid JSON."""
    matches = re.findall(r"\{.*?\}", text or "", re.DOTALL)
    if not matches:
        return None
    try:
        obj = json.loads(matches[-1])
    except json.JSONDecodeError:
        if not fenced:
            return None
        blocks = re.findall(r"(?:```json)(.+)(?:```)", text, re.DOTALL)
        try:
            obj = json.loads(blocks[-1]) if blocks else None
        except json.JSONDecodeError:
            return None
    return obj if isinstance(obj, dict) else None


def _number(obj: dict[str, object] | None, key: str) -> float | None:
    v = None if obj is None else obj.get(key)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


@dataclass(frozen=True)
class JudgeScore:
    value: float  # 0-1
    ok: bool  # the replies held usable scores
    reason: str
    parts: dict[str, Any] = field(default_factory=dict)


def score_longqa(reply: str) -> JudgeScore:
    obj = parse_json(reply)
    fl, corr = _number(obj, "fluency"), _number(obj, "correctness")
    if fl is None or corr is None:
        return JudgeScore(
            0.0, False, "judge reply has no JSON with numeric fluency and correctness: scored 0"
        )
    if fl not in (0.0, 1.0) or not 0.0 <= corr <= 3.0:
        return JudgeScore(
            0.0, False, f"judge scores out of the rubric (fluency {fl:g}, correctness {corr:g}): 0"
        )
    return JudgeScore(
        fl * corr / 3.0,
        True,
        f"judge fluency {fl:g} x correctness {corr:g} / 3",
        {"fluency": fl, "correctness": corr},
    )


def score_summ(replies: list[str], n_keypoints: int) -> JudgeScore:
    """eval_gpt4_summ.check_metrics' per-item scores from the three replies."""
    f, r, p = (parse_json(t, fenced=True) for t in replies)
    fl, found, prec_found, sentences = (
        _number(f, "fluency"),
        _number(r, "recall"),
        _number(p, "precision"),
        _number(p, "sentence_count"),
    )
    missing = [
        k
        for k, v in (
            ("fluency", fl),
            ("recall", found),
            ("precision", prec_found),
            ("sentence_count", sentences),
        )
        if v is None
    ]
    if missing:
        return JudgeScore(0.0, False, f"judge replies lack a numeric {', '.join(missing)}: scored 0")
    assert fl is not None and found is not None and prec_found is not None and sentences is not None
    if fl not in (0.0, 1.0):
        return JudgeScore(0.0, False, f"judge fluency {fl:g} is not 0 or 1: scored 0")
    recall = found / n_keypoints if n_keypoints > 0 else 0.0
    precision = prec_found / sentences if sentences > 0 else 0.0
    f1 = fl * 2 * recall * precision / (recall + precision) if recall + precision > 0 else 0.0
    parts = {
        "fluency": fl,
        "recall": recall,
        "precision": precision,
        "recall_found": found,
        "recall_total": n_keypoints,
        "precision_found": prec_found,
        "precision_total": sentences,
    }
    reason = f"judge fluency {fl:g}, recall {found:g}/{n_keypoints}, precision {prec_found:g}/{sentences:g}"
    return JudgeScore(f1, True, reason, parts)


def judge_requests(sample: Sample, answer: str) -> list[ChatRequest]:
    """The judge calls one answer needs (none for datasets not judged)."""
    kind = sample.metadata.get("judge")
    if kind == "longqa":
        prompts = [longqa_prompt(sample.metadata["question"], list(sample.target), answer)]
    elif kind == "summ":
        prompts = summ_prompts(
            sample.metadata["subject"].startswith("infbench"),
            answer,
            sample.metadata["keypoints"],
            sample.metadata["expert_summary"],
        )
    else:
        return []
    params = judge_params(kind)
    return [
        ChatRequest(messages=[{"role": "user", "content": t}], params=params, role="judge") for t in prompts
    ]


def solve(sample: Sample, params: SamplingParams, enable_thinking: bool, *, judged: bool) -> Episode:
    """Generate with the dataset's output length; then, for LongQA's NarrativeQA and Summ, and only
    if the run has a judge (`judged`), ask the judge (HELMET's seed 42 on every call)."""
    cap = sample.metadata.get("max_new_tokens")
    if cap is not None and int(cap) < params.max_new_tokens:
        params = dataclasses.replace(params, max_new_tokens=int(cap))
    c = yield ChatRequest(messages=list(sample.messages), params=params, enable_thinking=enable_thinking)
    calls: list[Completion] = [c]
    info: dict[str, object] = {}
    split = split_completion(c.text, c.reasoning_content, reasoning_mode=enable_thinking)
    if judged and split.answer is not None:
        texts = []
        for req in judge_requests(sample, split.answer):
            j: Completion = yield req
            calls.append(j)
            texts.append(j.text)
        if texts:
            info["judge_texts"] = texts
    return EpisodeOutput(calls=calls, final=c, info=info)
