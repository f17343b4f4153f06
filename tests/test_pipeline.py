"""End to end on the embedded tiny GPTQ model through the in-house torch runner."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalkit.pipeline import RunConfig, run_eval
from evalkit.reporting.run_report import PLACEHOLDER_WARNING

REPO = Path(__file__).resolve().parent.parent


def read_jsonl(p: Path) -> list[dict]:
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()]


def test_kmmlu_pro_end_to_end_and_rerun_resumes(tmp_path):
    cfg = RunConfig(task="kmmlu_pro", limit=4, results_dir=tmp_path, progress=False)
    res = run_eval(cfg)
    d = res.run_dir
    for name in ("generations.jsonl", "samples.jsonl", "metrics.json", "report.md", "run.json"):
        assert (d / name).is_file(), name
    m = res.metrics
    assert m["n_items"] == 4 and m["n_samples"] == 4 and m["placeholder_model"] and m["synthetic_data"]
    assert 0.0 <= m["value"] <= 1.0
    assert m["params"]["max_new_tokens"] == 96 and m["max_new_tokens_capped_by_profile"]
    recs = read_jsonl(d / "samples.jsonl")
    assert [r["id"] for r in recs] == ["0", "1", "2", "3"]
    for r in recs:
        assert r["finish_reason"] in ("stop", "length")
        assert r["completion_tokens"] > 0 and r["prompt_tokens"] > 50
        assert r["reason"]
        assert r["correct"] == (r["extracted"] == r["target"])
    report = (d / "report.md").read_text()
    assert PLACEHOLDER_WARNING in report and "60.0" in report and "Qwen3 32B" in report
    assert m["calls_reused_from_store"] == 0

    again = run_eval(cfg)
    assert again.run_dir == d
    assert again.metrics["calls_reused_from_store"] == 4
    assert again.metrics["value"] == m["value"]
    assert read_jsonl(d / "samples.jsonl") == recs


def test_reasoning_mode_without_closed_think_counts_as_no_answer(tmp_path):
    res = run_eval(
        RunConfig(
            task="kmmlu_pro",
            mode="reasoning",
            limit=2,
            max_new_tokens=16,
            results_dir=tmp_path,
            progress=False,
        )
    )
    recs = read_jsonl(res.run_dir / "samples.jsonl")
    for r in recs:
        if "</think>" not in r["raw"]:
            assert r["unclosed_think"] and r["answer"] is None and r["extracted"] is None
            assert "no answer" in r["reason"]
    assert res.metrics["unclosed_think_rate"] == sum(r["unclosed_think"] for r in recs) / len(recs)


@pytest.fixture
def one_at_a_time_profile(tmp_path) -> Path:
    """The tiny model one request at a time, so every completion is exactly reproducible."""
    p = tmp_path / "tiny-batch1.yaml"
    p.write_text(
        "runner: evalkit.runners.torch_int4.runner:TorchInt4Runner\nmodel: tiny\n"
        "settings: {device: cpu, dtype: float32, max_batch_size: 1}\nlimits: {max_new_tokens: 64}\n"
    )
    return p


def test_sigkill_mid_run_then_resume_loses_and_duplicates_nothing(tmp_path, one_at_a_time_profile):
    def cmd(results: Path) -> list[str]:
        return [
            sys.executable,
            "-m",
            "evalkit",
            "run",
            "kmmlu_pro",
            "--runner",
            str(one_at_a_time_profile),
            "--n",
            "2",
            "--limit",
            "12",
            "--results-dir",
            str(results),
            "--run-id",
            "r",
            "--no-progress",
        ]

    env = dict(os.environ)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        cmd(killed),
        cwd=REPO,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    store = killed / "r" / "generations.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline:
        if store.exists() and store.read_text().count("\n") >= 4:  # header + 3 calls
            break
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "r" / "metrics.json").exists(), "killed too late: the run had finished"
    done_before = store.read_text().count("\n") - 1
    assert 3 <= done_before < 24

    subprocess.run(cmd(killed), cwd=REPO, env=env, check=True, capture_output=True)
    fresh = tmp_path / "fresh"
    subprocess.run(cmd(fresh), cwd=REPO, env=env, check=True, capture_output=True)

    lines = read_jsonl(store)[1:]
    keys = [x["key"] for x in lines]
    assert len(keys) == len(set(keys)) == 24  # every call exactly once
    recs = read_jsonl(killed / "r" / "samples.jsonl")
    assert sorted((r["id"], r["repeat"]) for r in recs) == sorted(
        (str(i), k) for i in range(12) for k in range(2)
    )
    m_killed = json.loads((killed / "r" / "metrics.json").read_text())
    m_fresh = json.loads((fresh / "r" / "metrics.json").read_text())
    assert m_killed["calls_reused_from_store"] >= done_before
    for key in ("value", "se", "n_items", "n_samples", "no_answer_rate", "truncation_rate", "tokens"):
        assert m_killed[key] == m_fresh[key], key
    fresh_recs = read_jsonl(fresh / "r" / "samples.jsonl")
    assert [(r["id"], r["repeat"], r["raw"]) for r in recs] == [
        (r["id"], r["repeat"], r["raw"]) for r in fresh_recs
    ]
