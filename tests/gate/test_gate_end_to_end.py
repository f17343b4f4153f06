"""End to end: runs of the tiny model, one with its weights perturbed, judged by `evalkit gate`.

The task asks real MMLU-Redux questions (../shared/data) and, through a test solver (patched in
as the multiple-choice family's), turns
each greedy completion into an option letter (tests/gate/agreement.py); its targets are the
letters the unperturbed tiny-fp32 model picks. A copy of the checkpoint with 0.2 % weight
noise keeps almost every completion (agreement ~97 %); one with 50 % noise changes them all
(agreement ~25 %, chance). The policy allows a 20-point drop against the reference run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from evalkit.cli import main
from evalkit.families import multiple_choice
from evalkit.pipeline import RunConfig, run_eval
from evalkit.scoring.choice import LETTERS
from evalkit.tinymodel import ensure_tiny_model
from tests.gate.agreement import answer_by_text_hash

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "mmlu_redux" / "mmlu_redux_2.0_raw.jsonl"
N_ITEMS = 48
MAX_NEW = 3

SPEC = """\
name: agree
title: Agreement with tiny-fp32
family: multiple_choice
provenance: >-
  Test task: MMLU-Redux 2.0 questions (CC BY 4.0, ../shared/data/mmlu_redux); the answer key is
  the letter the unperturbed tiny-fp32 model's greedy completion hashes to.
data:
  sample: samples/agree.jsonl
  fields: {question: question, options: choices, answer: answer, answer_format: index0, subject: subject}
prompt:
  source: test prompt (the question alone, to keep the CPU runs short)
  template: "{{ question }}"
metric: accuracy
modes:
  non-reasoning: {temperature: 0.0, max_new_tokens: 3, n: 1}
"""

POLICY = """\
policy: tiny-agreement-test
version: 1
description: the tiny model's agreement with itself, under weight noise
tasks:
  - task: agree
    mode: non-reasoning
    vs_reference: {{max_drop: 20}}
    min_items: {min_items}
    allow_placeholder: true
sequential: {{batch_items: 10, order_seed: 7}}
"""


def perturbed_copy(src: Path, dst: Path, sigma: float, seed: int = 0) -> Path:
    """The checkpoint with Gaussian noise of `sigma` times each weight matrix's std added."""
    shutil.copytree(src, dst)
    weights = load_file(str(src / "model.safetensors"))
    g = torch.Generator().manual_seed(seed)
    noisy = {
        k: v + sigma * v.std() * torch.randn(v.shape, generator=g) if v.ndim == 2 else v
        for k, v in weights.items()
    }
    save_file(noisy, str(dst / "model.safetensors"), metadata={"format": "pt"})
    return dst


