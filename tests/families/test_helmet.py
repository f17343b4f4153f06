"""HELMET family on the bundled synthetic sample: HELMET's prompts, per-dataset output
lengths, category means and the overall mean, the not-scored categories with reasons, and
bad rows failing with file, row and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.errors import DataError
from evalkit.pipeline import RunConfig, run_eval
from evalkit.reporting.format import report_table
from tests.fakes import ScriptedRunner

SAMPLE = [json.loads(x) for x in Path("tasks/samples/helmet.jsonl").read_text().splitlines()]


ANSWERS = {  # prompt text -> the scripted model's output
    "tidy-otter": "1203344",  # one of the two values: recall 0.5
    "frail-plover": "4821937",
    "Key: c7e2b1aa": "Corresponding value: 0f9e8d7c-3333-4333-8333-333333333333",
    "Query: what color is the harbor stone": "Ranking: [13] > [11] > [12]",  # NDCG@10 0.796708
    "How tall is the harbor tower ?": "label: 4",  # ICL: right
    "When was the bridge opened ?": "label: 12",  # right
    "the shop declined my card again": "label: 40",  # wrong (41)
    "please set an alarm for seven": "label: 120",  # right
    "wake me at eight tomorrow": "label: 5",  # wrong (17)
    "Where did the sailors of the Alba stay?": "Answer: on the northern island",  # ROUGE-L 1
    "What did the sailors build?": "Answer: They built a school",  # ROUGE-L F1 2/3 against "a school"
    "Which ship arrived without a crew?": "B",
    "Now summarize the book.": SAMPLE[15]["answers"][0],
    "Now please summarize the case.": "Summary: " + SAMPLE[16]["answers"][0],
}


def _script(lengths: list[int]):
    def answer(req):
        lengths.append(req.params.max_new_tokens)
        text = req.messages[0]["content"]
        hit = next((out for key, out in ANSWERS.items() if key in text), "Answer: Alba")  # triviaqa only
        return "<think>\n\n</think>\n\n" + hit

    return answer


def test_sample_end_to_end(tmp_path: Path) -> None:
    lengths: list[int] = []
    res = run_eval(
        RunConfig(task="helmet", max_new_tokens=2048, results_dir=tmp_path, progress=False),
        runner=ScriptedRunner(_script(lengths)),
    )
    m = res.metrics
    # Recall: niah_mk_2 1.0, niah_mv 0.5, json_kv 1.0; RAG: nq 0, triviaqa 1, popqa 0
    assert m["categories"]["Recall"] == pytest.approx(2.5 / 3)
    assert m["categories"]["RAG"] == pytest.approx(1 / 3)
    assert m["categories"]["Re-rank"] == pytest.approx(0.796708, abs=1e-6)
    assert m["categories"]["ICL"] == pytest.approx(3 / 5)
    # no judge: NarrativeQA by its ROUGE-L stand-in (1.0), infbench QA 2/3, MC 1
    assert m["categories"]["LongQA"] == pytest.approx((1 + 2 / 3 + 1) / 3)
    assert m["categories"]["Summ"] == pytest.approx(1.0)  # ROUGE-L stand-ins, outputs equal the references
    want = (2.5 / 3 + 1 / 3 + 0.796708 + 3 / 5 + 8 / 9 + 1.0) / 6
    assert m["value"] == pytest.approx(want, abs=1e-6)
    st = m["category_status"]
    assert st["ICL"] == st["Re-rank"] == "as HELMET"
    assert st["Recall"].startswith("partial") and "ruler_niah_mk_2" in st["Recall"]
    assert "stand-in for narrativeqa_130772 " in st["LongQA"]
    assert "stand-in for infbench_sum_eng_129672, multi_lexsum_130372" in st["Summ"]
    assert set(m["not_scored"]) == {"Cite"}
    assert "NOT comparable" in m["metric"] and "LongQA: ROUGE-L F1 stand-in" in m["metric"]
    assert m["judge"]["items_judged"] == 0
    assert sorted(set(lengths)) == [10, 20, 50, 100, 200, 400, 1200]
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
    icl = recs["icl_trec_coarse_6600shot_balance/0"]["messages"][0]["content"]
    assert icl.startswith(
        'Use the provided mapping from the text to label to assign a label to the text. Only output "label: '
        '{label}" and nothing else. \n\nHow far is the moon ?\nlabel: 4\n\n'
    )
    assert icl.endswith("\n\nHow tall is the harbor tower ?")
    mc = recs["infbench_choice_eng_130862/0"]["messages"][0]["content"]
    assert mc.endswith(
        "Question: Which ship arrived without a crew?\nOptions:\n"
        "A. the Beta\nB. the Alba\nC. the Gamma\nD. the Delta"
    )
    assert "For example:\n\n[story text]\nQuestion: Who keeps the ledger?" in mc
    lex = recs["multi_lexsum_130372/0"]["messages"][0]["content"]
    assert "Example summaries:\n\nSummary: A prisoner" in lex and "\nLegal documents:\nCOMPLAINT." in lex


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


def test_headline_se_is_that_of_the_mean_of_category_means() -> None:
    from evalkit.families.helmet import aggregate
    from evalkit.registry import get_task

    def rec(dataset: str, i: int, score: float) -> dict:
        return {
            "id": f"{dataset}/{i}",
            "subject": dataset,
            "score": score,
            "extracted": "x",
            "finish_reason": "stop",
            "prompt_tokens": 1,
            "completion_tokens": 1,
            "details": {"context_cut": False},
        }

    # ICL: two datasets (scores 1,0,1,0 and 1,1,1,1); Re-rank: one (0.5 x 4)
    records = [rec("icl_nlu_8296shot_balance", i, float(i % 2 == 0)) for i in range(4)]
    records += [rec("icl_banking77_5900shot_balance", i, 1.0) for i in range(4)]
    records += [rec("msmarco_rerank_psg", i, 0.5) for i in range(4)]
    m = aggregate(records, 1, get_task("helmet"))
    assert m["categories"] == {"ICL": 0.75, "Re-rank": 0.5}
    assert m["value"] == pytest.approx(0.625)
    # weights 1/4, 1/4, 1/2; the alternating dataset's SE is sqrt(0.25 / 4 * 4 / 3) = 0.288675,
    # the constant ones' 0: SE = 0.288675 / 4
    assert m["se"] == pytest.approx(0.288675 / 4, abs=1e-6)
    assert m["category_status"]["ICL"].startswith("partial") and "NOT comparable" in m["metric"]
    # the family gives its table as data; metrics.json holds it rendered
    assert report_table(m["tables"][0])["rows"][3] == ["ICL", "75.0", m["category_status"]["ICL"]]
