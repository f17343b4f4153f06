"""Reading run directories: bad files fail naming file, row and field."""

import json

import pytest

from evalkit.errors import DataError, UsageError
from evalkit.reporting import discover_runs, load_run
from tests.reporting.fake_runs import binary_scores, write_run


def test_discover_run_dirs_and_dirs_of_runs(tmp_path):
    write_run(tmp_path / "a", "r1", binary_scores(10, 0.5, 1))
    write_run(tmp_path / "a", "r2", binary_scores(10, 0.5, 2))
    write_run(tmp_path / "b", "r3", binary_scores(10, 0.5, 3))
    runs = discover_runs([tmp_path / "a", tmp_path / "b" / "r3", tmp_path / "a" / "r1"])
    assert [r.run_id for r in runs] == ["r1", "r2", "r3"]  # a run named twice is read once
    with pytest.raises(UsageError, match="neither a run directory"):
        discover_runs([tmp_path / "nothing"])


def test_missing_metric_key_names_the_field(tmp_path):
    d = write_run(tmp_path, "r", binary_scores(10, 0.5, 1))
    m = json.loads((d / "metrics.json").read_text())
    del m["n_items"]
    (d / "metrics.json").write_text(json.dumps(m))
    with pytest.raises(DataError, match=r"metrics.json, field 'n_items': missing"):
        load_run(d)


def test_bad_sample_row_names_row_and_field(tmp_path):
    d = write_run(tmp_path, "r", binary_scores(3, 0.5, 1))
    lines = (d / "samples.jsonl").read_text().splitlines()
    row = json.loads(lines[1])
    row["score"] = "1"
    lines[1] = json.dumps(row)
    (d / "samples.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"samples.jsonl, row 2, field 'score'"):
        load_run(d).records()


def test_model_text_with_line_separators_is_read_whole(tmp_path):
    # json.dumps(ensure_ascii=False) leaves U+2028 unescaped; it must not split a record.
    d = write_run(tmp_path, "r", binary_scores(2, 0.5, 1))
    rows = [json.loads(x) for x in (d / "samples.jsonl").read_text().splitlines()]
    rows[0]["raw"] = "a\u2028b\u2029c\x85d"
    (d / "samples.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    records = load_run(d).records()
    assert len(records) == 2 and records[0]["raw"] == "a\u2028b\u2029c\x85d"
