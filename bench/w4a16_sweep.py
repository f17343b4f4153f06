"""W4A16 kernels at the EXAONE-4.0-32B linear shapes on one GPU: correctness, then a sweep.

    python bench/w4a16_sweep.py --out DIR [--ms 1,2,4,...] [--shapes qkv,o,gate_up,down]
                                [--budget-s S] [--copy-mb MB] [--only-tc]

``--p16``: only the p16 GEMM (``_gemm_p16_kernel``: codes never reshaped, one LOP3 per code)
against today's dispatch (the GEMM below 65 rows, dequantize + cuBLAS from 65) and the other
of the two, at M = 64, 256, 128, 16, 32; its winners print as ``TUNED_TC`` lines too.

``--only-tc``: only the large-M GEMM (``TcConfig``) against what runs today (the GEMM at M <
256, dequantize + cuBLAS from 256 rows) and the other of the two, at M = 64, 128, 256, 512
unless --ms says otherwise; prints the ``TUNED_TC`` lines to paste into w4a16.py (only where
the large-M GEMM won) and checks the best large-M config of each (shape, M) even where it lost.

1. Sweep: for M = 1 .. 512 and each shape, the kernels before this change (the classic GEMV
   and GEMM at their 2026-11-29 tuned configs, dequantize + cuBLAS at M >= 256) and the new
   ones over launch configs. Each candidate is timed as one CUDA graph of calls over enough
   copies of the weight that they do not fit in L2 (the median replay over the copies).
2. Correctness of the fastest config per (shape, M) at the same shapes, with and without
   act-order, bf16 (and at M = 1, 16 fp16) activations, outputs poisoned with NaN first,
   against the torch twin in float64 (relative error); and bitwise equality of two runs.
3. The fastest configs are printed as the ``TUNED_*`` tables of ``w4a16.py``.

Writes DIR/sweep.json (every timing) and DIR/best.json; prints a table: µs, GB/s (weight
bytes: codes, zeros, scales), TFLOP/s and % of the copy bandwidth measured in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import int4_report
from evalkit.runners.torch_int4.kernels import torch_ops, w4a16
from evalkit.runners.torch_int4.kernels.w4a16 import GemmConfig, GemvConfig, TcConfig, W4Weight

GB = 1e9
SHAPES = {"qkv": (5120, 7168), "o": (5120, 5120), "gate_up": (5120, 54784), "down": (27392, 5120)}
MS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
TC_MS = (64, 128, 256, 512)
# The configs the kernels ran with before (bench/results/int4_h200_2026-11-29/kernels.json).
BEFORE_GEMV = {
    (7168, 5120): GemvConfig(256, 1, 4, 3, "classic"),
    (5120, 5120): GemvConfig(256, 1, 4, 3, "2d"),
    (54784, 5120): GemvConfig(512, 1, 4, 3, "classic"),
    (5120, 27392): GemvConfig(1024, 3, 8, 3, "classic"),
}
BEFORE_GEMM = {
    (16, 7168, 5120): GemmConfig(16, 128, 10, 4, 3),
    (16, 5120, 5120): GemmConfig(16, 64, 5, 4, 3),
    (16, 54784, 5120): GemmConfig(16, 128, 10, 4, 3),
    (16, 5120, 27392): GemmConfig(16, 128, 13, 4, 3),
    (64, 7168, 5120): GemmConfig(64, 64, 20, 4, 3),
    (64, 5120, 5120): GemmConfig(64, 64, 5, 4, 3),
    (64, 54784, 5120): GemmConfig(64, 64, 20, 4, 3),
    (64, 5120, 27392): GemmConfig(64, 64, 26, 4, 3),
}


def random_weight(k: int, n: int, *, act_order: bool, seed: int, dev: torch.device) -> W4Weight:
    g = torch.Generator(device=dev).manual_seed(seed)
    qweight = torch.randint(-(2**31), 2**31 - 1, (k // 8, n), dtype=torch.int32, device=dev, generator=g)
    qzeros = torch.randint(
        -(2**31), 2**31 - 1, (k // 128, n // 8), dtype=torch.int32, device=dev, generator=g
    )
    scales = (torch.rand(k // 128, n, device=dev, generator=g) * 0.01 + 1e-3).half()
    g_idx = torch.arange(k, dtype=torch.int32, device=dev) // 128
    if act_order:
        g_idx = g_idx[torch.randperm(k, device=dev, generator=g)]
    return w4a16.pack_gptq(qweight, qzeros, scales, g_idx, group_size=128, zero_offset=1)


def before_config(m: int, n: int, k: int, dev: torch.device) -> GemvConfig | GemmConfig | str:
    """What the code before this change ran for M rows (the dispatch of 2026-11-29)."""
    if m == 1:
        return BEFORE_GEMV[(n, k)]
    if m >= 256:
        return "dequant+cublas"
    bucket = 16 if m <= 16 else 32 if m <= 32 else 64 if m <= 64 else 128
    tuned = BEFORE_GEMM.get((bucket, n, k))
    if tuned is not None:
        return tuned
    block_m, block_n = min(bucket, 64), 128 if n >= 2048 else 64
    tiles = math.ceil(m / block_m) * math.ceil(n / block_n)
    return GemmConfig(block_m, block_n, w4a16._split(k // 128, tiles, w4a16._num_sms(dev)), 4, 2)


def gps_options(groups: int, tiles: int, sms: int, waves: tuple[float, ...]) -> list[int]:
    out = set()
    for wv in waves:
        splits = max(1, min(groups, math.ceil(wv * sms / tiles)))
        out.add(math.ceil(groups / splits))
    return sorted(out)


def gemv_candidates(n: int, k: int, sms: int) -> list[GemvConfig]:
    """The denormal-trick GEMV over (BLOCK_N, warps) and split sizes, plus the best "lop3"
    config of the first sweep (2026-12-02) as a same-run reference, and the group-as-a-tile GEMV
    ("dn2d", "dn2dh") over (BLOCK_N, warps) and split sizes. (The stream-K GEMV of sweep15, 1.2-10x
    slower everywhere, was removed: commit db1f205 has it.)"""
    groups = k // 128
    cands = []
    for bn, nw in ((256, 1), (512, 1), (512, 2), (1024, 2), (1024, 4)):  # 8 or 16 columns a thread
        tiles = math.ceil(n / bn)
        for gps in gps_options(groups, tiles, sms, (1, 2, 4, 8, 16)):
            cands.append(GemvConfig(bn, gps, nw, 1, "dn"))
    ref = {7168: (512, 1, 4), 5120: (512, 1, 2) if k == 5120 else (1024, 3, 8), 54784: (1024, 1, 8)}[n]
    cands.append(GemvConfig(ref[0], ref[1], ref[2], 1, "lop3"))
    # a group's words as one tile (_gemv_dn2d_kernel), with ("dn2dh") and without all its loads
    # issued before the arithmetic; 4 or 8 columns a thread
    for bn, nw in ((256, 2), (512, 4), (1024, 8), (512, 2), (1024, 4), (256, 4)):
        tiles = math.ceil(n / bn)
        for gps in gps_options(groups, tiles, sms, (1, 2, 4, 8)):
            for variant in ("dn2d", "dn2dh"):
                cands.append(GemvConfig(bn, gps, nw, 1, variant))
    return cands


def gemv_tma_candidates(n: int, k: int, sms: int) -> list[GemvConfig]:
    """The Gluon GEMV (w4a16_gluon_gemv: the weight words through TMA into shared memory): "tmax"
    (x scaled once a program into shared memory) over (BLOCK_N, warps), tiles in flight and split
    sizes, and "tma" (x read per word row) at one config as a reference. Shared memory: stages x
    16 x BLOCK_N words, plus "tmax"'s x of up to 64 groups a split."""
    groups = k // 128
    cands = []
    for bn, nw, stages in ((256, 2, 4), (256, 1, 3), (128, 1, 4)):
        tiles = math.ceil(n / bn)
        for gps in gps_options(groups, tiles, sms, (2, 4, 8)):
            if gps <= 64:
                cands.append(GemvConfig(bn, gps, nw, stages, "tmax"))
    tiles = math.ceil(n / 256)
    cands.append(GemvConfig(256, gps_options(groups, tiles, sms, (4,))[0], 2, 4, "tma"))
    return cands


