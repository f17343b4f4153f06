"""The bfcl family: real entries, tools through the real chat template, end-to-end runs with a
scripted model that answers right (or wrong), `evalkit score` rows, the leaderboard formula."""

from __future__ import annotations

import inspect
import io
import json
from pathlib import Path
from typing import Any

import pytest

from evalkit.benchmarks.bfcl.board import CategoryScore, board
from evalkit.benchmarks.bfcl.multi_turn.apis import new_instance
from evalkit.benchmarks.bfcl.multi_turn.world import parse_call_string
from evalkit.data import Row, load_rows
from evalkit.errors import DataError
from evalkit.families import BuildContext, ScoreContext, load_family
from evalkit.pipeline import RunConfig, run_eval
from evalkit.records import ChatRequest, Completion, SamplingParams
from evalkit.registry import get_task
from evalkit.scoring.responses import score_responses
from evalkit.solvers import EpisodeOutput
from tests.fakes import ScriptedRunner

SPEC = get_task("bfcl_v3")
FAMILY = load_family("bfcl")


def _samples() -> list[Any]:
    loaded = load_rows(SPEC, "sample")
    return [FAMILY.build_sample(r, SPEC, BuildContext(loaded.path)) for r in loaded.rows]


def _pick(options: list[Any]) -> Any:
    """The first accepted value; a dict answer lists accepted values per key."""
    v = next(o for o in options if o != "")
    if isinstance(v, dict):
        return {k: _pick(o) for k, o in v.items() if any(x != "" for x in o)}
    return v


def _right_answer(sample: Any) -> str:
    """A correct output for a Python or (ir)relevance entry: the first accepted value of each parameter."""
    cat = sample.metadata["category"]
    if cat.endswith("irrelevance"):
        return "None of the tools can answer that."
    if cat == "live_relevance":
        fn = sample.metadata["functions"][0]
        return f"<tool_call>{json.dumps({'name': fn['name'], 'arguments': {}})}</tool_call>"
    calls = []
    for ans in sample.target:
        name, params = next(iter(ans.items()))
        if not any(k in cat for k in ("multiple", "parallel")):
            name = sample.metadata["functions"][0]["name"]
        args = {p: _pick(opts) for p, opts in params.items() if any(v != "" for v in opts)}
        calls.append(f"<tool_call>{json.dumps({'name': name, 'arguments': args})}</tool_call>")
    return "\n".join(calls)


def test_sample_entries_are_real_and_tools_use_the_openai_format() -> None:
    samples = _samples()
    cats = {s.metadata["category"] for s in samples}
    assert len(samples) == 20 and len(cats) == 15
    java = next(s for s in samples if s.metadata["category"] == "java")
    tool = java.tools[0]
    assert tool["type"] == "function" and tool["function"]["parameters"]["type"] == "object"
    assert "Java 8 SDK syntax" in tool["function"]["description"]
    assert {p["type"] for p in tool["function"]["parameters"]["properties"].values()} == {"string"}
    # The checker keeps the original docs (Java types), the prompt gets the converted ones.
    assert java.metadata["functions"][0]["parameters"]["type"] == "dict"


def test_tools_reach_the_model_through_its_chat_template() -> None:
    from transformers import AutoTokenizer

    from evalkit.chat import render_chat
    from evalkit.models import resolve_model

    tok = AutoTokenizer.from_pretrained(resolve_model("tiny"))
    s = next(x for x in _samples() if x.metadata["category"] == "simple")
    text = render_chat(tok, ChatRequest(messages=s.messages, params=SamplingParams(), tools=s.tools))
    assert text.startswith("[|system|]\n# Available Tools\n")
    assert '<tool>{"type": "function", "function": {"name": "' + s.tools[0]["function"]["name"] in text
    assert '<tool_call>{"name": function_1_name' in text and text.endswith(
        "[|assistant|]\n<think>\n\n</think>\n\n"
    )