def write_rows(path: Path, rows: list[dict], answers: list[int]) -> None:
    path.write_text(
        "".join(
            json.dumps(
                {"question": r["question"], "choices": r["choices"], "answer": a, "subject": r["subject"]}
            )
            + "\n"
            for r, a in zip(rows, answers, strict=True)
        )
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    if not SHARED.is_file():
        pytest.skip(f"{SHARED} not found (CI has ../shared beside the checkout)")
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("gate_e2e")
    tasks = root / "tasks"
    (tasks / "samples").mkdir(parents=True)
    (tasks / "agree.yaml").write_text(SPEC)
    rows = [json.loads(x) for x in SHARED.read_text(encoding="utf-8").split("\n") if x.strip()]
    rows = [
        r for r in rows if r["error_type"] == "ok" and len(r["choices"]) == 4 and len(r["question"]) < 200
    ]
    rows = rows[:N_ITEMS]
    sample = tasks / "samples" / "agree.jsonl"
    write_rows(sample, rows, [0] * len(rows))
    runs = root / "runs"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EVALKIT_TASKS_DIR", str(tasks))
        # The test task's episodes: the family's solver replaced by the hashing one (tests only).
        mp.setattr(multiple_choice, "solver", lambda spec, roles: answer_by_text_hash)

        def run(model: str, run_id: str) -> Path:
            cfg = RunConfig(
                task="agree",
                model=model,
                data="sample",
                max_new_tokens=MAX_NEW,
                results_dir=runs,
                run_id=run_id,
                progress=False,
            )
            return run_eval(cfg).run_dir

        ref = run("tiny-fp32", "reference")
        lines = (ref / "samples.jsonl").read_text(encoding="utf-8").split("\n")
        picked = [json.loads(x)["extracted"] for x in lines if x.strip()]
        write_rows(sample, rows, [LETTERS.index(p) for p in picked])
        run("tiny-fp32", "reference")  # rescored against its own letters; every call comes from the store
        fp32 = ensure_tiny_model("fp32")
        light = run(str(perturbed_copy(fp32, root / "light-model", 0.002)), "light")
        heavy = run(str(perturbed_copy(fp32, root / "heavy-model", 0.5)), "heavy")
        for min_items in (30, 1000):
            (root / f"policy-{min_items}.yaml").write_text(POLICY.format(min_items=min_items))
        yield {"root": root, "ref": ref, "light": light, "heavy": heavy, "mp": mp}


def gate(world, *args: str) -> tuple[int, dict]:
    out = world["root"] / "verdicts.json"
    code = main(["gate", *args, "--json", str(out)])
    return code, json.loads(out.read_text())


def test_the_reference_agrees_with_itself_and_noise_lowers_agreement(world):
    m = {k: json.loads((world[k] / "metrics.json").read_text()) for k in ("ref", "light", "heavy")}
    assert m["ref"]["value"] == 1.0 and m["ref"]["calls_reused_from_store"] == N_ITEMS
    assert m["light"]["value"] >= 0.85
    assert m["heavy"]["value"] <= 0.5


def test_light_perturbation_passes(world, capsys):
    code, v = gate(
        world,
        str(world["root"] / "policy-30.yaml"),
        "--runs",
        str(world["light"]),
        "--reference",
        str(world["ref"]),
    )
    assert code == 0, capsys.readouterr().out
    (verdict,) = v["verdicts"]
    assert verdict["status"] == "pass" and verdict["criterion"] == "vs reference"
    assert verdict["numbers"]["drop_upper"] <= 20 and verdict["numbers"]["n_items"] == N_ITEMS
    assert "Tango" in verdict["numbers"]["method"] and "mcnemar_p" in verdict["numbers"]
    text = capsys.readouterr().out
    assert "PASS" in text and "gate PASS (exit 0)" in text


def test_heavy_perturbation_fails(world, capsys):
    code, v = gate(
        world,
        str(world["root"] / "policy-30.yaml"),
        "--runs",
        str(world["heavy"]),
        "--reference",
        str(world["ref"]),
    )
    assert code == 1
    (verdict,) = v["verdicts"]
    assert verdict["status"] == "fail" and verdict["numbers"]["drop_lower"] > 20
    assert "gate FAIL (exit 1)" in capsys.readouterr().out


def test_too_few_items_or_a_missing_run_cannot_decide(world, capsys):
    code, v = gate(
        world,
        str(world["root"] / "policy-1000.yaml"),
        "--runs",
        str(world["heavy"]),
        "--reference",
        str(world["ref"]),
    )
    assert code == 2 and v["verdicts"][0]["reason"] == "too few items"
    empty = world["root"] / "no-runs"
    empty.mkdir(exist_ok=True)
    code, v = gate(
        world, str(world["root"] / "policy-30.yaml"), "--runs", str(empty), "--reference", str(world["ref"])
    )
    assert code == 2 and v["verdicts"][0]["reason"] == "missing"
    out = capsys.readouterr().out
    assert "UNDECIDED" in out and "exit 2" in out


def test_sequential_gate_stops_early_on_the_broken_model(world, capsys):
    code, v = gate(
        world,
        str(world["root"] / "policy-30.yaml"),
        "--sequential",
        "--runner",
        "torch-int4",
        "--model",
        str(world["root"] / "heavy-model"),
        "--data",
        "sample",
        "--max-new-tokens",
        str(MAX_NEW),
        "--reference",
        str(world["ref"]),
        "--results-dir",
        str(world["root"] / "seq"),
    )
    assert code == 1 and v["mode"] == "sequential"
    (verdict,) = v["verdicts"]
    assert verdict["status"] == "fail"
    # Decided at the first look that reaches min_items (30), not on all 48 items.
    assert verdict["numbers"]["n_items"] < N_ITEMS
    assert "confidence sequence" in verdict["numbers"]["method"]
    assert "look" in capsys.readouterr().err


def test_report_of_the_real_runs(world):
    out = world["root"] / "report"
    runs = [str(world[k]) for k in ("light", "heavy")]
    assert main(["report", *runs, "--baseline", str(world["ref"]), "--out", str(out), "--html"]) == 0
    md = (out / "comparison.md").read_text()
    assert "tiny-fp32 · torch-int4 (placeholder)" in md and "Tasks without a published figure" in md
    heavy = json.loads((world["heavy"] / "metrics.json").read_text())
    assert f"{100 * heavy['value']:.1f}" in (out / "comparison.html").read_text()
