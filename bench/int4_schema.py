"""The result schema shared by every engine of the int4 benchmark, and the roofline arithmetic.

One JSON object per engine (our torch_int4 engine, the bf16 and dequantize-then-matmul
baselines, vLLM with Marlin, vLLM with Machete), written by the script that measured it::

    {"engine": "vllm-machete", "batch1_1k_tok_s": 92.1, "batch1_32k_tok_s": ..., "batch16_4k_tok_s": ...,
     "batch64_4k_tok_s": ..., "prefill_tok_s": ..., "prefill_tflops": ..., "peak_mem_gb": ...,
     "weights_gb": ..., "decode_tokens": 256, "prefill_prompt_len": 4096, "kernel": "MacheteLinearKernel",
     "notes": "...", "extra": {...}}

Decode figures are generated tokens per second summed over the batch, with prefill excluded,
measured over ``decode_tokens`` new tokens after a prompt of the scenario's context length
(1K = 1024, 32K = 32768, 4K = 4096 tokens). ``prefill_tok_s`` is prompt tokens per second for
prompts of ``prefill_prompt_len`` tokens. Memory in GB = 1e9 bytes. Missing figures are null.

Roofline (docs/exaone4-architecture.md#roofline): a decode step at batch B and context T reads the
weights once and each sequence's KV cache, ``KV(T) = 65,536·T + 196,608·min(T, 4096)`` bytes for
EXAONE-4.0-32B (16 global layers keep every token, 48 sliding layers the last 4096, 4 KiB per token
per layer), so ``tok/s <= B · BW / (W + B · KV(T))``. ``W``, the weight bytes a decode step streams,
is computed from the checkpoint's own tensors (:class:`ModelFacts`).
"""

from __future__ import annotations

import json
import struct
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from evalkit.kv_planning import KVShape

# Scenario field -> (batch size, prompt context in tokens).
SCENARIOS: dict[str, tuple[int, int]] = {
    "batch1_1k_tok_s": (1, 1024),
    "batch1_32k_tok_s": (1, 32768),
    "batch16_4k_tok_s": (16, 4096),
    "batch64_4k_tok_s": (64, 4096),
    "batch256_1k_tok_s": (256, 1024),  # issue 15's large-batch target
}
DEFAULT_DECODE_TOKENS = 256
DEFAULT_PREFILL_PROMPT_LEN = 4096
DEFAULT_PREFILL_BATCH = 64


@dataclass
class EngineResult:
    """One engine's figures (see module docstring for units and methods)."""

    engine: str
    batch1_1k_tok_s: float | None = None
    batch1_32k_tok_s: float | None = None
    batch16_4k_tok_s: float | None = None
    batch64_4k_tok_s: float | None = None
    batch256_1k_tok_s: float | None = None
    prefill_tok_s: float | None = None
    prefill_tflops: float | None = None
    peak_mem_gb: float | None = None
    weights_gb: float | None = None
    decode_tokens: int = DEFAULT_DECODE_TOKENS
    prefill_prompt_len: int = DEFAULT_PREFILL_PROMPT_LEN
    kernel: str | None = None
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EngineResult:
        """Known keys become fields; unknown top-level keys are kept under ``extra``."""
        if "engine" not in d:
            raise ValueError("an engine result needs an 'engine' name")
        names = {f.name for f in fields(cls)}
        known = {k: v for k, v in d.items() if k in names}
        extra = dict(known.get("extra") or {})
        extra.update({k: v for k, v in d.items() if k not in names})
        known["extra"] = extra
        return cls(**known)

    def save(self, path: Path | str) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path | str) -> EngineResult:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


@dataclass
class HwCeilings:
    """Measured ceilings of the device (bench/hw_ceilings.py)."""

    device: str
    copy_gbs: float  # device-to-device copy, (bytes read + bytes written) / s, in 1e9 B/s
    matmul_tflops: float  # dense bf16 matmul, 2·n³ / s, in 1e12 FLOP/s
    copy_bytes: int = 0  # size of one copied buffer
    matmul_n: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HwCeilings:
        names = {f.name for f in fields(cls)}
        known = {k: v for k, v in d.items() if k in names}
        extra = dict(known.get("extra") or {})
        extra.update({k: v for k, v in d.items() if k not in names})
        known["extra"] = extra
        return cls(**known)

    @classmethod
    def load(cls, path: Path | str) -> HwCeilings:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