def _multi_turn_step(samples: list[Any], req: ChatRequest) -> str:
    """A model that knows the ground truth: each turn's calls in one step, then a plain answer."""
    users = [m["content"] for m in req.messages if m["role"] == "user"]
    s = next(
        x
        for x in samples
        if x.metadata["category"].startswith("multi_turn")
        and [t[0]["content"] for t in x.metadata["turns"]][: len(users)] == users
        and x.metadata["tools"][len(users) - 1] == req.tools
    )
    gt = s.target[len(users) - 1]
    if req.messages[-1]["role"] == "tool" or not gt:
        return "Done."
    blocks = []
    for text in gt:
        call = parse_call_string(text)
        owner = next(
            new_instance(c) for c in s.metadata["involved_classes"] if hasattr(new_instance(c), call.name)
        )
        names = list(inspect.signature(getattr(owner, call.name)).parameters)
        args = {**dict(zip(names, call.args, strict=False)), **call.kwargs}
        blocks.append(f"<tool_call>{json.dumps({'name': call.name, 'arguments': args})}</tool_call>")
    return "\n".join(blocks)


def test_a_model_that_answers_right_scores_every_python_and_multi_turn_category(tmp_path: Path) -> None:
    samples = _samples()
    single = {
        json.dumps(s.messages): s for s in samples if not s.metadata["category"].startswith("multi_turn")
    }

    def script(req: ChatRequest) -> str:
        s = single.get(json.dumps(req.messages))
        if s is None:
            return _multi_turn_step(samples, req)
        return "I don't know." if s.metadata["category"] in ("java", "javascript") else _right_answer(s)

    res = run_eval(
        RunConfig(task="bfcl_v3", results_dir=tmp_path, progress=False), runner=ScriptedRunner(script)
    )
    cats = res.metrics["bfcl"]["categories"]
    assert all(v["correct"] == v["total"] for c, v in cats.items() if c not in ("java", "javascript"))
    assert cats["java"]["correct"] == 0 and cats["javascript"]["correct"] == 0
    assert res.metrics["bfcl"]["parts"]["live"] == 1.0
    assert res.metrics["bfcl"]["parts"]["non_live"] == pytest.approx((1 / 3 + 4) / 5)
    assert "| live | live_parallel_multiple | 1 | 100.0 |" in res.report_path.read_text()
    assert cats["multi_turn_base"]["correct"] == cats["multi_turn_miss_func"]["correct"] == 1
    records = [json.loads(x) for x in (res.run_dir / "samples.jsonl").read_text().splitlines()]
    mt = next(r for r in records if r["id"] == "multi_turn_miss_func_0")
    # The held-out function's turn carries BFCL's prompt; tool results come back as tool messages.
    assert any(
        m.get("content", "").startswith("I have updated some more functions") for m in mt["transcript"]
    )
    assert any(m["role"] == "tool" for m in mt["transcript"]) and mt["n_calls"] > 5


def test_multi_turn_failures_empty_turn_and_force_termination(tmp_path: Path) -> None:
    s = next(x for x in _samples() if x.id == "multi_turn_base_0")
    ctx = ScoreContext(SPEC, reasoning_mode=False)

    def play(answer: Any) -> tuple[Any, int]:
        gen = FAMILY.solver(SPEC, frozenset({"model"}))(s, SamplingParams(), False, 0)
        req, n = next(gen), 0
        try:
            while True:
                n += 1
                req = gen.send(Completion(text=answer(req), finish_reason="stop"))
        except StopIteration as stop:
            return stop.value, n

    lazy, n = play(lambda req: "I would rather not.")
    assert n == len(s.metadata["turns"])  # one step per turn
    assert FAMILY.score(s, lazy, ctx).details["error_type"] == "multi_turn:empty_turn_model_response"
    busy, n = play(lambda req: '<tool_call>{"name": "ls", "arguments": {}}</tool_call>')
    assert n == 21 and busy.info["force_terminated"]  # more than 20 steps in a turn ends the entry
    v = FAMILY.score(s, busy, ctx)
    assert (v.correct, v.details["error_type"]) == (False, "multi_turn:force_terminated")


def test_evalkit_score_replays_multi_turn_responses(tmp_path: Path) -> None:
    samples = _samples()
    s = next(x for x in samples if x.id == "multi_turn_base_0")
    turns = []
    history: list[dict[str, Any]] = []
    for k, turn in enumerate(s.metadata["turns"]):
        history += turn
        req = ChatRequest(messages=list(history), params=SamplingParams(), tools=s.metadata["tools"][k])
        first = _multi_turn_step(samples, req)
        history += [{"role": "tool", "content": "x"}]  # the scripted model then finishes the turn
        turns.append([first, "Done."] if first != "Done." else ["Done."])
    p = tmp_path / "r.jsonl"
    p.write_text(
        json.dumps({"id": s.id, "repeat": 0, "responses": turns})
        + "\n"
        + json.dumps({"id": s.id, "repeat": 1, "responses": [["Done."]] * 4})
        + "\n",
        encoding="utf-8",
    )
    out = io.StringIO()
    score_responses("bfcl_v3", p, data="sample", mode="non-reasoning", out=out)
    got = [json.loads(x) for x in out.getvalue().splitlines()]
    assert got == [
        {"id": s.id, "repeat": 0, "valid": True, "error_type": ""},
        {"id": s.id, "repeat": 1, "valid": False, "error_type": "multi_turn:empty_turn_model_response"},
    ]