# (block_m, block_n, warps, stages) of the GEMM per M bucket
GEMM_SHAPES = {
    8: [(16, 64, 4, 3), (16, 128, 4, 3), (16, 128, 4, 4), (16, 256, 8, 3)],
    16: [(16, 64, 4, 3), (16, 128, 4, 3), (16, 128, 4, 4), (16, 256, 8, 3)],
    32: [(32, 64, 4, 3), (32, 128, 4, 3), (32, 128, 4, 4)],
    64: [(64, 64, 4, 3), (64, 128, 4, 3), (64, 128, 8, 3), (64, 64, 4, 4)],
    128: [(64, 128, 4, 3), (64, 128, 8, 3), (128, 128, 8, 3), (64, 64, 4, 3)],
}
GEMM_SHAPES[256] = GEMM_SHAPES[512] = GEMM_SHAPES[128]


def gemm_candidates(m: int, n: int, k: int, sms: int) -> list[GemmConfig]:
    groups = k // 128
    cands = []
    waves = (1, 2, 4, 1000) if m <= 64 else (1, 1000)  # large M fills the GPU without split-K
    for bm, bn, nw, st in GEMM_SHAPES[w4a16._m_bucket(m)]:
        tiles = math.ceil(m / bm) * math.ceil(n / bn)
        for gps in gps_options(groups, tiles, sms, waves):
            cands.append(GemmConfig(bm, bn, gps, nw, st))
    return cands


# (block_m, block_n, warps, stages, swap, block_k) of the large-M GEMM per M bucket. One CTA
# holds block_m x block_n fp32 accumulators (128 a thread at 256 x 128 on 8 warps); x's tile
# takes block_m x block_k x 2 bytes of shared memory per stage, so 256-row tiles get 2 stages.
# Mostly swap=False: compiled for sm_90 (Triton 3.9, on the CPU machine) the swapped form's
# loop counts about twice the instructions (1,900 against 925 per thread and 128-deep step at
# 128 x 128 on 8 warps: its scales and zeros are loaded per element in the wgmma register-
# operand layout). Few shapes, shared between buckets: each is one compile.
TC_SHAPES = {
    64: [
        (64, 128, 4, 3, False, 128),
        (64, 128, 4, 3, True, 128),
        (64, 256, 8, 3, False, 128),
        (128, 128, 8, 3, False, 128),
    ],
    128: [
        (128, 128, 8, 3, False, 128),
        (128, 128, 8, 3, True, 128),
        (64, 128, 4, 3, False, 128),
        (128, 256, 8, 3, False, 64),
    ],
    256: [
        (256, 128, 8, 2, False, 128),
        (256, 128, 8, 2, False, 64),
        (128, 128, 8, 3, False, 128),
        (128, 256, 8, 3, False, 64),
        (256, 128, 8, 2, True, 64),
    ],
}
TC_SHAPES[512] = TC_SHAPES[256]


