"""HELMET family on the bundled synthetic sample: HELMET's prompts, per-dataset output
lengths, category means and the overall mean, the not-scored categories with reasons, and
bad rows failing with file, row and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.errors import DataError
from evalkit.pipeline import RunConfig, run_eval
from tests.fakes import ScriptedRunner

SAMPLE = [json.loads(x) for x in Path("tasks/samples/helmet.jsonl").read_text().splitlines()]


def test_sample_end_to_end(tmp_path: Path) -> None:
    lengths = []

    def answer(req):
        lengths.append(req.params.max_new_tokens)
        text = req.messages[0]["content"]
        if "tidy-otter" in text:
            return "<think>\n\n</think>\n\n1203344"  # one of the two values: recall 0.5
        if "frail-plover" in text:
            return "<think>\n\n</think>\n\n4821937"
        if "Key: c7e2b1aa" in text:
            return "<think>\n\n</think>\n\nCorresponding value: 0f9e8d7c-3333-4333-8333-333333333333"
        if "Query: what color is the harbor stone" in text:
            return "<think>\n\n</think>\n\nRanking: [13] > [11] > [12]"  # NDCG@10 0.796708
        return "<think>\n\n</think>\n\nAnswer: Alba"  # right for triviaqa only

    res = run_eval(
        RunConfig(task="helmet", max_new_tokens=1024, results_dir=tmp_path, progress=False),
        runner=ScriptedRunner(answer),
    )
    m = res.metrics
    # Recall: niah_mk_2 1.0, niah_mv 0.5, json_kv 1.0; RAG: nq 0, triviaqa 1, popqa 0
    assert m["categories"]["Recall"] == pytest.approx(2.5 / 3)
    assert m["categories"]["RAG"] == pytest.approx(1 / 3)
    assert m["categories"]["Re-rank"] == pytest.approx(0.796708, abs=1e-6)
    assert m["value"] == pytest.approx((2.5 / 3 + 1 / 3 + 0.796708) / 3, abs=1e-6)
    assert set(m["not_scored"]) == {"ICL", "LongQA", "Summ", "Cite"}
    assert "NOT comparable" in m["metric"]
    assert sorted(set(lengths)) == [20, 50, 100, 200]
    recs = {r["id"]: r for r in map(json.loads, (res.run_dir / "samples.jsonl").read_text().splitlines())}
    nq = recs["kilt_nq/0"]["messages"][0]["content"]
    assert nq.startswith("Use the given documents to write a concise and short answer to the question.")
    assert "Document (Title: Harbor Ledger): The Harbor Ledger" in nq
    rr = recs["msmarco_rerank_psg/0"]["messages"][0]["content"]
    assert "[ID: 11] Document: The harbor stone is grey granite.\n\n[ID: 12]" in rr
    assert rr.endswith("Query: what color is the harbor stone")
    kv = recs["json_kv/0"]["messages"][0]["content"]
    assert (
        "Key: 11111111-aaaa-4aaa-8aaa-aaaaaaaaaaaa\nCorresponding value: 22222222" not in kv
    )  # no demos in sample rows


@pytest.mark.parametrize(
    ("change", "field"), [({"dataset": "alce_asqa_700"}, "dataset"), ({"outputs": "x"}, "outputs")]
)
def test_bad_row_names_file_row_and_field(tmp_path: Path, change: dict, field: str) -> None:
    bad = tmp_path / "h.jsonl"
    bad.write_text(
        json.dumps(SAMPLE[0]) + "\n" + json.dumps({**SAMPLE[0], "helmet_index": 1, **change}) + "\n"
    )
    with pytest.raises(DataError, match=f"h.jsonl.*2.*{field}"):
        run_eval(
            RunConfig(task="helmet", data=str(bad), results_dir=tmp_path, progress=False),
            runner=ScriptedRunner(lambda r: "x"),
        )
