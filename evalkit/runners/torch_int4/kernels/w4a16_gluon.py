"""The W4A16 GEMMs in Gluon (Triton's explicit-layout dialect), for sm_90 only: variants "g128" and
"r128" (below: the weight folded straight into the MMA's A registers).

Same math as ``w4a16._gemm_s128_kernel`` (the folded weight tile ``s (q - z)`` of each block
of 128 inputs, rounded once to the activation dtype, times x as stored, fp32 accumulators, split-K
fix-up in split order), with what Triton's ``tl`` could not express: the weight tile lives in
two shared-memory slots, so the tensor cores run block b (``warpgroup_mma``, asynchronous)
while the warps dequantize block b + 1 into the other slot; the kernel waits only for the MMA
of block b - 1 before it overwrites that slot. ``tl`` stores a loop-carried tile to a single
buffer and waits for each block's MMA before the next tile is written (``pendings = 0`` in the
TTGIR of s128), so dequantization and MMA add up instead of overlapping.

x comes through a TMA descriptor into ``STAGES`` slots (the slot of block b - 2 is refilled once
its MMA is done: ``STAGES - 2`` blocks of x ahead); the raw weight words are loaded two blocks
ahead into registers. Gluon kernels do not run in Triton's CPU interpreter: this kernel's
numbers are checked on the GPU against the PyTorch twin (``bench/w4a16_sweep.py`` checks every
winning config, act-order on and off, bf16 and fp16, bitwise repeatability); ``make test`` runs
the fold of two inputs instruction by instruction against the twin's weight, and builds the
kernel for sm_90 to check the pipelining in the SASS (tests/runners/test_gluon_gemm.py).
"""

from __future__ import annotations

import functools

import torch
from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.hopper import (
    fence_async_shared,
    mbarrier,
    tma,
    warpgroup_mma,
    warpgroup_mma_init,
    warpgroup_mma_wait,
)

# Gluon is experimental and renames things: Triton 3.6 (the GPU image) has the TMA load as
# async_copy_global_to_shared and the CTA barrier as thread_barrier, 3.9 as async_load and barrier
_tma_load = getattr(tma, "async_load", None) or tma.async_copy_global_to_shared
_cta_barrier = getattr(gl, "thread_barrier", None) or gl.barrier