# --------------------------------------------------------------------------- model facts


def safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a .safetensors file (names, dtypes, shapes, offsets); reads no tensor data."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header: dict[str, Any] = json.loads(f.read(n))
    header.pop("__metadata__", None)
    return header


_DTYPE_BYTES = {"I32": 4, "F16": 2, "BF16": 2, "F32": 4, "I64": 8}


def tensor_bytes_of_checkpoint(model_dir: Path | str) -> dict[str, int]:
    """Bytes of every tensor of a checkpoint directory, from the safetensors headers."""
    model_dir = Path(model_dir)
    out: dict[str, int] = {}
    for path in sorted(model_dir.glob("*.safetensors")):
        for name, info in safetensors_header(path).items():
            begin, end = info["data_offsets"]
            out[name] = int(end) - int(begin)
    if not out:
        raise FileNotFoundError(f"no *.safetensors in {model_dir}")
    return out


def _category(name: str) -> str:
    if name.endswith((".qweight", ".scales", ".qzeros", ".g_idx")):
        return name.rsplit(".", 1)[1]
    if name == "model.embed_tokens.weight":
        return "embed"
    if name == "lm_head.weight":
        return "lm_head"
    if "norm" in name:
        return "norms"
    return "other_dense"  # unquantized linears (a bf16 checkpoint)


