"""A GPTQ checkpoint with RANDOM weights at the EXAONE-4.0-32B shape: in memory, and on disk.

Shape (docs/gptq-format.md#shapes-of-the-32b-model, docs/exaone4-architecture.md#config): hidden
5120, intermediate 27392, 64 layers, 40 query heads, 8 KV heads, head_dim 128, vocab 102400, sliding
window 4096 with pattern 4 (layers 3, 7, .., 63 global), llama3 RoPE (theta 1e6, factor 16),
max_position_embeddings 131072, untied bf16 lm_head.
Every decoder linear is GPTQ v1, sym, 4-bit, g128, desc_act False, exactly as stored by
AutoGPTQ / GPTQModel (``qweight [K/8, N]``, ``qzeros`` all ``0x77777777``, fp16 ``scales``,
``g_idx = arange(K) // 128``); embedding, norms and lm_head are bf16, as in a real export.

Values: ``qweight`` codes uniform in 1..15 with 8 twice as likely (uniform nibbles with 0 -> 8,
so they average exactly the zero point 8, see ``symmetric_codes``), scales
``|N(0,1)| * 0.002 + 1e-4`` (fp16), embedding and lm_head ``N(0, 0.02)``, norm weights 1. With
EXAONE's post-norms every block adds a unit-RMS vector to the residual stream, so activations
stay finite through 64 layers (checked on a narrow 64-layer model in the tests).

Each tensor has its own generator seeded from (seed, tensor name) on the generating device, so
the weights do not depend on generation order; they do depend on the device type (CPU and CUDA
RNGs differ), which is recorded in the checkpoint's ``evalkit_random.json``.

As a module::

    from bench.gptq_random import EXAONE4_32B, iter_state_groups, write_checkpoint
    for group, tensors in iter_state_groups(EXAONE4_32B, device="cuda", seed=0):
        ...                                   # "embed", "layers.0", ..., "layers.63", "final"
    write_checkpoint("/data/exaone4-32b-random-gptq", device="cuda")

As a CLI (writes ~18.2 GB; streams layer by layer, never more than one ~5 GB shard on the host)::

    python bench/gptq_random.py --out /data/exaone4-32b-random-gptq [--device cuda] [--seed 0]
    python bench/gptq_random.py --out /tmp/tiny-random --shape tiny --device cpu

The directory is a real GPTQ checkpoint (config.json with quantization_config, sharded
safetensors with model.safetensors.index.json, tokenizer files of the embedded tiny model):
vLLM, transformers and evalkit's own loader read it. The tokenizer has 4032 tokens for a
102400-row model; vLLM accepts that (it rejects a prompt id only above
max(tokenizer max id, model vocab - 1)); benchmarks send token ids and should not detokenize.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

if __package__ in (None, ""):  # run as `python bench/gptq_random.py`: make `evalkit` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MARKER = "evalkit_random.json"  # written last: a directory with a matching marker is complete
FORMAT_VERSION = 1
QZERO_WORD_V1_SYM = 0x77777777  # 8 nibbles of 7: v1 stores zero - 1, and the sym zero is 8
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
)
SCALE_STD = 0.002
SCALE_FLOOR = 1e-4
EMBED_STD = 0.02
_EMBED_CHUNK_ROWS = 1024  # rows generated at once for embed/lm_head (bounds fp32 scratch memory)

ATTN = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj")
MLP = ("mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")
LINEARS = ATTN + MLP
GPTQ_SUFFIXES = ("qweight", "qzeros", "scales", "g_idx")


@dataclass(frozen=True)
class Shape:
    """Model shape. Defaults are EXAONE-4.0-32B's; K dims must be multiples of group_size."""

    hidden_size: int = 5120
    intermediate_size: int = 27392
    num_layers: int = 64
    num_heads: int = 40
    num_kv_heads: int = 8
    head_dim: int = 128
    vocab_size: int = 102400
    sliding_window: int = 4096
    sliding_window_pattern: int = 4
    max_position_embeddings: int = 131072
    rms_norm_eps: float = 1e-5
    rope_theta: float = 1_000_000.0
    group_size: int = 128

    def __post_init__(self) -> None:
        for k in (self.hidden_size, self.intermediate_size, self.num_heads * self.head_dim):
            if k % self.group_size or self.group_size % 8:
                raise ValueError(
                    f"in_features {k} must be a multiple of group_size {self.group_size} (itself of 8)"
                )
        if self.num_heads % self.num_kv_heads:
            raise ValueError("num_kv_heads must divide num_heads")

    @property
    def layer_types(self) -> list[str]:
        """Every ``sliding_window_pattern``-th layer is global (full attention), the rest sliding."""
        p = self.sliding_window_pattern
        return ["full_attention" if (i + 1) % p == 0 else "sliding_attention" for i in range(self.num_layers)]

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(K = in_features, N = out_features) of each decoder linear, by module suffix."""
        h, q, kv, f = (
            self.hidden_size,
            self.num_heads * self.head_dim,
            self.num_kv_heads * self.head_dim,
            (self.intermediate_size),
        )
        return {
            "self_attn.q_proj": (h, q),
            "self_attn.k_proj": (h, kv),
            "self_attn.v_proj": (h, kv),
            "self_attn.o_proj": (q, h),
            "mlp.gate_proj": (h, f),
            "mlp.up_proj": (h, f),
            "mlp.down_proj": (f, h),
        }

    def linear_params_per_layer(self) -> int:
        return sum(k * n for k, n in self.linear_shapes().values())


EXAONE4_32B = Shape()
# Narrow shape for CPU tests: the tiny model's dims, a vocab that covers its 4032-token tokenizer.
TINY = Shape(
    hidden_size=256,
    intermediate_size=512,
    num_layers=4,
    num_heads=4,
    num_kv_heads=2,
    head_dim=64,
    vocab_size=4096,
    sliding_window=64,
)
SHAPES = {"exaone4-32b": EXAONE4_32B, "tiny": TINY}


# --------------------------------------------------------------------------- generation


def _generator(name: str, seed: int, device: torch.device) -> torch.Generator:
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return torch.Generator(device=device).manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))


def symmetric_codes(words: torch.Tensor) -> torch.Tensor:
    """Turn every zero nibble of int32 ``words`` into 8, in place: codes then average exactly 8.

    Uniform nibbles 0..15 average 7.5, one half-step below the sym zero point 8, so every weight
    would carry a -0.5·scale bias and the outputs a common-mode term growing like K instead of
    sqrt(K). With 0 -> 8, codes lie in 1..15, symmetric about 8, as real sym GPTQ codes are.
    """
    # Bit 0 of each nibble of `any_bit` is the OR of that nibble's 4 bits (an arithmetic shift only
    # feeds sign bits above bit 31 - 3, which no nibble's bit 0 reads).
    any_bit = words | (words >> 1) | (words >> 2) | (words >> 3)
    zero_nibbles = torch.bitwise_not(any_bit) & 0x11111111
    return words.bitwise_or_(zero_nibbles << 3)


def random_gptq_linear(
    k: int, n: int, *, name: str, seed: int, device: torch.device | str, group_size: int = 128
) -> dict[str, torch.Tensor]:
    """The four GPTQ v1 sym tensors of one random linear with K inputs and N outputs."""
    device = torch.device(device)
    g = _generator(name, seed, device)
    groups = math.ceil(k / group_size)
    qweight = symmetric_codes(
        torch.randint(-(2**31), 2**31, (k // 8, n), dtype=torch.int32, generator=g, device=device)
    )
    scales = torch.randn((groups, n), generator=g, device=device, dtype=torch.float32).abs_()
    scales = (scales * SCALE_STD + SCALE_FLOOR).to(torch.float16)
    qzeros = torch.full((groups, n // 8), QZERO_WORD_V1_SYM, dtype=torch.int32, device=device)
    g_idx = (torch.arange(k, dtype=torch.int32, device=device) // group_size).to(torch.int32)
    return {"qweight": qweight, "qzeros": qzeros, "scales": scales, "g_idx": g_idx}


def _normal_bf16(rows: int, cols: int, *, name: str, seed: int, device: torch.device) -> torch.Tensor:
    g = _generator(name, seed, device)
    out = torch.empty((rows, cols), dtype=torch.bfloat16, device=device)
    for r in range(0, rows, _EMBED_CHUNK_ROWS):
        m = min(_EMBED_CHUNK_ROWS, rows - r)
        out[r : r + m] = (torch.randn((m, cols), generator=g, device=device) * EMBED_STD).to(torch.bfloat16)
    return out


def generate_embed(shape: Shape, *, device: torch.device | str, seed: int = 0) -> dict[str, torch.Tensor]:
    device = torch.device(device)
    w = _normal_bf16(shape.vocab_size, shape.hidden_size, name="embed", seed=seed, device=device)
    return {"model.embed_tokens.weight": w}


def generate_layer(
    shape: Shape, layer: int, *, device: torch.device | str, seed: int = 0
) -> dict[str, torch.Tensor]:
    """All tensors of decoder layer ``layer``, by HF checkpoint name."""
    device = torch.device(device)
    p = f"model.layers.{layer}."
    out: dict[str, torch.Tensor] = {}
    for suffix, (k, n) in shape.linear_shapes().items():
        t = random_gptq_linear(k, n, name=p + suffix, seed=seed, device=device, group_size=shape.group_size)
        for key in GPTQ_SUFFIXES:
            out[f"{p}{suffix}.{key}"] = t[key]
    ones = {
        "self_attn.q_norm.weight": shape.head_dim,
        "self_attn.k_norm.weight": shape.head_dim,
        "post_attention_layernorm.weight": shape.hidden_size,
        "post_feedforward_layernorm.weight": shape.hidden_size,
    }
    for suffix, dim in ones.items():
        out[p + suffix] = torch.ones(dim, dtype=torch.bfloat16, device=device)
    return out


def generate_final(shape: Shape, *, device: torch.device | str, seed: int = 0) -> dict[str, torch.Tensor]:
    """The final norm and the untied lm_head."""
    device = torch.device(device)
    return {
        "model.norm.weight": torch.ones(shape.hidden_size, dtype=torch.bfloat16, device=device),
        "lm_head.weight": _normal_bf16(
            shape.vocab_size, shape.hidden_size, name="lm_head", seed=seed, device=device
        ),
    }


def iter_state_groups(
    shape: Shape = EXAONE4_32B, *, device: torch.device | str = "cuda", seed: int = 0
) -> Iterator[tuple[str, dict[str, torch.Tensor]]]:
    """Yield ("embed", ...), ("layers.0", ...), ..., ("final", ...): one group's tensors at a time.

    Only the yielded group is alive unless the caller keeps it, so a consumer can build an engine
    (or write a checkpoint) layer by layer.
    """
    yield "embed", generate_embed(shape, device=device, seed=seed)
    for i in range(shape.num_layers):
        yield f"layers.{i}", generate_layer(shape, i, device=device, seed=seed)
    yield "final", generate_final(shape, device=device, seed=seed)


def iter_state_dict(
    shape: Shape = EXAONE4_32B, *, device: torch.device | str = "cuda", seed: int = 0
) -> Iterator[tuple[str, torch.Tensor]]:
    """Yield (HF checkpoint name, tensor) for every tensor, group by group."""
    for _, tensors in iter_state_groups(shape, device=device, seed=seed):
        yield from tensors.items()


def expected_tensor_shapes(shape: Shape) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    """Name -> (shape, dtype) of every tensor of the checkpoint, without generating anything."""
    out: dict[str, tuple[tuple[int, ...], torch.dtype]] = {
        "model.embed_tokens.weight": ((shape.vocab_size, shape.hidden_size), torch.bfloat16)
    }
    gs = shape.group_size
    for i in range(shape.num_layers):
        p = f"model.layers.{i}."
        for suffix, (k, n) in shape.linear_shapes().items():
            out[f"{p}{suffix}.qweight"] = ((k // 8, n), torch.int32)
            out[f"{p}{suffix}.qzeros"] = ((math.ceil(k / gs), n // 8), torch.int32)
            out[f"{p}{suffix}.scales"] = ((math.ceil(k / gs), n), torch.float16)
            out[f"{p}{suffix}.g_idx"] = ((k,), torch.int32)
        for suffix in ("self_attn.q_norm.weight", "self_attn.k_norm.weight"):
            out[p + suffix] = ((shape.head_dim,), torch.bfloat16)
        for suffix in ("post_attention_layernorm.weight", "post_feedforward_layernorm.weight"):
            out[p + suffix] = ((shape.hidden_size,), torch.bfloat16)
    out["model.norm.weight"] = ((shape.hidden_size,), torch.bfloat16)
    out["lm_head.weight"] = ((shape.vocab_size, shape.hidden_size), torch.bfloat16)
    return out


# --------------------------------------------------------------------------- config files


def quantization_config(group_size: int = 128) -> dict[str, Any]:
    return {
        "quant_method": "gptq",
        "bits": 4,
        "group_size": group_size,
        "sym": True,
        "desc_act": False,
        "checkpoint_format": "gptq",
        "format": "gptq",  # GPTQModel's name for checkpoint_format
        "pack_dtype": "int32",
        "damp_percent": 0.01,
        "true_sequential": True,
        "static_groups": False,
        "lm_head": False,
        "meta": {"quantizer": ["evalkit:bench/gptq_random.py"], "evalkit_weights": "random (benchmark only)"},
    }


def config_json(shape: Shape, *, bos: int, eos: int, pad: int) -> dict[str, Any]:
    """config.json of ``Exaone4ForCausalLM`` with RoPE in both the legacy and the transformers-5 form."""
    rope_scaling = {
        "factor": 16.0,
        "high_freq_factor": 4.0,
        "low_freq_factor": 1.0,
        "original_max_position_embeddings": 8192,
        "rope_type": "llama3",
    }
    return {
        "architectures": ["Exaone4ForCausalLM"],
        "model_type": "exaone4",
        "vocab_size": shape.vocab_size,
        "hidden_size": shape.hidden_size,
        "intermediate_size": shape.intermediate_size,
        "num_hidden_layers": shape.num_layers,
        "num_attention_heads": shape.num_heads,
        "num_key_value_heads": shape.num_kv_heads,
        "head_dim": shape.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": shape.max_position_embeddings,
        "initializer_range": 0.02,
        "rms_norm_eps": shape.rms_norm_eps,
        "use_cache": True,
        "attention_dropout": 0.0,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "pad_token_id": pad,
        "tie_word_embeddings": False,
        "rope_theta": shape.rope_theta,
        "rope_scaling": dict(rope_scaling),
        "rope_parameters": {**rope_scaling, "rope_theta": shape.rope_theta},
        "sliding_window": shape.sliding_window,
        "sliding_window_pattern": shape.sliding_window_pattern,
        "layer_types": shape.layer_types,
        "torch_dtype": "bfloat16",
        "dtype": "bfloat16",
        "quantization_config": quantization_config(shape.group_size),
    }


def tokenizer_source() -> Path:
    """The embedded tiny GPTQ model's directory (built once into $EVALKIT_CACHE), for its tokenizer."""
    from evalkit.tinymodel import ensure_tiny_model

    return ensure_tiny_model("gptq")


