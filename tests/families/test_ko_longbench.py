"""Ko-LongBench (evalkit's schema over a user's copy): metrics on worked examples, the
bundled synthetic sample end to end, category averaging, and clear failures on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.errors import DataError, UsageError
from evalkit.families.ko_longbench import char_f1, subem
from evalkit.pipeline import RunConfig, run_eval
from tests.fakes import ScriptedRunner

ROWS = [json.loads(x) for x in Path("tasks/samples/ko_longbench.jsonl").read_text().splitlines()]


def test_subem_worked_examples() -> None:
    assert subem("답은 5층 대회의실입니다.", ["5층 대회의실"]) == 1.0
    assert subem("5층 대회의실", ["5층  대회의실!"]) == 1.0  # spaces and punctuation normalised
    assert subem("3층 회의실", ["5층 대회의실"]) == 0.0
    assert subem("", ["모니터"]) == 0.0


def test_char_f1_worked_example() -> None:
    # "6개월마다" vs "6개월": 3 shared characters, precision 3/5, recall 3/3 -> F1 = 0.75
    assert char_f1("6개월마다", ["6개월"]) == pytest.approx(0.75)
    assert char_f1("6 개월", ["6개월"]) == 1.0  # whitespace removed, as KorQuAD does
    assert char_f1("없음", ["6개월"]) == 0.0


def test_end_to_end_on_sample_category_means(tmp_path: Path) -> None:
    def answer(req):
        text = req.messages[0]["content"]
        for r in ROWS:
            if r["question"] in text:
                # right on every dialogue and document row, wrong on table rows
                return "<think>\n\n</think>\n\n" + (
                    "모름" if r["category"] == "table_qa" else r["answers"][0]
                )
        return "<think>\n\n</think>\n\n모름"

    res = run_eval(
        RunConfig(task="ko_longbench", results_dir=tmp_path, progress=False), runner=ScriptedRunner(answer)
    )
    m = res.metrics
    assert m["categories"] == {"document_qa": 1.0, "dialogue": 1.0, "table_qa": 0.0}
    assert m["value"] == pytest.approx(2 / 3)
    assert m["reproducible"] is False and "in-house" in m["note"]
    recs = [json.loads(x) for x in (res.run_dir / "samples.jsonl").read_text().splitlines()]
    prompt = recs[0]["messages"][0]["content"]
    assert prompt.startswith("다음 문서를 읽고") and "질문:" in prompt


def test_no_hub_source_names_data(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--data /path"):  # the CLI's name for it (make: DATA=)
        run_eval(
            RunConfig(task="ko_longbench", data="hub", results_dir=tmp_path, progress=False),
            runner=ScriptedRunner(lambda r: "x"),
        )


@pytest.mark.parametrize(
    ("change", "field"),
    [({"answers": []}, "answers"), ({"context": ""}, "context"), ({"metric": "bleu"}, "metric")],
)
def test_bad_row_names_file_row_and_field(tmp_path: Path, change: dict, field: str) -> None:
    bad = tmp_path / "ko.jsonl"
    bad.write_text(json.dumps(ROWS[0], ensure_ascii=False) + "\n" + json.dumps({**ROWS[1], **change}) + "\n")
    with pytest.raises(DataError, match=f"ko.jsonl.*2.*{field}"):
        run_eval(
            RunConfig(task="ko_longbench", data=str(bad), results_dir=tmp_path, progress=False),
            runner=ScriptedRunner(lambda r: "x"),
        )


def test_single_answer_string_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "ko.jsonl"
    row = {k: v for k, v in ROWS[3].items() if k != "answers"} | {"answer": "4417"}
    path.write_text(json.dumps(row, ensure_ascii=False) + "\n")
    res = run_eval(
        RunConfig(task="ko_longbench", data=str(path), results_dir=tmp_path, progress=False),
        runner=ScriptedRunner(lambda r: "<think>\n\n</think>\n\n주문번호는 4417번입니다."),
    )
    assert res.metrics["value"] == 1.0
