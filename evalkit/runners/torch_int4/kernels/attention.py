"""Decode attention over a paged KV cache (block tables), split along the keys (flash-decoding).

A layer's storage is ``[blocks, block_size, Hkv, D]``; row r of the layer's block table
``[rows, cols]`` lists the blocks of one sequence: token p sits in block ``table[r, p // bs]`` at
offset ``p % bs``. The keys a new token at position p sees: ``max(0, p - W + 1) .. p`` on a
sliding layer (HF: ``kv_idx > q_idx - W``; the engine releases blocks wholly before the window,
so their entries are never read), ``0 .. p`` on a global layer; keys are stored after norm and
RoPE.

Grid: (rows, KV heads, splits). Each program runs the query heads of one KV head (GQA,
padded to 16 rows for the tensor cores) over its share of the row's keys, one block per
iteration, with an online softmax and writes (output, log-sum-exp); a second kernel merges
the splits. The split count is fixed when a CUDA graph is captured, so each row's share per
split is computed on the device from its length, and splits past the end write an empty result.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl
from triton.language.extra.cuda import gdc_launch_dependents, gdc_wait

from evalkit.runners.torch_int4.kernels import pdl


@triton.jit
def _decode_split_kernel(
    q_ptr, k_ptr, v_ptr, table_ptr, row_ptr, pos_ptr, o_ptr, lse_ptr, COLS, WINDOW, scale,
    H: tl.constexpr, HKV: tl.constexpr, GROUPS: tl.constexpr, GP: tl.constexpr, D: tl.constexpr,
    BS: tl.constexpr, SPLITS: tl.constexpr, FP32: tl.constexpr, PDL: tl.constexpr,
):  # fmt: skip
    if PDL:  # launched early (programmatic dependent launch): let the next start, wait for q
        gdc_launch_dependents()
        gdc_wait()
    b = tl.program_id(0)
    h = tl.program_id(1)
    sp = tl.program_id(2)
    row = tl.load(row_ptr + b).to(tl.int64)
    pos = tl.load(pos_ptr + b)
    lo = tl.maximum(pos - WINDOW + 1, 0)
    first = (lo // BS) * BS
    per_split = tl.cdiv(tl.cdiv(pos + 1 - first, SPLITS), BS) * BS
    start = first + sp * per_split
    end = tl.minimum(start + per_split, pos + 1)
    g = tl.arange(0, GP)
    d = tl.arange(0, D)
    gmask = g < GROUPS
    q = tl.load(q_ptr + ((b * H + h * GROUPS + g) * D)[:, None] + d[None, :], mask=gmask[:, None], other=0.0)
    m = tl.full([GP], float("-inf"), dtype=tl.float32)
    lsum = tl.zeros([GP], dtype=tl.float32)
    acc = tl.zeros([GP, D], dtype=tl.float32)
    for s0 in range(start, end, BS):
        block = tl.load(table_ptr + row * COLS + s0 // BS).to(tl.int64)
        s = s0 + tl.arange(0, BS)
        smask = (s < end) & (s >= lo)
        off = ((block * BS + tl.arange(0, BS)) * HKV + h) * D
        k = tl.load(k_ptr + off[:, None] + d[None, :], mask=smask[:, None], other=0.0)
        if FP32:
            scores = tl.dot(q, tl.trans(k), input_precision="ieee") * scale
        else:
            scores = tl.dot(q, tl.trans(k)) * scale
        scores = tl.where(smask[None, :], scores, float("-inf"))
        m_new = tl.maximum(m, tl.max(scores, axis=1))
        # a window's first block can be fully masked for a split: keep exp() away from -inf - -inf
        m_safe = tl.where(m_new > float("-inf"), m_new, 0.0)
        p = tl.exp(scores - m_safe[:, None])
        alpha = tl.exp(m - m_safe)
        lsum = lsum * alpha + tl.sum(p, axis=1)
        v = tl.load(v_ptr + off[:, None] + d[None, :], mask=smask[:, None], other=0.0)
        if FP32:
            acc = acc * alpha[:, None] + tl.dot(p, v, input_precision="ieee")
        else:
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        m = m_new
    out_row = (b * HKV + h) * SPLITS + sp
    has = lsum > 0
    out = acc / tl.where(has, lsum, 1.0)[:, None]
    lse = tl.where(has, m + tl.log(tl.where(has, lsum, 1.0)), float("-inf"))
    tl.store(o_ptr + (out_row * GP + g)[:, None] * D + d[None, :], out)
    tl.store(lse_ptr + out_row * GP + g, lse)


@triton.jit
def _decode_merge_kernel(
    o_ptr, lse_ptr, out_ptr,
    H: tl.constexpr, HKV: tl.constexpr, GROUPS: tl.constexpr, GP: tl.constexpr, D: tl.constexpr,
    SPLITS: tl.constexpr, PDL: tl.constexpr,
):  # fmt: skip
    if PDL:  # launched early (programmatic dependent launch): let o's GEMV start, wait for mid
        gdc_launch_dependents()
        gdc_wait()
    b = tl.program_id(0)
    h = tl.program_id(1)
    g = tl.arange(0, GP)
    d = tl.arange(0, D)
    base = (b * HKV + h) * SPLITS
    top = tl.full([GP], float("-inf"), dtype=tl.float32)
    for sp in range(SPLITS):
        top = tl.maximum(top, tl.load(lse_ptr + (base + sp) * GP + g))
    total = tl.zeros([GP], dtype=tl.float32)
    acc = tl.zeros([GP, D], dtype=tl.float32)
    for sp in range(SPLITS):
        lse = tl.load(lse_ptr + (base + sp) * GP + g)
        w = tl.where(lse > float("-inf"), tl.exp(lse - top), 0.0)
        total += w
        acc += w[:, None] * tl.load(o_ptr + ((base + sp) * GP + g)[:, None] * D + d[None, :])
    out = acc / tl.where(total > 0, total, 1.0)[:, None]
    dst = out_ptr + ((b * H + h * GROUPS + g) * D)[:, None] + d[None, :]
    tl.store(dst, out.to(out_ptr.dtype.element_ty), mask=(g < GROUPS)[:, None])


# The fastest split count by programs before splitting (rows x KV heads), measured on an H200 at
# the 32B head shapes (40 query / 8 KV heads, D 128) by bench/attention_splits.py
# (bench/results/kernels_h200_2026-12-02f/attention_splits.json): 1 row x 1K keys 8 splits
# (9.1 us; 16: 9.4), 16 x 4K 6 (70.6 us against 83.1 with 3), 64 x 4K 3 (260.9; 1: 264.9, 2: 341.9),
# 128 x 1K 3 (149.9; 1: 169.2), 256 x 1K 2 (275.9; 1: 295.3).
SPLITS_BY_PROGRAMS = ((8, 8), (128, 6), (512, 3), (1024, 3), (2048, 2))
SPLITS_MEASURED_SMS = 132


def default_splits(capacity: int, rows: int, num_kv_heads: int, sms: int) -> int:
    """Splits along the keys: the measured best of the nearest program count (log scale, scaled
    to this GPU's SMs) in ``SPLITS_BY_PROGRAMS``, at most one split per 64 keys of `capacity`."""
    programs = max(1, rows * num_kv_heads) * SPLITS_MEASURED_SMS / max(1, sms)
    _, want = min(SPLITS_BY_PROGRAMS, key=lambda e: abs(math.log2(e[0] / programs)))
    return max(1, min(want, triton.cdiv(capacity, 64), 64))


def decode_attention(
    q: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    table: torch.Tensor,
    rows: torch.Tensor,
    positions: torch.Tensor,
    *,
    window: int | None,
    splits: int,
) -> torch.Tensor:
    """Attention of one new token per row: q [B, H, D] over the keys of table row ``rows[b]``
    up to ``positions[b]`` (the cache already holds the new token); returns [B, H * D]."""
    b, h, d = q.shape
    bs, hkv = keys.shape[1], keys.shape[2]
    groups = h // hkv
    gp = max(16, triton.next_power_of_2(groups))
    mid = torch.empty((b, hkv, splits, gp, d), dtype=torch.float32, device=q.device)
    lse = torch.empty((b, hkv, splits, gp), dtype=torch.float32, device=q.device)
    out = torch.empty((b, h, d), dtype=q.dtype, device=q.device)
    common = dict(H=h, HKV=hkv, GROUPS=groups, GP=gp, D=d)
    _decode_split_kernel[(b, hkv, splits)](
        q, keys, values, table, rows, positions, mid, lse, table.stride(0),
        window if window is not None else 1 << 30, d**-0.5,
        BS=bs, SPLITS=splits, FP32=q.dtype == torch.float32, num_warps=4, **common, **pdl.launch(q.device, b),
    )  # fmt: skip
    _decode_merge_kernel[(b, hkv)](mid, lse, out, SPLITS=splits, **common, **pdl.launch(q.device, b))
    return out.view(b, h * d)