def test_calls_inside_reasoning_do_not_count() -> None:
    s = next(x for x in _samples() if x.metadata["category"] == "simple")
    right = _right_answer(s)
    ctx = ScoreContext(SPEC, reasoning_mode=True)

    def out(text: str) -> EpisodeOutput:
        c = Completion(text=text, finish_reason="stop")
        return EpisodeOutput(calls=[c], final=c)

    assert FAMILY.score(s, out("let me call it</think>\n" + right), ctx).correct
    v = FAMILY.score(s, out(right + " and then I keep thinking"), ctx)  # never closed
    assert not v.correct and "no answer" in v.reason


def test_evalkit_score_rows(tmp_path: Path) -> None:
    s = next(x for x in _samples() if x.metadata["category"] == "parallel")
    p = tmp_path / "r.jsonl"
    rows = [
        {"id": s.id, "repeat": 0, "response": _right_answer(s)},
        {"id": s.id, "repeat": 1, "response": "<tool_call>{broken</tool_call>"},
    ]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = io.StringIO()
    score_responses("bfcl_v3", p, data="sample", mode="non-reasoning", out=out)
    got = [json.loads(x) for x in out.getvalue().splitlines()]
    assert got == [
        {"id": s.id, "repeat": 0, "valid": True, "error_type": ""},
        {
            "id": s.id,
            "repeat": 1,
            "valid": False,
            "error_type": "parallel_function_checker_no_order:wrong_count",
        },
    ]


def test_bad_entries_name_the_field() -> None:
    with pytest.raises(DataError) as e:
        FAMILY.build_sample(
            Row("x", 4, {"id": "x", "category": "simplest", "question": [[]]}), SPEC, BuildContext("f.jsonl")
        )
    assert (e.value.row, e.value.field) == (5, "category")
    with pytest.raises(DataError) as e:
        row = {
            "id": "x",
            "category": "simple",
            "question": [[{"role": "user", "content": "hi"}]],
            "function": [{"name": "f"}],
        }
        FAMILY.build_sample(Row("x", 0, row), SPEC, BuildContext("f.jsonl"))
    assert e.value.field == "ground_truth"


def test_leaderboard_formula() -> None:
    s = {
        c: CategoryScore(1, 2) for c in ("simple", "multiple", "parallel", "parallel_multiple", "irrelevance")
    }
    s |= {"java": CategoryScore(0, 10), "javascript": CategoryScore(10, 10)}
    s |= {
        "live_simple": CategoryScore(3, 4),
        "live_multiple": CategoryScore(0, 4),
        "live_parallel": CategoryScore(1, 1),
    }
    s |= {
        "live_parallel_multiple": CategoryScore(1, 1),
        "live_irrelevance": CategoryScore(0, 0),
        "live_relevance": CategoryScore(1, 2),
    }
    parts = board(s)
    assert parts["live"] is None  # live_irrelevance has no entries: incomplete
    s["live_irrelevance"] = CategoryScore(4, 8)
    s |= {
        c: CategoryScore(1, 4)
        for c in (
            "multi_turn_base",
            "multi_turn_miss_func",
            "multi_turn_miss_param",
            "multi_turn_long_context",
        )
    }
    parts = board(s)
    assert parts["non_live_simple"] == pytest.approx(0.5)  # (0.5 + 0 + 1) / 3
    assert parts["non_live"] == pytest.approx(0.5)
    assert parts["live"] == pytest.approx(10 / 20)  # pooled: (3+0+1+1+4+1) / (4+4+1+1+8+2)
    assert parts["multi_turn"] == pytest.approx(0.25)
    assert parts["overall"] == pytest.approx((0.5 + 0.5 + 0.25) / 3)
