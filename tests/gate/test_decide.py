"""The fixed-sample gate on runs with chosen scores: every verdict kind and the exit codes."""

import json

import numpy as np
import pytest

from evalkit.cli import main
from evalkit.fidelity import FidelityResult, TextResult
from evalkit.gate import EXIT_FAIL, EXIT_PASS, EXIT_UNDECIDED, evaluate_gate, judge, load_policy
from evalkit.reporting import discover_runs, load_run
from tests.reporting.fake_runs import binary_scores, degrade, write_run


def policy(tmp_path, tasks: str, extra: str = ""):
    f = tmp_path / "policy.yaml"
    f.write_text(f"policy: t\nversion: 1\n{extra}tasks:\n{tasks}")
    return load_policy(f)


def accuracy_run(tmp_path, run_id, n, p, **kw):
    """n binary items with exactly round(p * n) right (so the measured value is p)."""
    k = round(p * n)
    return write_run(tmp_path / "runs", run_id, {str(i): [float(i < k)] for i in range(n)}, **kw)


def test_judge_truth_table():
    assert judge(-1.0, 1.5, 2.0) == "pass"
    assert judge(2.5, 4.0, 2.0) == "fail"
    assert judge(1.0, 3.0, 2.0) == "undecided"
    assert judge(2.0, 2.0, 2.0) == "pass"  # exactly at the allowance is within it


def test_vs_published_pass_fail_and_inconclusive(tmp_path):
    # KMMLU-Pro non-reasoning is published at 60.0; allowed drop 3 points.
    accuracy_run(tmp_path, "good", 2000, 0.61, runner_profile="gptq")
    pol = policy(
        tmp_path,
        "  - {task: kmmlu_pro, mode: non-reasoning, vs_published: {max_drop: 3}}\n",
        "candidate: {runner_profile: gptq}\n",
    )
    (v,) = evaluate_gate(pol, discover_runs([tmp_path / "runs"])).verdicts
    assert v.status == "pass" and v.numbers["drop"] == pytest.approx(-1.0)
    assert "exact Clopper-Pearson" in v.message and v.numbers["drop_upper"] <= 3

    accuracy_run(tmp_path, "bad", 2000, 0.50, runner_profile="broken")
    pol = policy(
        tmp_path,
        "  - {task: kmmlu_pro, mode: non-reasoning, vs_published: {max_drop: 3}}\n",
        "candidate: {runner_profile: broken}\n",
    )
    res = evaluate_gate(pol, discover_runs([tmp_path / "runs"]))
    assert res.verdicts[0].status == "fail" and res.exit_code == EXIT_FAIL

    accuracy_run(tmp_path, "few", 100, 0.58, runner_profile="few")
    pol = policy(
        tmp_path,
        "  - {task: kmmlu_pro, mode: non-reasoning, vs_published: {max_drop: 3}}\n",
        "candidate: {runner_profile: few}\n",
    )
    res = evaluate_gate(pol, discover_runs([tmp_path / "runs"]))
    (v,) = res.verdicts
    assert v.status == "undecided" and v.reason == "inconclusive" and res.exit_code == EXIT_UNDECIDED
    assert "items would decide it" in v.hint


def test_on_inconclusive_can_turn_undecided_into_pass(tmp_path):
    accuracy_run(tmp_path, "few", 100, 0.58)
    pol = policy(
        tmp_path,
        "  - {task: kmmlu_pro, mode: non-reasoning, vs_published: {max_drop: 3}}\n",
        "on_inconclusive: pass\n",
    )
    res = evaluate_gate(pol, discover_runs([tmp_path / "runs"]))
    assert res.exit_code == EXIT_PASS and "counted as pass" in res.verdicts[0].message


def test_placeholder_and_missing_published_figure_cannot_decide(tmp_path):
    accuracy_run(tmp_path, "tiny", 1000, 0.62, placeholder=True, model="tiny")
    pol = policy(tmp_path, "  - {task: kmmlu_pro, mode: non-reasoning, vs_published: {max_drop: 3}}\n")
    (v,) = evaluate_gate(pol, discover_runs([tmp_path / "runs"])).verdicts
    assert v.status == "undecided" and v.reason == "placeholder" and "tiny placeholder" in v.message
    pol = policy(
        tmp_path,
        "  - {task: kmmlu_pro, mode: non-reasoning, vs_published: {max_drop: 3}, allow_placeholder: true}\n",
    )
    assert evaluate_gate(pol, discover_runs([tmp_path / "runs"])).verdicts[0].status == "pass"

    write_run(tmp_path / "other", "x", binary_scores(200, 0.5, 1), benchmark=None)
    pol = policy(tmp_path, "  - {task: kmmlu_pro, mode: non-reasoning, vs_published: {max_drop: 3}}\n")
    (v,) = evaluate_gate(pol, discover_runs([tmp_path / "other"])).verdicts
    assert v.reason == "missing" and "no published figure" in v.message