def tc_candidates(m: int, n: int, k: int, sms: int) -> list[TcConfig]:
    """Large-M GEMM configs: each tile shape without split-K, and split so that the tiles with
    their K slices make about one wave where the tiles alone do not (q|k|v, o and down)."""
    groups = k // 128
    cands = []
    for bm, bn, nw, st, swap, bk in TC_SHAPES.get(w4a16._m_bucket(m), TC_SHAPES[64]):
        tiles = math.ceil(m / bm) * math.ceil(n / bn)
        for gps in sorted({groups, *gps_options(groups, tiles, sms, (1,))}, reverse=True):
            cands.append(TcConfig(bm, bn, gps, nw, st, swap, bk))
    return cands


# (block_m, block_n, warps, stages, swap, variant) of the p16 GEMM (``_gemm_p16_kernel``) per
# M bucket: swap puts the weight in the wgmma register operand and the rows in its N (8..256).
# The "p16" shapes kept are the winners of the first H200 sweep (2026-12-02, kernels_h200_
# 2026-12-02b/sweep1_*); "p16f" (the weight folded to s (q - z) in bf16) was added after it.
P16_SHAPES = {
    16: [
        (16, 64, 4, 3, True, "p16"),
        (16, 128, 4, 4, True, "p16"),
        (16, 64, 4, 3, True, "p16f"),
        (16, 128, 4, 3, True, "p16f"),
        (16, 64, 4, 4, True, "p16f"),
    ],
    32: [
        (32, 64, 4, 3, True, "p16"),
        (32, 128, 4, 3, True, "p16"),
        (32, 64, 4, 3, True, "p16f"),
        (32, 128, 4, 3, True, "p16f"),
    ],
    64: [
        (64, 128, 4, 3, True, "p16"),
        (64, 128, 4, 3, True, "p16f"),
        (64, 64, 4, 3, True, "p16f"),
        (64, 128, 8, 3, True, "p16f"),
        (64, 128, 4, 3, False, "p16f"),
    ],
    128: [
        (64, 128, 4, 3, True, "p16"),
        (64, 128, 4, 3, True, "p16f"),
        (128, 128, 8, 3, True, "p16f"),
        (128, 128, 8, 3, False, "p16f"),
        (128, 64, 4, 3, True, "p16f"),
        (64, 256, 8, 3, True, "p16f"),
    ],
    256: [
        (128, 128, 8, 3, False, "p16"),
        (128, 128, 8, 3, True, "p16f"),
        (128, 128, 8, 3, False, "p16f"),
        (256, 128, 8, 3, True, "p16f"),
        (128, 256, 8, 3, False, "p16f"),
        (256, 64, 4, 3, True, "p16f"),
    ],
}
P16_MS = (64, 256, 128, 16, 32)
# --p16t: the TMA variants (x through a descriptor), by M bucket: (BM, BN, warps, stages, variant).
# "p16t" keeps an fp32 partial beside the accumulator, so its tiles stay at 128 x 128.
P16T_SHAPES: dict[int, list[tuple[int, int, int, int, str]]] = {
    16: [(16, 64, 4, 3, "p16t"), (16, 128, 4, 3, "p16t"), (16, 128, 4, 4, "p16ft"), (16, 64, 4, 4, "p16ft")],
    32: [(32, 64, 4, 3, "p16t"), (32, 128, 4, 3, "p16t"), (32, 128, 4, 4, "p16ft"), (32, 64, 4, 4, "p16ft")],
    64: [(64, 128, 4, 3, "p16t"), (64, 64, 4, 4, "p16t"), (64, 128, 4, 4, "p16ft"), (64, 128, 8, 3, "p16ft")],
    128: [
        (128, 128, 8, 3, "p16t"),
        (128, 64, 4, 3, "p16t"),
        (128, 128, 8, 3, "p16ft"),
        (128, 64, 4, 4, "p16ft"),
        (64, 128, 4, 4, "p16ft"),
    ],
    256: [
        (128, 128, 8, 3, "p16t"),
        (256, 128, 8, 3, "p16ft"),
        (256, 128, 8, 2, "p16ft"),
        (128, 128, 8, 3, "p16ft"),
        (128, 64, 4, 4, "p16ft"),
    ],
}


# --p128: the one-dot-per-block GEMM (``_gemm_p128_kernel``), by M bucket.
P128_SHAPES: dict[int, list[tuple[int, int, int, int, str]]] = {
    16: [(16, 128, 4, 4, "p128"), (16, 128, 4, 3, "p128"), (16, 64, 4, 4, "p128"), (16, 256, 8, 3, "p128")],
    32: [(32, 128, 4, 4, "p128"), (32, 128, 4, 3, "p128"), (32, 64, 4, 4, "p128"), (32, 256, 8, 3, "p128")],
    64: [
        (64, 128, 4, 4, "p128"),
        (64, 128, 4, 3, "p128"),
        (64, 64, 4, 4, "p128"),
        (64, 128, 8, 3, "p128"),
        (64, 256, 8, 3, "p128"),
    ],
    128: [
        (128, 128, 8, 3, "p128"),
        (128, 128, 8, 4, "p128"),
        (128, 64, 4, 4, "p128"),
        (64, 128, 4, 4, "p128"),
    ],
    256: [
        (256, 128, 8, 3, "p128"),
        (256, 128, 8, 2, "p128"),
        (128, 128, 8, 3, "p128"),
        (256, 64, 4, 3, "p128"),
    ],
}


Tile = tuple[int, int, int, int]  # (block_m, block_n, warps, stages)