@gluon.constexpr_function
def words_layout(block_n: int, num_warps: int) -> gl.BlockedLayout:
    """Registers of a block's words [BLOCK_N, 16]: a warp's 32 threads on 32 consecutive columns
    (coalesced loads), each thread a run of one column's words (their 8 codes each become 8
    consecutive inputs of the tile, one 16-byte store to shared memory per word)."""
    wn = min(num_warps, block_n // 32)
    wk = num_warps // wn
    return gl.BlockedLayout([block_n // (32 * wn), 16 // wk], [32, 1], [wn, wk], [1, 0])


@gluon.jit
def _words(
    qw_ptr, qz_ptr, s_ptr, b, rn, rr, nmask, N: gl.constexpr, GROUP: gl.constexpr, EVEN_N: gl.constexpr
):
    """Raw loads of block b for the columns rn: words [BN, 16], zero words, scales. The words
    of a column are one pointer plus constant offsets (r N: immediates of the loads). The layout
    of rn and rr is the kernel's (g128: ``words_layout``, r128: ``r128_words_layout``)."""
    g = (b * 128) // GROUP
    wp = (qw_ptr + b * (16 * N)) + rn
    if EVEN_N:
        w = gl.load(wp[:, None] + (rr * N)[None, :])
        zw = gl.load(qz_ptr + g * (N // 8) + rn // 8)
        s = gl.load(s_ptr + g * N + rn)
    else:
        w = gl.load(wp[:, None] + (rr * N)[None, :], mask=nmask[:, None], other=0)
        zw = gl.load(qz_ptr + g * (N // 8) + rn // 8, mask=nmask, other=0)
        s = gl.load(s_ptr + g * N + rn, mask=nmask, other=0.0)
    return w, zw, s


@gluon.jit
def _load_x(x_desc, bars, x_smem, m0, b0, j, STAGES: gl.constexpr, pred):
    """TMA of x's block b0 + j into slot j % STAGES, arriving on that slot's barrier (if pred)."""
    _load_x_at(x_desc, bars, x_smem, m0, b0 + j, j % STAGES, pred)


@gluon.jit
def _load_x_at(x_desc, bars, x_smem, m0, b, slot, pred):
    """TMA of x's block b into `slot`, arriving on that slot's barrier (if pred)."""
    mbarrier.expect(bars.index(slot), x_desc.block_type.nbytes, pred=pred)
    _tma_load(x_desc, [m0, b * 128], bars.index(slot), x_smem.index(slot), pred=pred)


@gluon.jit
def _nest8(p0, p1, p2, p3, p4, p5, p6, p7, BLOCK_N: gl.constexpr):
    """Eight [BN, 16] planes (plane j: code j of each word) as one [BN, 128] tensor whose
    column 8 r + j is plane j's element r: each thread holds a word's 8 codes in consecutive
    registers (the joins add register dimensions only)."""
    a = gl.join(gl.join(gl.join(p0, p4), gl.join(p2, p6)), gl.join(gl.join(p1, p5), gl.join(p3, p7)))
    # [BN, 16, 2, 2, 2]: (r, d1, d2, d3), d1 from the innermost join, is plane 4 d1 + 2 d2 + d3
    return gl.reshape(a, [BLOCK_N, 128])  # ... at column 8 r + 4 d1 + 2 d2 + d3


@gluon.jit
def _bcast8(p, BLOCK_N: gl.constexpr):
    return _nest8(p, p, p, p, p, p, p, p, BLOCK_N)


@gluon.jit
def _tile(
    w,
    zw,
    s,
    rn,
    ZERO_OFFSET: gl.constexpr,
    MAGIC: gl.constexpr,
    OFF: gl.constexpr,
    dt: gl.constexpr,
    BLOCK_N: gl.constexpr,
):
    """The folded tile [BLOCK_N, 128] in natural input order (column 8 r + j = code j of word r),
    two inputs per instruction: for inputs 2i and 2i + 1 (codes 2i and 2i + 1 of a word, byte i),
    one PRMT puts byte i of the word and of the word shifted by 4 into the two halves of a
    register, one LOP3 keeps each half's low nibble and sets the magic exponent (MAGIC | q reads
    as c + q), one packed subtraction takes c + z off (exact) and one packed multiplication
    applies the scale (rounded once): ``s (q - z)``, as ``_gemm_s128_kernel``'s tile."""
    WL: gl.constexpr = w.type.layout
    zd = ((((zw >> ((rn % 8) * 4)) & 0xF) + ZERO_OFFSET).to(gl.float32) + OFF).to(dt)
    zero = gl.zeros([BLOCK_N, 16], gl.int16, layout=WL)
    zt = _bcast8(zd.to(gl.int16, bitcast=True)[:, None] | zero, BLOCK_N)
    st = _bcast8(s.to(dt).to(gl.int16, bitcast=True)[:, None] | zero, BLOCK_N)
    wt = _bcast8(w, BLOCK_N)
    ut = _bcast8(w >> 4, BLOCK_N)
    s0 = gl.full([BLOCK_N, 16], pair_selector(0), gl.int32, layout=WL)
    s1 = gl.full([BLOCK_N, 16], pair_selector(1), gl.int32, layout=WL)
    s2 = gl.full([BLOCK_N, 16], pair_selector(2), gl.int32, layout=WL)
    s3 = gl.full([BLOCK_N, 16], pair_selector(3), gl.int32, layout=WL)
    sel = _nest8(s0, s0, s1, s1, s2, s2, s3, s3, BLOCK_N)  # codes 2i and 2i + 1: byte i
    folded = gl.inline_asm_elementwise(
        fold_asm(MAGIC), "=r,r,r,r,r,r,r,r,r", [wt, ut, sel, zt, st], dtype=gl.int16, is_pure=True, pack=2
    )
    return folded.to(dt, bitcast=True)


# The fold of two inputs, instruction by instruction (``fold_asm``; tests/runners/test_gluon_gemm.py
# runs the same steps on the CPU against the PyTorch twin's weight):
#   t = prmt(word, word >> 4, pair_selector(i))  byte i of the word (codes 2i, 2i + 1 in its low and
#                                                high nibble) to bits 0..7, the same byte shifted
#                                                right by 4 to bits 16..23
#   t = (t & PAIR_MASK) | MAGIC * 0x10001        (LOP3 0xEA): each half is MAGIC | q, i.e. c + q
#   t = t - (c + z, c + z)                       packed subtraction, exact: q - z
#   out = t * (s, s)                             packed multiplication, rounded once
PAIR_MASK = 0x000F000F
LOP3_AND_OR = 0xEA  # the LOP3 truth table of (a & b) | c


@gluon.constexpr_function
def pair_selector(i: int) -> int:
    """The PRMT selector that takes byte i of the first operand to byte 0 and byte i of the second
    (bytes 4..7 of the pair) to byte 2."""
    return i | ((4 + i) << 8)


@gluon.constexpr_function
def fold_asm(magic: int) -> str:
    """PTX for two inputs (operands: $0 the pair out; $1, $2 the word; $3, $4 the word >> 4; $5, $6
    the PRMT selector; $7 c + z and $8 s, each as a pair of the activation dtype)."""
    kind = "f16x2" if magic == 0x6400 else "bf16x2"
    return (
        "{ .reg .b32 t; prmt.b32 t, $1, $3, $5; "
        f"lop3.b32 t, t, {PAIR_MASK}, {magic * 0x10001}, {LOP3_AND_OR}; "
        f"sub.rn.{kind} t, t, $7; mul.rn.{kind} $0, t, $8; }}"
    )


@gluon.jit
def _store_tile(
    acc, out_ptr, part_ptr, cnt_ptr, M, N: gl.constexpr, m0, n0, pid_k, num_splits, tile,
    mma: gl.constexpr, BLOCK_M: gl.constexpr, BLOCK_N: gl.constexpr, NW: gl.constexpr,
):  # fmt: skip
    """out^T tile [BLOCK_N, BLOCK_M] to out [M, N]; with K split in `num_splits` parts (this one
    part `pid_k`), the partial, and the last part to arrive at the tile's counter adds the
    partials in part order (bitwise reproducible)."""
    rne = n0 + gl.arange(0, BLOCK_N, layout=gl.SliceLayout(1, mma))
    rme = m0 + gl.arange(0, BLOCK_M, layout=gl.SliceLayout(0, mma))
    offs = rme[None, :] * N + rne[:, None]
    mask = (rme < M)[None, :] & (rne < N)[:, None]
    # one store whose base is chosen first: two stores in the branches of `num_splits == 1` kept
    # the offsets of both alive and took an 8-warp 128 x 128 r128 build from 128 registers a
    # thread to 195 (one program an SM instead of two; ptxas, sm_90)
    dst = out_ptr
    if num_splits > 1:
        dst = part_ptr + pid_k * (M * N)
    gl.store(dst + offs, acc, mask=mask)
    if num_splits > 1:
        _cta_barrier()  # every thread's partial is written before the release below
        arrived = gl.atomic_add(cnt_ptr + tile, 1, sem="acq_rel", scope="gpu")
        if arrived == num_splits - 1:
            # the last split adds the partials in split order (bitwise reproducible), 32 rows at a time
            SLAB: gl.constexpr = 32 if BLOCK_M > 32 else BLOCK_M
            FL: gl.constexpr = gl.BlockedLayout([1, 4], [32 // (SLAB // 4), SLAB // 4], [NW, 1], [1, 0])
            rnf = n0 + gl.arange(0, BLOCK_N, layout=gl.SliceLayout(1, FL))
            for r0 in gl.static_range(0, BLOCK_M, SLAB):
                rs = m0 + r0 + gl.arange(0, SLAB, layout=gl.SliceLayout(0, FL))
                so = rs[None, :] * N + rnf[:, None]
                sm = (rs < M)[None, :] & (rnf < N)[:, None]
                total = gl.load(part_ptr + so, mask=sm, other=0.0, cache_modifier=".cg")
                for k in range(1, num_splits):
                    total += gl.load(part_ptr + k * (M * N) + so, mask=sm, other=0.0, cache_modifier=".cg")
                gl.store(out_ptr + so, total, mask=sm)
            # ready for the next call (and graph replay); relaxed: no fence holds the exit
            gl.atomic_xchg(cnt_ptr + tile, 0, sem="relaxed", scope="gpu")


@gluon.jit
def gemm_g128_kernel(
    x_desc,
    qw_ptr,
    qz_ptr,
    s_ptr,
    out_ptr,
    part_ptr,
    cnt_ptr,
    M,
    num_blocks,
    BLOCKS_PER_SPLIT,
    num_splits,
    N: gl.constexpr,  # a constant: the word loads of a block take immediate offsets, no address math
    EVEN_N: gl.constexpr,  # N % BLOCK_N == 0: no column masks
    GROUP: gl.constexpr,
    BLOCK_M: gl.constexpr,
    BLOCK_N: gl.constexpr,
    ZERO_OFFSET: gl.constexpr,
    MAGIC: gl.constexpr,
    OFF: gl.constexpr,
    STAGES: gl.constexpr,
    AHEAD: gl.constexpr = 2,  # blocks of raw words loaded ahead (1 or 2)
):
    """out^T [BLOCK_N, BLOCK_M] tiles of W^T x^T, K split in slices of BLOCKS_PER_SPLIT blocks."""
    NW: gl.constexpr = gl.num_warps()
    dt: gl.constexpr = x_desc.dtype
    pid_m = gl.program_id(0)
    pid_n = gl.program_id(1)
    pid_k = gl.program_id(2)
    m0 = pid_m * BLOCK_M
    n0 = pid_n * BLOCK_N
    WL: gl.constexpr = words_layout(BLOCK_N, NW)
    rn = n0 + gl.arange(0, BLOCK_N, layout=gl.SliceLayout(1, WL))
    rr = gl.arange(0, 16, layout=gl.SliceLayout(0, WL))
    nmask = rn < N
    b0 = pid_k * BLOCKS_PER_SPLIT
    nb = gl.minimum(b0 + BLOCKS_PER_SPLIT, num_blocks) - b0

    mma: gl.constexpr = gl.NVMMADistributedLayout(
        version=[3, 0], warps_per_cta=[NW, 1], instr_shape=[16, BLOCK_M, 16]
    )
    a_smem = gl.allocate_shared_memory(
        dt, [2, BLOCK_N, 128], gl.NVMMASharedLayout.get_default_for([BLOCK_N, 128], dt)
    )
    x_smem = gl.allocate_shared_memory(dt, [STAGES, BLOCK_M, 128], x_desc.layout)
    bars = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    for i in gl.static_range(STAGES):
        mbarrier.init(bars.index(i), count=1)
    for i in gl.static_range(STAGES - 2):
        _load_x(x_desc, bars, x_smem, m0, b0, i, STAGES, i < nb)
    acc = warpgroup_mma_init(gl.zeros([BLOCK_N, BLOCK_M], gl.float32, layout=mma))
    # raw words two blocks ahead; past the slice's end the last block again (an L2 hit, no masks)
    last = b0 + nb - 1
    w, zw, s = _words(qw_ptr, qz_ptr, s_ptr, b0, rn, rr, nmask, N, GROUP, EVEN_N)
    if AHEAD == 2:
        w1, zw1, s1 = _words(qw_ptr, qz_ptr, s_ptr, gl.minimum(b0 + 1, last), rn, rr, nmask, N, GROUP, EVEN_N)
    for i in range(nb):
        a = _tile(w, zw, s, rn, ZERO_OFFSET, MAGIC, OFF, dt, BLOCK_N)  # while the MMA of block i - 1 runs
        if AHEAD == 2:
            w, zw, s = w1, zw1, s1
            w1, zw1, s1 = _words(
                qw_ptr, qz_ptr, s_ptr, gl.minimum(b0 + i + 2, last), rn, rr, nmask, N, GROUP, EVEN_N
            )
        else:
            w, zw, s = _words(
                qw_ptr, qz_ptr, s_ptr, gl.minimum(b0 + i + 1, last), rn, rr, nmask, N, GROUP, EVEN_N
            )
        acc = warpgroup_mma_wait(num_outstanding=1, deps=(acc,))  # block i - 2's MMA is done ...
        if NW > 4:
            _cta_barrier()  # ... in every warpgroup (each writes rows the others' MMA reads)
        j = i + STAGES - 2  # block i - 2's x slot takes block j
        _load_x(x_desc, bars, x_smem, m0, b0, j, STAGES, j < nb)
        slot = a_smem.index(i % 2)
        slot.store(a)
        fence_async_shared()  # the tile's generic-proxy stores, visible to the MMA (async proxy)
        _cta_barrier()
        mbarrier.wait(bars.index(i % STAGES), (i // STAGES) & 1)
        acc = warpgroup_mma(slot, x_smem.index(i % STAGES).permute((1, 0)), acc, is_async=True)
    acc = warpgroup_mma_wait(num_outstanding=0, deps=(acc,))
    for i in gl.static_range(STAGES):
        mbarrier.invalidate(bars.index(i))

    tile = pid_m * gl.num_programs(1) + pid_n
    _store_tile(
        acc, out_ptr, part_ptr, cnt_ptr, M, N, m0, n0, pid_k, num_splits, tile, mma, BLOCK_M, BLOCK_N, NW
    )  # fmt: skip


# --------------------------------------------------------------------------- r128: A in registers
#
# g128 writes each folded tile to shared memory and the MMA reads it back, and every block costs
# a CTA barrier; at 128+ rows the tile's stores and reads come on top of x's TMA writes and MMA
# reads (by count, about 145 bytes a cycle of the SM's 128 for 128 x 128 tiles at the MMA's peak
# rate: an estimate, not a measurement). r128 folds the weight straight into the
# registers of the MMA's A operand (``warpgroup_mma`` with A in registers, as Hopper allows
# for the first operand), so the tile never touches shared memory. The price: a thread's A
# fragment holds, per 16-deep step, inputs 2t, 2t + 1, 2t + 8, 2t + 9 (t = lane % 4) of rows
# n and n + 8; a GPTQ word holds 8 consecutive inputs of one row. So inside each block of 128
# the inputs are reordered (the same order for x and the weight: the products are the same,
# only the fp32 accumulation order of a block changes): lane t takes words 4t .. 4t + 3 of the
# block (inputs 32 t .. 32 t + 31) of its two rows, and the pair in one register is code c and
# code c + 4 of one word, shifted right by 4 c (c < 4): one LOP3, one packed subtraction and one
# packed multiplication per two weights, one shift per word and code. ``r128_order`` puts x in
# that order (position 32 i + 16 s1 + 8 h + 2 t + b of a block takes input
# 32 t + 8 i + 4 b + 2 s1 + h), and the kernel's TMA loads it as stored. Unlike g128, each block's
# MMA is waited for before the next block is folded (see the loop): other CTAs on the SM overlap.


def r128_order(x: torch.Tensor) -> torch.Tensor:
    """x [M, K] with each block of 128 inputs in r128's order (a copy)."""
    m, k = x.shape
    return x.view(m, k // 128, 4, 4, 2, 2, 2).permute(0, 1, 3, 5, 6, 2, 4).reshape(m, k)


@gluon.constexpr_function
def r128_words_layout(block_n: int, num_warps: int) -> gl.DistributedLinearLayout:
    """A block's words [BLOCK_N, 16] (row, word) as the A fragments need them: lane 4 r + t holds
    words 4 t .. 4 t + 3 of rows r and r + 8 of its warp's 16 rows (registers: word bits 0, 1
    and row + 8; lanes: word bits 2, 3 and row bits 0..2; warps: 16 rows each), and the same
    again every 16 NW rows (registers) when BLOCK_N > 16 NW."""
    warps = [[16 << i, 0] for i in range(num_warps.bit_length() - 1)]
    repeats = [[(16 * num_warps) << i, 0] for i in range((block_n // (16 * num_warps)).bit_length() - 1)]
    return gl.DistributedLinearLayout(
        reg_bases=[[0, 1], [0, 2], [8, 0], *repeats],
        lane_bases=[[0, 4], [0, 8], [1, 0], [2, 0], [4, 0]],
        warp_bases=warps,
        block_bases=[],
        shape=[block_n, 16],
    )


@gluon.constexpr_function
def r128_fold_asm(magic: int) -> str:
    """PTX for two inputs (operands: $0 the pair out; $1, $2 the word shifted right by 4 c; $3
    c + z and $4 s, each a pair of the activation dtype): codes c and c + 4 of the word."""
    kind = "f16x2" if magic == 0x6400 else "bf16x2"
    return (
        f"{{ .reg .b32 t; lop3.b32 t, $1, {PAIR_MASK}, {magic * 0x10001}, {LOP3_AND_OR}; "
        f"sub.rn.{kind} t, t, $3; mul.rn.{kind} $0, t, $4; }}"
    )


@gluon.jit
def _quad(a, b, c, d):
    """[.., 2 (h), 2 (s1), 2 (b)]: code c = 2 s1 + h of a word, each twice (the pair's halves)."""
    t = gl.join(gl.join(a, b), gl.join(c, d))
    return gl.join(t, t)


@gluon.jit
def _r128_fold(
    w,
    zw,
    s,
    rn,
    A: gl.constexpr,
    ZERO_OFFSET: gl.constexpr,
    MAGIC: gl.constexpr,
    OFF: gl.constexpr,
    dt: gl.constexpr,
):
    """The folded block [BLOCK_N, 128] in r128's input order, in the MMA's A-operand layout A."""
    BLOCK_N: gl.constexpr = w.shape[0]
    WL: gl.constexpr = w.type.layout
    zd = ((((zw >> ((rn % 8) * 4)) & 0xF) + ZERO_OFFSET).to(gl.float32) + OFF).to(dt)
    zero = gl.zeros([BLOCK_N, 16], gl.int16, layout=WL)
    z = zd.to(gl.int16, bitcast=True)[:, None] | zero
    sc = s.to(dt).to(gl.int16, bitcast=True)[:, None] | zero
    folded = gl.inline_asm_elementwise(
        r128_fold_asm(MAGIC),
        "=r,r,r,r,r",
        [_quad(w, w >> 4, w >> 8, w >> 12), _quad(z, z, z, z), _quad(sc, sc, sc, sc)],
        dtype=gl.int16,
        is_pure=True,
        pack=2,
    )
    # (row, word 4 t + i, h, s1, b) -> (row, 32 i + 16 s1 + 8 h + 2 t + b)
    t = gl.reshape(folded, [BLOCK_N, 4, 4, 2, 2, 2])
    t = gl.reshape(gl.permute(t, (0, 2, 4, 3, 1, 5)), [BLOCK_N, 128])
    return gl.convert_layout(t.to(dt, bitcast=True), A, assert_trivial=True)


def silu_rows(block_n: int, inter: int, tile: int) -> list[int]:
    """The gate|up columns (gate: 0 .. I - 1, up: I .. 2 I - 1) that rows 0 .. block_n - 1 of
    fused tile `tile` compute: row i is output column tile * block_n / 2 + (i // 16) * 8 + i % 8,
    from gate where bit 3 of i is clear and from up where it is set. In the MMA's accumulator a
    thread holds rows r and r + 8 of its warp's 16 (``r128_words_layout``), so it holds the gate
    and the up value of the same output: the epilogue needs no exchange between threads."""
    base = tile * block_n // 2
    return [base + (i // 16) * 8 + i % 8 + (inter if i & 8 else 0) for i in range(block_n)]


@gluon.jit
def _silu_columns(c0, BLOCK_N: gl.constexpr, INTER: gl.constexpr, layout: gl.constexpr):
    """``silu_rows`` of the tile whose outputs start at column c0, in `layout`."""
    i = gl.arange(0, BLOCK_N, layout=layout)
    return c0 + (i // 16) * 8 + i % 8 + ((i // 8) % 2) * INTER


@gluon.jit
def _store_silu(
    acc, out_ptr, dest_ptr, M, m0, c0, INTER: gl.constexpr, ORDER: gl.constexpr,
    BLOCK_M: gl.constexpr, BLOCK_N: gl.constexpr,
):  # fmt: skip
    """``silu(gate) * up`` of the fused tile acc [BLOCK_N, BLOCK_M] (rows as ``silu_rows``) into
    out [M, INTER] of the activation dtype, output column c at dest[c] (ORDER), with
    ``glue.silu_mul``'s roundings: gate and up to the dtype, silu to the dtype, the product."""
    dt: gl.constexpr = out_ptr.dtype.element_ty
    t = gl.permute(gl.reshape(acc, [BLOCK_N // 16, 2, 8, BLOCK_M]), (0, 2, 3, 1))
    g, u = gl.split(t)  # [BLOCK_N // 16, 8, BLOCK_M] each: row bit 3 clear (gate), set (up)
    g = g.to(dt).to(gl.float32)
    u = u.to(dt).to(gl.float32)
    act = (g / (1.0 + gl.exp(-g))).to(dt).to(gl.float32)
    h = gl.reshape((act * u).to(dt), [BLOCK_N // 2, BLOCK_M])
    # through shared memory to a warp per token and 32 outputs a store: the accumulator's layout
    # spreads one store over 4 tokens' rows (measured: the fused step 1.5 ms slower at 128 rows)
    L: gl.constexpr = gl.BlockedLayout([1, 1], [32, 1], [1, gl.num_warps()], [0, 1])
    h = gl.convert_layout(h, L)
    oc = c0 + gl.arange(0, BLOCK_N // 2, layout=gl.SliceLayout(1, L))
    if ORDER:
        oc = gl.load(dest_ptr + oc)
    rm = m0 + gl.arange(0, BLOCK_M, layout=gl.SliceLayout(0, L))
    gl.store(out_ptr + rm[None, :] * INTER + oc[:, None], h, mask=(rm < M)[None, :])


@gluon.jit
def _r128_tile(
    x_desc, qw_ptr, qz_ptr, s_ptr, x_smem, bars, m0, n0, b0, nb, g0,
    N: gl.constexpr, EVEN_N: gl.constexpr, GROUP: gl.constexpr, BLOCK_M: gl.constexpr,
    BLOCK_N: gl.constexpr, ZERO_OFFSET: gl.constexpr, MAGIC: gl.constexpr, OFF: gl.constexpr,
    STAGES: gl.constexpr, AHEAD: gl.constexpr, OVERLAP: gl.constexpr, SILU: gl.constexpr = False,
):  # fmt: skip
    """The fp32 tile out^T [BLOCK_N, BLOCK_M] of blocks b0 .. b0 + nb - 1 (nb >= 1) at (m0, n0).
    The program has taken g0 blocks of x through its slots before (slot and phase of the next
    one follow from it); every load this issues, it also waits for. With SILU (a gate|up weight,
    N = 2 I) the tile's rows are ``silu_rows``' columns: gate and up of BLOCK_N / 2 outputs."""
    NW: gl.constexpr = gl.num_warps()
    dt: gl.constexpr = x_desc.dtype
    WL: gl.constexpr = r128_words_layout(BLOCK_N, NW)
    if SILU:
        rn = _silu_columns(n0 // 2, BLOCK_N, N // 2, gl.SliceLayout(1, WL))
    else:
        rn = n0 + gl.arange(0, BLOCK_N, layout=gl.SliceLayout(1, WL))
    rj = gl.arange(0, 16, layout=gl.SliceLayout(0, WL))
    nmask = rn < N
    mma: gl.constexpr = gl.NVMMADistributedLayout(
        version=[3, 0], warps_per_cta=[NW, 1], instr_shape=[16, BLOCK_M, 16]
    )
    A: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=mma, k_width=2)
    for st in gl.static_range(STAGES):
        _load_x_at(x_desc, bars, x_smem, m0, b0 + st, (g0 + st) % STAGES, st < nb)
    acc = gl.zeros([BLOCK_N, BLOCK_M], gl.float32, layout=mma)  # waited for in every iteration
    last = b0 + nb - 1
    if OVERLAP:
        # The first fold before the loop; in iteration i, block i's MMA is issued, then block i + 1
        # is folded (into other registers: `a` is loop-carried, so the next A is a new value)
        # while it runs, and the wait comes last. The allocation this needs (no register of
        # block i's A written before the wait) is checked in the SASS by make test; a loop that
        # waited after the fold instead had its A registers overwritten (see the other branch).
        # ptxas may still wait for the MMA ahead of the fold: `a` and `a_next` are one register
        # in the PTX (the loop's phi), and at down's 256-row stream-K tile (128 x 128, 8 warps,
        # 4 x slots) its SASS does so. Two A operands in turn ("r128p", commit d5a2ea6) folded
        # under the MMA in the SASS, and lost on the GPU anyway (BENCHMARKS.md, thirteenth session).
        w, zw, s = _words(qw_ptr, qz_ptr, s_ptr, b0, rn, rj, nmask, N, GROUP, EVEN_N)
        a = _r128_fold(w, zw, s, rn, A, ZERO_OFFSET, MAGIC, OFF, dt)
        w, zw, s = _words(qw_ptr, qz_ptr, s_ptr, gl.minimum(b0 + 1, last), rn, rj, nmask, N, GROUP, EVEN_N)
        for i in range(nb):
            mbarrier.wait(bars.index((g0 + i) % STAGES), ((g0 + i) // STAGES) & 1)
            acc = warpgroup_mma(a, x_smem.index((g0 + i) % STAGES).permute((1, 0)), acc, is_async=True)
            j = i - 1 + STAGES
            _load_x_at(x_desc, bars, x_smem, m0, b0 + j, (g0 + j) % STAGES, (i > 0) & (j < nb))
            # block i + 1 (at the end the last block again, unused)
            a_next = _r128_fold(w, zw, s, rn, A, ZERO_OFFSET, MAGIC, OFF, dt)
            w, zw, s = _words(
                qw_ptr, qz_ptr, s_ptr, gl.minimum(b0 + i + 2, last), rn, rj, nmask, N, GROUP, EVEN_N
            )
            acc = warpgroup_mma_wait(num_outstanding=0, deps=(acc,))
            if NW > 4:
                _cta_barrier()  # every warpgroup is done with block i's x slot before its refill
            a = a_next
    else:
        w, zw, s = _words(qw_ptr, qz_ptr, s_ptr, b0, rn, rj, nmask, N, GROUP, EVEN_N)
        if AHEAD == 2:
            w1, zw1, s1 = _words(
                qw_ptr, qz_ptr, s_ptr, gl.minimum(b0 + 1, last), rn, rj, nmask, N, GROUP, EVEN_N
            )
        for i in range(nb):
            a = _r128_fold(w, zw, s, rn, A, ZERO_OFFSET, MAGIC, OFF, dt)
            mbarrier.wait(bars.index((g0 + i) % STAGES), ((g0 + i) // STAGES) & 1)
            acc = warpgroup_mma(a, x_smem.index((g0 + i) % STAGES).permute((1, 0)), acc, is_async=True)
            # while the MMA runs: the next words, and x of block i - 1 + STAGES into block i - 1's slot
            if AHEAD == 2:
                w, zw, s = w1, zw1, s1
                w1, zw1, s1 = _words(
                    qw_ptr, qz_ptr, s_ptr, gl.minimum(b0 + i + 2, last), rn, rj, nmask, N, GROUP, EVEN_N
                )
            else:
                w, zw, s = _words(
                    qw_ptr, qz_ptr, s_ptr, gl.minimum(b0 + i + 1, last), rn, rj, nmask, N, GROUP, EVEN_N
                )
            j = i - 1 + STAGES
            _load_x_at(x_desc, bars, x_smem, m0, b0 + j, (g0 + j) % STAGES, (i > 0) & (j < nb))
            # The MMA reads its A operand from registers while it runs, and Triton (3.6) keeps only
            # the unpacked 16-bit values alive across a wait, not the packed registers the MMA reads:
            # folding the next block while this MMA is in flight corrupted it (measured: NaN, runs
            # differ). So each block's MMA is waited for here; other CTAs on the SM fill the gap.
            acc = warpgroup_mma_wait(num_outstanding=0, deps=(acc,))
            if NW > 4:
                _cta_barrier()  # every warpgroup is done with block i - 1's x slot before the refill
    return acc


@gluon.jit
def gemm_r128_kernel(
    x_desc,
    qw_ptr,
    qz_ptr,
    s_ptr,
    out_ptr,
    part_ptr,
    cnt_ptr,
    M,
    num_blocks,
    BLOCKS_PER_SPLIT,
    num_splits,
    N: gl.constexpr,
    EVEN_N: gl.constexpr,
    GROUP: gl.constexpr,
    BLOCK_M: gl.constexpr,
    BLOCK_N: gl.constexpr,  # 16 NW times a power of two
    ZERO_OFFSET: gl.constexpr,
    MAGIC: gl.constexpr,
    OFF: gl.constexpr,
    STAGES: gl.constexpr,
    AHEAD: gl.constexpr = 2,
    OVERLAP: gl.constexpr = False,  # "r128o": block b + 1 folded while block b's MMA runs
    STREAM_K: gl.constexpr = False,  # a persistent grid over (tile, block) iterations, below
    SILU: gl.constexpr = False,  # gate|up: out [M, N / 2] = silu(gate) * up (``_store_silu``)
    dest_ptr=None,  # SILU: output column c goes to column dest[c] (ORDER)
    ORDER: gl.constexpr = False,
):
    """out^T [BLOCK_N, BLOCK_M] tiles of W^T x^T (x in ``r128_order``), A in registers.

    Grid (M tiles, N tiles, K splits of BLOCKS_PER_SPLIT blocks); or with STREAM_K a grid of P
    programs, M tiles in ``num_splits`` (the argument's other meaning): the tiles' blocks,
    M tiles fastest, are one sequence of iterations that program p takes the p-th of P equal
    shares of (``stream_k_plan``); where a tile's blocks fall to several programs, each adds
    its part through the split-K fix-up (part index: its program minus the tile's first)."""
    NW: gl.constexpr = gl.num_warps()
    dt: gl.constexpr = x_desc.dtype
    mma: gl.constexpr = gl.NVMMADistributedLayout(
        version=[3, 0], warps_per_cta=[NW, 1], instr_shape=[16, BLOCK_M, 16]
    )
    x_smem = gl.allocate_shared_memory(dt, [STAGES, BLOCK_M, 128], x_desc.layout)
    bars = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    for st in gl.static_range(STAGES):
        mbarrier.init(bars.index(st), count=1)
    if STREAM_K:
        m_tiles = num_splits
        programs = gl.num_programs(0)
        p = gl.program_id(0)
        N_TILES: gl.constexpr = (N + BLOCK_N - 1) // BLOCK_N
        total = m_tiles * N_TILES * num_blocks
        cur = (p * total) // programs
        end = ((p + 1) * total) // programs
        g0 = 0
        while cur < end:
            tile = cur // num_blocks
            b0 = cur - tile * num_blocks
            nb = gl.minimum(num_blocks - b0, end - cur)
            m0 = (tile % m_tiles) * BLOCK_M
            n0 = (tile // m_tiles) * BLOCK_N
            acc = _r128_tile(
                x_desc, qw_ptr, qz_ptr, s_ptr, x_smem, bars, m0, n0, b0, nb, g0,
                N, EVEN_N, GROUP, BLOCK_M, BLOCK_N, ZERO_OFFSET, MAGIC, OFF, STAGES, AHEAD, OVERLAP,
            )  # fmt: skip
            # the programs holding the tile's first and last iterations
            first = ((tile * num_blocks + 1) * programs - 1) // total
            final = ((tile * num_blocks + num_blocks) * programs - 1) // total
            _store_tile(
                acc, out_ptr, part_ptr, cnt_ptr, M, N, m0, n0, p - first, final - first + 1, tile,
                mma, BLOCK_M, BLOCK_N, NW,
            )  # fmt: skip
            cur += nb
            g0 += nb
    else:
        pid_m = gl.program_id(0)
        pid_n = gl.program_id(1)
        pid_k = gl.program_id(2)
        b0 = pid_k * BLOCKS_PER_SPLIT
        nb = gl.minimum(b0 + BLOCKS_PER_SPLIT, num_blocks) - b0
        acc = _r128_tile(
            x_desc, qw_ptr, qz_ptr, s_ptr, x_smem, bars, pid_m * BLOCK_M, pid_n * BLOCK_N, b0, nb, 0,
            N, EVEN_N, GROUP, BLOCK_M, BLOCK_N, ZERO_OFFSET, MAGIC, OFF, STAGES, AHEAD, OVERLAP, SILU,
        )  # fmt: skip
        if SILU:  # one K split (the launcher checks)
            _store_silu(
                acc, out_ptr, dest_ptr, M, pid_m * BLOCK_M, pid_n * (BLOCK_N // 2), N // 2, ORDER,
                BLOCK_M, BLOCK_N,
            )  # fmt: skip
        else:
            tile = pid_m * gl.num_programs(1) + pid_n
            _store_tile(
                acc, out_ptr, part_ptr, cnt_ptr, M, N, pid_m * BLOCK_M, pid_n * BLOCK_N, pid_k, num_splits,
                tile, mma, BLOCK_M, BLOCK_N, NW,
            )  # fmt: skip
    for st in gl.static_range(STAGES):
        mbarrier.invalidate(bars.index(st))


def stream_k_plan(
    m_tiles: int, n_tiles: int, num_blocks: int, programs: int
) -> list[list[tuple[int, int, int]]]:
    """What each program of ``gemm_r128_kernel``'s STREAM_K grid computes, by the kernel's own
    arithmetic: per program its segments (tile, first block, blocks). The fix-up needs, per
    tile, its segments in program order (``stream_k_parts``)."""
    total = m_tiles * n_tiles * num_blocks
    plan = []
    for p in range(programs):
        cur, end, segs = (p * total) // programs, ((p + 1) * total) // programs, []
        while cur < end:
            tile = cur // num_blocks
            b0 = cur - tile * num_blocks
            nb = min(num_blocks - b0, end - cur)
            segs.append((tile, b0, nb))
            cur += nb
        plan.append(segs)
    return plan


def stream_k_parts(tile: int, num_blocks: int, total: int, programs: int) -> tuple[int, int]:
    """(first program, number of programs) holding tile `tile`'s blocks, as the kernel computes
    them for the fix-up."""
    first = ((tile * num_blocks + 1) * programs - 1) // total
    final = ((tile * num_blocks + num_blocks) * programs - 1) // total
    return first, final - first + 1


@functools.lru_cache(maxsize=256)
def stream_k_max_parts(tiles: int, num_blocks: int, programs: int) -> int:
    """The most programs any tile's blocks fall to (slots of the partial buffer)."""
    total = tiles * num_blocks
    return max(stream_k_parts(t, num_blocks, total, programs)[1] for t in range(tiles))


def x_descriptor(x: torch.Tensor, block_m: int):
    """x [M, K] as the kernel's TMA descriptor (tiles [block_m, 128], the NVMMA shared layout)."""
    from triton.experimental.gluon.nvidia.hopper import TensorDescriptor

    dt = gl.float16 if x.dtype == torch.float16 else gl.bfloat16
    layout = gl.NVMMASharedLayout.get_default_for([block_m, 128], dt)
    return TensorDescriptor.from_tensor(x, [block_m, 128], layout)


def launch(
    x: torch.Tensor,
    qweight: torch.Tensor,
    qzeros: torch.Tensor,
    scales: torch.Tensor,
    out: torch.Tensor,
    part: torch.Tensor,
    counters: torch.Tensor,
    *,
    grid: tuple[int, int, int],
    num_blocks: int,
    blocks_per_split: int,
    group: int,
    zero_offset: int,
    block_m: int,
    block_n: int,
    num_warps: int,
    stages: int,
    ahead: int = 2,
    registers_a: bool = False,
    overlap: bool = False,
    stream_k: bool = False,
    silu: bool = False,
    dest: torch.Tensor | None = None,
    max_regs: int = 0,
    warp_specialized: bool = False,
) -> None:
    """One launch on x [M, K] (bf16 or fp16, contiguous) over ``w4a16._gemm_p16``'s grid (M tiles,
    N tiles, K splits of `blocks_per_split` blocks): g128, or with `registers_a` r128 (x already
    in ``r128_order``; `overlap`: the next block folded while the MMA runs; `stream_k`: the grid
    is (programs, 1, 1), ``stream_k_plan``'s, and `part` has ``stream_k_max_parts`` slots;
    `silu`: qweight is gate|up's and `out` [M, N / 2] of x's dtype takes silu(gate) * up, output
    column c at column dest[c] where `dest` is given). `max_regs` > 0 caps ptxas's registers.
    `warp_specialized`: ``w4a16_gluon_ws``'s r128 (two consumer partitions of `num_warps` warps
    and a producer warp; `counters` holds two per tile; `max_regs` 0 takes its own cap; `silu`
    as above, each half of a tile fused on its own)."""
    m, n, splits = x.shape[0], qweight.shape[1], grid[2]
    half = x.dtype == torch.float16
    if stream_k:
        if not registers_a or warp_specialized:
            raise ValueError("stream-K is an r128 grid (not r128w)")
        splits = -(-m // block_m)  # the kernel's M tiles
    extra: dict[str, object]
    if warp_specialized:
        from evalkit.runners.torch_int4.kernels import w4a16_gluon_ws as ws

        if not registers_a or overlap:
            raise ValueError("the warp-specialized r128 is a plain r128 grid: no overlap or stream-K")
        kernel = ws.gemm_r128w_kernel
        extra = {
            "SECOND_REGS": ws.consumer_regs(block_m), "PRODUCER": ws.PRODUCER_REGS,
            "maxnreg": max_regs or ws.MAX_REGS,
        }  # fmt: skip
    else:
        kernel = gemm_r128_kernel if registers_a else gemm_g128_kernel
        extra = {"AHEAD": ahead}
        if overlap:
            extra["OVERLAP"] = True
        if stream_k:
            extra["STREAM_K"] = True
        if max_regs:
            extra["maxnreg"] = max_regs
    if silu:
        whole = 32 if warp_specialized else 16  # r128w: each half of a tile is a fused tile of its own
        if not registers_a or stream_k or splits != 1 or n % block_n or block_n % whole:
            raise ValueError("the fused silu epilogue is for an r128 grid of one K split over whole tiles")
        extra |= {"SILU": True, "ORDER": dest is not None, "dest_ptr": dest}
    kernel[grid](
        x_descriptor(x, block_m), qweight, qzeros, scales, out, part, counters,
        m, num_blocks, blocks_per_split, splits,
        N=n, EVEN_N=n % block_n == 0, GROUP=group, BLOCK_M=block_m, BLOCK_N=block_n, ZERO_OFFSET=zero_offset,
        MAGIC=0x6400 if half else 0x4300, OFF=1024.0 if half else 128.0, STAGES=stages,
        num_warps=num_warps, **extra,
    )  # fmt: skip
