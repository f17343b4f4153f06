"""LongBench family end to end on the bundled (synthetic, real-schema) sample: prompts from
LongBench's templates, per-task output lengths, metrics, category averaging; bad rows fail
with file, row and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.errors import DataError
from evalkit.pipeline import RunConfig, run_eval
from evalkit.runners.torch_int4.runner import TorchInt4Runner
from tests.fakes import ScriptedRunner

ROWS = {
    r["_id"]: r for r in map(json.loads, Path("tasks/samples/longbench_v1.jsonl").read_text().splitlines())
}


def test_longbench_end_to_end(tmp_path: Path) -> None:
    seen = []

    def answer(req):
        seen.append(req.params.max_new_tokens)
        text = req.messages[0]["content"]
        for r in ROWS.values():  # answer with the gold of the row whose question is in the prompt
            if r["input"] and r["input"] in text:
                return "<think>\n\n</think>\n\n" + r["answers"][0]
        return "<think>\n\n</think>\n\nno idea"

    res = run_eval(
        RunConfig(task="longbench_v1", max_new_tokens=1024, results_dir=tmp_path, progress=False),
        runner=ScriptedRunner(answer),
    )
    recs = {
        r["id"].split("/")[0]: r
        for r in map(json.loads, (res.run_dir / "samples.jsonl").read_text().splitlines())
    }
    assert recs["hotpotqa"]["score"] == 1.0 and recs["trec"]["score"] == 1.0
    assert recs["passage_retrieval_en"]["score"] == 1.0
    assert recs["lcc"]["score"] < 1.0  # "no idea" vs code
    assert sorted(set(seen)) == [
        32,
        64,
        128,
        512,
    ]  # hotpotqa/passage 32, trec/lcc 64, narrativeqa 128, summary 512
    m = res.metrics
    cats = m["categories"]
    assert m["value"] == pytest.approx(sum(cats.values()) / len(cats))
    assert "Hotpot" not in json.dumps(recs["hotpotqa"]["messages"])  # LongBench's own prompt text:
    assert recs["hotpotqa"]["messages"][0]["content"].startswith(
        "Answer the question based on the given passages."
    )


def test_bad_row_names_file_row_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "lb.jsonl"
    bad.write_text(json.dumps({**next(iter(ROWS.values())), "answers": "not a list"}) + "\n")
    with pytest.raises(DataError, match="answers"):
        run_eval(
            RunConfig(task="longbench_v1", data=str(bad), results_dir=tmp_path, progress=False),
            runner=ScriptedRunner(lambda r: "x"),
        )


def test_torch_runner_refuses_over_long_prompt_and_reports_kv() -> None:
    from evalkit.errors import UsageError
    from evalkit.records import ChatRequest, SamplingParams

    r = TorchInt4Runner("tiny")
    try:
        assert r.max_context() == 131072
        assert r.kv_bytes_per_token() == 2 * 4 * 2 * 64 * 4  # K+V x layers x kv heads x head_dim x fp32
        req = ChatRequest([{"role": "user", "content": "hi"}], SamplingParams(max_new_tokens=131072))
        with pytest.raises(UsageError, match="exceeds tiny's context of 131072"):
            list(r.generate([req]))
    finally:
        r.close()
