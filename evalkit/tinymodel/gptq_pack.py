"""Round-to-nearest 4-bit quantization into the GPTQ checkpoint layout, and the bit packing it uses.

The layout is the one AutoGPTQ / GPTQModel / optimum write and vLLM / transformers read
(docs/gptq-format.md#tensors). For one ``nn.Linear`` with
``weight [N, K]`` (N = out_features, K = in_features) and group size G:

=========  =======  ===============  ==================================================
tensor     dtype    shape            content
=========  =======  ===============  ==================================================
qweight    int32    [K/8, N]         8 codes per word, packed along K, low nibble first
qzeros     int32    [K/G, N/8]       8 zero-points per word, packed along N, low first
scales     float16  [K/G, N]         one scale per (group, output column)
g_idx      int32    [K]              group of each input channel
=========  =======  ===============  ==================================================

Dequantization: ``w[n, k] = scales[g, n] * (q[k, n] - z[g, n])`` with ``g = g_idx[k]``, where
``z`` is the stored zero + 1 in the v1 format (``checkpoint_format: "gptq"``; a symmetric
4-bit checkpoint stores 7, so every qzeros word is 0x77777777) and the stored zero itself in
``gptq_v2`` (0x88888888).

The quantizer here is plain round-to-nearest (RTN) with AutoGPTQ's min/max rules, not the
Hessian-based GPTQ update: the layout is what matters for the embedded model, and RTN keeps
the build fast and easy to check. Act-order (``desc_act``) is reproduced in layout only:
groups are formed over a caller-given channel permutation, ``g_idx`` is scattered back to
the original channel order, and ``qweight`` rows stay in original order, as AutoGPTQ does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

BITS = 4
PACK_FACTOR = 32 // BITS  # codes per int32 word
MAXQ = (1 << BITS) - 1  # largest code, 15
CHECKPOINT_FORMATS = ("gptq", "gptq_v2")

_SHIFTS = torch.arange(PACK_FACTOR, dtype=torch.int64) * BITS


@dataclass(frozen=True)
class GPTQTensors:
    """The four tensors a GPTQ checkpoint stores for one linear layer (no bias)."""

    qweight: Tensor  # int32 [K/8, N]
    qzeros: Tensor  # int32 [K/G, N/8]
    scales: Tensor  # float16 [K/G, N]
    g_idx: Tensor  # int32 [K]


def _to_int32_words(words: Tensor) -> Tensor:
    """Reinterpret unsigned 32-bit values held in int64 as int32 (two's complement), explicitly."""
    words = torch.where(words >= 2**31, words - 2**32, words)
    return words.to(torch.int32)


def pack_rows(codes_kn: Tensor) -> Tensor:
    """Pack 4-bit codes ``[K, N]`` into int32 ``[K/8, N]`` along K (dim 0), low nibble first.

    Row ``8r + j`` of the input lands in bits ``[4j, 4j + 4)`` of output row ``r``.
    """
    k, n = codes_kn.shape
    if k % PACK_FACTOR:
        raise ValueError(f"K={k} is not a multiple of {PACK_FACTOR}")
    c = codes_kn.to(torch.int64)
    if c.numel() and (int(c.min()) < 0 or int(c.max()) > MAXQ):
        raise ValueError("codes must lie in [0, 15]")
    words = (c.reshape(k // PACK_FACTOR, PACK_FACTOR, n) << _SHIFTS.view(1, -1, 1)).sum(dim=1)
    return _to_int32_words(words)


def pack_cols(codes_gn: Tensor) -> Tensor:
    """Pack 4-bit codes ``[R, N]`` into int32 ``[R, N/8]`` along N (dim 1), low nibble first.

    Column ``8c + j`` of the input lands in bits ``[4j, 4j + 4)`` of output column ``c``.
    """
    r, n = codes_gn.shape
    if n % PACK_FACTOR:
        raise ValueError(f"N={n} is not a multiple of {PACK_FACTOR}")
    c = codes_gn.to(torch.int64)
    if c.numel() and (int(c.min()) < 0 or int(c.max()) > MAXQ):
        raise ValueError("codes must lie in [0, 15]")
    words = (c.reshape(r, n // PACK_FACTOR, PACK_FACTOR) << _SHIFTS.view(1, 1, -1)).sum(dim=2)
    return _to_int32_words(words)


def unpack_rows(qweight: Tensor) -> Tensor:
    """Inverse of :func:`pack_rows`: int32 ``[K/8, N]`` -> int32 codes ``[K, N]``."""
    kw, n = qweight.shape
    # Arithmetic shift then mask is correct for negative words too.
    codes = (qweight.to(torch.int64).unsqueeze(1) >> _SHIFTS.view(1, -1, 1)) & MAXQ
    return codes.reshape(kw * PACK_FACTOR, n).to(torch.int32)


def unpack_cols(qzeros: Tensor) -> Tensor:
    """Inverse of :func:`pack_cols`: int32 ``[R, N/8]`` -> int32 codes ``[R, N]``."""
    r, nw = qzeros.shape
    codes = (qzeros.to(torch.int64).unsqueeze(2) >> _SHIFTS.view(1, 1, -1)) & MAXQ
    return codes.reshape(r, nw * PACK_FACTOR).to(torch.int32)


def _fp16_at_least(x: Tensor) -> Tensor:
    """The smallest float16 values >= ``x`` (float32 in, float16 out).

    Scales are stored in fp16. Rounding them *up* keeps every |w| <= 7.5 * scale, so the
    symmetric codes never clip past half a step and the error bound stays scale/2 exactly.
    """
    s16 = x.to(torch.float16)
    too_small = s16.to(torch.float32) < x
    bumped = torch.nextafter(s16, torch.full_like(s16, float("inf")))
    return torch.where(too_small, bumped, s16)


def act_order_permutation(*weights_nk: Tensor) -> Tensor:
    """A deterministic desc_act channel order for linears that share one input.

    Real GPTQ sorts input channels by the Hessian diagonal ``sum_t x_tk^2`` of the
    calibration activations, descending. Without calibration data we use the squared
    column norms of the weights reading that input (summed over them) as the proxy. All
    linears that share an input (q/k/v, gate/up) get the same order, hence the same g_idx,
    as in a real checkpoint, where they share one Hessian. Ties keep channel order (stable).
    """
    if not weights_nk:
        raise ValueError("need at least one weight")
    k = weights_nk[0].shape[1]
    proxy = torch.zeros(k, dtype=torch.float64)
    for w in weights_nk:
        if w.shape[1] != k:
            raise ValueError("all weights must have the same in_features")
        proxy += w.to(torch.float64).pow(2).sum(dim=0)
    return torch.argsort(proxy, descending=True, stable=True)


def quantize_rtn(
    weight_nk: Tensor,
    group_size: int = 128,
    act_order_perm: Tensor | None = None,
    sym: bool = True,
    checkpoint_format: str = "gptq",
) -> GPTQTensors:
    """Quantize an ``nn.Linear`` weight ``[N, K]`` to 4 bits by round-to-nearest, GPTQ layout.

    Per group and output column, as AutoGPTQ's quantizer: with ``sym`` the scale is
    ``2 * max|w| / 15`` and the zero-point 8; otherwise the scale is ``(max - min) / 15``
    over the range widened to include 0, and the zero-point ``round(-min / scale)``. An
    all-zero group uses the range [-1, 1]. (AutoGPTQ's sym scale degenerates to
    ``max / 15`` for a group with no negative weight; we keep ``2 * max|w| / 15``.)
    Codes are ``clamp(round(w / scale) + zero, 0, 15)`` computed with the fp16 scale that
    is stored (rounded up), so dequantizing the packed tensors gives back exactly the
    quantized weight, within scale/2 of the input for ``sym``.

    ``act_order_perm`` (desc_act): a permutation of the K input channels; groups are formed
    over consecutive positions of that order, ``g_idx`` maps each original channel to its
    group, and ``qweight`` keeps the original channel order. None means ``g_idx = k // G``.

    ``checkpoint_format`` "gptq" (v1) stores zero - 1 in ``qzeros``; "gptq_v2" stores the zero.
    A v1 zero of 0 cannot be stored (it would wrap to 15, the known v1 asym bug): ValueError.
    """
    if checkpoint_format not in CHECKPOINT_FORMATS:
        raise ValueError(f"checkpoint_format must be one of {CHECKPOINT_FORMATS}, not {checkpoint_format!r}")
    if weight_nk.dim() != 2:
        raise ValueError("weight must be 2-D [out_features, in_features]")
    n, k = weight_nk.shape
    if group_size <= 0 or k % group_size or group_size % PACK_FACTOR:
        raise ValueError(f"K={k} must be a multiple of group_size={group_size}, itself a multiple of 8")
    if n % PACK_FACTOR:
        raise ValueError(f"N={n} must be a multiple of {PACK_FACTOR}")
    if act_order_perm is None:
        perm = torch.arange(k)
    else:
        perm = act_order_perm.to(torch.int64)
        if perm.shape != (k,) or not torch.equal(torch.sort(perm).values, torch.arange(k)):
            raise ValueError("act_order_perm must be a permutation of range(K)")

    groups = k // group_size
    w = weight_nk.to(torch.float32)[:, perm].reshape(n, groups, group_size)
    if sym:
        absmax = w.abs().amax(dim=2)
        absmax = torch.where(absmax == 0, torch.ones_like(absmax), absmax)
        scale16 = _fp16_at_least(2.0 * absmax / MAXQ)
        zero = torch.full_like(absmax, (MAXQ + 1) // 2)
    else:
        xmin = torch.clamp(w.amin(dim=2), max=0.0)
        xmax = torch.clamp(w.amax(dim=2), min=0.0)
        empty = (xmin == 0) & (xmax == 0)
        xmin = torch.where(empty, torch.full_like(xmin, -1.0), xmin)
        xmax = torch.where(empty, torch.full_like(xmax, 1.0), xmax)
        scale16 = _fp16_at_least((xmax - xmin) / MAXQ)
        zero = torch.clamp(torch.round(-xmin / scale16.to(torch.float32)), 0, MAXQ)
    scale = scale16.to(torch.float32)  # [N, groups]
    codes_perm = torch.clamp(torch.round(w / scale.unsqueeze(2)) + zero.unsqueeze(2), 0, MAXQ)

    # Undo the permutation: qweight rows and g_idx are indexed by the original channel.
    codes = torch.empty(n, k, dtype=torch.int64)
    codes[:, perm] = codes_perm.reshape(n, k).to(torch.int64)
    g_idx = torch.empty(k, dtype=torch.int32)
    g_idx[perm] = (torch.arange(k) // group_size).to(torch.int32)

    stored_zero = zero.to(torch.int64).t()  # [groups, N]
    if checkpoint_format == "gptq":
        if bool((stored_zero == 0).any()):
            raise ValueError("a zero-point of 0 cannot be stored in the v1 'gptq' format; use gptq_v2")
        stored_zero = stored_zero - 1
    return GPTQTensors(
        qweight=pack_rows(codes.t()),
        qzeros=pack_cols(stored_zero),
        scales=scale16.t().contiguous(),
        g_idx=g_idx,
    )


def dequantize(t: GPTQTensors, checkpoint_format: str = "gptq") -> Tensor:
    """Reference dequantization to a float32 ``nn.Linear`` weight ``[N, K]`` (slow, for checks)."""
    if checkpoint_format not in CHECKPOINT_FORMATS:
        raise ValueError(f"checkpoint_format must be one of {CHECKPOINT_FORMATS}, not {checkpoint_format!r}")
    q = unpack_rows(t.qweight).to(torch.float32)  # [K, N]
    z = unpack_cols(t.qzeros).to(torch.float32)  # [groups, N]
    if checkpoint_format == "gptq":
        z = z + 1
    g = t.g_idx.to(torch.int64)
    w_kn = t.scales.to(torch.float32)[g] * (q - z[g])
    return w_kn.t().contiguous()