def variant_table(
    tiles: dict[int, list[Tile]], variants: Callable[[int], tuple[str, ...]]
) -> dict[int, list[tuple[int, int, int, int, str]]]:
    """Tile shapes by M bucket, each with every variant of ``variants(M)`` (variant-major order)."""
    return {m: [(*t, v) for v in variants(m) for t in ts] for m, ts in tiles.items()}


# --s128: the GEMM with the weight tile in shared memory (``_gemm_s128_kernel``), by M bucket;
# a [256, 128] x tile is 64 KB per stage, so the 256-row tiles keep 2 stages.
S128_SHAPES = variant_table(
    {
        16: [(16, 128, 4, 4), (16, 64, 4, 4), (16, 256, 8, 3)],
        32: [(32, 128, 4, 4), (32, 64, 4, 4), (32, 256, 8, 3)],
        64: [(64, 128, 4, 4), (64, 64, 4, 4), (64, 128, 8, 3), (64, 256, 8, 3)],
        128: [(128, 128, 8, 3), (128, 128, 8, 4), (128, 64, 4, 4), (64, 128, 4, 4)],
        256: [(256, 128, 8, 3), (128, 64, 4, 4), (256, 64, 4, 3), (128, 128, 8, 3), (64, 128, 4, 4)],
        512: [(256, 128, 8, 3), (128, 64, 4, 4), (256, 64, 4, 3), (128, 128, 8, 3)],
    },
    lambda m: ("s128",),
)


# --g128: the Gluon GEMM (``w4a16_gluon.gemm_g128_kernel``: s128's math with the tile double-
# buffered, the MMA of one block in flight while the next is dequantized); the tiles that compile
# for sm_90 without spills in at most 227 KB of shared memory (2 weight tiles + the x slots;
# 256-row tiles do not). From 128 rows on, 256 columns a tile: x is read from L2 once per tile
# of columns (1.1 GB a call for gate|up at 256 rows with 128 columns); 4 slots of x (2 blocks
# ahead) where the shared memory holds them. Up to 64 rows also "g128n" (raw words one block
# ahead instead of two: fewer registers and moves, less latency hidden).
G128_SHAPES = variant_table(
    {
        8: [(8, 64, 4, 4), (16, 64, 4, 4), (8, 128, 4, 4)],
        16: [(16, 128, 4, 3), (16, 128, 4, 4), (16, 64, 4, 4), (16, 256, 8, 3)],
        32: [(32, 64, 4, 3), (32, 128, 4, 3), (32, 128, 4, 4), (32, 64, 4, 4), (32, 256, 8, 3)],
        64: [
            (64, 128, 4, 3),
            (64, 128, 4, 4),
            (64, 64, 4, 4),
            (64, 128, 8, 3),
            (64, 128, 8, 4),
            (64, 256, 8, 3),
            (64, 256, 16, 3),
        ],
        128: [
            (128, 128, 8, 3),
            (128, 64, 4, 3),
            (64, 128, 8, 3),
            (128, 256, 16, 3),
            (64, 256, 16, 3),
            (128, 128, 8, 4),
            (128, 64, 4, 4),
        ],
        256: [(128, 128, 8, 3), (128, 256, 16, 3), (64, 256, 16, 3), (128, 128, 8, 4), (128, 64, 4, 4)],
        512: [(128, 128, 8, 3), (128, 256, 16, 3), (128, 128, 8, 4)],
    },
    lambda m: ("g128", "g128n") if m <= 64 else ("g128",),
)


# --r128: the Gluon GEMM with the folded weight in the MMA's A registers (``gemm_r128_kernel``:
# no weight tile in shared memory, x in ``r128_order``); block_n = 16 num_warps times a power of
# two; the tiles that build for sm_90 without spills (BLOCK_N 128 on 4 warps up to 64 rows: 3.2-3.4
# SASS instructions a weight against g128's 4.3-4.5). "r128n": the words one block ahead; "r128o":
# the next block folded while the MMA runs in the source (seventh session, sweep12: wins at 8 and
# 32 rows), though at down's 256-row stream-K tile ptxas puts the wait for the MMA ahead of the
# fold. "r128p" (two A operands in turn, whose SASS does fold while the MMA runs) lost at 128 and
# 256 rows in the thirteenth session (kernels_h200_2026-12-03d/sweep20; commit d5a2ea6).
# "r128w" (``w4a16_gluon_ws``, written in the fourteenth session, measured in the fifteenth:
# kernels_h200_2026-12-03f/sweep24-26): r128 warp-specialized, two consumer partitions of `warps`
# warps and a producer warp for x; only with --variants, and its tiles name the warps of one
# consumer (e.g. --tiles 256x128x4x3 --variants r128w; the table's config is timed first in any
# case). Its 256-token tiles won gate|up at 256 and 512 rows, down at 256 and q|k|v at 512; its
# 128-token tiles and its stream-K grid lost everywhere.
# The 256-wide tiles (block_n 256, or block_m 256 with block_n 128) joined in the seventh session
# (sweep14, kernels_h200_2026-12-02g/): each lost to the 128 x 128 tile by 2-60 % at 64-512 rows.
R128_SHAPES = variant_table(
    {
        8: [(8, 128, 4, 4), (16, 64, 4, 4), (8, 64, 4, 4)],
        16: [(16, 128, 4, 4), (16, 64, 4, 4), (16, 128, 4, 3)],
        32: [(32, 128, 4, 4), (32, 64, 4, 4), (32, 128, 4, 3)],
        64: [
            (64, 128, 4, 3),
            (64, 64, 4, 4),
            (64, 128, 8, 3),
            (64, 128, 8, 4),
            (64, 256, 8, 4),
            (64, 256, 8, 3),
        ],
        128: [(128, 128, 8, 3), (128, 128, 8, 4), (128, 64, 4, 3), (64, 128, 4, 3), (128, 256, 8, 3)],
        256: [
            (128, 128, 8, 4),
            (128, 128, 8, 3),
            (128, 64, 4, 3),
            (64, 128, 4, 3),
            (256, 64, 4, 3),
            (128, 256, 8, 3),
            (128, 256, 8, 4),
            (256, 128, 8, 3),
        ],
        512: [
            (128, 128, 8, 4),
            (128, 128, 8, 3),
            (128, 64, 4, 3),
            (256, 64, 4, 3),
            (128, 256, 8, 3),
            (256, 128, 8, 3),
        ],
    },
    lambda m: ("r128", "r128n", "r128o"),
)


