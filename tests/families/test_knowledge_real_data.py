"""MMLU-Redux, MMLU-Pro and GPQA-Diamond on the real data in ../shared/data.

The fast tests read every GPQA row and chosen MMLU rows; the slow ones (make check-data)
build a sample from every row and run the embedded tiny model on the real data.
"""

import collections
import csv
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from evalkit.cli import main
from evalkit.data import default_source, load_rows
from evalkit.errors import UsageError
from evalkit.families import BuildContext
from evalkit.families import multiple_choice as mc
from evalkit.pipeline import RunConfig, run_eval
from evalkit.registry import get_task
from tests.fakes import ScriptedRunner

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"


@pytest.fixture(scope="module")
def gpqa():
    spec = get_task("gpqa_diamond")
    return spec, load_rows(spec, "local")


def test_the_three_tasks_default_to_the_shared_copies():
    for task, name in (
        ("mmlu_redux", "mmlu_redux_2.0_raw.jsonl"),
        ("mmlu_pro", "mmlu_pro_test.jsonl.gz"),
        ("gpqa_diamond", "gpqa_diamond.csv"),
    ):
        assert default_source(get_task(task)).endswith(name)
    assert default_source(get_task("kmmlu_pro")) == "hub"
    with pytest.raises(UsageError, match="names no local copy"):
        load_rows(get_task("kmmlu_pro"), "local")


def test_every_gpqa_row_builds_with_its_correct_answer_first(gpqa):
    spec, loaded = gpqa
    raw = list(csv.DictReader((SHARED / "gpqa_diamond" / "gpqa_diamond.csv").open(encoding="utf-8")))
    assert len(loaded.rows) == 198 and [r.id for r in loaded.rows] == [r["Record ID"] for r in raw]
    domains = collections.Counter()
    for row, rec in zip(loaded.rows, raw, strict=True):
        s = mc.build_sample(row, spec, BuildContext(loaded.path))
        assert s.target == "A" and s.metadata["options"][0] == rec["Correct Answer"].strip()
        prompt = s.messages[-1]["content"]
        for opt in s.metadata["options"]:
            assert f") {opt}\n" in prompt + "\n"
        domains[s.metadata["subject"]] += 1
    assert domains == {"Chemistry": 93, "Physics": 86, "Biology": 19}


def test_gpqa_correct_answer_position_is_spread_over_items(gpqa):
    _, loaded = gpqa
    first_repeat = collections.Counter(mc.option_permutation(r.id, 0, 0, 4).index(0) for r in loaded.rows)
    assert all(30 < first_repeat[k] < 70 for k in range(4)), first_repeat


def test_chosen_mmlu_pro_rows():
    spec = get_task("mmlu_pro")
    loaded = load_rows(spec, "local")
    rows = {r.id: r for r in loaded.rows}
    assert len(rows) == 12032
    # question 3983: answer letter C, answer_index 1; upstream scores against the letter
    assert mc.build_sample(rows["3983"], spec, BuildContext(loaded.path)).target == "C"
    ten = mc.build_sample(rows["72"], spec, BuildContext(loaded.path))
    assert ten.metadata["n_options"] == 10 and "\nJ. " in ten.messages[-1]["content"]
    assert ten.target == rows["72"].fields["answer"] == "J"  # letters run past D, up to J
    first = mc.build_sample(rows["70"], spec, BuildContext(loaded.path))
    assert first.metadata["subject"] == "business"
    assert first.metadata["groups"] == {"src": "ori_mmlu-business_ethics"}
    three = next(r for r in loaded.rows if len(r.fields["options"]) == 3)
    s3 = mc.build_sample(three, spec, BuildContext(loaded.path))
    assert s3.metadata["n_options"] == 3 and "\nD. " not in s3.messages[-1]["content"]


