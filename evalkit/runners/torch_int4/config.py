"""EXAONE 4 config.json -> a typed, validated ``Exaone4Config`` (no torch needed).

Config files in the wild spell the same facts several ways (docs/exaone4-architecture.md#config-spellings):
- layer kinds as ``layer_types``, or ``sliding_window_pattern`` as an int or an "LLLG" string;
- RoPE as legacy ``rope_theta`` + ``rope_scaling``, or as the newer ``rope_parameters``;
- EOS as an int or a list, in config.json and/or generation_config.json.
This module turns all of them into one shape so the model code has a single path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, cast

from evalkit.runners.torch_int4.errors import CheckpointError

LayerType = Literal["sliding_attention", "full_attention"]
SLIDING: Final[Literal["sliding_attention"]] = "sliding_attention"
FULL: Final[Literal["full_attention"]] = "full_attention"
RopeType = Literal["default", "llama3"]

# HF Exaone4Config class defaults, used when a key is absent from config.json so that
# we build the same model transformers would.
_HF_DEFAULT_PATTERN = 4
_HF_DEFAULT_ROPE_THETA = 10000.0


@dataclass(frozen=True)
class RopeConfig:
    """Rotary embedding parameters. ``llama3`` rescales low frequencies
    (docs/exaone4-architecture.md#rope)."""

    rope_type: RopeType
    theta: float
    factor: float = 1.0
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0
    original_max_position_embeddings: int = 8192


@dataclass(frozen=True)
class Exaone4Config:
    """Everything the forward pass needs from config.json (+ generation_config.json)."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    rms_norm_eps: float
    max_position_embeddings: int
    sliding_window: int | None
    layer_types: tuple[LayerType, ...]
    rope: RopeConfig
    tie_word_embeddings: bool
    eos_token_ids: tuple[int, ...]
    bos_token_id: int | None = None
    pad_token_id: int | None = None

    def is_sliding(self, layer: int) -> bool:
        """True when `layer` attends within the sliding window only."""
        return self.layer_types[layer] == SLIDING

    def uses_rope(self, layer: int) -> bool:
        """RoPE on sliding layers only; global layers are NoPE (docs/exaone4-architecture.md#rope).

        A model with no sliding layer at all (sliding_window None, e.g. EXAONE-4.0-1.2B)
        uses RoPE on every layer.
        """
        return self.is_sliding(layer) or SLIDING not in self.layer_types

    @property
    def num_groups(self) -> int:
        """Query heads per key/value head (GQA)."""
        return self.num_heads // self.num_kv_heads


def load_config(model_dir: Path) -> Exaone4Config:
    """Read ``config.json`` (and ``generation_config.json`` if present) from `model_dir`."""
    path = model_dir / "config.json"
    raw = read_json(path)
    gen_path = model_dir / "generation_config.json"
    gen = read_json(gen_path) if gen_path.is_file() else None
    return parse_config(raw, generation_config=gen, source=path)


def parse_config(
    raw: Mapping[str, Any],
    *,
    generation_config: Mapping[str, Any] | None = None,
    source: str | Path = "config.json",
) -> Exaone4Config:
    """Build an ``Exaone4Config`` from the parsed JSON of an EXAONE 4 config.json.

    Raises ``CheckpointError`` naming `source` and the offending key for anything
    missing or unsupported (a non-SiLU activation, an unknown RoPE type, ...).
    """

    def need(key: str) -> Any:
        if key not in raw or raw[key] is None:
            raise CheckpointError(source, None, key, "missing required key")
        return raw[key]

    act = raw.get("hidden_act", "silu")
    if act != "silu":
        raise CheckpointError(source, None, "hidden_act", f"{act!r} is not supported (only 'silu')")
    hidden = int(need("hidden_size"))
    heads = int(need("num_attention_heads"))
    kv_heads = int(raw.get("num_key_value_heads") or heads)
    if heads % kv_heads:
        raise CheckpointError(
            source, None, "num_key_value_heads", f"{kv_heads} does not divide num_attention_heads {heads}"
        )
    head_dim = int(raw.get("head_dim") or hidden // heads)
    if head_dim % 2:
        raise CheckpointError(source, None, "head_dim", f"{head_dim} is odd; RoPE needs an even head_dim")
    num_layers = int(need("num_hidden_layers"))
    max_pos = int(raw.get("max_position_embeddings", 2048))
    sliding_window = raw.get("sliding_window", 4096)  # HF default when the key is absent
    if sliding_window is not None:
        sliding_window = int(sliding_window)
        if sliding_window <= 0:
            raise CheckpointError(
                source, None, "sliding_window", f"{sliding_window} must be positive or null"
            )

    eos: list[int] = []
    for src in (raw, generation_config or {}):
        eos.extend(_int_list(src.get("eos_token_id")))

    return Exaone4Config(
        vocab_size=int(need("vocab_size")),
        hidden_size=hidden,
        intermediate_size=int(need("intermediate_size")),
        num_layers=num_layers,
        num_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        rms_norm_eps=float(raw.get("rms_norm_eps", 1e-5)),
        max_position_embeddings=max_pos,
        sliding_window=sliding_window,
        layer_types=parse_layer_types(raw, num_layers, sliding_window, source),
        rope=parse_rope(raw, max_pos, source),
        tie_word_embeddings=bool(raw.get("tie_word_embeddings", False)),
        eos_token_ids=tuple(dict.fromkeys(eos)),  # de-duplicated, first-seen order
        bos_token_id=raw.get("bos_token_id"),
        pad_token_id=raw.get("pad_token_id"),
    )


def parse_layer_types(
    raw: Mapping[str, Any], num_layers: int, sliding_window: int | None, source: str | Path
) -> tuple[LayerType, ...]:
    """Each layer's attention kind: ``layer_types`` if given, else from ``sliding_window_pattern``.

    - int p: layer i is global when (i + 1) % p == 0 (HF's rule);
    - str like "LLLG": repeated cyclically from layer 0, and the last layer is always
      global (HF docstring; transformers itself mishandles the string, see
      docs/exaone4-architecture.md#config-spellings);
    - ``sliding_window`` null: no sliding layers at all.
    """
    if sliding_window is None:
        return (FULL,) * num_layers
    given = raw.get("layer_types")
    if given is not None:
        if len(given) != num_layers:
            raise CheckpointError(
                source, None, "layer_types", f"has {len(given)} entries for {num_layers} layers"
            )
        bad = sorted({t for t in given if t not in (SLIDING, FULL)})
        if bad:
            raise CheckpointError(source, None, "layer_types", f"unknown layer type(s) {bad}")
        return cast(tuple[LayerType, ...], tuple(given))
    pattern = raw.get("sliding_window_pattern", _HF_DEFAULT_PATTERN)
    if isinstance(pattern, bool):  # bool is an int subclass; neither meaning is sensible
        raise CheckpointError(source, None, "sliding_window_pattern", f"{pattern!r} is not a pattern")
    if isinstance(pattern, int):
        if pattern <= 0:
            raise CheckpointError(source, None, "sliding_window_pattern", f"{pattern} must be positive")
        return tuple(FULL if (i + 1) % pattern == 0 else SLIDING for i in range(num_layers))
    if isinstance(pattern, str) and pattern and set(pattern.upper()) <= {"L", "G"}:
        p = pattern.upper()
        kinds: list[LayerType] = [FULL if p[i % len(p)] == "G" else SLIDING for i in range(num_layers)]
        kinds[-1] = FULL
        return tuple(kinds)
    raise CheckpointError(
        source, None, "sliding_window_pattern", f"{pattern!r} is neither an int nor a string of 'L'/'G'"
    )


def parse_rope(raw: Mapping[str, Any], max_position_embeddings: int, source: str | Path) -> RopeConfig:
    """RoPE settings from ``rope_parameters`` (new) or ``rope_theta`` + ``rope_scaling`` (legacy)."""
    params = raw.get("rope_parameters")
    if params is not None:
        key = "rope_parameters"
        if not isinstance(params, Mapping):
            raise CheckpointError(source, None, key, "must be a mapping")
        if SLIDING in params or FULL in params:
            raise CheckpointError(source, None, key, "per-layer-type RoPE parameters are not supported")
        theta = params.get("rope_theta", raw.get("rope_theta", _HF_DEFAULT_ROPE_THETA))
    else:
        key = "rope_scaling"
        params = raw.get("rope_scaling") or {}
        theta = raw.get("rope_theta", _HF_DEFAULT_ROPE_THETA)
    if float(params.get("partial_rotary_factor", raw.get("partial_rotary_factor", 1.0))) != 1.0:
        raise CheckpointError(source, None, f"{key}.partial_rotary_factor", "partial RoPE is not supported")
    rope_type = params.get("rope_type", params.get("type", "default"))
    if rope_type == "default":
        return RopeConfig(rope_type="default", theta=float(theta))
    if rope_type != "llama3":
        raise CheckpointError(
            source, None, f"{key}.rope_type", f"{rope_type!r} is not supported (only 'default' and 'llama3')"
        )
    for field in ("factor", "low_freq_factor", "high_freq_factor"):
        if field not in params:
            raise CheckpointError(source, None, f"{key}.{field}", "missing (required for llama3 RoPE)")
    if float(params["high_freq_factor"]) <= float(params["low_freq_factor"]):
        raise CheckpointError(source, None, f"{key}.high_freq_factor", "must exceed low_freq_factor")
    return RopeConfig(
        rope_type="llama3",
        theta=float(theta),
        factor=float(params["factor"]),
        low_freq_factor=float(params["low_freq_factor"]),
        high_freq_factor=float(params["high_freq_factor"]),
        # HF falls back to max_position_embeddings the same way.
        original_max_position_embeddings=int(
            params.get("original_max_position_embeddings", max_position_embeddings)
        ),
    )


def _int_list(value: Any) -> list[int]:
    if value is None:
        return []
    if isinstance(value, int):
        return [value]
    return [int(v) for v in value]


def read_json(path: Path) -> dict[str, Any]:
    """Parse a JSON object file, raising CheckpointError (naming the file) when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(path, None, None, "file not found") from None
    except ValueError as e:
        raise CheckpointError(path, None, None, f"not valid JSON ({e})") from e
    if not isinstance(data, dict):
        raise CheckpointError(path, None, None, "expected a JSON object")
    return data