def p16t_candidates(
    m: int,
    n: int,
    k: int,
    sms: int,
    table: dict[int, list[tuple[int, int, int, int, str]]] | None = None,
    stream_k: tuple[int, ...] = (),
    large_m_waves: tuple[float, ...] = (1, 2),
) -> list[TcConfig]:
    """The TMA configs of `table` (``P16T_SHAPES`` by default), split-K as ``p16_candidates``
    (above 64 rows: so that tiles and K slices make about `large_m_waves` waves); r128 tiles
    also as a stream-K grid of each of `stream_k` programs per SM."""
    blocks = k // 128
    cands = []
    for bm, bn, nw, st, var in (table or P16T_SHAPES)[w4a16._m_bucket(m)]:
        tiles = math.ceil(m / bm) * math.ceil(n / bn)
        waves = (1, 2, 4) if m <= 64 else large_m_waves
        for bps in sorted({blocks, *gps_options(blocks, tiles, sms, waves)}, reverse=True):
            cands.append(TcConfig(bm, bn, bps, nw, st, True, 128, var))
        if var.startswith("r128") and var != "r128w":  # r128w's stream-K grid lost (115debf)
            cands += [TcConfig(bm, bn, blocks, nw, st, True, 128, var, s) for s in stream_k]
    return cands


def _chosen_tiles(
    table: dict[int, list[tuple[int, int, int, int, str]]], tiles: str | None, variants: str | None = None
) -> dict[int, list[tuple[int, int, int, int, str]]]:
    """`table`'s M buckets with the tiles of `tiles` ("128x128x8x3,..."; block_m, block_n, warps,
    stages: these at every bucket, also where `table` lacks them) and the variants of `variants`
    ("r128n,r128o"); None keeps `table`'s."""
    want: list[Tile] | None = None
    if tiles:
        want = []
        for t in tiles.split(","):
            bm, bn, nw, st = (int(v) for v in t.split("x"))
            want.append((bm, bn, nw, st))
    kinds = variants.split(",") if variants else None
    out = {}
    for m, rows in table.items():
        vs = kinds or list(dict.fromkeys(e[4] for e in rows))
        ts = want or list(dict.fromkeys((e[0], e[1], e[2], e[3]) for e in rows))
        out[m] = [(*t, v) for v in vs for t in ts]
    return out


def p16_candidates(m: int, n: int, k: int, sms: int) -> list[TcConfig]:
    """p16 GEMM configs: each tile shape with split-K over blocks of 128 inputs so that the
    tiles and their K slices make about 1, 2 or 4 waves (M <= 64) or 1 (more rows), and unsplit."""
    blocks = k // 128
    cands = []
    for bm, bn, nw, st, swap, var in P16_SHAPES[w4a16._m_bucket(m)]:
        tiles = math.ceil(m / bm) * math.ceil(n / bn)
        waves = (1, 2, 4) if m <= 64 else (1,)
        for bps in sorted({blocks, *gps_options(blocks, tiles, sms, waves)}, reverse=True):
            cands.append(TcConfig(bm, bn, bps, nw, st, swap, 128, var))
    return cands


def _failed_configs(doc: dict[str, Any]) -> set[str]:
    """The configs (as printed) that failed a check of a best.json: error >= 1e-2, NaN, or not
    bitwise repeatable. They are never taken into a table."""
    return {
        key.split(" ", 4)[-1]
        for key, v in doc.get("checks", {}).items()
        if not (v["rel_err"] < 1e-2 and v["bitwise_repeat"] == 1.0)
    }


def tuned_from_best(path: Path) -> dict[tuple[int, int, int], TcConfig]:
    """The ``TUNED_TC`` entries a sweep's best.json supports: (M bucket, N, K) -> the large-M
    or p16 config, only where it beat every other candidate of its (shape, M) and passed every
    check it had."""
    doc = json.loads(path.read_text())
    failed = _failed_configs(doc)
    out = {}
    for b in doc["best"].values():
        tc, other = b.get("best_tc"), b.get("best_other")
        if tc is not None and tc["cfg"] not in failed and (other is None or tc["us"] < other["us"]):
            out[(w4a16._m_bucket(b["M"]), b["N"], b["K"])] = parse_cfg(tc["cfg"])
    return out


def tuned_gemv_from_best(path: Path) -> dict[tuple[int, int], GemvConfig]:
    """The ``TUNED_GEMV`` entries a sweep's best.json supports: (N, K) -> the fastest GEMV config
    at one row, only where it passed every check it had."""
    doc = json.loads(path.read_text())
    failed = _failed_configs(doc)
    out = {}
    for b in doc["best"].values():
        cfg = b["best"]["cfg"]
        if b["M"] == 1 and cfg.startswith("GemvConfig") and cfg not in failed:
            out[(b["N"], b["K"])] = parse_cfg(cfg)
    return out


