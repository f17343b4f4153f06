"""RULER samples against the official generator (NVIDIA/RULER scripts/data, run in its own
virtual environment): every task at 4K with the same tokenizer, seed and template tokens
must give the same prompt text, answer prefix and answers.

Needs EVALKIT_RULER_REFERENCE=<python of the reference venv>:<RULER checkout>/scripts/data
(with the corpora in synthetic/json/); skipped otherwise. Marked slow.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from evalkit.longctx.ruler.generate import generate_task
from evalkit.longctx.ruler.tasks import KINDS, TASKS
from evalkit.longctx.tokens import chat_overhead, count_tokens, load_tokenizer
from evalkit.models import resolve_model

REF = os.environ.get("EVALKIT_RULER_REFERENCE", "")
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "data" / "ruler"
N = 3

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        ":" not in REF, reason="EVALKIT_RULER_REFERENCE=<python>:<RULER>/scripts/data not set"
    ),
]


def _official(task: str, out: Path, template_tokens: int) -> list[dict]:
    python, scripts = REF.split(":", 1)
    cfg = yaml.safe_load((Path(scripts).parent / "synthetic.yaml").read_text())[task]
    kind = KINDS[cfg["task"]]
    cmd = [
        python,
        str(Path(scripts) / "synthetic" / f"{cfg['task']}.py"),
        "--save_dir", str(out), "--save_name", task,
        "--tokenizer_path", str(resolve_model("tiny")), "--tokenizer_type", "hf",
        "--max_seq_length", "4096", "--tokens_to_generate", str(kind.tokens_to_generate),
        "--num_samples", str(N), "--random_seed", "42",
        "--template", kind.template + kind.answer_prefix,
        "--model_template_token", str(template_tokens),
    ]  # fmt: skip
    for k, v in cfg["args"].items():
        cmd += [f"--{k}", str(v)]
    subprocess.run(cmd, check=True, capture_output=True, cwd=str(Path(scripts) / "synthetic"))
    lines = (out / task / "validation.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines]


@pytest.mark.parametrize("task", list(TASKS))
def test_matches_official_generator(task: str, tmp_path: Path) -> None:
    tok = load_tokenizer("tiny")
    over = chat_overhead(tok)
    ref = _official(task, tmp_path, over)
    ours = generate_task(task, lambda t: count_tokens(tok, t), 4096, N, corpus=CORPUS, template_tokens=over)
    assert len(ref) == len(ours) == N
    for r, o in zip(ref, ours, strict=True):
        assert o.outputs == [str(x) for x in r["outputs"]], "answers differ"
        assert o.answer_prefix == r["answer_prefix"]
        assert o.input == r["input"], "prompt text differs"
