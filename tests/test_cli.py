import json
import subprocess
import sys
from pathlib import Path

import pytest

from evalkit.cli import main

REPO = Path(__file__).resolve().parent.parent


def test_unknown_task_exits_2(capsys):
    assert main(["run", "no_such_task"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("evalkit: error: unknown task 'no_such_task'") and err.count("\n") == 1


def test_missing_data_path_exits_2(capsys, tmp_path):
    assert (
        main(["run", "kmmlu_pro", "--data", str(tmp_path / "absent.jsonl"), "--results-dir", str(tmp_path)])
        == 2
    )
    assert "does not exist" in capsys.readouterr().err


def test_malformed_row_names_file_row_and_field(capsys, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"question": "q", "options": ["a", "b"], "solution": 1, "subject": "s"})
        + "\n"
        + json.dumps({"question": "q", "options": ["a", "b"], "subject": "s"})
        + "\n"
    )
    assert main(["run", "kmmlu_pro", "--data", str(bad), "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl, row 2, field 'solution': missing" in err


def test_score_contract(tmp_path, capsys):
    resp = tmp_path / "r.jsonl"
    rows = [
        {"id": "0", "response": "정답: B"},  # sample row 0: answer B
        {"id": "1", "response": "<think>It is 4 years.</think>\n\n정답: C"},
        {"id": "2", "response": "still thinking, answer A"},
        {
            "id": "x",
            "response": "ok</think>Answer: A",
            "question": "q?",
            "options": ["yes", "no"],
            "solution": 1,
        },
    ]
    resp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    out = tmp_path / "v.jsonl"
    assert (
        main(
            [
                "score",
                "kmmlu_pro",
                "--responses",
                str(resp),
                "--data",
                "sample",
                "--out",
                str(out),
                "--mode",
                "reasoning",
            ]
        )
        == 0
    )
    verdicts = [json.loads(x) for x in out.read_text().splitlines()]
    assert [set(v) for v in verdicts] == [{"id", "extracted", "correct", "reason"}] * 4
    # reasoning mode: rows 0 and 2 never close </think>, so they have no answer
    assert [(v["id"], v["extracted"], v["correct"]) for v in verdicts] == [
        ("0", None, False),
        ("1", "C", True),
        ("2", None, False),
        ("x", "A", True),
    ]
    assert "</think>" in verdicts[0]["reason"]

    assert main(["score", "kmmlu_pro", "--responses", str(resp), "--data", "sample"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines[0] == {"id": "0", "extracted": "B", "correct": True, "reason": "explicit answer statement"}


@pytest.mark.parametrize(
    ("row", "field"),
    [({"response": "A"}, "id"), ({"id": "0"}, "response"), ({"id": "0", "response": 3}, "response")],
)
def test_score_rejects_bad_rows_before_scoring(tmp_path, capsys, row, field):
    resp = tmp_path / "r.jsonl"
    resp.write_text(json.dumps({"id": "1", "response": "정답: C"}) + "\n" + json.dumps(row) + "\n")
    out = tmp_path / "v.jsonl"
    assert main(["score", "kmmlu_pro", "--responses", str(resp), "--data", "sample", "--out", str(out)]) == 2
    assert f"r.jsonl, row 2, field '{field}'" in capsys.readouterr().err
    assert out.read_text() == ""


def test_generate_prints_a_completion():
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "evalkit",
            "generate",
            "--model",
            "tiny",
            "--prompt",
            "안녕하세요",
            "--max-new-tokens",
            "8",
            "--greedy",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "finish_reason=" in out.stderr and "completion_tokens=" in out.stderr
    assert out.stdout.strip() != "" or "completion_tokens=0" not in out.stderr


@pytest.mark.parametrize("content", ["", "\n\n"])
def test_score_refuses_an_empty_responses_file(tmp_path, capsys, content):
    resp = tmp_path / "r.jsonl"
    resp.write_text(content)
    assert main(["score", "kmmlu_pro", "--responses", str(resp), "--data", "sample"]) == 2
    err = capsys.readouterr().err
    assert "r.jsonl: no responses in the file" in err and "nan" not in err


def test_score_refuses_duplicate_ids_naming_them(tmp_path, capsys):
    resp = tmp_path / "r.jsonl"
    rows = [
        {"id": "0", "response": "정답: B"},
        {"id": "1", "response": "정답: C"},
        {"id": "0", "response": "정답: A"},
        {"id": "2", "repeat": 0, "response": "A"},
        {"id": "2", "repeat": 1, "response": "B"},  # another repeat: fine
        {"id": "2", "repeat": 1, "response": "C"},
    ]
    resp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    out = tmp_path / "v.jsonl"
    assert main(["score", "kmmlu_pro", "--responses", str(resp), "--data", "sample", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "field 'id': duplicate responses: id '0' (rows 1, 3); id '2' repeat 1 (rows 5, 6)" in err
    assert out.read_text() == ""