def test_vs_reference_binary_uses_the_score_interval_and_mcnemar(tmp_path):
    ref = binary_scores(1000, 0.7, seed=3)
    write_run(tmp_path / "ref", "bf16", ref, runner_profile="bf16")
    write_run(tmp_path / "runs", "close", degrade(ref, 12, 8, seed=1), runner_profile="gptq")
    write_run(tmp_path / "runs", "worse", degrade(ref, 80, 5, seed=2), runner_profile="gptq-bad")
    tasks = "  - {task: kmmlu_pro, mode: non-reasoning, vs_reference: {max_drop: 2}}\n"
    refs = discover_runs([tmp_path / "ref"])
    close = evaluate_gate(
        policy(tmp_path, tasks, "candidate: {runner_profile: gptq}\n"),
        discover_runs([tmp_path / "runs"]),
        refs,
    )
    (v,) = close.verdicts
    assert v.status == "pass" and v.numbers["drop"] == pytest.approx(0.4)
    assert "Tango" in v.numbers["method"] and v.numbers["mcnemar_p"] > 0.3
    worse = evaluate_gate(
        policy(tmp_path, tasks, "candidate: {runner_profile: gptq-bad}\n"),
        discover_runs([tmp_path / "runs"]),
        refs,
    )
    (v,) = worse.verdicts
    assert v.status == "fail" and v.numbers["drop"] == pytest.approx(7.5) and v.numbers["mcnemar_p"] < 1e-6


def test_vs_reference_with_repeats_uses_the_paired_rate_interval(tmp_path):
    rng = np.random.default_rng(0)
    p = rng.beta(2, 1, 300)
    ref = {str(i): [float(rng.random() < p[i]) for _ in range(4)] for i in range(300)}
    cand = {k: list(v) for k, v in ref.items()}
    write_run(tmp_path / "ref", "bf16", ref, mode="reasoning")
    write_run(tmp_path / "runs", "gptq", cand, mode="reasoning")
    pol = policy(tmp_path, "  - {task: kmmlu_pro, mode: reasoning, vs_reference: {max_drop: 1}}\n")
    (v,) = evaluate_gate(pol, discover_runs([tmp_path / "runs"]), discover_runs([tmp_path / "ref"])).verdicts
    # Identical runs: every paired difference is 0. The interval is not [0, 0] (issue 17):
    # with no discordant pair, each item counts as one pair, and 300 of them bound the drop.
    assert v.status == "pass" and v.numbers["drop"] == 0.0 and "each item one pair" in v.numbers["method"]
    assert 0 < v.numbers["drop_upper"] < 1
    assert "mcnemar_p" not in v.numbers


def test_truncation_limit_and_run_selection(tmp_path):
    write_run(tmp_path / "runs", "small", binary_scores(100, 0.6, 1), truncated=0.2)
    write_run(tmp_path / "runs", "big", binary_scores(300, 0.6, 2), truncated=0.2)
    pol = policy(tmp_path, "  - {task: kmmlu_pro, mode: non-reasoning, max_truncation_rate: 0.05}\n")
    (v,) = evaluate_gate(pol, discover_runs([tmp_path / "runs"])).verdicts
    assert v.status == "fail" and v.criterion == "truncation" and "MAX_NEW_TOKENS" in v.hint
    assert v.runs == ["big"] and "1 other matching run(s) ignored" in v.message


def fake_fidelity(kl_per_token: float, agree: float, placeholder: bool = False) -> FidelityResult:
    texts = [
        TextResult(
            id=str(i),
            lang="en",
            kind="x",
            tokens=50,
            kl_sum=50 * kl_per_token * (0.8 + 0.4 * (i % 2)),
            kl_max=1.0,
            top1_agree=round(50 * agree),
        )
        for i in range(20)
    ]
    return FidelityResult(
        {"model": "gptq"},
        {"model": "bf16"},
        "texts.jsonl",
        "0",
        texts,
        [kl_per_token] * 1000,
        None,
        placeholder,
    )


