"""Small EXAONE 4 checkpoints for the torch_int4 tests, written from random weights.

The layout is the HF/GPTQ one (docs/gptq-format.md, docs/exaone4-architecture.md): HF tensor names,
config.json with a ``quantization_config``, and per quantized linear
``qweight``/``qzeros``/``scales``/``g_idx`` packed low-nibble-first (qweight along K, qzeros along
N), quantized round-to-nearest with AutoGPTQ's sym/asym rules. Shapes follow the project's tiny
model: hidden 256, 4 layers (3 sliding + 1 global), 4 heads, 2 KV heads, head_dim 64, window 64, llama3 RoPE.
Everything is written by this file, independently of the runner's loader, so the
loader is tested against the format rather than against itself.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

HIDDEN, INTER, LAYERS, HEADS, KV_HEADS, HEAD_DIM, WINDOW = 256, 512, 4, 4, 2, 64, 64
LINEARS = {  # suffix -> (in_features, out_features)
    "self_attn.q_proj": (HIDDEN, HEADS * HEAD_DIM),
    "self_attn.k_proj": (HIDDEN, KV_HEADS * HEAD_DIM),
    "self_attn.v_proj": (HIDDEN, KV_HEADS * HEAD_DIM),
    "self_attn.o_proj": (HEADS * HEAD_DIM, HIDDEN),
    "mlp.gate_proj": (HIDDEN, INTER),
    "mlp.up_proj": (HIDDEN, INTER),
    "mlp.down_proj": (INTER, HIDDEN),
}
CHAT_TEMPLATE = (
    "{% for m in messages %}[|{{ m.role }}|]\n{{ m.content }}[|endofturn|]\n{% endfor %}"
    "{% if add_generation_prompt %}[|assistant|]\n{% if enable_thinking %}<think>\n"
    "{% else %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)


@dataclass(frozen=True)
class Spec:
    """What to write. `quant` None = unquantized weights in `dtype`."""

    quant: str | None = "gptq"  # "gptq" (v1) or "gptq_v2"
    sym: bool = True
    desc_act: bool = False
    group_size: int = 128
    dtype: torch.dtype = torch.float32
    shards: int = 1
    seed: int = 0
    config_overrides: dict[str, Any] = field(default_factory=dict)


SPECS = {
    "gptq": Spec(),
    # act-order with a non-default group size, split over two shards with an index
    "gptq-actorder": Spec(desc_act=True, group_size=64, shards=2, seed=1),
    "gptq_v2-asym": Spec(quant="gptq_v2", sym=False, seed=2),
    "fp32": Spec(quant=None),
    "bf16": Spec(quant=None, dtype=torch.bfloat16),
}


def tiny_variants(*names: str) -> list[str]:
    """``tiny:<name>`` for each name once evalkit.tinymodel exists (written in parallel), else []."""
    try:
        from evalkit.tinymodel import ensure_tiny_model  # noqa: F401
    except ImportError:
        return []
    return [f"tiny:{n}" for n in names]


def base_config(vocab_size: int, eos_id: int) -> dict[str, Any]:
    """config.json of the tiny model, legacy RoPE keys (as the 32B config.json has them)."""
    return {
        "architectures": ["Exaone4ForCausalLM"],
        "model_type": "exaone4",
        "vocab_size": vocab_size,
        "hidden_size": HIDDEN,
        "intermediate_size": INTER,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS,
        "head_dim": HEAD_DIM,
        "hidden_act": "silu",
        "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-5,
        "rope_theta": 1000000.0,
        "rope_scaling": {
            "rope_type": "llama3",
            "factor": 16.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 256,
        },
        "sliding_window": WINDOW,
        "sliding_window_pattern": 4,
        "layer_types": ["sliding_attention"] * 3 + ["full_attention"],
        "tie_word_embeddings": False,
        "bos_token_id": 256,
        "eos_token_id": eos_id,
        "pad_token_id": 258,
        "torch_dtype": "float32",
    }


def write_tokenizer(out: Path) -> tuple[int, int]:
    """A byte-level tokenizer with EXAONE's markers; returns (vocab size, eos id)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tok = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="[BOS]", eos_token="[|endofturn|]", pad_token="[PAD]"
    )
    # Non-special, like the real tokenizer: they must survive skip_special_tokens.
    fast.add_tokens(["<think>", "</think>", "<tool_call>", "</tool_call>"])
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(str(out))
    return len(fast), fast.eos_token_id


