"""bench/bench_eval.py on a CPU: the workloads, the merged JSON, and our runner end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bench import bench_eval


def test_workloads_are_seeded_and_sized_as_the_issue_says() -> None:
    w1, w2, w3 = (bench_eval.workload(n, 1.0) for n in ("W1", "W2", "W3"))
    assert w1 == bench_eval.workload("W1", 1.0) and w1 != bench_eval.workload("W1", 1.0, seed=1)
    assert len(w1) == 1024 and all(600 <= len(r.prompt) <= 800 and 32 <= r.max_new_tokens <= 512 for r in w1)
    assert len(w2) == 256 and len({tuple(r.prompt) for r in w2}) == 16  # 16 prompts x 16 repeats
    assert all(r.max_new_tokens <= 8192 and r.temperature == 0.6 and r.top_p == 0.95 for r in w2)
    assert len({r.seed for r in w2}) == 256  # each repeat its own random stream
    assert 1500 < sorted(r.max_new_tokens for r in w2)[128] < 2800  # log-normal around 2K
    assert len(w3) == 16 and {len(r.prompt) for r in w3} == {32768} and {r.max_new_tokens for r in w3} == {64}
    assert len(bench_eval.workload("W2", 0.25)) == 64


def test_merge_keeps_the_other_runner_and_computes_the_ratio(tmp_path: Path) -> None:
    out = tmp_path / "bench_eval.json"
    bench_eval.merge(out, "H200", {"scale": 1}, "W1", {"ours_tok_s": 1200.0})
    bench_eval.merge(out, "H200", {}, "W2", {"vllm_tok_s": 900.0})
    doc = bench_eval.merge(out, "H200", {}, "W1", {"vllm_tok_s": 1000.0})
    assert json.loads(out.read_text()) == doc
    w1, w2 = doc["workloads"]
    assert w1 == {"name": "W1", "ours_tok_s": 1200.0, "vllm_tok_s": 1000.0, "ratio": 1.2}
    assert "ratio" not in w2 and doc["gpu"] == "H200" and doc["meta"] == {"scale": 1}
    assert "| W1 |" in bench_eval.table(doc)


def test_ours_end_to_end_on_the_tiny_random_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.set_num_threads(1)
    out = tmp_path / "r.json"
    argv = ["--runner", "ours", "--shape", "tiny", "--device", "cpu", "--workloads", "W1", "--scale", "0.002"]
    assert bench_eval.main([*argv, "--max-seqs", "4", "--cap-new-tokens", "40", "--out", str(out)]) == 0
    (w1,) = json.loads(out.read_text())["workloads"]
    reqs = bench_eval.workload("W1", 0.002)
    assert w1["requests"] == 2 and w1["generated_tokens"] == sum(min(40, r.max_new_tokens) for r in reqs)
    assert w1["ours_prefill_requested_tokens"] == w1["ours_prefill_computed_tokens"] == w1["prompt_tokens"]
    assert w1["ours_tok_s"] > 0 and w1["ours_pipelined_steps"] > 0 and "ours_sampling_share" not in w1
    assert w1["ours_step_ms"] > 0 and w1["ours_step_rows"] == ">= 2"
    passes = w1["ours_prefill_pass_log"]  # (tokens, chunks, ms) of each pass: every prompt token once
    assert len(passes) == w1["ours_prefill_passes"] >= 1 and all(ms > 0 for _, _, ms in passes)
    assert sum(n for n, _, _ in passes) == w1["prompt_tokens"] and sum(c for _, c, _ in passes) >= 2
    assert "| W1 | 2 |" in capsys.readouterr().out
    # --profile: every step synchronised and split, the pipelining off
    assert (
        bench_eval.main([*argv, "--max-seqs", "4", "--cap-new-tokens", "40", "--profile", "--out", str(out)])
        == 0
    )
    (w1,) = json.loads(out.read_text())["workloads"]
    assert w1["ours_pipelined_steps"] == 0 and 0 <= w1["ours_sampling_share"] < 1
    # --overhead: the workload pipelined, then profiled; the pipelined step against the forward
    over = tmp_path / "over.json"
    assert (
        bench_eval.main(
            [*argv, "--max-seqs", "4", "--cap-new-tokens", "40", "--overhead", "--out", str(over)]
        )
        == 0
    )
    piped, profiled = json.loads(over.read_text())["workloads"]
    assert (
        piped["name"] == "W1/pipelined"
        and piped["ours_pipelined_steps"] > 0
        and "ours_profile_step_ms" not in piped
    )
    assert profiled["name"] == "W1" and profiled["ours_pipelined_steps"] == 0
    assert (
        profiled["ours_pipelined_step_ms"] == piped["ours_step_ms"] > 0
        and profiled["ours_profile_forward_ms"] > 0
    )
    want = (piped["ours_step_ms"] - profiled["ours_profile_forward_ms"]) / piped["ours_step_ms"]
    # the share is computed before the forward's ms are rounded to 0.01 (and itself to 1e-4): on the
    # tiny model's 3-ms steps that rounding alone moves `want` by up to 0.005 / step
    tol = 0.005 / piped["ours_step_ms"] + 1e-4
    assert profiled["ours_loop_overhead_share"] == pytest.approx(want, abs=tol)
    with pytest.raises(SystemExit, match="needs --model"):
        bench_eval.main(["--runner", "vllm"])
