"""The tiny model runs in transformers: fp32/bf16 load directly, GPTQ after dequantization."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer, Exaone4Config, Exaone4ForCausalLM

from evalkit.tinymodel.gptq_pack import GPTQTensors, dequantize


def _prompt_ids(model_dir: Path) -> torch.Tensor:
    """A chat prompt longer than the sliding window (64), so both attention kinds are exercised."""
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    text = tok.apply_chat_template(
        [{"role": "user", "content": "한국어와 English와 español을 섞은 질문입니다. " * 6}],
        tokenize=False,
        add_generation_prompt=True,
        enable_thinking=True,
    )
    ids = tok(text, return_tensors="pt", add_special_tokens=False).input_ids
    assert ids.shape[1] > 64
    return ids


@pytest.fixture(scope="module")
def fp32_model(built: dict[str, Path]) -> Exaone4ForCausalLM:
    return Exaone4ForCausalLM.from_pretrained(str(built["fp32"]), dtype=torch.float32).eval()


def test_fp32_logits_are_finite_and_peaked(built: dict[str, Path], fp32_model: Exaone4ForCausalLM) -> None:
    ids = _prompt_ids(built["fp32"])
    with torch.no_grad():
        logits = fp32_model(ids).logits[0]
    assert torch.isfinite(logits).all()
    probs = logits.softmax(-1)
    uniform = 1.0 / logits.shape[-1]
    assert probs.max(-1).values.mean() > 200 * uniform  # ~0.05; measured ~0.5
    top2 = logits.topk(2, dim=-1).values
    assert ((top2[:, 0] - top2[:, 1]) > 1e-3).float().mean() > 0.9  # greedy rarely hinges on a near-tie


def test_bf16_variant_holds_the_same_values(built: dict[str, Path], fp32_model: Exaone4ForCausalLM) -> None:
    bf16 = Exaone4ForCausalLM.from_pretrained(str(built["bf16"]), dtype=torch.bfloat16)
    ref = fp32_model.state_dict()
    for name, t in bf16.state_dict().items():
        assert t.dtype == torch.bfloat16
        assert torch.equal(t.float(), ref[name]), name


def _dequantized_state_dict(model_dir: Path) -> dict[str, torch.Tensor]:
    sd = load_file(str(model_dir / "model.safetensors"))
    out: dict[str, torch.Tensor] = {}
    for key, t in sd.items():
        if key.endswith(".qweight"):
            base = key.removesuffix(".qweight")
            parts = GPTQTensors(sd[key], sd[f"{base}.qzeros"], sd[f"{base}.scales"], sd[f"{base}.g_idx"])
            out[f"{base}.weight"] = dequantize(parts)
        elif not key.endswith((".qzeros", ".scales", ".g_idx")):
            out[key] = t.float()
    return out


@pytest.mark.parametrize("variant", ["gptq", "gptq-actorder"])
def test_dequantized_gptq_loads_into_exaone4(
    built: dict[str, Path], fp32_model: Exaone4ForCausalLM, variant: str
) -> None:
    raw = json.loads((built[variant] / "config.json").read_text())
    raw.pop("quantization_config")
    cfg = Exaone4Config.from_dict(raw)
    model = Exaone4ForCausalLM(cfg).eval()
    model.load_state_dict(_dequantized_state_dict(built[variant]), strict=True)
    ids = _prompt_ids(built[variant])
    with torch.no_grad():
        q = model(ids).logits.flatten().float()
        ref = fp32_model(ids).logits.flatten()
    assert torch.isfinite(q).all()
    # Same model up to 4-bit rounding: strongly correlated logits (measured ~0.95).
    assert torch.nn.functional.cosine_similarity(q, ref, dim=0) > 0.85
