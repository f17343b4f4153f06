"""The typed run records (evalkit.run_records) against runs stored before they existed.

tests/data/stored_runs/ holds nine run directories written by evalkit before the records
were typed (README there): they must read into the records, render the same report.md, and
their metrics.json must come out byte for byte the same from their samples.jsonl.
"""

import json
from pathlib import Path

import pytest

from evalkit.chat import split_completion
from evalkit.errors import DataError
from evalkit.families import load_family
from evalkit.jsonl import dumps_line
from evalkit.records import Completion, Sample, Verdict
from evalkit.registry import get_task
from evalkit.reporting.metrics import run_metrics
from evalkit.reporting.run_report import render_report
from evalkit.reporting.runs import load_run
from evalkit.run_records import (
    RunInfo,
    error_record,
    error_summary,
    load_error_record,
    load_run_metrics,
    load_sample_record,
    read_error_records,
    read_sample_records,
    sample_record,
)
from evalkit.solvers import EpisodeOutput

STORED = Path(__file__).parent / "data" / "stored_runs"
RUNS = sorted(p for p in STORED.iterdir() if p.is_dir())


def test_every_stored_run_is_here():
    assert [p.name for p in RUNS] == [
        "bfcl_v3",
        "helmet",
        "ifeval",
        "kmmlu_pro",
        "livecodebench_v6",
        "longbench_v1",
        "math500_es",
        "multi_if_en",
        "wmt24pp_es",
    ]


@pytest.mark.parametrize("run", RUNS, ids=lambda p: p.name)
def test_stored_samples_read_into_sample_records(run):
    records = read_sample_records(run / "samples.jsonl")
    m = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert len(records) == m["n_samples"]
    for r in records:
        assert isinstance(r["id"], str) and r["finish_reason"] in ("stop", "length")
        assert (0.0 <= r["score"] <= 1.0 and r["correct"] == (r["score"] == 1.0)) or "bfcl" in run.name
        assert r["n_calls"] >= 1 and r["messages"][0]["role"] in ("system", "user")
    assert read_error_records(run / "errors.jsonl") == []  # none failed; the file is absent


@pytest.mark.parametrize("run", RUNS, ids=lambda p: p.name)
def test_stored_metrics_render_the_stored_report(run):
    m = load_run_metrics(run / "metrics.json")
    assert render_report(m) == (run / "report.md").read_text(encoding="utf-8")
    assert load_run(run).value == m["value"]


@pytest.mark.parametrize("run", RUNS, ids=lambda p: p.name)
def test_stored_metrics_come_again_from_stored_samples(run):
    """The family's aggregate over the stored samples, with the stored run settings, writes
    the very metrics.json the old code wrote: keys, order, values (tables rendered the same)."""
    text = (run / "metrics.json").read_text(encoding="utf-8")
    stored = json.loads(text)
    spec = get_task(stored["task"])
    family = load_family(spec.family).aggregate(
        read_sample_records(run / "samples.jsonl"), stored["n_repeats"], spec
    )
    info: RunInfo = {k: v for k, v in stored.items() if k in RunInfo.__annotations__}  # type: ignore[assignment]
    assert json.dumps(run_metrics(family, info), indent=2, ensure_ascii=False) == text


def _episode() -> tuple[Sample, EpisodeOutput, Verdict]:
    sample = Sample(
        id="q7",
        messages=[{"role": "user", "content": "2+2?"}],
        target="4",
        metadata={"subject": "arithmetic"},
    )
    first = Completion(text="<think>hm", finish_reason="length", prompt_tokens=9, completion_tokens=5)
    final = Completion(
        text="<think>2+2</think>4\u2028", finish_reason="stop", prompt_tokens=20, completion_tokens=7
    )
    out = EpisodeOutput(calls=[first, final], final=final, info={"perm": [1, 0]})
    verdict = Verdict(extracted="4", correct=True, reason="exact", score=1.0, details={"method": "boxed"})
    return sample, out, verdict


def test_sample_record_round_trips_through_its_jsonl_line():
    sample, out, verdict = _episode()
    rec = sample_record(sample, 1, out, verdict, split_completion(out.final.text, None, reasoning_mode=True))
    assert rec["answer"] == "4" and rec["reasoning"] == "2+2" and not rec["unclosed_think"]
    assert rec["raw"] == "<think>2+2</think>4\u2028" and rec["target"] == "4" and rec["repeat"] == 1
    assert rec["truncated"] and rec["n_calls"] == 2 and rec["prompt_tokens"] == 29
    assert rec["subject"] == "arithmetic" and rec["info"] == {"perm": [1, 0]}
    line = dumps_line(rec)
    assert line.count("\n") == 1  # U+2028 escaped: one record per line for every reader
    assert load_sample_record(json.loads(line), "samples.jsonl", 1) == rec


def test_error_record_round_trips_and_sums_up():
    _, out, _ = _episode()
    failed = Completion(text="", finish_reason="error", error="HTTP 500")
    errors = [
        error_record(f"q{i}", 0, EpisodeOutput(calls=[*out.calls, failed], final=failed)) for i in range(7)
    ]
    assert errors[0] == {"id": "q0", "repeat": 0, "error": "HTTP 500", "n_calls": 3}
    assert load_error_record(json.loads(dumps_line(errors[0])), "errors.jsonl", 1) == errors[0]
    summary = error_summary(errors, 20)
    assert summary["failed_samples"] == 7 and summary["planned_samples"] == 20
    assert [e["id"] for e in summary["examples"]] == ["q0", "q1", "q2", "q3", "q4"]
    assert set(summary["examples"][0]) == {"id", "repeat", "error"}


def test_lines_from_before_the_later_fields_still_read():
    """samples.jsonl lines of runs before 2026-11-29 have no truncated, n_calls, transcript, info."""
    line = json.loads((RUNS[0] / "samples.jsonl").read_text(encoding="utf-8").split("\n")[0])
    for key in ("truncated", "n_calls", "transcript", "info"):
        del line[key]
    assert "n_calls" not in load_sample_record(line, "old.jsonl", 1)


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"score": "1"}, "score", "expected int or float"),
        ({"correct": 1}, "correct", "expected bool"),
        ({"repeat": True}, "repeat", "expected int"),
        ({"finish_reason": "timeout"}, "finish_reason", "expected one of stop, length, error"),
        ({"n_calls": None}, "n_calls", "expected int"),
    ],
)
def test_a_bad_stored_line_names_its_file_row_and_field(tmp_path, change, field, problem):
    line = json.loads((RUNS[0] / "samples.jsonl").read_text(encoding="utf-8").split("\n")[0])
    path = tmp_path / "samples.jsonl"
    path.write_text(dumps_line(line) + dumps_line({**line, **change}), encoding="utf-8")
    with pytest.raises(DataError) as e:
        read_sample_records(path)
    assert (e.value.row, e.value.field) == (2, field) and problem in e.value.problem


def test_a_missing_field_is_named(tmp_path):
    line = json.loads((RUNS[0] / "samples.jsonl").read_text(encoding="utf-8").split("\n")[0])
    del line["target"]
    with pytest.raises(DataError, match="field 'target': missing"):
        load_sample_record(line, tmp_path / "samples.jsonl", 3)
    m = json.loads((RUNS[0] / "metrics.json").read_text(encoding="utf-8"))
    del m["params"]
    (tmp_path / "metrics.json").write_text(json.dumps(m), encoding="utf-8")
    with pytest.raises(DataError, match="field 'params': missing"):
        load_run_metrics(tmp_path / "metrics.json")
