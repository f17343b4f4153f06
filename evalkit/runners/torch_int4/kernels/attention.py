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

Shared prefixes (``SharedPrefix``): rows whose sequences hold the same first blocks (the repeats
of one prompt) read those blocks once for the whole group instead of once per row. A third
kernel runs, per group and KV head, the query heads of every member (up to 128 query rows, for
the tensor cores) over the group's prefix blocks and writes each member's (output,
log-sum-exp) for the prefix; the split kernel then starts each member's keys after its prefix,
and the merge takes both. The result is the same attention; only the keys are read fewer times
(16 repeats of a 500-token prompt: the prefix's keys and values once instead of 16 times).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import triton
import triton.language as tl
from triton.language.extra.cuda import gdc_launch_dependents, gdc_wait

from evalkit.runners.torch_int4.kernels import pdl
from evalkit.runners.torch_int4.kernels.w4a16 import _num_sms


@triton.jit
def _decode_split_kernel(
    q_ptr, k_ptr, v_ptr, table_ptr, row_ptr, pos_ptr, skip_ptr, o_ptr, lse_ptr, COLS, WINDOW, scale,
    H: tl.constexpr, HKV: tl.constexpr, GROUPS: tl.constexpr, GP: tl.constexpr, D: tl.constexpr,
    BS: tl.constexpr, SPLITS, SKIP: tl.constexpr, FP32: tl.constexpr, PDL: tl.constexpr,
    KB: tl.constexpr,
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
    if SKIP:  # keys before the row's shared prefix end are the prefix kernel's (a block boundary)
        lo = tl.maximum(lo, tl.load(skip_ptr + b))
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
    KEYS: tl.constexpr = BS * KB  # keys an iteration: KB blocks (split starts are block-aligned)
    for s0 in range(start, end, KEYS):
        s = s0 + tl.arange(0, KEYS)
        smask = (s < end) & (s >= lo)
        if KB == 1:
            block = tl.load(table_ptr + row * COLS + s0 // BS).to(tl.int64)
            off = ((block * BS + tl.arange(0, BS)) * HKV + h) * D
        else:  # each key's block id (KB distinct words; past the end: never a table entry read)
            blocks = tl.load(table_ptr + row * COLS + s // BS, mask=s < end, other=0).to(tl.int64)
            off = ((blocks * BS + s % BS) * HKV + h) * D
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
def _prefix_kernel(
    q_ptr, k_ptr, v_ptr, table_ptr, grp_ptr, member_ptr, pos_ptr, o_ptr, lse_ptr, COLS, WINDOW, scale,
    NGRP, NPROG, KIND: tl.constexpr, H: tl.constexpr, HKV: tl.constexpr, GROUPS: tl.constexpr,
    GP: tl.constexpr, ROWS: tl.constexpr, D: tl.constexpr, BS: tl.constexpr, PSPLITS: tl.constexpr,
    SPLIT_BLOCKS: tl.constexpr, FP32: tl.constexpr,
):  # fmt: skip
    # Persistent: NPROG programs take the work items (group, KV head, split) of the groups in use
    # (grp[0]), so a step without groups costs one wave of programs that find nothing to do.
    # An item's query row r is member r // GROUPS, query head r % GROUPS of the KV head.
    used = tl.load(grp_ptr)
    r = tl.arange(0, ROWS)
    d = tl.arange(0, D)
    mi = r // GROUPS
    hj = r % GROUPS
    # Items split-major (every group's first split, then every second...): the items that have
    # work (sp < the group's split count) come first and spread over the programs.
    for item in range(tl.program_id(0), used * HKV * PSPLITS, NPROG):
        sp = item // (used * HKV)
        gi = (item // HKV) % used
        h = item % HKV
        plen = tl.load(grp_ptr + 1 + (3 + KIND) * NGRP + gi)
        nblk = plen // BS
        nsplit = tl.minimum(tl.cdiv(nblk, SPLIT_BLOCKS), PSPLITS)  # (the merge derives the same)
        if sp < nsplit:
            row = tl.load(grp_ptr + 1 + gi).to(tl.int64)
            start = tl.load(grp_ptr + 1 + NGRP + gi)
            count = tl.load(grp_ptr + 1 + 2 * NGRP + gi)
            rmask = mi < count
            b = tl.load(member_ptr + start + mi, mask=rmask, other=0)
            pos = tl.load(pos_ptr + b, mask=rmask, other=0)
            lo = tl.maximum(pos - WINDOW + 1, 0)  # each member's window (sliding layers)
            qp = q_ptr + ((b * H + h * GROUPS + hj) * D)[:, None] + d[None, :]
            q = tl.load(qp, mask=rmask[:, None], other=0.0)
            per = tl.cdiv(nblk, nsplit)
            j0 = sp * per
            j1 = tl.minimum(j0 + per, nblk)
            m = tl.full([ROWS], float("-inf"), dtype=tl.float32)
            lsum = tl.zeros([ROWS], dtype=tl.float32)
            acc = tl.zeros([ROWS, D], dtype=tl.float32)
            for j in range(j0, j1):
                block = tl.load(table_ptr + row * COLS + j).to(tl.int64)
                s = j * BS + tl.arange(0, BS)
                off = ((block * BS + tl.arange(0, BS)) * HKV + h) * D
                k = tl.load(k_ptr + off[:, None] + d[None, :])
                if FP32:
                    scores = tl.dot(q, tl.trans(k), input_precision="ieee") * scale
                else:
                    scores = tl.dot(q, tl.trans(k)) * scale
                scores = tl.where(s[None, :] >= lo[:, None], scores, float("-inf"))
                m_new = tl.maximum(m, tl.max(scores, axis=1))
                m_safe = tl.where(m_new > float("-inf"), m_new, 0.0)
                p = tl.exp(scores - m_safe[:, None])
                alpha = tl.exp(m - m_safe)
                lsum = lsum * alpha + tl.sum(p, axis=1)
                v = tl.load(v_ptr + off[:, None] + d[None, :])
                if FP32:
                    acc = acc * alpha[:, None] + tl.dot(p, v, input_precision="ieee")
                else:
                    acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
                m = m_new
            has = lsum > 0
            out = acc / tl.where(has, lsum, 1.0)[:, None]
            lse = tl.where(has, m + tl.log(tl.where(has, lsum, 1.0)), float("-inf"))
            dst = ((b * HKV + h) * PSPLITS + sp) * GP + hj
            tl.store(o_ptr + dst[:, None] * D + d[None, :], out, mask=rmask[:, None])
            tl.store(lse_ptr + dst, lse, mask=rmask)


@triton.jit
def _decode_merge_kernel(
    o_ptr, lse_ptr, po_ptr, plse_ptr, skip_ptr, out_ptr,
    H: tl.constexpr, HKV: tl.constexpr, GROUPS: tl.constexpr, GP: tl.constexpr, D: tl.constexpr,
    SPLITS: tl.constexpr, PSPLITS: tl.constexpr, BS: tl.constexpr, SPLIT_BLOCKS: tl.constexpr,
    PDL: tl.constexpr,
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
    # the prefix kernel's results: the splits it wrote for the row's group (none without one)
    pbase = (b * HKV + h) * PSPLITS
    nsplit = g * 0
    if PSPLITS > 0:
        nblk = tl.load(skip_ptr + b + g * 0) // BS  # (a vector: the interpreter's masks)
        nsplit = tl.minimum((nblk + SPLIT_BLOCKS - 1) // SPLIT_BLOCKS, PSPLITS)
    for sp in range(PSPLITS):
        pmask = (g < GROUPS) & (sp < nsplit)
        top = tl.maximum(top, tl.load(plse_ptr + (pbase + sp) * GP + g, mask=pmask, other=float("-inf")))
    total = tl.zeros([GP], dtype=tl.float32)
    acc = tl.zeros([GP, D], dtype=tl.float32)
    for sp in range(SPLITS):
        lse = tl.load(lse_ptr + (base + sp) * GP + g)
        w = tl.where(lse > float("-inf"), tl.exp(lse - top), 0.0)
        total += w
        acc += w[:, None] * tl.load(o_ptr + ((base + sp) * GP + g)[:, None] * D + d[None, :])
    for sp in range(PSPLITS):
        pmask = (g < GROUPS) & (sp < nsplit)
        lse = tl.load(plse_ptr + (pbase + sp) * GP + g, mask=pmask, other=float("-inf"))
        w = tl.where(lse > float("-inf"), tl.exp(lse - top), 0.0)
        total += w
        at = po_ptr + ((pbase + sp) * GP + g)[:, None] * D + d[None, :]
        acc += w[:, None] * tl.load(at, mask=pmask[:, None], other=0.0)
    out = acc / tl.where(total > 0, total, 1.0)[:, None]
    dst = out_ptr + ((b * H + h * GROUPS + g) * D)[:, None] + d[None, :]
    tl.store(dst, out.to(out_ptr.dtype.element_ty), mask=(g < GROUPS)[:, None])


@dataclass(frozen=True)
class SplitLaunch:
    """How the split kernel runs: `blocks` cache blocks of keys an iteration (one dot over
    ``blocks * block_size`` keys), `warps` and software-pipeline `stages` of the launch."""

    blocks: int = 1
    warps: int = 4
    stages: int = 3


# The fastest split count and split-kernel launch together, by programs before splitting (rows x
# KV heads), measured on an H200 at the 32B head shapes (40 query / 8 KV heads, D 128, 32-token
# blocks) by `bench/attention_splits.py --near --launches ...` (bench/results/kernels_h200_2026-
# 12-03h/attention_splits.json; us per layer call, against the launch of before, 1 block x 4 warps
# x 3 stages, at the split count of before): 1 row x 1K keys 8.3 (9.5), 16 x 4K 69.5 (70.7 with 6
# splits), 64 x 4K 248.3 (261.4 with 3), 128 x 1K 141.1 (149.3 with 3), 256 x 1K 258.4 (275.1 with
# 2). Two blocks an iteration (a K tile of 64 keys) won from 16 rows up; at 64 x 4K 4,324 GB/s,
# above the copy figure, since nothing is written. At 256 x 1K the sweep's best two tied (1 x 4 x
# 2: 257.4 us, 2 x 4 x 4: 258.4) and the engine took the second: 4,949 / 4,891 tok/s at batch 256
# against 4,830 / 4,821, alternating on one instance (kernels_h200_2026-12-03h/call7_*), where a
# sequence's blocks mostly follow each other (the sweep scatters them).
SPLITS_BY_PROGRAMS: tuple[tuple[int, int, SplitLaunch], ...] = (
    (8, 8, SplitLaunch(4, 8, 2)),
    (128, 4, SplitLaunch(2, 4, 3)),
    (512, 2, SplitLaunch(2, 4, 4)),
    (1024, 2, SplitLaunch(2, 4, 4)),
    (2048, 1, SplitLaunch(2, 4, 4)),
)
SPLITS_MEASURED_SMS = 132


def _measured(rows: int, num_kv_heads: int, sms: int) -> tuple[int, int, SplitLaunch]:
    """The entry of ``SPLITS_BY_PROGRAMS`` nearest this batch's program count (log scale, scaled to
    this GPU's SMs)."""
    programs = max(1, rows * num_kv_heads) * SPLITS_MEASURED_SMS / max(1, sms)
    return min(SPLITS_BY_PROGRAMS, key=lambda e: abs(math.log2(e[0] / programs)))


def default_splits(capacity: int, rows: int, num_kv_heads: int, sms: int) -> int:
    """Splits along the keys: the measured best of the nearest program count in
    ``SPLITS_BY_PROGRAMS``, at most one split per 64 keys of `capacity`."""
    want = _measured(rows, num_kv_heads, sms)[1]
    return max(1, min(want, triton.cdiv(capacity, 64), 64))


def split_launch(rows: int, num_kv_heads: int, sms: int) -> SplitLaunch:
    """The split kernel's launch measured best with ``default_splits``' count for this batch."""
    return _measured(rows, num_kv_heads, sms)[2]


@dataclass(frozen=True)
class SharedPrefix:
    """The groups of a decode batch whose rows share their first blocks (see the module
    docstring), as device tensors of fixed shape (a CUDA graph keeps them):

    - ``groups`` int32 [1 + 5 G]: the number of groups in use, then five rows of G entries: per
      group a table row that lists the prefix blocks, the index of its first member in
      ``members``, its member count, and the prefix length in tokens (a multiple of the block
      size) on global layers and on sliding layers (0 where the group does not share there);
    - ``members`` int32 [B]: batch indices, group after group;
    - ``skip`` int32 [2, B]: the prefix tokens each batch row takes from its group on global and
      on sliding layers (0: no group).

    ``max_members`` bounds a group's count (members x query heads per KV head <= 128 query
    rows). A prefix is cut into ``ceil(blocks / SPLIT_BLOCKS)`` splits, at most ``PREFIX_SPLITS``."""

    groups: torch.Tensor
    members: torch.Tensor
    skip: torch.Tensor
    max_members: int

    @property
    def max_groups(self) -> int:
        return (self.groups.numel() - 1) // 5


PREFIX_ROWS = 128  # query rows of one prefix work item (members x query heads per KV head)
PREFIX_SPLITS = 4  # splits of one group's prefix at most
# Prefix blocks per split: 16 groups of 16 rows at 576 keys, a 16-block prefix (512 tokens) in
# one split was fastest (H200, 2026-12-03, bench/results/eval_h200_2026-12-03c/call3: 67.9 us a
# layer against 73.5 with 8 blocks a split; the rows alone, L2 sharing their reads: 114.8). At
# 1,024 keys (512 shared) 193.3 against 200.7, at 2,304 (2,048 shared) 221.3 either way.
SPLIT_BLOCKS = 16


def max_group_members(num_heads: int, num_kv_heads: int) -> int:
    """Members one prefix work item takes: as many as fill ``PREFIX_ROWS`` query rows."""
    return max(1, PREFIX_ROWS // (num_heads // num_kv_heads))


def _programs(device: torch.device) -> int:
    """Programs of the persistent prefix kernel: two per SM on a GPU; a few in the interpreter
    (so its tests take several items per program)."""
    if device.type != "cuda":
        return 3
    return 2 * _num_sms(device)


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
    shared: SharedPrefix | None = None,
    launch: SplitLaunch | None = None,
) -> torch.Tensor:
    """Attention of one new token per row: q [B, H, D] over the keys of table row ``rows[b]``
    up to ``positions[b]`` (the cache already holds the new token); returns [B, H * D].
    `shared`: the rows' shared prefixes, read once per group. `launch`: the split kernel's
    (``split_launch``'s measured choice by default)."""
    b, h, d = q.shape
    bs, hkv = keys.shape[1], keys.shape[2]
    groups = h // hkv
    mid, lse = _partials(q, hkv, splits)
    gp = mid.shape[3]
    out = torch.empty((b, h, d), dtype=q.dtype, device=q.device)
    common = dict(H=h, HKV=hkv, GROUPS=groups, GP=gp, D=d)
    win = window if window is not None else 1 << 30
    fp32 = q.dtype == torch.float32
    psplits, skip, pmid, plse = 0, positions, mid, lse
    if shared is not None:
        kind = 0 if window is None else 1
        psplits, skip = PREFIX_SPLITS, shared.skip[kind]
        pmid, plse = _partials(q, hkv, psplits)
        rows_p = max(16, triton.next_power_of_2(shared.max_members * groups))
        nprog = _programs(q.device)
        _prefix_kernel[(nprog,)](
            q, keys, values, table, shared.groups, shared.members, positions, pmid, plse, table.stride(0),
            win, d**-0.5, shared.max_groups, nprog, KIND=kind, ROWS=rows_p, BS=bs,
            PSPLITS=psplits, SPLIT_BLOCKS=SPLIT_BLOCKS, FP32=fp32, num_warps=8 if rows_p >= 64 else 4,
            **common,
        )  # fmt: skip
    _split_pass(
        q, keys, values, table, rows, positions, skip, mid, lse, win, splits, shared is not None, launch
    )
    _decode_merge_kernel[(b, hkv)](
        mid, lse, pmid, plse, skip, out, SPLITS=splits, PSPLITS=psplits, BS=bs, SPLIT_BLOCKS=SPLIT_BLOCKS,
        **common, **pdl.launch(q.device, b),
    )  # fmt: skip
    return out.view(b, h * d)


def _partials(q: torch.Tensor, hkv: int, splits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Float32 buffers of `splits` partial results per row and KV head: outputs [B, HKV, splits,
    GP, D] and log-sum-exps [B, HKV, splits, GP], GP the query heads of a KV head padded to a
    power of two of at least 16."""
    b, h, d = q.shape
    gp = max(16, triton.next_power_of_2(h // hkv))
    mid = torch.empty((b, hkv, splits, gp, d), dtype=torch.float32, device=q.device)
    return mid, torch.empty((b, hkv, splits, gp), dtype=torch.float32, device=q.device)


def _split_pass(
    q: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    table: torch.Tensor,
    rows: torch.Tensor,
    positions: torch.Tensor,
    skip: torch.Tensor,
    mid: torch.Tensor,
    lse: torch.Tensor,
    win: int,
    splits: int,
    has_skip: bool,
    launch: SplitLaunch | None,
) -> None:
    b, h, d = q.shape
    bs, hkv = keys.shape[1], keys.shape[2]
    common = dict(H=h, HKV=hkv, GROUPS=h // hkv, GP=mid.shape[3], D=d)
    if launch is None:
        launch = split_launch(b, hkv, _num_sms(q.device))  # (8 in the interpreter)
    _decode_split_kernel[(b, hkv, splits)](
        q, keys, values, table, rows, positions, skip, mid, lse, table.stride(0), win, d**-0.5,
        BS=bs, SPLITS=splits, SKIP=has_skip, FP32=q.dtype == torch.float32, KB=launch.blocks,
        num_warps=launch.warps, num_stages=launch.stages, **common, **pdl.launch(q.device, b),
    )  # fmt: skip


@dataclass(frozen=True)
class SplitAttention:
    """The split kernel's results, not yet merged: each split's attention output ``mid`` [B, HKV,
    SPLITS, GP, D] and log-sum-exp ``lse`` [B, HKV, SPLITS, GP] (float32; GP the query heads of a
    KV head, ``groups``, padded to a power of two of at least 16). Their reader merges them as
    ``_decode_merge_kernel`` does: o's one-row GEMV (``w4a16.merge_o``)."""

    mid: torch.Tensor
    lse: torch.Tensor
    groups: int

    @property
    def splits(self) -> int:
        return self.mid.shape[2]


def decode_attention_unmerged(
    q: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    table: torch.Tensor,
    rows: torch.Tensor,
    positions: torch.Tensor,
    *,
    window: int | None,
    splits: int,
    launch: SplitLaunch | None = None,
) -> SplitAttention:
    """``decode_attention`` without shared prefixes and without its merge kernel: the splits'
    results for a reader that merges them (``merge_splits`` is the merge in PyTorch)."""
    h, hkv = q.shape[1], keys.shape[2]
    mid, lse = _partials(q, hkv, splits)
    win = window if window is not None else 1 << 30
    _split_pass(q, keys, values, table, rows, positions, positions, mid, lse, win, splits, False, launch)
    return SplitAttention(mid, lse, h // hkv)


def merge_splits(split: SplitAttention, dtype: torch.dtype) -> torch.Tensor:
    """``_decode_merge_kernel``'s merge in PyTorch, step by step in its order: [B, H * D] in `dtype`
    (the twin of a reader that merges)."""
    mid, lse = split.mid[:, :, :, : split.groups], split.lse[:, :, :, : split.groups]
    top = lse[:, :, 0]
    for sp in range(1, split.splits):
        top = torch.maximum(top, lse[:, :, sp])
    total = torch.zeros_like(top)
    acc = torch.zeros_like(mid[:, :, 0])
    for sp in range(split.splits):
        w = torch.where(lse[:, :, sp] > float("-inf"), torch.exp(lse[:, :, sp] - top), 0.0)
        total = total + w
        acc = acc + w[..., None] * mid[:, :, sp]
    out = acc / torch.where(total > 0, total, 1.0)[..., None]
    return out.to(dtype).flatten(1)
