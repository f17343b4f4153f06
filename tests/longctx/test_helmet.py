"""HELMET: metrics on worked examples (HELMET utils.py semantics), the release reader on a
folder in the release layout (subset draw, demos), and the family end to end on the bundled
synthetic sample, with the category averaging and the not-scored categories reported."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from evalkit.benchmarks.helmet.metrics import (
    parse_output,
    ruler_recall,
    subem_with_parse,
    substring_exact_match,
)
from evalkit.benchmarks.helmet.release import read_release, shuffle_order
from evalkit.errors import UsageError
from evalkit.pipeline import RunConfig, run_eval
from evalkit.registry import get_task
from evalkit.specs import TaskSpec
from tests.data.helmet.layout import build
from tests.fakes import ScriptedRunner

SAMPLE = [json.loads(x) for x in Path("tasks/samples/helmet.jsonl").read_text().splitlines()]


def test_metric_worked_examples() -> None:
    # SQuAD normalisation: case, punctuation and articles do not matter
    assert substring_exact_match("It was The Beatles!", ["beatles"]) == 1.0
    assert substring_exact_match("Paul", ["Paul McCartney"]) == 0.0
    # parse_output: text after the prefix on its line, else the first line
    assert parse_output("Answer: Paris\nmore", "Answer:") == "Paris"
    assert parse_output("Paris is it\nsecond") == "Paris is it"
    assert subem_with_parse("I think so.\nAnswer: Lyon", ["Lyon"], "Answer:") == 1.0
    # RULER recall: the fraction of the values found, case-insensitive
    assert ruler_recall("1203344 and that is all", ["1203344", "9981202"]) == 0.5
    assert ruler_recall("ABC", ["abc"]) == 1.0


def test_shuffle_order_is_datasets_shuffle() -> None:
    import datasets

    ds = datasets.Dataset.from_dict({"i": list(range(50))}).shuffle(seed=42)
    assert shuffle_order(50, 42) == ds["i"]


def _spec(**extra: object) -> TaskSpec:
    """The helmet spec with some `extra` settings changed (a copy: the registry's is shared)."""
    spec = get_task("helmet")
    return dataclasses.replace(spec, extra={**spec.extra, **extra})


def _release(tmp_path: Path) -> Path:
    """A folder in HELMET's release layout: every file the task reads, rows from the sample."""
    from evalkit.benchmarks.helmet.datasets import DATASETS

    root = tmp_path / "helmet" / "data"
    by_name = {r["dataset"]: r for r in SAMPLE}
    for name, ds in DATASETS.items():
        if ds.hub is not None or ds.pre_cut is not None:  # built from HF datasets: tests/data/helmet
            continue
        base = {
            k: v
            for k, v in by_name.get(
                name, by_name.get("ruler_niah_mk_2" if "ruler" in name else "kilt_nq")
            ).items()
            if k not in ("dataset", "helmet_index")
        }
        if ds.category == "RAG":
            test = [
                {**base, "id": f"q{i}", "question": f"question {i}", "answers": ["Mara Velin"], "s_pop": 50}
                for i in range(4)
            ]
            demo = [
                {
                    **base,
                    "id": f"d{i}",
                    "question": f"demo question {i}",
                    "answers": [f"demo answer {i}"],
                    "s_pop": 50,
                }
                for i in range(6)
            ]
            (root / ds.demo_file).parent.mkdir(parents=True, exist_ok=True)  # type: ignore[operator]
            (root / ds.demo_file).write_text("\n".join(map(json.dumps, demo)) + "\n")  # type: ignore[operator]
        elif ds.category == "Re-rank":
            test = [{**base, "qid": f"q{i}", "query": f"query {i}"} for i in range(3)]
            demo = [{**base, "qid": f"d{i}", "query": f"demo query {i}"} for i in range(4)]
            (root / ds.demo_file).parent.mkdir(parents=True, exist_ok=True)  # type: ignore[operator]
            (root / ds.demo_file).write_text("\n".join(map(json.dumps, demo)) + "\n")  # type: ignore[operator]
        elif name == "json_kv":
            test = [{**base, "answer": f"value-{i}"} for i in range(5)]
        else:
            test = [{**base, "index": i, "outputs": [str(1000 + i)]} for i in range(5)]
        (root / ds.test_file).parent.mkdir(parents=True, exist_ok=True)
        (root / ds.test_file).write_text("\n".join(map(json.dumps, test)) + "\n")
    return root.parent


def test_release_reader_subset_and_demos(tmp_path: Path) -> None:
    spec = _spec(datasets=["ruler_niah_mk_2", "kilt_nq"], max_test_samples=3)
    recs = read_release(spec, _release(tmp_path))
    niah = [r for r in recs if r["dataset"] == "ruler_niah_mk_2"]
    assert [r["helmet_index"] for r in niah] == shuffle_order(5, 42)[:3]
    nq = [r for r in recs if r["dataset"] == "kilt_nq"]
    assert len(nq) == 3
    demos = nq[0]["helmet_demos"]
    # two distinct demos in HELMET's demo template, then a blank line before the context
    assert demos.count("\nAnswer: demo answer ") == 2 and demos.endswith("\n\n")
    assert demos.startswith("Document (Title: Harbor Ledger): ")


def test_release_rerank_demos(tmp_path: Path) -> None:
    spec = _spec(datasets=["msmarco_rerank_psg"], max_test_samples=None)
    recs = read_release(spec, _release(tmp_path))
    assert len(recs) == 3
    demos = recs[0]["helmet_demos"]
    # two demos of other queries, each its passages then the gold ranking (labels 3 > 1 > 0 > 0)
    assert demos.count("\nRanking: 11 > 13 > 12 > 14\n\n") == 2
    assert "Query: demo query " in demos and "Query: query " not in demos


def test_release_run_end_to_end(tmp_path: Path) -> None:
    root = build(_release(tmp_path))  # the release files, then hf/ and the Summ files beside them

    def answer(req):
        text = req.messages[0]["content"]
        return "<think>\n\n</think>\n\n" + ("Answer: Mara Velin" if "Question: question" in text else "none")

    res = run_eval(
        RunConfig(task="helmet", data=str(root), results_dir=tmp_path / "r", progress=False, limit=None),
        runner=ScriptedRunner(answer),
    )
    # caps (100, ICL 500) > rows here: 5 per Recall file, 4 per RAG file, 3 re-rank, ICL's test
    # splits (12, 12, 12, 14 and NLU's 10 % of 20), 2 kept rows per LongQA/Summ dataset
    m = res.metrics
    assert m["n_items"] == 4 * 5 + 4 * 4 + 3 + (12 + 12 + 12 + 14 + 2) + 5 * 2
    assert m["categories"] == {
        "Recall": 0.0,
        "RAG": 1.0,
        "Re-rank": 0.0,
        "ICL": 0.0,
        "LongQA": 0.0,
        "Summ": 0.0,
    }
    assert m["value"] == pytest.approx(1 / 6)
    # TREC's 6,600/6,400-demo contexts exceed 131,072 - 20 tokens of the tiny model's tokenizer
    # and are cut at their end (the question stays); BANKING77's (shorter texts) fit
    recs = {r["id"]: r for r in map(json.loads, (res.run_dir / "samples.jsonl").read_text().splitlines())}
    cut = sorted({r["subject"] for r in recs.values() if r["details"]["context_cut"]})
    assert cut == ["icl_trec_coarse_6600shot_balance", "icl_trec_fine_6400shot_balance"]
    from evalkit.longctx.tokens import chat_overhead, load_tokenizer

    tok = load_tokenizer("tiny")
    text = recs["icl_trec_coarse_6600shot_balance/0"]["messages"][0]["content"]
    n = len(tok(text, add_special_tokens=False)["input_ids"]) + chat_overhead(tok)
    assert 131_072 - 20 - 5 <= n <= 131_072 - 20  # one cut, at a token boundary, as HELMET's tokenize()
    assert text.startswith("Use the provided mapping") and text.endswith(
        "\nl\n\nHow far is it from Denver to Aspen ?"
    )
    assert m["context_cut_rate"] == pytest.approx(24 / m["n_items"])


def test_missing_release_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not an unpacked HELMET release"):
        read_release(get_task("helmet"), tmp_path)
    spec = get_task("helmet")
    root = _release(tmp_path)
    (root / "data/json_kv/test_k1800_dep6.jsonl").unlink()
    with pytest.raises(UsageError, match=r"json_kv/test_k1800_dep6\.jsonl: missing"):
        read_release(spec, root)


def test_rerank_parse_and_ndcg_worked_example() -> None:
    from evalkit.benchmarks.helmet.metrics import ndcg_at_k, parse_rankings

    assert parse_rankings("Ranking: [ID: 13] > [ID: 11] > [ID: 12]\nthanks") == {"13": 3, "11": 2, "12": 1}
    assert parse_rankings("7 > 7 > 2") == {"7": 3, "2": 1}  # first occurrence kept
    assert parse_rankings("no ids") == {"no s": 1}  # "id" removed, as upstream: unmatchable
    qrel = {"11": 3, "12": 0, "13": 1, "14": 0}
    # DCG = 1/log2(2) + 3/log2(3) = 2.89279; IDCG = 3/log2(2) + 1/log2(3) = 3.63093
    assert ndcg_at_k({"13": 3, "11": 2, "12": 1}, qrel) == pytest.approx(0.796708, abs=1e-6)
    assert ndcg_at_k({"11": 4, "13": 3, "12": 2, "14": 1}, qrel) == 1.0
    assert ndcg_at_k({"99": 1}, qrel) == 0.0


def test_popqa_popularity_filter_keeps_file_lines(tmp_path: Path) -> None:
    root = _release(tmp_path)
    file = root / "data/kilt/popqa_test_1000_k1000_dep6.jsonl"
    rows = [json.loads(x) for x in file.read_text().splitlines()]
    rows[1]["s_pop"] = 5000  # log10 = 3.7: not below 3, dropped as load_qa drops it
    file.write_text("\n".join(map(json.dumps, rows)) + "\n")
    recs = read_release(_spec(datasets=["kilt_popqa_3"], max_test_samples=None), root)
    assert [r["helmet_index"] for r in recs] == [0, 2, 3]
