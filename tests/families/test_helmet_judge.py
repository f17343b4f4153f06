"""HELMET's LLM-judge path end to end: `evalkit run helmet` on the embedded tiny model (torch
runner) with `--judge` pointing at a scripted OpenAI-compatible judge served over a real socket
(the `openai` runner against `evalkit serve`'s app, as the tau-bench test serves its user
simulator). The judge's replies are scripted per rubric, one of them malformed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.cli import main
from evalkit.records import ChatRequest
from tests.families.test_tau_bench_served import _profile, _serve

PROMPTS: list[str] = []


def _judge(req: ChatRequest) -> str:
    """LongQA: fluency 1, correctness 2. Summ: fluency 1; recall 2 (En.Sum) or a reply with no
    score (Multi-LexSum: malformed); precision 1 of 2 sentences, in a fenced block."""
    text = req.messages[0]["content"]
    PROMPTS.append(text)
    if "Correctness:" in text:
        return 'The answer is partly right.\n{"fluency": 1, "correctness": 2}'
    if "evaluate the fluency" in text:
        return 'Fine.\n{"fluency": 1}'
    if "Key points:\n1." in text:
        return "Hard to say." if "civil lawsuit" in text else 'Reasoning ...\nOutput: {"recall": 2}'
    return 'Two sentences.\n```json\n{"precision": 1, "sentence_count": 2}\n```'


@pytest.fixture
def judge_port():
    port, server = _serve(_judge, "scripted-judge")
    yield port
    server.should_exit = True


def test_cli_runs_helmet_with_a_served_judge(tmp_path: Path, judge_port: int) -> None:
    PROMPTS.clear()
    rc = main(
        [
            "run",
            "helmet",
            "--judge",
            str(_profile(tmp_path / "judge.yaml", "scripted-judge", judge_port)),
            "--data",
            "sample",
            "--max-new-tokens",
            "8",
            "--results-dir",
            str(tmp_path / "runs"),
            "--no-progress",
        ]
    )
    assert rc == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    m = json.loads((run_dir / "metrics.json").read_text())
    recs = {r["subject"]: r for r in map(json.loads, (run_dir / "samples.jsonl").read_text().splitlines())}
    # judged: NarrativeQA one call, each Summ dataset three; the others none
    assert recs["narrativeqa_130772"]["n_calls"] == 2
    assert recs["infbench_sum_eng_129672"]["n_calls"] == recs["multi_lexsum_130372"]["n_calls"] == 4
    assert recs["infbench_qa_eng_130862"]["n_calls"] == recs["kilt_nq"]["n_calls"] == 1
    assert len(PROMPTS) == 1 + 3 + 3
    # NarrativeQA: fluency 1 x correctness 2 / 3
    assert recs["narrativeqa_130772"]["score"] == pytest.approx(2 / 3)
    # En.Sum: 2 of its 3 key points, 1 of 2 sentences: F1 = 4/7
    assert recs["infbench_sum_eng_129672"]["score"] == pytest.approx(4 / 7)
    # Multi-LexSum: the recall reply has no score -> 0, with the reason
    lex = recs["multi_lexsum_130372"]
    assert lex["score"] == 0.0 and "lack a numeric recall" in lex["reason"] and not lex["details"]["judge_ok"]
    assert m["categories"]["Summ"] == pytest.approx(2 / 7)
    assert m["judge"]["items_judged"] == 3 and m["judge"]["unusable_replies"] == 1
    assert m["category_status"]["LongQA"] == m["category_status"]["Summ"] == "as HELMET"
    # the sample lacks some Recall and RAG datasets: still not comparable, and it says why
    assert (
        "NOT comparable" in m["metric"]
        and "Recall: partial" in m["metric"]
        and "LongQA" not in m["metric"].split(";", 1)[1]
    )
    run = json.loads((run_dir / "run.json").read_text())
    assert run["aux_runners"]["judge"]["model"] == "scripted-judge"
    # the judge saw HELMET's prompts filled with the sample's data
    qa = next(p for p in PROMPTS if "Correctness:" in p)
    assert (
        "Question: Where did the sailors of the Alba stay?\n"
        "Correct answers: ['on the northern island', 'the northern island']\n" in qa
    )
    book_recall = next(p for p in PROMPTS if "Key points:\n1." in p and "novel" in p)
    assert (
        "Key points:\n1. Mara Velin keeps the Harbor Ledger.\n2. The ship Alba arrives without a crew.\n3. "
        in book_recall
    )
    lex_precision = next(p for p in PROMPTS if "Expert summary:" in p and "civil lawsuit" in p)
    assert 'Expert summary: "Residents of Harbor County sued over a curfew order' in lex_precision
