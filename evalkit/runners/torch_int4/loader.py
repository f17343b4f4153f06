"""Build an ``Exaone4LM`` from a checkpoint directory, GPTQ-quantized or not, through one path.

Each linear layer is decided by what the checkpoint holds under its name: ``.qweight``
means a GPTQ ``QuantLinear``, ``.weight`` a dense ``nn.Linear`` (so a bf16 reference and
its GPTQ export run the same model code, and a GPTQ file that left some layers, e.g.
lm_head, unquantized loads too). Embeddings and norms are always dense.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from evalkit.errors import UsageError
from evalkit.runners.torch_int4.checkpoint import CheckpointReader
from evalkit.runners.torch_int4.config import Exaone4Config, parse_config, read_json
from evalkit.runners.torch_int4.errors import CheckpointError
from evalkit.runners.torch_int4.gptq import GPTQConfig, load_quant_linear, read_gptq_config
from evalkit.runners.torch_int4.model import Exaone4LM

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# Tensors some exporters write that carry no weights of ours.
_IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else as torch spells it."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``"auto"`` -> float32 on CPU (exact reference numerics), bfloat16 on GPU.

    bfloat16 rather than float16 on GPU: EXAONE ships in bf16 and its post-norm
    residual stream is not normalised, so fp16 risks overflow (docs/exaone4-architecture.md#numerics).
    """
    if dtype == "auto":
        return torch.float32 if device.type == "cpu" else torch.bfloat16
    if dtype not in _DTYPES:
        raise UsageError(f"dtype {dtype!r} is not one of auto, {', '.join(_DTYPES)}")
    return _DTYPES[dtype]


def load_model(
    model_dir: Path,
    *,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    cache_dequantized: bool = True,
) -> Exaone4LM:
    """Load config, weights (validated) and RoPE tables into an ``Exaone4LM`` on `device`.

    `cache_dequantized` keeps a dense copy of each GPTQ weight in `dtype` (see
    ``QuantLinear``). Raises ``CheckpointError`` naming the file and field or tensor
    for any config or tensor the runner cannot use, including tensors it would ignore.
    """
    raw = read_json(model_dir / "config.json")
    gen_path = model_dir / "generation_config.json"
    cfg = parse_config(
        raw,
        generation_config=read_json(gen_path) if gen_path.is_file() else None,
        source=model_dir / "config.json",
    )
    gptq = read_gptq_config(model_dir, raw)
    reader = CheckpointReader(model_dir)
    try:
        # Meta device: the placeholders cost no memory; every tensor is replaced below.
        with torch.device("meta"):
            model = Exaone4LM(cfg, dtype)
        used = _load_linears(model, cfg, reader, gptq, device, dtype, cache_dequantized)
        used |= _load_dense_params(model, reader, device, dtype)
    finally:
        reader.close()
    unused = [n for n in reader.names() if n not in used and not n.endswith(_IGNORED_SUFFIXES)]
    if unused:
        raise CheckpointError(
            reader.file_of(unused[0]),
            None,
            unused[0],
            f"tensor not used by the EXAONE 4 model ({len(unused)} such tensors); refusing to guess",
        )
    model.inv_freq = model.inv_freq.to(device)
    return model.eval()


def _load_linears(
    model: Exaone4LM,
    cfg: Exaone4Config,
    reader: CheckpointReader,
    gptq: GPTQConfig | None,
    device: torch.device,
    dtype: torch.dtype,
    cache_dequantized: bool,
) -> set[str]:
    used: set[str] = set()
    for prefix, placeholder in list(model.named_modules()):
        if not isinstance(placeholder, nn.Linear):
            continue
        k, n = placeholder.in_features, placeholder.out_features
        layer: nn.Module
        if reader.has(f"{prefix}.qweight"):
            if gptq is None:
                raise CheckpointError(
                    reader.file_of(f"{prefix}.qweight"),
                    None,
                    f"{prefix}.qweight",
                    "GPTQ tensor in a checkpoint whose config.json has no quantization_config",
                )
            layer = load_quant_linear(
                reader, prefix, k, n, gptq, device=device, dtype=dtype, cache_dequantized=cache_dequantized
            )
            used |= {f"{prefix}.{s}" for s in ("qweight", "qzeros", "scales", "g_idx")}
        elif reader.has(f"{prefix}.weight"):
            layer = nn.Linear(k, n, bias=False, device="meta")
            layer.weight = _param(reader, f"{prefix}.weight", (n, k), device, dtype)
            used.add(f"{prefix}.weight")
        elif prefix == "lm_head" and cfg.tie_word_embeddings:
            continue  # tied below, once the embedding is loaded
        else:
            raise CheckpointError(
                reader.model_dir, None, f"{prefix}.weight", "missing (neither .weight nor GPTQ .qweight)"
            )
        parent, _, attr = prefix.rpartition(".")
        setattr(model.get_submodule(parent), attr, layer)
    return used


def _load_dense_params(
    model: Exaone4LM, reader: CheckpointReader, device: torch.device, dtype: torch.dtype
) -> set[str]:
    used: set[str] = set()
    for name, param in list(model.named_parameters()):
        # lm_head is a linear: loaded above, or tied to the embedding just below.
        if not param.is_meta or name.startswith("lm_head."):
            continue
        parent, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent), attr, _param(reader, name, tuple(param.shape), device, dtype))
        used.add(name)
    if isinstance(model.lm_head, nn.Linear) and model.lm_head.weight.is_meta:
        model.lm_head.weight = model.model.embed_tokens.weight  # tie_word_embeddings
    return used


def _param(
    reader: CheckpointReader, name: str, shape: tuple[int, ...], device: torch.device, dtype: torch.dtype
) -> nn.Parameter:
    tensor = reader.get(name)
    if tuple(tensor.shape) != shape:
        raise CheckpointError(
            reader.file_of(name), None, name, f"shape {list(tensor.shape)}, expected {list(shape)}"
        )
    if not tensor.is_floating_point():
        raise CheckpointError(
            reader.file_of(name), None, name, f"dtype {tensor.dtype}, expected a float dtype"
        )
    return nn.Parameter(tensor.to(device=device, dtype=dtype), requires_grad=False)