def tc_paste_lines(best: dict[str, Any]) -> list[str]:
    """``TUNED_TC`` entries where the large-M GEMM beat every other candidate of its (shape, M),
    each under a comment with its figures (lines short enough for ruff)."""
    lines = []
    for b in best.values():
        tc, other = b.get("best_tc"), b.get("best_other")
        if tc is None or (other is not None and tc["us"] >= other["us"]):
            continue
        c = parse_cfg(tc["cfg"])
        vs = f"{other['us']:.1f} us {other['cfg'].split('(')[0]}" if other else "none"
        lines.append(f"    # M={b['M']}: {tc['us']:.1f} us, {tc['tflops']:.0f} TFLOP/s (best other: {vs})")
        lines.append(
            f"    ({w4a16._m_bucket(b['M'])}, {b['N']}, {b['K']}): TcConfig({c.block_m}, {c.block_n}, "
            f"{c.groups_per_split}, {c.num_warps}, {c.num_stages}, {c.swap}, {c.block_k}, {c.variant!r}"
            + (f", {c.stream_k})," if c.stream_k else "),")
        )
    return lines


class Timer:
    """Time f(w) over copies of a weight as one CUDA graph; seconds per call (median replay)."""

    def __init__(self, ws: list[W4Weight]):
        self.ws = ws

    def __call__(self, fn: Any, reps: int = 7) -> float:
        fn(self.ws[0])
        torch.cuda.synchronize()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            fn(self.ws[1])  # warm the allocator on the capture stream
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            for w in self.ws:
                fn(w)
        graph.replay()
        graph.replay()
        times = []
        for _ in range(reps):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            graph.replay()
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b) / 1e3 / len(self.ws))
        del graph
        return statistics.median(times)


_SCRATCH: dict[str, torch.Tensor] = {}


def dequant_cublas(x: torch.Tensor, w: W4Weight) -> torch.Tensor:
    need = w.out_features * w.in_features
    buf = _SCRATCH.get("s")
    if buf is None or buf.numel() < need:
        buf = _SCRATCH["s"] = torch.empty(need, dtype=x.dtype, device=x.device)
    dense = w4a16.dequantize(w, x.dtype, out=buf[:need].view(w.out_features, w.in_features))
    if w.perm is not None:  # the dense rows are in act-order: permute x as the engine does
        x = x.index_select(1, w.perm)
    return F.linear(x, dense)[None]


def rel(out: torch.Tensor, ref: torch.Tensor) -> float:
    o, r = out.double(), ref.double()
    if not torch.isfinite(o).all():
        return float("nan")
    return float((o - r).norm() / r.norm())


