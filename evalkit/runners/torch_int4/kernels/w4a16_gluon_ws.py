"""A warp-specialized r128 GEMM ("r128w"), for sm_90 only.

``gemm_r128_kernel`` runs its warpgroups in lockstep: both read the same slot of x, so a CTA
barrier waits for both MMAs before the slot is refilled, and Gluon's shared-memory analysis adds
a ``bar.sync`` before each ``mbarrier.expect`` and each TMA issue (three or four barriers a block
in the SASS; ncu on the H200 put 2.5 of a warp's 7.2 cycles between instructions at those
barriers, BENCHMARKS.md, thirteenth session). Here the kernel is split with
``gl.warp_specialize`` into

- two consumer partitions of ``num_warps`` warps, each the fold and MMA of r128 for one half of
  the tile's rows (``BLOCK_N / 2``), its own accumulator and its own epilogue (the split-K
  fix-up counts each half as a tile of its own: counter ``2 tile + half``);
- one producer warp that only moves x: it waits until both consumers have released a slot
  (``empty``, two arrivals: one per consumer, after its MMA of that block is waited for) and
  loads the next block of x into it (``ready``).

With ``SILU`` (gate|up, one K split) each consumer's half is a fused tile of its own
(``w4a16_gluon.silu_rows`` of ``BLOCK_N / 2`` rows, ``_store_silu``'s epilogue): r128's fused
activation, tile 2 t + half.

The consumers meet only through those mbarriers, so one folds while the other's MMA runs. Same
arithmetic as r128 (the fold of ``_r128_fold``, x in ``r128_order``, fp32 accumulators, the
fix-up in split order): each output element is the same sum in the same order as r128n's with
the same tile, and on the H200 the results are r128n's bit for bit (``test_torch_int4_cuda``).
``make test`` builds it for sm_90 and checks the SASS (no spills, the MMA's A from registers, no
CTA-wide barrier in the consumers' loop).

Measured (H200, fifteenth session, ``bench/results/kernels_h200_2026-12-03f/``): with 256 tokens
a tile (a tile the 8-warp r128 lost with in the seventh session) each weight is folded once for
256 rows, and gate|up runs at 624 TFLOP/s at 256 rows (230 us against the 8-warp r128n's 246 on
128-token tiles) and 708 at 512; with 128 tokens a tile it loses to r128n, whose 128-register
build runs two programs an SM.

A stream-K grid for it (the producer and both consumers walking a program's share of
``gemm_r128_kernel``'s grid, each half of a tile a tile of its own in the fix-up) was correct, bit
for bit r128n's on the same grid, and lost at every shape measured (down at 256 rows 181.8 us
against the K-split grid's 162.1, gate|up 250.2 against 232.9): removed after the commit that
measured it (115debf).
"""

from __future__ import annotations

from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.hopper import (
    fence_async_shared,
    mbarrier,
    warpgroup_mma,
    warpgroup_mma_wait,
)

from evalkit.runners.torch_int4.kernels.w4a16_gluon import (
    _cta_barrier,
    _r128_fold,
    _silu_columns,
    _store_silu,
    _store_tile,
    _tma_load,
    _words,
    r128_words_layout,
)

# The kernel's cap: 12 warps (two consumer warpgroups and the producer's, a whole warpgroup for
# its one warp) x 168 registers fill an SM's 64K: one program an SM. setmaxnreg then moves
# registers between the warpgroups of that pool (168 x 3 = 504 a thread): the producer's drops
# to 24, the second consumer asks for `consumer_regs`, and the default partition (the first
# consumer) for 256 (Triton 3.6's SASS: setmaxnreg 0x100), so the second may take at most
# 504 - 256 - 24 = 224, or its warps would wait for registers that never come free.
MAX_REGS = 168
PRODUCER_REGS = 24
CONSUMER_REGS = 168