def test_chosen_mmlu_redux_rows():
    spec = get_task("mmlu_redux")
    loaded = load_rows(spec, "local")
    assert len(loaded.rows) == 5700 and loaded.rows[0].id == "abstract_algebra/0"
    wrong = next(r for r in loaded.rows if r.fields["error_type"] == "wrong_groundtruth")
    s = mc.build_sample(wrong, spec, BuildContext(loaded.path))
    # the scored label is MMLU's original one; the annotation stays data (error_type breakdown)
    assert s.target == "ABCD"[wrong.fields["answer"]] and s.metadata["groups"] == {
        "error_type": "wrong_groundtruth"
    }


@pytest.mark.parametrize("task", ["mmlu_redux", "mmlu_pro", "gpqa_diamond"])
def test_pipeline_on_the_real_data_with_a_limit(task, tmp_path):
    """The whole pipeline on real rows (a scripted model that always answers A)."""
    runner = ScriptedRunner(lambda req: "Reasoning.\nthe answer is (A)\nAnswer: A")
    res = run_eval(
        RunConfig(task=task, data="local", limit=5, results_dir=tmp_path, progress=False), runner=runner
    )
    m = res.metrics
    assert (
        m["n_items"] == 5 and not m["synthetic_data"] and m["data_source"].startswith(str(SHARED.resolve()))
    )
    assert m["no_answer_rate"] == 0.0
    recs = [json.loads(x) for x in (res.run_dir / "samples.jsonl").read_text().splitlines()]
    assert all(r["extracted"] == "A" and r["correct"] == (r["target"] == "A") for r in recs)


def test_score_mmlu_pro_responses_by_question_id(tmp_path, capsys):
    resp = tmp_path / "r.jsonl"
    resp.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"id": 70, "response": "Let's think... The answer is (I)."},
                {"id": 3983, "response": "So, Answer: B"},  # the index says B, the letter C
                {"id": 71, "response": "I cannot tell."},  # official fallback 3: the pronoun "I"
            ]
        )
        + "\n"
    )
    assert main(["score", "mmlu_pro", "--responses", str(resp), "--data", "local"]) == 0
    captured = capsys.readouterr()
    v = [json.loads(x) for x in captured.out.splitlines()]
    assert [(x["id"], x["extracted"], x["correct"]) for x in v] == [
        ("70", "I", True),
        ("3983", "B", False),
        ("71", "I", False),
    ]
    assert "fallback 3" in v[2]["reason"] and "mmlu_pro: 3 responses" in captured.err


@pytest.mark.slow
@pytest.mark.parametrize(("task", "n"), [("mmlu_pro", 12032), ("mmlu_redux", 5700)])
def test_every_row_builds_with_its_target_and_options(task, n):
    spec = get_task(task)
    loaded = load_rows(spec, "local")
    assert len(loaded.rows) == n
    if task == "mmlu_pro":
        with gzip.open(SHARED / "mmlu_pro" / "mmlu_pro_test.jsonl.gz", "rt") as f:
            raw = [json.loads(x) for x in f]
        counts = collections.Counter(len(r["options"]) for r in raw)
    else:
        counts = collections.Counter({4: n})
    built = collections.Counter()
    for row in loaded.rows:
        s = mc.build_sample(row, spec, BuildContext(loaded.path))
        expected = row.fields["answer"] if task == "mmlu_pro" else "ABCD"[row.fields["answer"]]
        assert s.target == expected, row.id
        assert s.messages[-1]["content"].count("\n") >= s.metadata["n_options"]
        built[s.metadata["n_options"]] += 1
    assert built == counts


@pytest.mark.slow
@pytest.mark.parametrize("task", ["mmlu_redux", "mmlu_pro", "gpqa_diamond"])
def test_tiny_model_on_the_real_data(task, tmp_path):
    """What `make eval TASK=<task> DATA=local LIMIT=2` runs."""
    out = subprocess.run(
        [sys.executable, "-m", "evalkit", "run", task, "--data", "local", "--limit", "2",
         "--no-progress", "--results-dir", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "placeholder model" in out.stdout and "report:" in out.stdout
    metrics = json.loads(next(tmp_path.glob("*/metrics.json")).read_text())
    assert metrics["n_items"] == 2 and not metrics["synthetic_data"]