# --------------------------------------------------------------------------- writing


class _ShardWriter:
    """Collects CPU tensors and writes a shard whenever the next tensor would exceed ``shard_bytes``."""

    def __init__(self, out_dir: Path, shard_bytes: int):
        self.out_dir, self.shard_bytes = out_dir, shard_bytes
        self.pending: dict[str, torch.Tensor] = {}
        self.pending_bytes = 0
        self.shards: list[tuple[Path, list[str]]] = []
        self.total_bytes = 0

    def add(self, name: str, tensor: torch.Tensor) -> None:
        t = tensor.detach().to("cpu").contiguous()
        nbytes = t.numel() * t.element_size()
        if self.pending and self.pending_bytes + nbytes > self.shard_bytes:
            self.flush()
        self.pending[name] = t
        self.pending_bytes += nbytes
        self.total_bytes += nbytes

    def flush(self) -> None:
        if not self.pending:
            return
        path = self.out_dir / f".partial-{len(self.shards):05d}.safetensors"
        save_file(self.pending, str(path), metadata={"format": "pt"})
        self.shards.append((path, list(self.pending)))
        self.pending, self.pending_bytes = {}, 0

    def finish(self) -> dict[str, str]:
        self.flush()
        n = len(self.shards)
        weight_map: dict[str, str] = {}
        for i, (tmp, names) in enumerate(self.shards):
            final = f"model-{i + 1:05d}-of-{n:05d}.safetensors"
            os.replace(tmp, self.out_dir / final)
            os.chmod(self.out_dir / final, 0o644)  # safetensors writes 0600
            weight_map.update(dict.fromkeys(names, final))
        index = {"metadata": {"total_size": self.total_bytes}, "weight_map": weight_map}
        _write_json(self.out_dir / "model.safetensors.index.json", index)
        return weight_map


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _marker_params(shape: Shape, seed: int, device: torch.device) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "shape": asdict(shape),
        "seed": seed,
        "device_type": device.type,
    }