def test_fidelity_limits(tmp_path):
    pol = policy(tmp_path, "  []\n", "fidelity: {max_mean_kl: 0.05, min_top1_agreement: 0.9}\n")
    ok = evaluate_gate(pol, [], fidelity=[fake_fidelity(0.01, 0.96)])
    assert [v.status for v in ok.verdicts] == ["pass", "pass"] and ok.exit_code == EXIT_PASS
    bad = evaluate_gate(pol, [], fidelity=[fake_fidelity(0.2, 0.7)])
    assert [v.status for v in bad.verdicts] == ["fail", "fail"]
    none = evaluate_gate(pol, [], fidelity=[])
    assert none.exit_code == EXIT_UNDECIDED and none.verdicts[0].reason == "missing"
    tiny = evaluate_gate(pol, [], fidelity=[fake_fidelity(0.01, 0.96, placeholder=True)])
    assert tiny.verdicts[0].reason == "placeholder"


def test_cli_exit_codes_json_and_markdown(tmp_path, capsys):
    ref = binary_scores(1000, 0.7, seed=3)
    write_run(tmp_path / "ref", "bf16", ref)
    write_run(tmp_path / "runs", "worse", degrade(ref, 80, 5, seed=2))
    f = tmp_path / "p.yaml"
    f.write_text(
        "policy: cli\nversion: 2\ntasks:\n"
        "  - {task: kmmlu_pro, mode: non-reasoning, vs_reference: {max_drop: 2}}\n"
        "  - {task: kmmlu_pro, mode: reasoning, vs_reference: {max_drop: 2}}\n"
    )
    md = tmp_path / "summary.md"
    out = tmp_path / "v.json"
    code = main(
        [
            "gate",
            str(f),
            "--runs",
            str(tmp_path / "runs"),
            "--reference",
            str(tmp_path / "ref"),
            "--json",
            str(out),
            "--markdown",
            str(md),
        ]
    )
    # one fail and one undecided (no reasoning-mode run): a fail wins
    assert code == EXIT_FAIL
    res = json.loads(out.read_text())
    assert res["counts"] == {"pass": 0, "fail": 1, "undecided": 1} and res["version"] == 2
    text = capsys.readouterr().out
    assert text.count("\n") < 12 and "FAIL" in text and "UNDECIDED" in text
    assert "| ❌ fail | kmmlu_pro (non-reasoning) | vs reference |" in md.read_text()
    assert main(["gate", str(tmp_path / "absent.yaml")]) == EXIT_UNDECIDED  # a usage error exits 2 too
    assert load_run(tmp_path / "ref" / "bf16").n_items == 1000


def mark_incomplete(run_dir, failed: int) -> None:
    """What the pipeline writes for a run some of whose samples failed (errors, not answers)."""
    path = run_dir / "metrics.json"
    m = json.loads(path.read_text())
    m["incomplete"] = True
    m["errors"] = {"failed_samples": failed, "planned_samples": m["n_samples"] + failed, "examples": []}
    path.write_text(json.dumps(m))


def test_an_incomplete_run_is_undecided_whatever_its_figure(tmp_path, capsys):
    ref = binary_scores(1000, 0.7, seed=3)
    refdir = write_run(tmp_path / "ref", "bf16", ref, runner_profile="bf16")
    cand = write_run(tmp_path / "runs", "close", degrade(ref, 12, 8, seed=1), runner_profile="gptq")
    f = tmp_path / "policy.yaml"
    f.write_text(
        "policy: t\nversion: 1\ncandidate: {runner_profile: gptq}\ntasks:\n"
        "  - {task: kmmlu_pro, mode: non-reasoning, vs_reference: {max_drop: 2},"
        " vs_published: {max_drop: 30}, max_truncation_rate: 0.5}\n"
    )
    args = ["gate", str(f), "--runs", str(tmp_path / "runs"), "--reference", str(tmp_path / "ref")]
    assert main(args) == EXIT_PASS  # complete: it passes
    capsys.readouterr()

    mark_incomplete(refdir, 3)  # the reference lost samples: the paired comparison decides nothing
    res = evaluate_gate(load_policy(f), discover_runs([tmp_path / "runs"]), discover_runs([tmp_path / "ref"]))
    by = {v.criterion: v for v in res.verdicts}
    assert by["vs reference"].status == "undecided" and by["vs reference"].reason == "incomplete"
    assert "run bf16 is incomplete: 3 of 1003 samples failed" in by["vs reference"].message
    assert res.exit_code == EXIT_UNDECIDED

    mark_incomplete(cand, 5)  # the candidate lost samples: every criterion of the task is open
    assert main(args) == EXIT_UNDECIDED
    out = capsys.readouterr().out
    assert (
        "run close is incomplete: 5 of 1005 samples failed" in out
        and "0 passed, 0 failed, 1 undecided" in out
    )
    (v,) = evaluate_gate(load_policy(f), discover_runs([tmp_path / "runs"]), []).verdicts
    assert (v.status, v.reason, v.criterion) == ("undecided", "incomplete", "runs")
