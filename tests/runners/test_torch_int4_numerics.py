"""The numerics proof: our forward equals transformers' Exaone4ForCausalLM on the same weights.

For each checkpoint we load it with our loader, dequantize every linear, write an fp32
HF checkpoint (same config minus quantization_config) and load that in transformers
(eager attention, fp32). Then, on a prompt longer than the 64-token sliding window:
- all prefill logits agree to 1e-4 (max abs);
- 64 teacher-forced decode steps through our KV cache agree with transformers' full
  recompute to 1e-4 at every step, and pick the same greedy token;
- our engine's greedy continuation equals transformers' token for token.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from int4_checkpoints import tiny_variants, write_safetensors

from evalkit.records import SamplingParams
from evalkit.runners.torch_int4.engine import GenerationRequest, ReferenceEngine
from evalkit.runners.torch_int4.gptq import QuantLinear
from evalkit.runners.torch_int4.loader import load_model
from evalkit.runners.torch_int4.model import Exaone4LM

TOL = 1e-4
PROMPT_LEN = 80  # > sliding window 64
NEW_TOKENS = 64  # prompt + generation = 144, so decode runs well past the window too
VARIANTS = ["gptq", "gptq-actorder", "gptq_v2-asym", "fp32", *tiny_variants("gptq", "gptq-actorder", "fp32")]


def dequantized_hf_checkpoint(model: Exaone4LM, src: Path, out: Path) -> Path:
    """Write `model`'s weights (GPTQ linears dequantized by our code) as a plain fp32 HF checkpoint."""
    out.mkdir()
    tensors = {
        f"{name}.weight": m.dense_weight().float()
        for name, m in model.named_modules()
        if isinstance(m, QuantLinear)
    }
    tensors.update({name: p.detach().float() for name, p in model.named_parameters()})
    config = json.loads((src / "config.json").read_text())
    config.pop("quantization_config", None)
    config["torch_dtype"] = "float32"
    (out / "config.json").write_text(json.dumps(config))
    write_safetensors(out, tensors)
    return out


def hf_greedy(ref: torch.nn.Module, prompt: torch.Tensor, steps: int) -> tuple[list[int], list[torch.Tensor]]:
    """Greedy tokens and last-position logits, recomputing the whole sequence every step (no cache)."""
    seq, tokens, logits = prompt, [], []
    for _ in range(steps):
        last = ref(seq).logits[0, -1]
        logits.append(last)
        tokens.append(int(last.argmax()))
        seq = torch.cat([seq, torch.tensor([[tokens[-1]]])], dim=1)
    return tokens, logits


@pytest.mark.parametrize("variant", VARIANTS)
@torch.inference_mode()
def test_matches_transformers(variant: str, checkpoint: Callable[[str], Path], tmp_path: Path) -> None:
    from transformers import Exaone4ForCausalLM

    src = checkpoint(variant)
    ours = load_model(src, device=torch.device("cpu"), dtype=torch.float32)
    ref = Exaone4ForCausalLM.from_pretrained(
        str(dequantized_hf_checkpoint(ours, src, tmp_path / "hf")),
        dtype=torch.float32,
        attn_implementation="eager",
    ).eval()
    vocab = ours.cfg.vocab_size
    prompt = torch.randint(0, vocab, (1, PROMPT_LEN), generator=torch.Generator().manual_seed(7))

    hf_tokens, hf_logits = hf_greedy(ref, prompt, NEW_TOKENS)

    # 1) every position of prompt + continuation in one prefill (crosses the window)
    full = torch.cat([prompt, torch.tensor([hf_tokens])], dim=1)
    prefill_diff = (
        (
            ours(full, ours.new_cache(torch.zeros(1, dtype=torch.long), 8), all_logits=True)[0]
            - ref(full).logits[0]
        )
        .abs()
        .max()
        .item()
    )

    # 2) teacher-forced decode through the KV cache, one token at a time
    cache = ours.new_cache(torch.zeros(1, dtype=torch.long), 8)
    step_logits = [ours(prompt, cache)[0, -1]]
    for token in hf_tokens[:-1]:
        step_logits.append(ours(torch.tensor([[token]]), cache)[0, -1])
    decode_diff = max((a - b).abs().max().item() for a, b in zip(step_logits, hf_logits, strict=True))
    our_argmax = [int(s.argmax()) for s in step_logits]

    # 3) the engine's own greedy loop (no EOS so all 64 tokens are compared)
    engine = ReferenceEngine(ours, decode=lambda ids: "", eos_ids=())
    [(_, result)] = engine.generate(
        [GenerationRequest(prompt[0].tolist(), SamplingParams(max_new_tokens=NEW_TOKENS))]
    )

    print(
        f"{variant}: prefill max|diff| {prefill_diff:.2e}, decode max|diff| {decode_diff:.2e}, "
        f"{len(hf_tokens)} greedy tokens compared, {len(set(hf_tokens))} distinct"
    )
    assert prefill_diff < TOL
    assert decode_diff < TOL
    assert our_argmax == hf_tokens
    assert result.token_ids == hf_tokens
    assert result.finish_reason == "length"


@torch.inference_mode()
def test_prefill_chunks_and_bf16_stay_close(checkpoint: Callable[[str], Path]) -> None:
    """Chunked prefill equals one-shot prefill; bf16 compute stays near fp32 on a bf16 checkpoint."""
    src = checkpoint("bf16")
    fp32 = load_model(src, device=torch.device("cpu"), dtype=torch.float32)
    ids = torch.randint(0, fp32.cfg.vocab_size, (1, 100), generator=torch.Generator().manual_seed(3))
    whole = fp32(ids, fp32.new_cache(torch.zeros(1, dtype=torch.long), 8))
    chunked_cache = fp32.new_cache(torch.zeros(1, dtype=torch.long), 8)
    for s in range(0, 100, 30):
        chunked = fp32(ids[:, s : s + 30], chunked_cache)
    assert (whole - chunked).abs().max().item() < 1e-4

    bf16 = load_model(src, device=torch.device("cpu"), dtype=torch.bfloat16)
    low = bf16(ids, bf16.new_cache(torch.zeros(1, dtype=torch.long), 8))
    assert low.dtype == torch.float32  # logits always come back as float32
    assert (whole - low).abs().max().item() < 0.25 * whole.abs().max().item()