def is_complete(out_dir: Path, shape: Shape, seed: int, device: torch.device | str) -> bool:
    """True when ``out_dir`` holds a finished checkpoint written with these parameters."""
    try:
        marker = json.loads((Path(out_dir) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    want = _marker_params(shape, seed, torch.device(device))
    return all(marker.get(k) == v for k, v in want.items()) and all(
        (Path(out_dir) / f).is_file() for f in marker.get("files", [])
    )


def write_checkpoint(
    out_dir: Path | str,
    *,
    shape: Shape = EXAONE4_32B,
    device: torch.device | str = "cuda",
    seed: int = 0,
    shard_bytes: int = 5 * 10**9,
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Generate on ``device`` and write a GPTQ checkpoint directory, streaming group by group.

    Reuses ``out_dir`` when it already holds a complete checkpoint of the same shape, seed and
    device type (unless ``overwrite``). Host memory peaks at one shard plus one layer.
    """
    out = Path(out_dir)
    device = torch.device(device)
    if not overwrite and is_complete(out, shape, seed, device):
        if progress:
            print(f"[gptq_random] {out} is complete; reusing it", flush=True)
        return out
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).unlink(missing_ok=True)
    for old in [*out.glob("*.safetensors"), out / "model.safetensors.index.json"]:
        old.unlink(missing_ok=True)

    t0 = time.time()
    src = tokenizer_source()
    tiny_cfg = json.loads((src / "config.json").read_text(encoding="utf-8"))
    for name in TOKENIZER_FILES:
        if (src / name).is_file():
            shutil.copyfile(src / name, out / name)
    ids = {k: tiny_cfg[f"{k}_token_id"] for k in ("bos", "eos", "pad")}
    _write_json(out / "config.json", config_json(shape, **ids))
    _write_json(out / "generation_config.json", {f"{k}_token_id": v for k, v in ids.items()})

    writer = _ShardWriter(out, shard_bytes)
    for group, tensors in iter_state_groups(shape, device=device, seed=seed):
        for name, t in tensors.items():
            writer.add(name, t)
        del tensors
        if progress and (group in ("embed", "final") or group.endswith("0")):
            print(
                f"[gptq_random] {group} done, {writer.total_bytes / 1e9:.2f} GB, {time.time() - t0:.0f} s",
                flush=True,
            )
    weight_map = writer.finish()

    tok_vocab = _tokenizer_size(out / "tokenizer.json")
    marker = {
        **_marker_params(shape, seed, device),
        "total_bytes": writer.total_bytes,
        "tokenizer_vocab_size": tok_vocab,
        "write_seconds": round(time.time() - t0, 1),
        "files": sorted(
            {*weight_map.values(), "model.safetensors.index.json", "config.json", *TOKENIZER_FILES}
            & {p.name for p in out.iterdir()}
        ),
    }
    _write_json(out / MARKER, marker)
    if progress:
        print(
            f"[gptq_random] wrote {writer.total_bytes / 1e9:.2f} GB "
            f"in {len(set(weight_map.values()))} shards "
            f"to {out} in {time.time() - t0:.0f} s",
            flush=True,
        )
    return out


def _tokenizer_size(path: Path) -> int | None:
    """Number of ids the tokenizer can produce (base vocab plus added tokens), or None."""
    try:
        tok = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ids = [int(i) for i in tok.get("model", {}).get("vocab", {}).values()]
    ids += [int(t["id"]) for t in tok.get("added_tokens", [])]
    return max(ids) + 1 if ids else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="checkpoint directory to write")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="exaone4-32b")
    ap.add_argument("--layers", type=int, default=None, help="override num_layers (smoke runs)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shard-gb", type=float, default=5.0)
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args(argv)
    shape = SHAPES[args.shape]
    if args.layers is not None:
        shape = replace(shape, num_layers=args.layers)
    write_checkpoint(
        args.out,
        shape=shape,
        device=args.device,
        seed=args.seed,
        shard_bytes=int(args.shard_gb * 1e9),
        overwrite=args.overwrite,
        progress=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