def pack_rows(q: torch.Tensor) -> torch.Tensor:
    """[K, N] codes -> [K/8, N] int32, row 8r+j in bits [4j, 4j+4) of row r."""
    k, n = q.shape
    words = torch.zeros((k // 8, n), dtype=torch.int64)
    for j in range(8):
        words |= q[j::8].long() << (4 * j)
    return _to_int32(words)


def pack_cols(z: torch.Tensor) -> torch.Tensor:
    """[G, N] codes -> [G, N/8] int32, column 8c+j in bits [4j, 4j+4) of column c."""
    g, n = z.shape
    words = torch.zeros((g, n // 8), dtype=torch.int64)
    for j in range(8):
        words |= z[:, j::8].long() << (4 * j)
    return _to_int32(words)


def _to_int32(words: torch.Tensor) -> torch.Tensor:
    # Values >= 2^31 become negative int32, exactly as the GPTQ packers store them.
    return torch.where(words >= 2**31, words - 2**32, words).to(torch.int32)


def quantize(w: torch.Tensor, spec: Spec, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Round-to-nearest GPTQ tensors for an nn.Linear weight [N, K]."""
    n, k = w.shape
    size = k if spec.group_size == -1 else spec.group_size
    groups = math.ceil(k / size)
    g_idx = torch.arange(k) // size
    if spec.desc_act:  # act-order: groups formed over a permutation of the input channels
        perm = torch.randperm(k, generator=gen)
        g_idx = torch.empty(k, dtype=torch.long)
        g_idx[perm] = torch.arange(k) // size
    wt = w.t().float()  # [K, N], the checkpoint orientation
    scales = torch.empty((groups, n))
    zeros = torch.empty((groups, n), dtype=torch.long)
    for g in range(groups):
        rows = wt[g_idx == g]
        if spec.sym:
            xmax = rows.abs().amax(0).clamp_min(1e-6)
            scales[g] = 2 * xmax / 15
            zeros[g] = 8
        else:
            lo, hi = rows.amin(0).clamp(max=0), rows.amax(0).clamp(min=0)
            scales[g] = ((hi - lo) / 15).clamp_min(1e-6)
            zeros[g] = torch.round(-lo / scales[g]).clamp(0, 15).long()
    scales = scales.half()  # stored fp16; quantize with the rounded scale
    q = torch.round(wt / scales.float()[g_idx]) + zeros[g_idx]
    q = q.clamp(0, 15).long()
    stored_zeros = zeros - 1 if spec.quant == "gptq" else zeros  # v1 stores zero - 1
    return {
        "qweight": pack_rows(q),
        "qzeros": pack_cols(stored_zeros & 0xF),
        "scales": scales,
        "g_idx": g_idx.to(torch.int32),
    }


def random_weights(vocab: int, seed: int) -> dict[str, torch.Tensor]:
    """Dense fp32 weights under HF names, scaled so activations stay O(1)."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape: int, std: float) -> torch.Tensor:
        return torch.randn(shape, generator=gen) * std

    def norm(dim: int) -> torch.Tensor:
        return 1.0 + randn(dim, std=0.1)

    w = {"model.embed_tokens.weight": randn(vocab, HIDDEN, std=1.0)}
    for i in range(LAYERS):
        p = f"model.layers.{i}"
        for suffix, (k, n) in LINEARS.items():
            w[f"{p}.{suffix}.weight"] = randn(n, k, std=k**-0.5)
        w[f"{p}.self_attn.q_norm.weight"] = norm(HEAD_DIM)
        w[f"{p}.self_attn.k_norm.weight"] = norm(HEAD_DIM)
        w[f"{p}.post_attention_layernorm.weight"] = norm(HIDDEN)
        w[f"{p}.post_feedforward_layernorm.weight"] = norm(HIDDEN)
    w["model.norm.weight"] = norm(HIDDEN)
    w["lm_head.weight"] = randn(vocab, HIDDEN, std=0.15)
    return w


def write_checkpoint(out: Path, spec: Spec) -> Path:
    """Write config, tokenizer and weights for `spec` into `out`; returns `out`."""
    out.mkdir(parents=True, exist_ok=True)
    vocab, eos = write_tokenizer(out)
    config = base_config(vocab, eos)
    dense = random_weights(vocab, spec.seed)
    gen = torch.Generator().manual_seed(spec.seed + 1)
    tensors: dict[str, torch.Tensor] = {}
    for name, t in dense.items():
        prefix = name.removesuffix(".weight")
        if spec.quant is not None and prefix.split(".", 3)[-1] in LINEARS:
            tensors.update({f"{prefix}.{k}": v for k, v in quantize(t, spec, gen).items()})
        else:
            tensors[name] = t.to(spec.dtype)
    if spec.quant is not None:
        config["quantization_config"] = {
            "quant_method": "gptq",
            "bits": 4,
            "group_size": spec.group_size,
            "desc_act": spec.desc_act,
            "sym": spec.sym,
            "checkpoint_format": spec.quant,
            "damp_percent": 0.01,
            "true_sequential": True,
        }
    config["torch_dtype"] = str(spec.dtype).removeprefix("torch.")
    config.update(spec.config_overrides)
    (out / "config.json").write_text(json.dumps(config, indent=2))
    (out / "generation_config.json").write_text(json.dumps({"eos_token_id": [eos], "bos_token_id": 256}))
    write_safetensors(out, tensors, spec.shards)
    return out


def write_safetensors(out: Path, tensors: dict[str, torch.Tensor], shards: int = 1) -> None:
    """One model.safetensors, or `shards` files plus model.safetensors.index.json."""
    if shards == 1:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(out / "model.safetensors"))
        return
    names = sorted(tensors)
    weight_map = {}
    for s in range(shards):
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = names[s::shards]
        save_file({k: tensors[k].contiguous() for k in part}, str(out / fname))
        weight_map.update(dict.fromkeys(part, fname))
    (out / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
