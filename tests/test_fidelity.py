"""`evalkit fidelity` on the embedded tiny model: int4 vs fp32 of the same weights is a real measurement."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from evalkit.cli import main
from evalkit.errors import DataError
from evalkit.fidelity import FidelityResult, load_texts, measure_fidelity
from evalkit.gate import evaluate_gate, load_policy
from evalkit.records import ChatRequest, SamplingParams
from evalkit.runners.hf_transformers import TransformersRunner
from evalkit.runners.torch_int4.runner import TorchInt4Runner
from tests.fakes import ScriptedRunner

REPO = Path(__file__).resolve().parent.parent

TEXTS = 6


@pytest.fixture(scope="module")
def runners():
    torch.set_num_threads(1)
    made = {
        "int4": TorchInt4Runner("tiny", device="cpu"),
        "fp32": TorchInt4Runner("tiny-fp32", device="cpu"),
        "hf": TransformersRunner("tiny-fp32", device="cpu"),
    }
    yield made
    for r in made.values():
        r.close()


def test_texts_cover_three_languages_and_validate(tmp_path):
    texts = load_texts()
    assert len(texts) == 48 and {t.lang for t in texts} == {"en", "en-es", "ko"}
    bad = tmp_path / "t.jsonl"
    bad.write_text(json.dumps({"id": "a", "messages": [{"role": "user", "content": "x"}]}) + "\n")
    with pytest.raises(DataError, match=r"t.jsonl, row 1, field 'continuation'"):
        load_texts(bad)


def test_int4_drifts_from_fp32_and_reports_per_layer_kind(runners):
    r = measure_fidelity(runners["int4"], runners["fp32"], load_texts(limit=TEXTS))
    s = r.summary()
    assert s["texts"] == TEXTS and s["tokens"] == r.tokens > 50
    assert 0.05 < s["kl"]["mean"] < 5 and s["kl"]["ci"][0] < s["kl"]["mean"] < s["kl"]["ci"][1]
    assert 0.0 < s["top1_agreement"]["value"] < 1.0
    layers = s["layers"]
    assert layers["types"] == ["sliding_attention"] * 3 + ["full_attention"]
    assert set(layers["by_type"]) == {"sliding_attention", "full_attention"}
    assert all(e > 0 for e in layers["rel_error"])  # every layer's output moved
    assert r.placeholder_model
    # The JSON round trip keeps what the gate needs.
    back = FidelityResult.from_dict(json.loads(json.dumps(r.to_dict())))
    assert back.kl_interval().estimate == pytest.approx(r.kl_interval().estimate)


def test_same_weights_in_two_implementations_agree(runners):
    # The in-house runner and transformers' Exaone4 on the same fp32 weights: next-token
    # distributions equal to float rounding, and the same top-1 token everywhere.
    r = measure_fidelity(runners["fp32"], runners["hf"], load_texts(limit=TEXTS))
    assert r.kl_interval().estimate < 1e-6 and r.top1_interval().estimate == 1.0
    assert max(r.layer_summary()["rel_error"]) < 1e-4


def test_a_runner_without_logits_names_itself():
    req = ChatRequest(messages=[{"role": "user", "content": "x"}], params=SamplingParams())
    with pytest.raises(NotImplementedError, match="the scripted runner"):
        ScriptedRunner(lambda r: "x").next_token_logits(req, "y")


def test_logits_cover_the_continuation(runners):
    req = ChatRequest(messages=[{"role": "user", "content": "Translate: the cat."}], params=SamplingParams())
    t = runners["int4"].next_token_logits(req, "El gato.")
    assert t.logits.shape == (len(t.token_ids), runners["int4"].lm.cfg.vocab_size)
    assert 0 < t.prompt_len < len(t.token_ids) and t.hidden_states is None
    assert not math.isnan(float(t.logits.sum()))


def test_cli_measures_and_the_smoke_gate_passes(tmp_path, capsys):
    out = tmp_path / "fidelity.json"
    assert main(["fidelity", "--model", "tiny", "--limit", "4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "KL(reference‖candidate)" in printed and "sliding_attention" in printed
    result = FidelityResult.from_dict(json.loads(out.read_text()))
    assert result.candidate["model"] == "tiny" and result.reference["model"] == "tiny-fp32"
    smoke = load_policy(REPO / "gates" / "tiny-smoke.yaml")
    assert evaluate_gate(smoke, [], fidelity=[result]).exit_code == 0
    assert main(["gate", str(REPO / "gates" / "tiny-smoke.yaml"), "--fidelity", str(out)]) == 0
