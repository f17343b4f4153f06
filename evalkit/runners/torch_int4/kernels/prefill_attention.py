"""Prefill attention over a paged KV cache: every chunk of a prefill pass in one launch per layer.

A prefill pass packs chunks of several sequences into one token axis (``T`` rows, chunk c at
rows ``start[c] .. start[c] + len[c] - 1``, its first token at position ``p0[c]`` of the
sequence in block-table row ``row[c]``); ``qkv_post`` has already written every chunk's keys and
values into the layer's blocks. So a query at position p reads *all* its keys (the chunk's own
and any history before ``p0``: an earlier chunk, or blocks shared with another sequence) from
the blocks through the table, with no gather into a contiguous copy: positions ``0 .. p`` on a
global layer, ``max(0, p - W + 1) .. p`` on a sliding one (HF: ``kv_idx > q_idx - W``; blocks
wholly before the window of the chunk's first token may have been released, and are never
read: a tile starts at the window of its first query).

Grid: (query heads, tiles). A tile is ``BLOCK_M`` consecutive queries of one chunk (the host
cuts the chunks into tiles, ``pack_chunks``); GQA by indexing, the KV head of query head h
being ``h // (H / Hkv)``: the heads of one tile are neighbours in the launch order, so they
read the same keys from L2. Flash attention: an online softmax over ``BLOCK_N`` keys at a time
(each key's block looked up in the table), fp32 accumulation, causal and window masks, and
tiles skip the keys after their last query and before their first query's window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import triton
import triton.language as tl

# Tiles measured best on an H200 at the 32B shapes (bench/prefill_profile.py, 2026-12-02):
# 0.35 ms per layer for 8,192 tokens of ~700-token prompts (150 TFLOP/s; 64 x 64: 0.37).
BLOCK_M = 64
BLOCK_N = 32
NO_WINDOW = 1 << 30


@dataclass(frozen=True)
class PackedChunks:
    """Where the chunks of one prefill pass sit (shared by all layers of the pass).

    `bounds`: per chunk (first packed row, end row, block-table row, first position), for the
    plain twin; `meta` int32 [4, C] (start, length, table row, first position) and `tiles`
    int32 [2, tiles] (chunk, first query within it), on the device, for the kernel."""

    bounds: tuple[tuple[int, int, int, int], ...]
    meta: torch.Tensor
    tiles: torch.Tensor
    block_m: int

    @property
    def tokens(self) -> int:
        return self.bounds[-1][1] if self.bounds else 0


def pack_chunks(
    bounds: Sequence[tuple[int, int, int, int]], device: torch.device, block_m: int = BLOCK_M
) -> PackedChunks:
    """Cut the chunks ``(start, end, row, first position)`` into tiles of `block_m` queries;
    one host-to-device copy."""
    meta = [[a for a, _, _, _ in bounds], [b - a for a, b, _, _ in bounds]]
    meta += [[r for _, _, r, _ in bounds], [p for _, _, _, p in bounds]]
    tiles: list[list[int]] = [[], []]
    for c, (a, b, _, _) in enumerate(bounds):
        for i in range(0, b - a, block_m):
            tiles[0].append(c)
            tiles[1].append(i)
    c_count = len(bounds)
    flat = torch.tensor([x for m in meta for x in m] + [x for t in tiles for x in t], dtype=torch.int32)
    flat = flat.to(device)
    return PackedChunks(
        tuple(tuple(b) for b in bounds),  # type: ignore[misc]
        flat[: 4 * c_count].view(4, c_count),
        flat[4 * c_count :].view(2, -1),
        block_m,
    )


@triton.jit(do_not_specialize=["C", "NT"])  # chunk and tile counts: one build for all
def _prefill_attention_kernel(
    q_ptr, k_ptr, v_ptr, o_ptr, table_ptr, meta_ptr, tiles_ptr, C, NT, COLS, WINDOW, qk_scale,
    H: tl.constexpr, HKV: tl.constexpr, GROUPS: tl.constexpr, D: tl.constexpr, BS: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, FP32: tl.constexpr,
):  # fmt: skip
    h = tl.program_id(0)
    tile = tl.program_id(1)
    c = tl.load(tiles_ptr + tile)
    i0 = tl.load(tiles_ptr + NT + tile)
    start = tl.load(meta_ptr + c)
    n = tl.load(meta_ptr + C + c)
    row = tl.load(meta_ptr + 2 * C + c).to(tl.int64)
    p0 = tl.load(meta_ptr + 3 * C + c)
    kvh = h // GROUPS
    i = i0 + tl.arange(0, BLOCK_M)
    i_valid = i < n
    qpos = p0 + i
    d = tl.arange(0, D)
    q_rows = (start + i).to(tl.int64) * H + h
    q = tl.load(q_ptr + q_rows[:, None] * D + d[None, :], mask=i_valid[:, None], other=0.0)
    lo = tl.maximum(p0 + i0 - WINDOW + 1, 0)  # the first query's window: no key before it is read
    hi = tl.minimum(p0 + i0 + BLOCK_M, p0 + n)  # one past the last query
    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, D], dtype=tl.float32)
    for s0 in range(lo - lo % BLOCK_N, hi, BLOCK_N):
        s = s0 + tl.arange(0, BLOCK_N)
        s_valid = (s >= lo) & (s < hi)
        block = tl.load(table_ptr + row * COLS + s // BS, mask=s_valid, other=0).to(tl.int64)
        off = ((block * BS + s % BS) * HKV + kvh) * D
        k = tl.load(k_ptr + off[:, None] + d[None, :], mask=s_valid[:, None], other=0.0)
        if FP32:
            scores = tl.dot(q, tl.trans(k), input_precision="ieee") * qk_scale
        else:
            scores = tl.dot(q, tl.trans(k)) * qk_scale
        see = s_valid[None, :] & (s[None, :] <= qpos[:, None]) & (s[None, :] > qpos[:, None] - WINDOW)
        scores = tl.where(see, scores, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(scores, axis=1))
        # rows that see nothing yet (padding queries, the window's first keys) stay at -inf
        m_safe = tl.where(m_new > float("-inf"), m_new, 0.0)
        p = tl.math.exp2(scores - m_safe[:, None])
        alpha = tl.math.exp2(m_i - m_safe)
        l_i = l_i * alpha + tl.sum(p, axis=1)
        v = tl.load(v_ptr + off[:, None] + d[None, :], mask=s_valid[:, None], other=0.0)
        if FP32:
            acc = acc * alpha[:, None] + tl.dot(p, v, input_precision="ieee")
        else:
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        m_i = m_new
    out = acc / tl.where(l_i > 0, l_i, 1.0)[:, None]
    tl.store(o_ptr + q_rows[:, None] * D + d[None, :], out.to(o_ptr.dtype.element_ty), mask=i_valid[:, None])


def prefill_attention(
    q: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    table: torch.Tensor,
    chunks: PackedChunks,
    *,
    window: int | None,
    block_n: int = BLOCK_N,
    num_warps: int = 4,
    num_stages: int = 2,
) -> torch.Tensor:
    """Attention of the packed chunks' queries q [T, H, D] over the keys/values of their table
    rows (which already hold the chunks' own keys); returns [T, H * D] in q's dtype."""
    t, h, d = q.shape
    bs, hkv = keys.shape[1], keys.shape[2]
    out = torch.empty((t, h, d), dtype=q.dtype, device=q.device)
    nt = chunks.tiles.shape[1]
    if nt:
        _prefill_attention_kernel[(h, nt)](
            q, keys, values, out, table, chunks.meta, chunks.tiles, chunks.meta.shape[1], nt,
            table.stride(0), window if window is not None else NO_WINDOW, d**-0.5 * 1.4426950408889634,
            H=h, HKV=hkv, GROUPS=h // hkv, D=d, BS=bs, BLOCK_M=chunks.block_m, BLOCK_N=block_n,
            FP32=q.dtype == torch.float32, num_warps=num_warps, num_stages=num_stages,
        )  # fmt: skip
    return out.view(t, h * d)