@dataclass
class ModelFacts:
    """What the roofline needs: bytes by tensor kind, and the attention layout."""

    bytes_by_kind: dict[str, int]
    hidden_size: int
    vocab_size: int
    num_layers: int
    num_global_layers: int
    num_kv_heads: int
    head_dim: int
    num_heads: int
    sliding_window: int | None
    linear_params: int  # parameters of the decoder linears (for FLOPs)
    kv_dtype_bytes: int = 2

    @classmethod
    def from_config(cls, config: dict[str, Any], tensor_bytes: dict[str, int] | None = None) -> ModelFacts:
        """From a config.json dict, with bytes from the real tensors when given, else computed.

        Computed bytes assume the GPTQ v1 4-bit layout of bench/gptq_random.py (or bf16 linears
        when config.json has no quantization_config).
        """
        h, f = int(config["hidden_size"]), int(config["intermediate_size"])
        layers = int(config["num_hidden_layers"])
        heads = int(config["num_attention_heads"])
        kv = int(config.get("num_key_value_heads") or heads)
        hd = int(config.get("head_dim") or h // heads)
        vocab = int(config["vocab_size"])
        window = config.get("sliding_window")
        types = config.get("layer_types")
        if window is None:
            n_global = layers
        elif types:
            n_global = sum(t == "full_attention" for t in types)
        else:
            p = int(config.get("sliding_window_pattern", 4))
            n_global = sum((i + 1) % p == 0 for i in range(layers))
        shapes = [(h, heads * hd), (h, kv * hd), (h, kv * hd), (heads * hd, h), (h, f), (h, f), (f, h)]
        linear_params = layers * sum(k * n for k, n in shapes)
        if tensor_bytes is None:
            tensor_bytes = _computed_tensor_bytes(config, shapes, layers, h, vocab, hd)
        by_kind: dict[str, int] = {}
        for name, nb in tensor_bytes.items():
            kind = _category(name)
            by_kind[kind] = by_kind.get(kind, 0) + nb
        return cls(
            bytes_by_kind=by_kind,
            hidden_size=h,
            vocab_size=vocab,
            num_layers=layers,
            num_global_layers=n_global,
            num_kv_heads=kv,
            head_dim=hd,
            num_heads=heads,
            sliding_window=None if window is None else int(window),
            linear_params=linear_params,
        )

    @classmethod
    def from_checkpoint(cls, model_dir: Path | str) -> ModelFacts:
        config = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
        return cls.from_config(config, tensor_bytes_of_checkpoint(model_dir))

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes_by_kind.values())

    def decode_weight_bytes(self, *, as_stored: bool = False) -> int:
        """Bytes one decode step must stream, independent of batch size.

        Minimal (default): qweight + scales (the sym zero point is the constant 8 and g_idx is
        trivial without act-order) + lm_head + norms + dense linears + one embedding row per
        token (counted once). ``as_stored`` adds qzeros and g_idx.
        """
        b = self.bytes_by_kind
        kinds = ["qweight", "scales", "lm_head", "norms", "other_dense"]
        if as_stored:
            kinds += ["qzeros", "g_idx"]
        embed_row = b.get("embed", 0) // max(self.vocab_size, 1)
        return sum(b.get(k, 0) for k in kinds) + embed_row

    def kv_bytes(self, context: float) -> float:
        """KV cache bytes one sequence holds (and a decode step reads) at ``context`` tokens."""
        return self.kv_shape().sequence_bytes(context)

    def kv_shape(self) -> KVShape:
        """The KV cache's shape (evalkit's one KV-size formula)."""
        return KVShape(
            num_layers=self.num_layers,
            num_kv_heads=self.num_kv_heads,
            head_dim=self.head_dim,
            dtype_bytes=self.kv_dtype_bytes,
            sliding_layers=self.num_layers - self.num_global_layers,
            sliding_window=self.sliding_window,
        )

    def decode_roofline_tok_s(self, batch: int, context: float, bw_gbs: float, *, kv: bool = True) -> float:
        """Upper bound on decode tokens/s (summed over the batch) at bandwidth ``bw_gbs`` (1e9 B/s)."""
        step_bytes = self.decode_weight_bytes() + (batch * self.kv_bytes(context) if kv else 0.0)
        return batch * bw_gbs * 1e9 / step_bytes

    def prefill_flops_per_token(self, prompt_len: int) -> float:
        """Useful FLOPs per prompt token of a causal prefill of ``prompt_len`` tokens.

        2·(decoder linear params) plus attention (QKᵀ and PV: 4·heads·head_dim per visible key),
        with the mean number of visible keys per query: (T+1)/2 on global layers, and on sliding
        layers the mean of min(q+1, window). The masked half is not counted; lm_head runs on the
        last token only and is left out.
        """
        t = prompt_len
        full_keys = (t + 1) / 2
        if self.sliding_window is None:
            sliding_keys = full_keys
        else:
            w = min(self.sliding_window, t)
            sliding_keys = (w * (w + 1) / 2 + (t - w) * w) / t
        n_sliding = self.num_layers - self.num_global_layers
        attn = (
            4
            * self.num_heads
            * self.head_dim
            * (self.num_global_layers * full_keys + n_sliding * sliding_keys)
        )
        return 2 * self.linear_params + attn


def _computed_tensor_bytes(
    config: dict[str, Any], shapes: list[tuple[int, int]], layers: int, h: int, vocab: int, hd: int
) -> dict[str, int]:
    qc = config.get("quantization_config")
    gs = int((qc or {}).get("group_size", 128))
    out: dict[str, int] = {"model.embed_tokens.weight": vocab * h * 2, "lm_head.weight": vocab * h * 2}
    out["model.norm.weight"] = h * 2
    for i in range(layers):
        p = f"model.layers.{i}."
        for j, (k, n) in enumerate(shapes):
            if qc:
                g = -(-k // gs)
                out[f"{p}{j}.qweight"] = k * n // 2
                out[f"{p}{j}.scales"] = g * n * 2
                out[f"{p}{j}.qzeros"] = g * n // 2
                out[f"{p}{j}.g_idx"] = k * 4
            else:
                out[f"{p}{j}.weight"] = k * n * 2
        out[f"{p}norms"] = (2 * hd + 2 * h) * 2
    return out


def exaone4_32b_config() -> dict[str, Any]:
    """config.json of the random EXAONE-4.0-32B GPTQ checkpoint (no checkpoint needed)."""
    from bench.gptq_random import EXAONE4_32B, config_json

    return config_json(EXAONE4_32B, bos=1, eos=2, pad=0)