def consumer_regs(block_m: int) -> int:
    """Registers a thread of the second consumer asks for: 168 at up to 128 tokens a tile (no
    spills), 208 at 256 (its accumulator alone takes 128; 184 spilled, sm_90 build)."""
    return CONSUMER_REGS if block_m <= 128 else 208


@gluon.jit
def _consume(
    x_desc, qw_ptr, qz_ptr, s_ptr, out_ptr, part_ptr, cnt_ptr, dest_ptr, x_smem, ready, empty,
    M, m0, n0, b0, nb, tile, pid_k, num_splits,
    N: gl.constexpr, EVEN_N: gl.constexpr, GROUP: gl.constexpr, BLOCK_M: gl.constexpr,
    BLOCK_N: gl.constexpr, ZERO_OFFSET: gl.constexpr, MAGIC: gl.constexpr, OFF: gl.constexpr,
    STAGES: gl.constexpr, SILU: gl.constexpr, ORDER: gl.constexpr, HALF: gl.constexpr,
):  # fmt: skip
    """Consumer `HALF` (0 or 1): rows n0 + HALF * BLOCK_N / 2 .. of the tile, blocks b0 .. b0 +
    nb - 1: fold (words loaded one block ahead), wait for x, MMA, wait for it, release the slot.
    With SILU (gate|up, one K split) the half is a fused tile of its own (``silu_rows`` of
    BLOCK_N / 2 rows: tile 2 t + HALF of that size is rows BLOCK_N / 2 HALF .. of tile t)."""
    NW: gl.constexpr = gl.num_warps()
    dt: gl.constexpr = x_desc.dtype
    HN: gl.constexpr = BLOCK_N // 2
    nh = n0 + HALF * HN
    WL: gl.constexpr = r128_words_layout(HN, NW)
    if SILU:
        rn = _silu_columns(nh // 2, HN, N // 2, gl.SliceLayout(1, WL))
    else:
        rn = nh + gl.arange(0, HN, layout=gl.SliceLayout(1, WL))
    rj = gl.arange(0, 16, layout=gl.SliceLayout(0, WL))
    nmask = rn < N
    mma: gl.constexpr = gl.NVMMADistributedLayout(
        version=[3, 0], warps_per_cta=[NW, 1], instr_shape=[16, BLOCK_M, 16]
    )
    A: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=mma, k_width=2)
    acc = gl.zeros([HN, BLOCK_M], gl.float32, layout=mma)
    last = b0 + nb - 1
    w, zw, s = _words(qw_ptr, qz_ptr, s_ptr, b0, rn, rj, nmask, N, GROUP, EVEN_N)
    for i in range(nb):
        a = _r128_fold(w, zw, s, rn, A, ZERO_OFFSET, MAGIC, OFF, dt)
        nxt = gl.minimum(b0 + i + 1, last)  # at the end the last block again (unused, no masks)
        w, zw, s = _words(qw_ptr, qz_ptr, s_ptr, nxt, rn, rj, nmask, N, GROUP, EVEN_N)
        slot = i % STAGES
        mbarrier.wait(ready.index(slot), (i // STAGES) & 1)
        acc = warpgroup_mma(a, x_smem.index(slot).permute((1, 0)), acc, is_async=True)
        acc = warpgroup_mma_wait(num_outstanding=0, deps=(acc,))
        # the arrival is one thread's: every warp of this warpgroup has seen its MMA finish first
        _cta_barrier()
        mbarrier.arrive(empty.index(slot), count=1)
    if SILU:
        _store_silu(acc, out_ptr, dest_ptr, M, m0, nh // 2, N // 2, ORDER, BLOCK_M, HN)
    else:
        _store_tile(
            acc, out_ptr, part_ptr, cnt_ptr, M, N, m0, nh, pid_k, num_splits, 2 * tile + HALF, mma,
            BLOCK_M, HN, NW,
        )  # fmt: skip


@gluon.jit
def _produce(x_desc, x_smem, ready, empty, m0, b0, nb, STAGES: gl.constexpr):
    """The producer warp: block b0 + i of x into slot i % STAGES once both consumers have
    released it (a fresh barrier counts as released: the first round waits on phase 1)."""
    for i in range(nb):
        slot = i % STAGES
        mbarrier.wait(empty.index(slot), ((i // STAGES) & 1) ^ 1)
        fence_async_shared()
        mbarrier.expect(ready.index(slot), x_desc.block_type.nbytes)
        _tma_load(x_desc, [m0, (b0 + i) * 128], ready.index(slot), x_smem.index(slot))


@gluon.jit
def gemm_r128w_kernel(
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
    BLOCK_N: gl.constexpr,  # 2 x 16 num_warps times a power of two
    ZERO_OFFSET: gl.constexpr,
    MAGIC: gl.constexpr,
    OFF: gl.constexpr,
    STAGES: gl.constexpr,
    SECOND_REGS: gl.constexpr,
    PRODUCER: gl.constexpr,
    SILU: gl.constexpr = False,  # gate|up: out [M, N / 2] = silu(gate) * up (one K split)
    dest_ptr=None,  # SILU: output column c goes to column dest[c] (ORDER)
    ORDER: gl.constexpr = False,
):
    """out^T [BLOCK_N, BLOCK_M] tiles of W^T x^T (x in ``r128_order``) over the grid (M tiles,
    N tiles, K splits of BLOCKS_PER_SPLIT blocks), as ``gemm_r128_kernel``'s, warp-specialized."""
    NW: gl.constexpr = gl.num_warps()
    x_smem = gl.allocate_shared_memory(x_desc.dtype, [STAGES, BLOCK_M, 128], x_desc.layout)
    ready = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    empty = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    for st in gl.static_range(STAGES):
        mbarrier.init(ready.index(st), count=1)
        mbarrier.init(empty.index(st), count=2)  # one arrival from each consumer
    pid_m = gl.program_id(0)
    pid_n = gl.program_id(1)
    pid_k = gl.program_id(2)
    b0 = pid_k * BLOCKS_PER_SPLIT
    nb = gl.minimum(b0 + BLOCKS_PER_SPLIT, num_blocks) - b0
    m0 = pid_m * BLOCK_M
    n0 = pid_n * BLOCK_N
    tile = pid_m * gl.num_programs(1) + pid_n
    # the partitions' arguments as tuples in the call itself: a tuple assigned to a name first
    # turns its constants into tensors (Triton 3.6), and the partitions need them as constants
    gl.warp_specialize(
        [
            (
                _consume,
                (
                    x_desc, qw_ptr, qz_ptr, s_ptr, out_ptr, part_ptr, cnt_ptr, dest_ptr, x_smem, ready, empty,
                    M, m0, n0, b0, nb, tile, pid_k, num_splits,
                    N, EVEN_N, GROUP, BLOCK_M, BLOCK_N, ZERO_OFFSET, MAGIC, OFF, STAGES, SILU, ORDER, 0,
                ),
            ),
            (
                _consume,
                (
                    x_desc, qw_ptr, qz_ptr, s_ptr, out_ptr, part_ptr, cnt_ptr, dest_ptr, x_smem, ready, empty,
                    M, m0, n0, b0, nb, tile, pid_k, num_splits,
                    N, EVEN_N, GROUP, BLOCK_M, BLOCK_N, ZERO_OFFSET, MAGIC, OFF, STAGES, SILU, ORDER, 1,
                ),
            ),
            (_produce, (x_desc, x_smem, ready, empty, m0, b0, nb, STAGES)),
        ],
        [NW, 1],
        [SECOND_REGS, PRODUCER],
    )  # fmt: skip
    for st in gl.static_range(STAGES):
        mbarrier.invalidate(ready.index(st))
        mbarrier.invalidate(empty.index(st))
