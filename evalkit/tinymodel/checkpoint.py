"""Turning the master weights into the tensors of each variant's model.safetensors."""

from __future__ import annotations

import torch
from torch import Tensor

from evalkit.tinymodel.config import ARCH, GROUP_SIZE
from evalkit.tinymodel.gptq_pack import act_order_permutation, quantize_rtn
from evalkit.tinymodel.weights import LINEARS_BY_INPUT

VARIANTS = ("gptq", "gptq-actorder", "bf16", "fp32")
DTYPE_NAME = {"gptq": "bfloat16", "gptq-actorder": "bfloat16", "bf16": "bfloat16", "fp32": "float32"}


def dense_state_dict(master: dict[str, Tensor], dtype: torch.dtype) -> dict[str, Tensor]:
    """All tensors as plain weights in ``dtype`` (exact: the master values are bf16-representable)."""
    return {name: t.to(dtype).contiguous() for name, t in master.items()}


def gptq_state_dict(master: dict[str, Tensor], desc_act: bool) -> dict[str, Tensor]:
    """Decoder linears as GPTQ v1 sym 4-bit g128 (qweight/qzeros/scales/g_idx); the rest bf16.

    As in a real GPTQ checkpoint, the embedding, the norms and lm_head stay unquantized.
    With ``desc_act`` the linears that read the same input share one channel order.
    """
    out: dict[str, Tensor] = {}
    quantized: set[str] = set()
    for i in range(ARCH.num_hidden_layers):
        for group in LINEARS_BY_INPUT:
            names = [f"model.layers.{i}.{suffix}" for suffix in group]
            weights = [master[f"{n}.weight"] for n in names]
            perm = act_order_permutation(*weights) if desc_act else None
            for name, w in zip(names, weights, strict=True):
                q = quantize_rtn(w, group_size=GROUP_SIZE, act_order_perm=perm, sym=True)
                out[f"{name}.qweight"] = q.qweight
                out[f"{name}.qzeros"] = q.qzeros
                out[f"{name}.scales"] = q.scales
                out[f"{name}.g_idx"] = q.g_idx
                quantized.add(f"{name}.weight")
    for name, t in master.items():
        if name not in quantized:
            out[name] = t.to(torch.bfloat16).contiguous()
    return out


def variant_state_dict(master: dict[str, Tensor], variant: str) -> dict[str, Tensor]:
    """The tensors stored for ``variant`` (one of VARIANTS)."""
    if variant == "fp32":
        return dense_state_dict(master, torch.float32)
    if variant == "bf16":
        return dense_state_dict(master, torch.bfloat16)
    if variant in ("gptq", "gptq-actorder"):
        return gptq_state_dict(master, desc_act=variant == "gptq-actorder")
    raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