def check(w: W4Weight, x: torch.Tensor, cfg: GemvConfig | GemmConfig | str | None) -> dict[str, float]:
    """Relative error vs the torch twin (outputs poisoned first) and bitwise reproducibility."""
    ref = torch_ops.w4_matmul(x.float(), w).sum(0)
    if cfg == "dequant+cublas":
        a, b = dequant_cublas(x, w), dequant_cublas(x, w)
        return {"rel_err": rel(a[0], ref), "bitwise_repeat": float(torch.equal(a, b))}
    kw: dict[str, Any] = {}
    if isinstance(cfg, GemvConfig):
        kw["gemv"] = cfg
    elif isinstance(cfg, GemmConfig):
        kw["gemm"] = cfg
    elif isinstance(cfg, TcConfig):
        kw["tc"] = cfg
    outs = []
    for _ in range(2):
        out = torch.full((1, x.shape[0], w.out_features), float("nan"), device=x.device)
        w4a16.w4_matmul(x, w, out=out, **kw)
        outs.append(out)
    return {"rel_err": rel(outs[0][0], ref), "bitwise_repeat": float(torch.equal(outs[0], outs[1]))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--ms", default=None, help=f"rows (default {MS}; with --only-tc {TC_MS})")
    ap.add_argument(
        "--only-tc",
        action="store_true",
        help="only the large-M GEMM against the GEMM and dequantize + cuBLAS",
    )
    ap.add_argument(
        "--p16",
        action="store_true",
        help="only the p16 GEMM against what runs today (the GEMM below 65 rows, dequantize + cuBLAS "
        f"from 65) and the other of the two, at M = {P16_MS} unless --ms says otherwise",
    )
    ap.add_argument(
        "--p16t",
        action="store_true",
        help="only the TMA p16 GEMMs (p16t, p16ft) against what runs today (TUNED_TC where it has "
        "the shape, else the GEMM below 65 rows and dequantize + cuBLAS from 65) and the other path",
    )
    ap.add_argument(
        "--p128",
        action="store_true",
        help="as --p16t, with the one-dot-per-block GEMM (p128) as the candidates",
    )
    ap.add_argument(
        "--s128",
        action="store_true",
        help="as --p16t, with the shared-memory-tile GEMM (s128) as the candidates (also at 512 rows)",
    )
    ap.add_argument(
        "--g128",
        action="store_true",
        help="as --s128, with the Gluon GEMM (g128: the MMA of one block overlaps the next block's "
        "dequantization) as the candidates",
    )
    ap.add_argument(
        "--r128",
        action="store_true",
        help="as --g128, with the Gluon GEMM whose folded weight goes straight to the MMA's A registers "
        "(r128, r128n, r128o) as the candidates",
    )
    ap.add_argument(
        "--stream-k",
        default="1",
        help="with --r128: also each r128 tile as a stream-K grid of this many programs per SM "
        "(comma-separated, e.g. 1,2: two lost everywhere in sweep13; empty: none)",
    )
    ap.add_argument(
        "--max-regs",
        default="",
        help="with --r128: also each r128 candidate with ptxas capped at these registers a thread "
        "(comma-separated, e.g. 128: two 8-warp programs an SM)",
    )
    ap.add_argument(
        "--waves",
        default="1,2",
        help="above 64 rows: the waves (tiles x K splits / SMs) the split-K candidates aim at",
    )
    ap.add_argument(
        "--tiles",
        default=None,
        help="with --r128: these tiles at every M (block_m x block_n x warps x stages, e.g. 128x128x8x3)",
    )
    ap.add_argument(
        "--variants",
        default=None,
        help="with --r128: only these variants (comma-separated, e.g. r128n,r128o)",
    )
    ap.add_argument(
        "--gemv-tma",
        action="store_true",
        help="at one row: only the Gluon GEMV through TMA (tma, tmax) against the table's config",
    )
    ap.add_argument("--shapes", default=",".join(SHAPES))
    ap.add_argument("--copy-mb", type=float, default=300.0, help="weight bytes per timed graph")
    ap.add_argument("--budget-s", type=float, default=1e9, help="sweep no new M after this many seconds")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    dev = torch.device("cuda")
    sms = w4a16._num_sms(dev)
    tma_sweep = args.p16t or args.p128 or args.s128 or args.g128 or args.r128
    ms = (
        [int(v) for v in args.ms.split(",")]
        if args.ms
        else list(P16_MS if tma_sweep or args.p16 else TC_MS if args.only_tc else MS)
    )
    shapes = {s: SHAPES[s] for s in args.shapes.split(",")}
    t_start = time.time()
    import triton

    meta: dict[str, Any] = {
        "device": torch.cuda.get_device_name(dev),
        "torch": torch.__version__,
        "triton": triton.__version__,
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "sms": sms,
    }
    # copy bandwidth (read + write) of this GPU now
    a = torch.empty(1 << 30, dtype=torch.uint8, device=dev)
    b = torch.empty_like(a)
    for _ in range(3):
        b.copy_(a)
    ts = []
    for _ in range(20):
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record()
        b.copy_(a)
        e1.record()
        e1.synchronize()
        ts.append(e0.elapsed_time(e1) / 1e3)
    copy_gbs = 2 * a.numel() / statistics.median(ts) / GB
    meta["copy_gbs"] = copy_gbs
    del a, b
    print(f"[meta] {meta}", flush=True)

    results: list[dict[str, Any]] = []
    best: dict[str, Any] = {}
    checks: dict[str, Any] = {}
    sets: dict[str, tuple[list[W4Weight], Timer]] = {}
    for name, (k, n) in shapes.items():
        w0 = random_weight(k, n, act_order=False, seed=1, dev=dev)
        copies = max(3, math.ceil(args.copy_mb * 1e6 / w0.nbytes))
        ws = [w0] + [random_weight(k, n, act_order=False, seed=2 + i, dev=dev) for i in range(copies - 1)]
        sets[name] = (ws, Timer(ws))
    for m in ms:
        if time.time() - t_start > args.budget_s:
            print(f"[sweep] budget of {args.budget_s}s spent: M={m} and later not swept", flush=True)
            break
        for name, (k, n) in shapes.items():
            ws, timer = sets[name]
            nbytes = ws[0].nbytes
            x = torch.randn(m, k, device=dev, dtype=torch.bfloat16)
            flops = 2.0 * m * k * n
            cands: list[Any] = [before_config(m, n, k, dev)]
            if tma_sweep:
                # today's dispatch first: TUNED_TC's config, else the GEMM / dequantize + cuBLAS
                gemm_now = w4a16.gemm_config(ws[0], m, dev)
                tuned = w4a16.tc_config(ws[0], m, torch.bfloat16)
                plain = [gemm_now, "dequant+cublas"] if m < 65 else ["dequant+cublas", gemm_now]
                table = (
                    _chosen_tiles(R128_SHAPES, args.tiles, args.variants)
                    if args.r128 and (args.tiles or args.variants)
                    else R128_SHAPES
                    if args.r128
                    else G128_SHAPES
                    if args.g128
                    else S128_SHAPES
                    if args.s128
                    else P128_SHAPES
                    if args.p128
                    else P16T_SHAPES
                )
                sk = tuple(int(v) for v in args.stream_k.split(",") if v) if args.r128 else ()
                waves = tuple(float(v) for v in args.waves.split(","))
                found = p16t_candidates(m, n, k, sms, table, sk, waves)
                caps = [int(v) for v in args.max_regs.split(",") if v] if args.r128 else []
                found += [
                    dataclasses.replace(c, max_regs=r)
                    for r in caps
                    for c in found
                    if c.variant.startswith("r128")
                ]
                cands = ([tuned] if tuned is not None else []) + plain + found
            elif args.p16:
                # today's dispatch first (fast_model.DEQUANT_MATMUL_ROWS = 65), then the other path
                gemm_now = w4a16.gemm_config(ws[0], m, dev)
                today = [gemm_now, "dequant+cublas"] if m < 65 else ["dequant+cublas", gemm_now]
                cands = today + p16_candidates(m, n, k, sms)
            elif args.only_tc:
                # today's two paths (the GEMM at its tuned or heuristic config), then the new one
                gemm_now = w4a16.gemm_config(ws[0], m, dev)
                cands += [c for c in (gemm_now, "dequant+cublas") if c not in cands]
                cands += tc_candidates(m, n, k, sms) if m > 1 else []
            elif m == 1 and args.gemv_tma:
                cands += [w4a16.gemv_config(ws[0], dev), *gemv_tma_candidates(n, k, sms)]  # the table's first
            elif m == 1:
                cands += gemv_candidates(n, k, sms)
            else:
                cands += gemm_candidates(m, n, k, sms) + (tc_candidates(m, n, k, sms) if m >= 64 else [])
                if m >= 64 and "dequant+cublas" not in cands:
                    cands.append("dequant+cublas")
            # compile every kernel variant before timing (Triton compiles on the first call)
            for c in cands:
                first_call(x, ws[0], c)
            torch.cuda.synchronize()
            rows: list[dict[str, Any]] = []
            for c in cands:
                try:
                    t = timer(functools.partial(run_on, x, c))
                except Exception as exc:
                    rows.append({"cfg": str(c), "error": f"{type(exc).__name__}: {exc}"[:300]})
                    continue
                rows.append(
                    {
                        "cfg": str(c),
                        "us": t * 1e6,
                        "gbs": nbytes / t / GB,
                        "tflops": flops / t / 1e12,
                        "pct_copy": 100 * nbytes / t / GB / copy_gbs,
                    }
                )
            timed = [r for r in rows if "us" in r]
            timed.sort(key=lambda r: r["us"])
            before = next(r for r in rows if r["cfg"] == str(cands[0]))
            top = timed[0]
            key = f"{name} M={m}"
            best[key] = {"K": k, "N": n, "M": m, "best": top, "before": before}
            tcs = [r for r in timed if r["cfg"].startswith("TcConfig")]
            others = [r for r in timed if not r["cfg"].startswith("TcConfig")]
            if tcs:
                best[key]["best_tc"] = tcs[0]
                best[key]["best_other"] = others[0] if others else None
            results.append({"shape": name, "K": k, "N": n, "M": m, "copies": len(ws), "rows": rows})
            print(
                f"[sweep] {key:>14}: before {before.get('us', float('nan')):8.1f} us "
                f"({before.get('gbs', 0):6.0f} GB/s)  best {top['us']:8.1f} us ({top['gbs']:6.0f} GB/s, "
                f"{top['tflops']:6.1f} TFLOP/s, {top['pct_copy']:4.1f} % copy)  {top['cfg']}  "
                f"[{time.time() - t_start:.0f}s]",
                flush=True,
            )
            (args.out / "sweep.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    del sets
    torch.cuda.empty_cache()
    # correctness of the best configs (fresh weights, with and without act-order)
    for name, (k, n) in shapes.items():
        for act in (False, True):
            w = random_weight(k, n, act_order=act, seed=99, dev=dev)
            for m in ms:
                entry = best.get(f"{name} M={m}")
                if entry is None:
                    continue
                cfgs = [parse_cfg(entry["best"]["cfg"])]
                if "best_tc" in entry and entry["best_tc"]["cfg"] != entry["best"]["cfg"]:
                    cfgs.append(parse_cfg(entry["best_tc"]["cfg"]))  # checked even where it lost
                for cfg in cfgs:
                    for dt in (torch.bfloat16, torch.float16) if m in (1, 16) else (torch.bfloat16,):
                        x = torch.randn(m, k, device=dev).to(dt)
                        checks[f"{name} M={m} {str(dt)[6:]} act_order={act} {cfg}"] = check(w, x, cfg)
            del w
            torch_ops._DENSE.clear()
        bad = {kk: v for kk, v in checks.items() if not (v["rel_err"] < 1e-2 and v["bitwise_repeat"] == 1.0)}
        worst = max((v["rel_err"] for v in checks.values()), default=float("nan"))
        print(
            f"[check] {name}: {len(checks)} checks so far, worst rel err {worst:.2e}, failing: {bad}",
            flush=True,
        )
        (args.out / "best.json").write_text(
            json.dumps({"meta": meta, "best": best, "checks": checks}, indent=1)
        )
    # the tables to paste into w4a16.py
    print("TUNED (paste):")
    for key, b in best.items():
        print(f"  {key}: {b['best']['cfg']}")
    paste = tc_paste_lines(best)
    if any("best_tc" in b for b in best.values()):
        print("TUNED_TC (paste into w4a16.TUNED_TC; an (M bucket, N, K) key serves M up to its bucket):")
        print("\n".join(paste) if paste else "    (none: the large-M GEMM lost everywhere)")
        (args.out / "tuned_tc.txt").write_text("\n".join(paste) + "\n")
    print(int4_report.kernel_table(best))
    print(f"total {time.time() - t_start:.0f}s")
    return 0


def parse_cfg(s: str) -> Any:
    if s == "dequant+cublas":
        return s
    return eval(s, {"GemvConfig": GemvConfig, "GemmConfig": GemmConfig, "TcConfig": TcConfig})  # our own repr


def first_call(x: torch.Tensor, w: W4Weight, c: Any) -> None:
    with contextlib.suppress(Exception):  # a config that fails is reported when it is timed
        run_one(x, w, c)


def run_on(x: torch.Tensor, c: Any, w: W4Weight) -> torch.Tensor:
    return run_one(x, w, c)


def run_one(x: torch.Tensor, w: W4Weight, c: Any) -> torch.Tensor:
    if c == "dequant+cublas":
        return dequant_cublas(x, w)
    if isinstance(c, GemvConfig):
        return w4a16.w4_matmul(x, w, gemv=c)
    if isinstance(c, TcConfig):
        return w4a16.w4_matmul(x, w, tc=c)
    return w4a16.w4_matmul(x, w, gemm=c)


if __name__ == "__main__":
    raise SystemExit(main())
