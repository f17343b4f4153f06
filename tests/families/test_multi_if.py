"""The multi_if family: real conversations, a history of the model's own answers rendered by
the real chat template, per-turn scoring in Multi-IF's dialect that agrees with Multi-IF's
own scorer, and Multi-IF's per-turn figures."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest

from evalkit.benchmarks.ifeval import Dialect, check_response
from evalkit.data import load_rows
from evalkit.families import BuildContext, ScoreContext, load_family
from evalkit.records import ChatRequest, Completion, SamplingParams
from evalkit.registry import get_task
from evalkit.reporting.format import report_table
from evalkit.scoring.responses import score_responses
from evalkit.solvers import EpisodeOutput

SPEC = get_task("multi_if_en")
FAMILY = load_family("multi_if")
DATA = Path(__file__).resolve().parent.parent / "data" / "ifeval"
SHARED = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "multi_if_en" / "multiIF_20241018_english.csv"
)


def _samples(source: str = "sample") -> list[Any]:
    loaded = load_rows(SPEC, source)
    return [FAMILY.build_sample(r, SPEC, BuildContext(loaded.path)) for r in loaded.rows]


def _run(sample: Any, answers: list[str], thinking: bool = False) -> tuple[EpisodeOutput, list[ChatRequest]]:
    gen = FAMILY.solver(SPEC, frozenset({"model"}))(sample, SamplingParams(), thinking, 0)
    requests = [next(gen)]
    try:
        for a in answers:
            requests.append(gen.send(Completion(text=a, finish_reason="stop")))
    except StopIteration as stop:
        return stop.value, requests
    raise AssertionError("the solver asked for more turns than answers given")


def test_sample_is_real_and_has_a_two_turn_conversation() -> None:
    samples = _samples()
    assert len(samples) == 20
    assert sorted({len(s.metadata["turns"]) for s in samples}) == [2, 3]
    kinds = {i.id for s in samples for t in s.metadata["turns"] for i in t["instructions"]}
    assert len(kinds) == 24


def test_each_turn_is_sent_with_the_models_own_earlier_answers() -> None:
    s = next(x for x in _samples() if len(x.metadata["turns"]) == 3)
    out, reqs = _run(s, ["first answer", "second answer", "third answer"])
    assert len(reqs) == 3 and len(out.calls) == 3
    assert [m["role"] for m in reqs[2].messages] == ["user", "assistant", "user", "assistant", "user"]
    assert (
        reqs[2].messages[1]["content"] == "first answer" and reqs[2].messages[3]["content"] == "second answer"
    )
    assert reqs[2].messages[4]["content"] == s.metadata["turns"][2]["prompt"]


def test_chat_template_drops_earlier_reasoning_from_the_history() -> None:
    from transformers import AutoTokenizer

    from evalkit.chat import render_chat
    from evalkit.models import resolve_model

    tok = AutoTokenizer.from_pretrained(resolve_model("tiny"))
    s = _samples()[0]
    _, reqs = _run(s, ["SECRET-REASONING about it</think>\n\nVisible answer.", "b", "c"], thinking=True)
    prompt = render_chat(tok, reqs[1])
    assert "SECRET-REASONING" not in prompt
    assert "[|assistant|]\n<think>\n\n</think>\n\nVisible answer.[|endofturn|]" in prompt
    assert prompt.endswith("[|assistant|]\n<think>\n")


def test_unclosed_reasoning_leaves_an_empty_answer_in_history_and_scores_zero() -> None:
    s = _samples()[0]
    out, reqs = _run(
        s, ["thinking forever and never closing", "x</think>done", "y</think>done"], thinking=True
    )
    assert reqs[1].messages[1] == {"role": "assistant", "content": ""}
    v = FAMILY.score(s, out, ScoreContext(SPEC, reasoning_mode=True))
    t1 = v.details["turns"][0]
    assert not t1["answered"] and not any(t1["inst_level_loose"]) and "no answer in turn 1" in v.reason


def test_scoring_uses_the_multi_if_dialect() -> None:
    s = _samples()[0]
    ins = s.metadata["turns"][0]["instructions"]
    # Multi-IF accepts curly quotes as quotation marks; IFEval does not.
    from evalkit.benchmarks.ifeval import parse_instructions

    q = parse_instructions(["startend:quotation"], [{}])
    assert check_response("“quoted”", q, Dialect.MULTI_IF).strict == [True]
    assert check_response("“quoted”", q, Dialect.IFEVAL).strict == [False]
    assert ins  # the sample's first turn carries instructions


def _agreement(rows: list[dict[str, Any]]) -> tuple[int, list[str]]:
    if not SHARED.is_file():
        pytest.skip("../shared/data/multi_if_en not present")
    with gzip.open(DATA / "gpt4_responses.jsonl.gz", "rt", encoding="utf-8") as f:
        responses = {r["key"]: r["response"] for r in map(json.loads, f)}
    samples = {s.id: s for s in _samples(str(SHARED))}
    checked, diffs = 0, []
    for r in rows:
        turn = samples[r["key"]].metadata["turns"][r["turn"] - 1]
        got = check_response(responses[r["ifeval_key"]], turn["instructions"], Dialect.MULTI_IF)
        for i, ins in enumerate(turn["instructions"]):
            if r["ifeval_key"] == 1122 and ins.id == "keywords:letter_frequency":
                continue  # random in the reference (tests/data/ifeval/SOURCE.md)
            checked += 1
            for kind, mine, ref in (
                ("strict", got.strict[i], r["inst_level_strict"][i]),
                ("loose", got.loose[i], r["inst_level_loose"][i]),
            ):
                if mine != ref:
                    diffs.append(
                        f"{r['key']} turn {r['turn']} {ins.id} {kind}: evalkit {mine}, Multi-IF {ref}"
                    )
    return checked, diffs


def _reference_rows() -> list[dict[str, Any]]:
    with gzip.open(DATA / "multi_if_gpt4_verdicts.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_agrees_with_multi_if_scorer_on_real_responses_subset() -> None:
    rows = _reference_rows()[::10]
    checked, diffs = _agreement(rows)
    assert checked > 550 and diffs == []


@pytest.mark.slow
def test_agrees_with_multi_if_scorer_on_all_2714_turns() -> None:
    rows = _reference_rows()
    assert len(rows) == 2714
    checked, diffs = _agreement(rows)
    assert checked > 5000 and diffs == []


def test_evalkit_score_takes_one_response_per_turn(tmp_path: Path) -> None:
    s = _samples()[0]
    p = tmp_path / "r.jsonl"
    p.write_text(
        json.dumps({"id": s.id, "repeat": 0, "responses": ["a", "b", "c"]})
        + "\n"
        + json.dumps({"id": s.id, "repeat": 1, "responses": ["only one"]})
        + "\n",
        encoding="utf-8",
    )
    out = io.StringIO()
    score_responses("multi_if_en", p, data="sample", mode="non-reasoning", out=out)
    rows = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [len(r["turns"]) for r in rows] == [3, 3]
    assert rows[1]["turns"][2]["inst_level_loose"] == [False] * len(s.metadata["turns"][2]["instructions"])
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": s.id, "responses": "not a list"}) + "\n", encoding="utf-8")
    from evalkit.errors import DataError

    with pytest.raises(DataError) as e:
        score_responses("multi_if_en", bad, data="sample", mode="non-reasoning", out=io.StringIO())
    assert e.value.row == 1 and e.value.field == "responses"


def test_aggregate_computes_multi_if_turn_figures() -> None:
    samples = [s for s in _samples() if len(s.metadata["turns"]) == 3][:2]
    two = next(s for s in _samples() if len(s.metadata["turns"]) == 2)
    ctx = ScoreContext(SPEC, False)
    records = []
    for s in [*samples, two]:
        out = EpisodeOutput(
            calls=[
                Completion(text=t, finish_reason="stop") for t in ["x", "y", "z"][: len(s.metadata["turns"])]
            ],
            final=Completion(text="", finish_reason="stop"),
        )
        v = FAMILY.score(s, out, ctx)
        records.append(
            {
                "id": s.id,
                "score": v.score,
                "extracted": v.extracted,
                "details": v.details,
                "finish_reason": "stop",
                "prompt_tokens": 1,
                "completion_tokens": 1,
            }
        )
    m = FAMILY.aggregate(records, 1, SPEC)
    figs = m["figures"]
    # Turn 3 exists in two conversations only; its figures are over those two.
    t3 = [d for r in records for d in r["details"]["turns"] if d["turn"] == 3]
    assert len(t3) == 2
    expect_inst = sum(sum(d["inst_level_strict"]) for d in t3) / sum(len(d["inst_level_strict"]) for d in t3)
    assert figs["turn_3"]["inst_level_strict"]["value"] == pytest.approx(expect_inst)
    overall = [figs[f"turn_{t}"]["overall"]["value"] for t in (1, 2, 3)]
    assert m["value"] == pytest.approx(sum(overall) / 3)
    assert report_table(m["tables"][0])["rows"][-1] == ["conversations with this turn", "3", "3", "2"]
