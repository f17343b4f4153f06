"""Decode attention over per-slot KV caches, split along the keys (flash-decoding).

A layer's cache is ``[slots, capacity, Hkv, D]``. A global layer's capacity is the longest
sequence the engine admits and token p sits at index p; a sliding layer's capacity is the
window W and token p sits at ``p % W``, a ring buffer: after writing token p it holds
exactly tokens p-W+1..p, the keys the window lets token p see (HF: ``kv_idx > q_idx - W``).
Keys are stored after norm and RoPE, and softmax does not care about order, so the ring
needs no unrolling. Valid entries of a row: ``min(pos + 1, capacity)``.

Grid: (rows, KV heads, splits). Each program runs the query heads of one KV head (GQA,
padded to 16 rows for the tensor cores) over its share of the keys with an online softmax
and writes (output, log-sum-exp); a second kernel merges the splits. The split count is
fixed when a CUDA graph is captured, so the share per split is computed on the device from
the row's length, and splits past the end write an empty result.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _decode_split_kernel(
    q_ptr, k_ptr, v_ptr, slot_ptr, pos_ptr, o_ptr, lse_ptr, CAP, scale,
    H: tl.constexpr, HKV: tl.constexpr, GROUPS: tl.constexpr, GP: tl.constexpr, D: tl.constexpr,
    BLOCK_S: tl.constexpr, SPLITS: tl.constexpr, FP32: tl.constexpr,
):  # fmt: skip
    b = tl.program_id(0)
    h = tl.program_id(1)
    sp = tl.program_id(2)
    slot = tl.load(slot_ptr + b).to(tl.int64)
    n_valid = tl.minimum(tl.load(pos_ptr + b) + 1, CAP)
    per_split = tl.cdiv(tl.cdiv(n_valid, SPLITS), BLOCK_S) * BLOCK_S
    start = sp * per_split
    end = tl.minimum(start + per_split, n_valid)
    g = tl.arange(0, GP)
    d = tl.arange(0, D)
    gmask = g < GROUPS
    q = tl.load(q_ptr + ((b * H + h * GROUPS + g) * D)[:, None] + d[None, :], mask=gmask[:, None], other=0.0)
    m = tl.full([GP], float("-inf"), dtype=tl.float32)
    lsum = tl.zeros([GP], dtype=tl.float32)
    acc = tl.zeros([GP, D], dtype=tl.float32)
    for s0 in range(start, end, BLOCK_S):
        s = s0 + tl.arange(0, BLOCK_S)
        smask = s < end
        off = ((slot * CAP + s) * HKV + h) * D
        k = tl.load(k_ptr + off[:, None] + d[None, :], mask=smask[:, None], other=0.0)
        if FP32:
            scores = tl.dot(q, tl.trans(k), input_precision="ieee") * scale
        else:
            scores = tl.dot(q, tl.trans(k)) * scale
        scores = tl.where(smask[None, :], scores, float("-inf"))
        m_new = tl.maximum(m, tl.max(scores, axis=1))
        p = tl.exp(scores - m_new[:, None])
        alpha = tl.exp(m - m_new)
        lsum = lsum * alpha + tl.sum(p, axis=1)
        v = tl.load(v_ptr + off[:, None] + d[None, :], mask=smask[:, None], other=0.0)
        if FP32:
            acc = acc * alpha[:, None] + tl.dot(p, v, input_precision="ieee")
        else:
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        m = m_new
    row = (b * HKV + h) * SPLITS + sp
    has = lsum > 0
    out = acc / tl.where(has, lsum, 1.0)[:, None]
    lse = tl.where(has, m + tl.log(tl.where(has, lsum, 1.0)), float("-inf"))
    tl.store(o_ptr + (row * GP + g)[:, None] * D + d[None, :], out)
    tl.store(lse_ptr + row * GP + g, lse)


@triton.jit
def _decode_merge_kernel(
    o_ptr, lse_ptr, out_ptr,
    H: tl.constexpr, HKV: tl.constexpr, GROUPS: tl.constexpr, GP: tl.constexpr, D: tl.constexpr,
    SPLITS: tl.constexpr,
):  # fmt: skip
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


def default_splits(capacity: int, rows: int, num_kv_heads: int, sms: int) -> int:
    """Splits along the keys: enough programs for about two per SM, at most one per 64 keys."""
    want = max(1, (2 * sms + rows * num_kv_heads - 1) // (rows * num_kv_heads))
    return max(1, min(want, triton.cdiv(capacity, 64), 64))


def decode_attention(
    q: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    slots: torch.Tensor,
    positions: torch.Tensor,
    *,
    splits: int,
    block_s: int = 64,
) -> torch.Tensor:
    """Attention of one new token per row: q [B, H, D] over the cached keys of each row's slot
    (already holding the new token); returns [B, H * D] in q's dtype."""
    b, h, d = q.shape
    hkv = keys.shape[2]
    groups = h // hkv
    gp = max(16, triton.next_power_of_2(groups))
    mid = torch.empty((b, hkv, splits, gp, d), dtype=torch.float32, device=q.device)
    lse = torch.empty((b, hkv, splits, gp), dtype=torch.float32, device=q.device)
    out = torch.empty((b, h, d), dtype=q.dtype, device=q.device)
    common = dict(H=h, HKV=hkv, GROUPS=groups, GP=gp, D=d)
    _decode_split_kernel[(b, hkv, splits)](
        q, keys, values, slots, positions, mid, lse, keys.shape[1], d**-0.5,
        BLOCK_S=block_s, SPLITS=splits, FP32=q.dtype == torch.float32, num_warps=4, **common,
    )  # fmt: skip
    _decode_merge_kernel[(b, hkv)](mid, lse, out, SPLITS=splits, **common)
    return out.view(b, h * d)
