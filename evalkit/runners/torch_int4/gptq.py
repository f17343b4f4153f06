"""The GPTQ 4-bit checkpoint format: config, validation, unpacking, dequantization, QuantLinear.

Facts used here (docs/gptq-format.md): per quantized linear with K inputs, N outputs and
group size G the checkpoint holds
    qweight int32 [K/8, N]   8 codes per int32 along K, low nibble first
    qzeros  int32 [K/G, N/8] 8 zero points per int32 along N, low nibble first
    scales  fp16  [K/G, N]
    g_idx   int32 [K]        group of each input channel (non-monotone with act-order)
and ``w[k, n] = scales[g, n] * (q[k, n] - zero[g, n])`` with ``g = g_idx[k]``, where the
true zero is the stored nibble + 1 in format "gptq" (v1) and the stored nibble in
"gptq_v2".

``dequantize_gptq`` is a pure function on purpose: it is the reference a fused GPU
kernel gets tested against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from evalkit.runners.torch_int4.checkpoint import CheckpointReader
from evalkit.runners.torch_int4.config import read_json
from evalkit.runners.torch_int4.errors import CheckpointError

CheckpointFormat = Literal["gptq", "gptq_v2"]
BITS = 4
PACK = 32 // BITS  # codes per int32
_SHIFTS = tuple(range(0, 32, BITS))  # bit offset of code j inside its int32 word
_SCALE_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


@dataclass(frozen=True)
class GPTQConfig:
    """The quantization settings the runner relies on, read from the checkpoint."""

    bits: int
    group_size: int  # -1 = one group spanning all input channels
    sym: bool
    desc_act: bool
    checkpoint_format: CheckpointFormat
    source: Path  # the file the settings came from, for error messages

    @property
    def zero_offset(self) -> int:
        """What to add to a stored zero nibble to get the true zero point (v1 stores zero - 1)."""
        return 1 if self.checkpoint_format == "gptq" else 0

    @property
    def sym_zero_nibble(self) -> int:
        """The only stored zero nibble a symmetric checkpoint may hold: 7 (v1) or 8 (v2)."""
        return 2 ** (self.bits - 1) - self.zero_offset

    def num_groups(self, in_features: int) -> int:
        """Rows of ``scales``/``qzeros`` for a linear with `in_features` inputs."""
        return 1 if self.group_size == -1 else math.ceil(in_features / self.group_size)


def read_gptq_config(model_dir: Path, config: dict[str, Any]) -> GPTQConfig | None:
    """The GPTQ settings of a checkpoint, or None when it is not quantized.

    Looks at ``quantization_config`` in config.json, then at AutoGPTQ's
    ``quantize_config.json``. Anything this runner cannot run exactly (not GPTQ, not
    4-bit, Marlin/BitBLAS repacked formats, a bad group size) is a ``CheckpointError``
    naming the file and the field.
    """
    qc = config.get("quantization_config")
    source = model_dir / "config.json"
    prefix = "quantization_config."
    if qc is None and (model_dir / "quantize_config.json").is_file():
        source, prefix = model_dir / "quantize_config.json", ""
        qc = read_json(source)
    if qc is None:
        return None
    if not isinstance(qc, dict):
        raise CheckpointError(source, None, prefix.rstrip(".") or None, "must be a JSON object")

    def bad(field: str, problem: str) -> CheckpointError:
        return CheckpointError(source, None, prefix + field, problem)

    method = qc.get("quant_method", qc.get("method", "gptq"))
    if method != "gptq":
        raise bad("quant_method", f"{method!r} is not supported by the torch_int4 runner (only 'gptq')")
    bits = qc.get("bits")
    if bits != BITS:
        raise bad("bits", f"{bits!r} is not supported: the torch_int4 runner runs 4-bit GPTQ only")
    group_size = qc.get("group_size", 128)
    if (
        not isinstance(group_size, int)
        or isinstance(group_size, bool)
        or not (group_size == -1 or group_size > 0)
    ):
        raise bad("group_size", f"{group_size!r} must be a positive integer or -1")
    if qc.get("is_marlin_format"):
        raise bad("is_marlin_format", "Marlin-repacked checkpoints are not supported (need plain GPTQ)")
    # GPTQModel writes `format`; transformers/AutoGPTQ write `checkpoint_format`.
    fmt_key = "checkpoint_format" if "checkpoint_format" in qc else "format"
    fmt = qc.get(fmt_key, "gptq")
    if fmt not in ("gptq", "gptq_v2"):
        raise bad(fmt_key, f"{fmt!r} is not supported (expected 'gptq' (v1: zero = stored + 1) or 'gptq_v2')")
    return GPTQConfig(
        bits=bits,
        group_size=group_size,
        sym=bool(qc.get("sym", True)),
        desc_act=bool(qc.get("desc_act", False)),
        checkpoint_format=fmt,
        source=source,
    )


def unpack_int4_rows(packed: torch.Tensor) -> torch.Tensor:
    """[R, N] int32 -> [8R, N] codes in 0..15; row 8r+j comes from bits [4j, 4j+4) of row r.

    An arithmetic right shift then ``& 0xF`` is exact even for negative int32 words.
    """
    shifts = torch.tensor(_SHIFTS, dtype=torch.int32, device=packed.device)
    codes = (packed.unsqueeze(1) >> shifts.view(1, PACK, 1)) & 0xF
    return codes.reshape(packed.shape[0] * PACK, packed.shape[1])


def unpack_int4_cols(packed: torch.Tensor) -> torch.Tensor:
    """[G, C] int32 -> [G, 8C] codes in 0..15; column 8c+j comes from bits [4j, 4j+4) of column c."""
    shifts = torch.tensor(_SHIFTS, dtype=torch.int32, device=packed.device)
    codes = (packed.unsqueeze(2) >> shifts.view(1, 1, PACK)) & 0xF
    return codes.reshape(packed.shape[0], packed.shape[1] * PACK)


def dequantize_gptq(
    qweight: torch.Tensor,
    qzeros: torch.Tensor,
    scales: torch.Tensor,
    g_idx: torch.Tensor,
    *,
    zero_offset: int,
) -> torch.Tensor:
    """The float32 weight [K, N] (input-major, as stored) of one GPTQ linear.

    ``w[k, n] = scales[g_idx[k], n] * (q[k, n] - (zero[g_idx[k], n] + zero_offset))``.
    Pure: no state, no dtype or device change beyond float32 on the inputs' device.
    K is ``g_idx.numel()`` and N is ``scales.shape[1]`` (packing may pad both to 8).
    """
    k, n = g_idx.numel(), scales.shape[1]
    q = unpack_int4_rows(qweight)[:k, :n]
    zeros = unpack_int4_cols(qzeros)[:, :n] + zero_offset
    g = g_idx.long()
    # Integer difference first: q - zero is exact, so only one float rounding happens.
    return scales.float()[g] * (q - zeros[g]).float()


class QuantLinear(nn.Module):
    """A bias-free linear layer whose weight is GPTQ int4, packed as in the checkpoint.

    ``forward`` dequantizes to the compute dtype and runs a dense matmul. With
    ``cache_dequantized`` the dense weight is built once and kept (CPU default: the
    tiny models are small and a per-call unpack dominates their run time); without it
    only the packed tensors stay resident, at the cost of a dequant per call, which is
    the memory profile a fused GPU kernel will keep.
    """

    qweight: torch.Tensor
    qzeros: torch.Tensor
    scales: torch.Tensor
    g_idx: torch.Tensor
    weight_cache: torch.Tensor | None

    def __init__(
        self,
        qweight: torch.Tensor,
        qzeros: torch.Tensor,
        scales: torch.Tensor,
        g_idx: torch.Tensor,
        *,
        zero_offset: int,
        dtype: torch.dtype,
        cache_dequantized: bool,
    ):
        super().__init__()
        self.in_features = g_idx.numel()
        self.out_features = scales.shape[1]
        self.zero_offset = zero_offset
        self.dtype = dtype
        self.register_buffer("qweight", qweight)
        self.register_buffer("qzeros", qzeros)
        self.register_buffer("scales", scales)
        self.register_buffer("g_idx", g_idx)
        # A non-persistent buffer, so .to(device) moves the cache along with the codes.
        self.register_buffer("weight_cache", None, persistent=False)
        if cache_dequantized:
            self.weight_cache = self.dense_weight()

    def dense_weight(self) -> torch.Tensor:
        """The dequantized weight as ``nn.Linear`` stores it: [out, in] in the compute dtype."""
        if self.weight_cache is not None:
            return self.weight_cache
        w = dequantize_gptq(self.qweight, self.qzeros, self.scales, self.g_idx, zero_offset=self.zero_offset)
        return w.t().to(self.dtype).contiguous()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.dense_weight())

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bits={BITS}"


def load_quant_linear(
    reader: CheckpointReader,
    prefix: str,
    in_features: int,
    out_features: int,
    cfg: GPTQConfig,
    *,
    device: torch.device,
    dtype: torch.dtype,
    cache_dequantized: bool,
) -> QuantLinear:
    """Read, validate and build the ``QuantLinear`` stored under `prefix` (e.g. ``...q_proj``)."""
    tensors = {name: reader.get(f"{prefix}.{name}") for name in ("qweight", "qzeros", "scales")}
    g_name = f"{prefix}.g_idx"
    if reader.has(g_name):
        tensors["g_idx"] = reader.get(g_name)
    else:  # older exports omit g_idx when there is no act-order: then it is k // G
        group = in_features if cfg.group_size == -1 else cfg.group_size
        tensors["g_idx"] = torch.arange(in_features, dtype=torch.int32) // group
    check_gptq_tensors(reader, prefix, tensors, in_features, out_features, cfg)
    on_device = {k: v.to(device) for k, v in tensors.items()}
    return QuantLinear(
        on_device["qweight"],
        on_device["qzeros"],
        on_device["scales"],
        on_device["g_idx"],
        zero_offset=cfg.zero_offset,
        dtype=dtype,
        cache_dequantized=cache_dequantized,
    )


def check_gptq_tensors(
    reader: CheckpointReader,
    prefix: str,
    tensors: dict[str, torch.Tensor],
    in_features: int,
    out_features: int,
    cfg: GPTQConfig,
) -> None:
    """Raise ``CheckpointError`` naming the tensor if a GPTQ linear is not what `cfg` says.

    Checks dtypes and shapes of qweight/qzeros/scales/g_idx against the layer's
    K x N, the g_idx range, and, for sym checkpoints, that every zero nibble is the
    constant the declared checkpoint_format implies (7 for v1, 8 for v2): a v1 file
    declared as v2 (or the reverse) would otherwise shift every weight by one step.
    """

    def fail(name: str, problem: str) -> CheckpointError:
        full = f"{prefix}.{name}"
        return CheckpointError(reader.file_of(full), None, full, problem)

    groups = cfg.num_groups(in_features)
    expected = {
        "qweight": (math.ceil(in_features / PACK), out_features),
        "qzeros": (groups, math.ceil(out_features / PACK)),
        "scales": (groups, out_features),
        "g_idx": (in_features,),
    }
    for name, shape in expected.items():
        t = tensors[name]
        if tuple(t.shape) != shape:
            raise fail(
                name,
                f"shape {list(t.shape)}, expected {list(shape)} (K={in_features}, N={out_features}, "
                f"group_size={cfg.group_size}, 4-bit)",
            )
    for name in ("qweight", "qzeros"):
        if tensors[name].dtype != torch.int32:
            raise fail(name, f"dtype {tensors[name].dtype}, expected torch.int32")
    if tensors["scales"].dtype not in _SCALE_DTYPES:
        raise fail("scales", f"dtype {tensors['scales'].dtype}, expected a float dtype")
    g_idx = tensors["g_idx"]
    if g_idx.dtype not in (torch.int32, torch.int64):
        raise fail("g_idx", f"dtype {g_idx.dtype}, expected torch.int32")
    lo, hi = int(g_idx.min()), int(g_idx.max())
    if lo < 0 or hi >= groups:
        raise fail("g_idx", f"values span [{lo}, {hi}], outside [0, {groups - 1}] ({groups} groups)")
    if cfg.sym:
        zeros = unpack_int4_cols(tensors["qzeros"])[:, :out_features]
        want = cfg.sym_zero_nibble
        wrong = zeros != want
        if bool(wrong.any()):
            found = int(zeros[wrong][0])
            hint = ""
            if found == 2 ** (BITS - 1) - (1 - cfg.zero_offset):
                other = "gptq_v2" if cfg.checkpoint_format == "gptq" else "gptq"
                hint = f"; that is what format {other!r} stores, so checkpoint_format is probably wrong"
            raise fail(
                "qzeros",
                f"sym checkpoint with checkpoint_format {cfg.checkpoint_format!r} must store zero "
                f"nibble {want} everywhere, found {found} in {int(wrong.sum())} of {zeros.numel()} "
                f"nibbles{hint} (declared in {cfg.source})",
            )
