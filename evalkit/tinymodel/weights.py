"""Deterministic random weights of the tiny EXAONE 4.0 model, named as HF ``Exaone4ForCausalLM``.

Every tensor has its own ``torch.Generator`` seeded from the build seed and the tensor's
name, so the weights ignore the global RNG and adding a tensor never changes the others.
Values are rounded to bfloat16 (held in float32): the bf16, fp32 and GPTQ variants are then
one and the same model, and the fp32 variant is an exact reference for the bf16 one.

Scales, and why: embeddings N(0, 1) and linears N(0, 1/K) give unit-RMS activations; the
post-norms keep each block's output at unit RMS anyway. Norm weights are 1 + N(0, 0.05^2).
The lm_head std (LM_HEAD_STD) makes the final logits' std about 16 * 0.3 ~ 5, so the
next-token distributions are peaked (mean max-prob far above uniform) and greedy
decoding does not hinge on near-ties.
"""

from __future__ import annotations

import hashlib

import torch
from torch import Tensor

from evalkit.tinymodel.config import ARCH

SEED = 20250715  # EXAONE 4.0's release month; any fixed value works
NORM_NOISE = 0.05
LM_HEAD_STD = 0.3

ATTN_INPUT_LINEARS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj")
MLP_INPUT_LINEARS = ("mlp.gate_proj", "mlp.up_proj")
# Decoder linears grouped by the input they read; GPTQ act-order shares one order per group.
LINEARS_BY_INPUT = (ATTN_INPUT_LINEARS, ("self_attn.o_proj",), MLP_INPUT_LINEARS, ("mlp.down_proj",))
DECODER_LINEARS = tuple(name for group in LINEARS_BY_INPUT for name in group)


def _generator(name: str, seed: int) -> torch.Generator:
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return torch.Generator(device="cpu").manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))


def _normal(name: str, shape: tuple[int, ...], std: float, seed: int) -> Tensor:
    t = torch.randn(shape, generator=_generator(name, seed), dtype=torch.float32) * std
    return t.to(torch.bfloat16).to(torch.float32)


def _norm_weight(name: str, dim: int, seed: int) -> Tensor:
    return _normal(name, (dim,), NORM_NOISE, seed).add(1.0).to(torch.bfloat16).to(torch.float32)


def linear_shapes() -> dict[str, tuple[int, int]]:
    """``nn.Linear`` weight shapes [out, in] of one decoder layer, by module suffix."""
    a = ARCH
    q_out = a.num_attention_heads * a.head_dim
    kv_out = a.num_key_value_heads * a.head_dim
    return {
        "self_attn.q_proj": (q_out, a.hidden_size),
        "self_attn.k_proj": (kv_out, a.hidden_size),
        "self_attn.v_proj": (kv_out, a.hidden_size),
        "self_attn.o_proj": (a.hidden_size, q_out),
        "mlp.gate_proj": (a.intermediate_size, a.hidden_size),
        "mlp.up_proj": (a.intermediate_size, a.hidden_size),
        "mlp.down_proj": (a.hidden_size, a.intermediate_size),
    }


def init_weights(vocab_size: int, n_tokens: int, seed: int = SEED) -> dict[str, Tensor]:
    """The full float32 state dict (bf16-representable values), HF Exaone4 tensor names.

    ``vocab_size`` is the embedding size; rows ``n_tokens..vocab_size`` are padding for
    ids the tokenizer does not have. Their lm_head rows are zero (logit 0, far below the
    usual maximum) so the model is unlikely to emit an id that decodes to nothing.
    """
    a = ARCH
    embed = _normal("embed", (vocab_size, a.hidden_size), 1.0, seed)
    sd: dict[str, Tensor] = {"model.embed_tokens.weight": embed}
    for i in range(a.num_hidden_layers):
        p = f"model.layers.{i}."
        for suffix, (n_out, k_in) in linear_shapes().items():
            sd[f"{p}{suffix}.weight"] = _normal(f"{p}{suffix}", (n_out, k_in), k_in**-0.5, seed)
        sd[f"{p}self_attn.q_norm.weight"] = _norm_weight(f"{p}q_norm", a.head_dim, seed)
        sd[f"{p}self_attn.k_norm.weight"] = _norm_weight(f"{p}k_norm", a.head_dim, seed)
        sd[f"{p}post_attention_layernorm.weight"] = _norm_weight(f"{p}post_attn_norm", a.hidden_size, seed)
        sd[f"{p}post_feedforward_layernorm.weight"] = _norm_weight(f"{p}post_ffn_norm", a.hidden_size, seed)
    sd["model.norm.weight"] = _norm_weight("final_norm", a.hidden_size, seed)
    lm_head = _normal("lm_head", (vocab_size, a.hidden_size), LM_HEAD_STD, seed)
    lm_head[n_tokens:] = 0.0
    sd["lm_head.weight"] = lm_head
    return sd
