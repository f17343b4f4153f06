"""config.json, generation_config.json and quantization_config of the tiny EXAONE 4.0 model.

The architecture is EXAONE-4.0-32B's shrunk: same layer pattern (3 sliding : 1 global),
GQA, QK-norm, post-norms, llama3-scaled RoPE (theta 1e6, factor 16, original 8192), untied
lm_head. The sliding window is 64 instead of 4096 so short tests cross it.
"""

from __future__ import annotations

from dataclasses import dataclass

from evalkit import __version__
from evalkit.tinymodel.tokenizer import SpecialIds


@dataclass(frozen=True)
class TinyArch:
    """Shape of the tiny model (head_dim = hidden_size / num_attention_heads, as HF derives it)."""

    hidden_size: int = 256
    intermediate_size: int = 512
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: int = 64
    sliding_window: int = 64
    sliding_window_pattern: int = 4
    max_position_embeddings: int = 131072
    rms_norm_eps: float = 1e-5
    rope_theta: float = 1_000_000.0

    @property
    def layer_types(self) -> list[str]:
        """Every ``sliding_window_pattern``-th layer is global, the rest sliding (EXAONE 4.0 32B)."""
        return [
            "full_attention" if (i + 1) % self.sliding_window_pattern == 0 else "sliding_attention"
            for i in range(self.num_hidden_layers)
        ]


ARCH = TinyArch()
GROUP_SIZE = 128
DAMP_PERCENT = 0.01  # AutoGPTQ's default; recorded for completeness, RTN does not use it

# llama3 RoPE scaling of EXAONE-4.0-32B (TensorRT-LLM EXAONE4 test config).
ROPE_SCALING: dict[str, object] = {
    "factor": 16.0,
    "high_freq_factor": 4.0,
    "low_freq_factor": 1.0,
    "original_max_position_embeddings": 8192,
    "rope_type": "llama3",
}


def round_up(n: int, multiple: int) -> int:
    """The smallest multiple of ``multiple`` that is >= ``n``."""
    return -(-n // multiple) * multiple


def quantization_config(desc_act: bool) -> dict[str, object]:
    """quantization_config as a GPTQ v1 checkpoint carries it (readable by transformers' GPTQConfig)."""
    return {
        "quant_method": "gptq",
        "bits": 4,
        "group_size": GROUP_SIZE,
        "desc_act": desc_act,
        "sym": True,
        "checkpoint_format": "gptq",
        "format": "gptq",  # GPTQModel's name for checkpoint_format
        "pack_dtype": "int32",
        "damp_percent": DAMP_PERCENT,
        "true_sequential": True,
        "static_groups": False,
        "lm_head": False,
        # RTN has no group-aware reordering; also stops GPTQConfig warning when desc_act is set.
        "act_group_aware": False,
        "meta": {
            "quantizer": [f"evalkit:{__version__}"],
            "evalkit_rounding": "rtn (round-to-nearest; no Hessian update)",
            "evalkit_act_order_proxy": "squared weight column norms over linears sharing an input",
            "damp_percent": DAMP_PERCENT,
            "static_groups": False,
            "true_sequential": True,
        },
    }


def model_config(
    *, vocab_size: int, ids: SpecialIds, dtype: str, quantization: dict[str, object] | None
) -> dict[str, object]:
    """config.json for ``Exaone4ForCausalLM``.

    RoPE is written both as transformers >= 5 reads it (``rope_parameters`` with
    ``rope_theta`` inside) and in the legacy form (``rope_theta`` + ``rope_scaling``) that
    transformers 4.x, vLLM and other ports read; both describe the same llama3 scaling.
    """
    a = ARCH
    cfg: dict[str, object] = {
        "architectures": ["Exaone4ForCausalLM"],
        "model_type": "exaone4",
        "vocab_size": vocab_size,
        "hidden_size": a.hidden_size,
        "intermediate_size": a.intermediate_size,
        "num_hidden_layers": a.num_hidden_layers,
        "num_attention_heads": a.num_attention_heads,
        "num_key_value_heads": a.num_key_value_heads,
        "head_dim": a.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": a.max_position_embeddings,
        "initializer_range": 0.02,
        "rms_norm_eps": a.rms_norm_eps,
        "use_cache": True,
        "attention_dropout": 0.0,
        "bos_token_id": ids.bos,
        "eos_token_id": ids.eos,
        "pad_token_id": ids.pad,
        "tie_word_embeddings": False,
        "rope_theta": a.rope_theta,
        "rope_scaling": dict(ROPE_SCALING),
        "rope_parameters": {**ROPE_SCALING, "rope_theta": a.rope_theta},
        "sliding_window": a.sliding_window,
        "sliding_window_pattern": a.sliding_window_pattern,
        "layer_types": a.layer_types,
        "torch_dtype": dtype,
        "dtype": dtype,  # the transformers >= 5 name of torch_dtype
    }
    if quantization is not None:
        cfg["quantization_config"] = quantization
    return cfg


def generation_config(ids: SpecialIds) -> dict[str, object]:
    """generation_config.json: token ids only; sampling settings belong to the harness's modes."""
    return {
        "bos_token_id": ids.bos,
        "eos_token_id": ids.eos,
        "pad_token_id": ids.pad,
    }
