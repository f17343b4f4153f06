import gzip
import json

import pytest

from evalkit.data import load_rows, read_records
from evalkit.errors import DataError, UsageError
from evalkit.families import BuildContext
from evalkit.families.multiple_choice import build_sample
from evalkit.registry import get_task

ROWS = [
    {
        "question": "1+1?",
        "options": ["1", "2", "3", "4"],
        "solution": 2,
        "subject": "math",
        "license_name": "x",
    },
    {
        "question": "수도는?",
        "options": ["서울", "부산", "대구", "광주", "인천"],
        "solution": 1,
        "subject": "사회",
        "license_name": "y",
    },
]


@pytest.fixture
def spec():
    return get_task("kmmlu_pro")


def test_bundled_sample(spec):
    d = load_rows(spec, "sample")
    assert d.synthetic and 10 <= len(d.rows) <= 20
    assert [r.id for r in d.rows[:3]] == ["0", "1", "2"]  # the row index is the id
    for r in d.rows:
        s = build_sample(r, spec, BuildContext(d.path))
        assert s.target in "ABCDE"
        assert s.messages[-1]["role"] == "user" and "정답" in s.messages[-1]["content"]
    assert len(load_rows(spec, "sample", limit=3).rows) == 3


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "json", "parquet"])
def test_local_files(spec, tmp_path, fmt):
    p = tmp_path / f"kmmlu.{fmt}"
    if fmt == "jsonl":
        p.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS))
    elif fmt == "jsonl.gz":
        p.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in ROWS).encode()))
    elif fmt == "json":
        p.write_text(json.dumps(ROWS))
    else:
        import pandas as pd

        pd.DataFrame(ROWS).to_parquet(p)
    d = load_rows(spec, str(p))
    assert len(d.rows) == 2 and not d.synthetic
    s = build_sample(d.rows[1], spec, BuildContext(d.path))
    assert s.target == "A" and s.metadata["options"][0] == "서울"


def test_local_copy_in_hub_layout_and_save_to_disk(spec, tmp_path):
    """A local copy laid out like the hub repository is read by `datasets`, offline."""
    import datasets
    import pandas as pd

    repo = tmp_path / "KMMLU-Pro"
    (repo / "data").mkdir(parents=True)
    pd.DataFrame(ROWS).to_parquet(repo / "data" / "test-00000-of-00001.parquet")
    d = load_rows(spec, str(repo))
    assert [r.fields["question"] for r in d.rows] == ["1+1?", "수도는?"]
    assert build_sample(d.rows[0], spec, BuildContext(d.path)).target == "B"

    saved = tmp_path / "saved"
    datasets.DatasetDict({"test": datasets.Dataset.from_list(ROWS)}).save_to_disk(str(saved))
    d2 = load_rows(spec, str(saved))
    assert [r.fields["solution"] for r in d2.rows] == [2, 1]


def test_malformed_jsonl_names_file_and_line(spec, tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text(json.dumps(ROWS[0]) + "\n{not json\n")
    with pytest.raises(DataError) as e:
        load_rows(spec, str(p))
    assert e.value.row == 2 and "bad.jsonl" in str(e.value)


@pytest.mark.parametrize(
    ("change", "field", "msg"),
    [
        ({"solution": 7}, "solution", "not one of the 4 options"),
        ({"options": "A B C"}, "options", "expected a list"),
        ({"question": None}, "question", "missing"),
    ],
)
def test_bad_rows_name_row_and_field(spec, tmp_path, change, field, msg):
    p = tmp_path / "rows.jsonl"
    p.write_text(json.dumps(ROWS[1]) + "\n" + json.dumps({**ROWS[0], **change}) + "\n")
    d = load_rows(spec, str(p))
    with pytest.raises(DataError, match=msg) as e:
        build_sample(d.rows[1], spec, BuildContext(d.path))
    assert (e.value.row, e.value.field) == (2, field)


def test_missing_path_and_hub_failure_are_usage_errors(spec, tmp_path, monkeypatch):
    with pytest.raises(UsageError, match="does not exist"):
        load_rows(spec, str(tmp_path / "nope.jsonl"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(UsageError, match="HF_TOKEN") as e:
        load_rows(spec, "hub")
    assert "from the local Hugging Face cache only (HF_HUB_OFFLINE is set)" in str(e.value)


def test_csv_reader(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n")
    assert read_records(p) == [{"a": "1", "b": "2"}]


def test_hub_data_files_are_downloaded_and_read(tmp_path, monkeypatch):
    """LiveCodeBench-style hub sets: raw files behind a loading script, fetched file by file."""
    import huggingface_hub

    spec = get_task("livecodebench_v5")
    sample = (spec.tasks_dir / spec.data.sample).read_text(encoding="utf-8")
    asked: list[tuple[str, str, str]] = []

    def fake_download(repo_id, filename, *, repo_type, revision=None):
        asked.append((repo_id, filename, repo_type))
        p = tmp_path / filename
        p.write_text(sample if filename == "test5.jsonl" else "", encoding="utf-8")
        return str(p)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    d = load_rows(spec, "hub")
    assert [f for _, f, _ in asked] == [
        "test.jsonl",
        "test2.jsonl",
        "test3.jsonl",
        "test4.jsonl",
        "test5.jsonl",
    ]
    assert {r for r, _, t in asked} == {"livecodebench/code_generation_lite"} and {t for *_, t in asked} == {
        "dataset"
    }
    assert d.source.startswith("hub:livecodebench/code_generation_lite")
    local = load_rows(spec, "sample")
    assert [r.id for r in d.rows] == [r.id for r in local.rows]  # same rows, same date window
