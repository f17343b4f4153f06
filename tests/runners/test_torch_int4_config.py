"""config.json parsing: layer kinds, RoPE keys, head_dim and EOS ids in all their spellings."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from evalkit.runners.torch_int4.config import FULL, SLIDING, RopeConfig, parse_config
from evalkit.runners.torch_int4.errors import CheckpointError
from evalkit.runners.torch_int4.model import rope_inv_freq

S, F = SLIDING, FULL


def raw(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "vocab_size": 100,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 8,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "sliding_window": 16,
        "rope_theta": 10000.0,
        "eos_token_id": 2,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def test_layer_types_win_over_pattern() -> None:
    types = [S, F, S, F, S, S, S, F]
    cfg = parse_config(raw(layer_types=types, sliding_window_pattern=4))
    assert cfg.layer_types == tuple(types)
    assert [cfg.uses_rope(i) for i in range(8)] == [t == S for t in types]  # NoPE on global layers


def test_int_pattern() -> None:
    cfg = parse_config(raw(sliding_window_pattern=4))
    assert cfg.layer_types == (S, S, S, F, S, S, S, F)


def test_absent_pattern_uses_the_hf_default_of_4() -> None:
    assert parse_config(raw()).layer_types == (S, S, S, F, S, S, S, F)


def test_string_pattern_cycles_and_ends_global() -> None:
    assert parse_config(raw(sliding_window_pattern="LLLG")).layer_types == (S, S, S, F, S, S, S, F)
    # 7 layers of "LLG": L L G L L G, then the final layer is forced global
    cfg = parse_config(raw(num_hidden_layers=7, sliding_window_pattern="LLG"))
    assert cfg.layer_types == (S, S, F, S, S, F, F)


def test_no_sliding_window_means_all_global_with_rope_everywhere() -> None:
    cfg = parse_config(raw(sliding_window=None, layer_types=[S] * 8))
    assert cfg.layer_types == (F,) * 8
    assert all(cfg.uses_rope(i) for i in range(8))


@pytest.mark.parametrize("pattern", ["LLXG", 0, True, ""])
def test_bad_pattern_is_an_error(pattern: Any) -> None:
    with pytest.raises(CheckpointError, match="sliding_window_pattern"):
        parse_config(raw(sliding_window_pattern=pattern))


def test_layer_types_length_must_match() -> None:
    with pytest.raises(CheckpointError, match="layer_types"):
        parse_config(raw(layer_types=[S, F]))


LLAMA3 = {
    "factor": 16.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192,
}


def test_legacy_and_new_rope_keys_agree() -> None:
    legacy = parse_config(raw(rope_theta=1e6, rope_scaling={"rope_type": "llama3", **LLAMA3}))
    new = parse_config(
        raw(rope_theta=..., rope_parameters={"rope_type": "llama3", "rope_theta": 1e6, **LLAMA3})
    )
    older = parse_config(raw(rope_theta=1e6, rope_scaling={"type": "llama3", **LLAMA3}))  # "type", pre-4.45
    assert legacy.rope == new.rope == older.rope == RopeConfig("llama3", 1e6, 16.0, 1.0, 4.0, 8192)


def test_default_rope_from_either_spelling() -> None:
    assert parse_config(raw(rope_theta=500.0)).rope == RopeConfig("default", 500.0)
    cfg = parse_config(raw(rope_theta=..., rope_parameters={"rope_type": "default", "rope_theta": 500.0}))
    assert cfg.rope == RopeConfig("default", 500.0)


def test_llama3_original_max_defaults_to_max_position_embeddings() -> None:
    params = {k: v for k, v in LLAMA3.items() if k != "original_max_position_embeddings"}
    cfg = parse_config(raw(max_position_embeddings=2048, rope_scaling={"rope_type": "llama3", **params}))
    assert cfg.rope.original_max_position_embeddings == 2048


@pytest.mark.parametrize("rope_type", ["yarn", "linear", "dynamic", "longrope"])
def test_other_rope_types_are_clear_errors(rope_type: str) -> None:
    with pytest.raises(CheckpointError, match=rf"rope_scaling\.rope_type.*'{rope_type}'"):
        parse_config(raw(rope_scaling={"rope_type": rope_type, "factor": 2.0}))
    with pytest.raises(CheckpointError, match=r"rope_parameters\.rope_type"):
        parse_config(raw(rope_parameters={"rope_type": rope_type, "rope_theta": 1e4, "factor": 2.0}))


def test_llama3_inv_freq_matches_transformers() -> None:
    from transformers import Exaone4Config
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    hf = Exaone4Config(
        hidden_size=512,
        num_attention_heads=4,
        head_dim=128,
        rope_parameters={"rope_type": "llama3", "rope_theta": 1e6, **LLAMA3},
    )
    expected, _ = ROPE_INIT_FUNCTIONS["llama3"](hf)
    ours = rope_inv_freq(RopeConfig("llama3", 1e6, 16.0, 1.0, 4.0, 8192), 128)
    assert torch.equal(ours, expected)


def test_head_dim_defaults_to_hidden_over_heads() -> None:
    assert parse_config(raw()).head_dim == 16
    assert parse_config(raw(head_dim=32)).head_dim == 32


def test_eos_ids_from_config_and_generation_config() -> None:
    cfg = parse_config(raw(eos_token_id=[2, 5]), generation_config={"eos_token_id": 7})
    assert cfg.eos_token_ids == (2, 5, 7)
    cfg = parse_config(raw(eos_token_id=361), generation_config={"eos_token_id": [361, 9]})
    assert cfg.eos_token_ids == (361, 9)


def test_missing_key_and_wrong_activation() -> None:
    with pytest.raises(CheckpointError, match="'hidden_size'"):
        parse_config(raw(hidden_size=...))
    with pytest.raises(CheckpointError, match="hidden_act"):
        parse_config(raw(hidden_act="gelu"))
