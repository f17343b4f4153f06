"""Triton W4A16 linear kernels on the GPTQ layout: a GEMV for one row, a tensor-core GEMM
for a few to a few hundred rows, and a dequantize kernel for the large-M (prefill) path.

Layout (docs/gptq-format.md#tensors, the checkpoint's own): ``qweight`` int32 [K/8, N], 8 codes per word
along K, low nibble first; ``qzeros`` int32 [K/G, N/8]; ``scales`` [K/G, N]. Weights are
read as stored. The only repacking is for act-order checkpoints (``g_idx`` not ``k // G``):
rows are permuted once at load so that every group is contiguous, and the activations are
gathered with the same permutation on every call (``W4Weight.perm``), as exllama does. The
repacked tensors are tested against ``dequantize_gptq`` of the stored ones.

Split-K: the CTAs of one output tile each write a float32 partial sum over their slice of
K; the last to arrive (an integer counter, no float atomics) adds the slices in split order
and writes the tile, so results are bitwise reproducible from run to run.

Dequantization without int-to-float conversions (which run at a quarter rate): the GEMVs
read a code's bits directly as a float (``_gemv_lop3_kernel``: as a denormal scaled back by
the activation, or inside the mantissa of 1.0); the classic GEMV places a code in the top
mantissa bits of 1.0f, ``(q << 19) | 0x3F800000`` = 1 + q/16, so a group's dot product is
``s * (16 * sum(x f) - (16 + z) * sum(x))``. The GEMM reads ``0x4B000000 | q`` as 2^23 + q
and subtracts 2^23 + z, exact, before the cast to the tensor-core dtype.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import triton
import triton.language as tl
from triton.language.extra.cuda import gdc_wait

from evalkit.runners.torch_int4.gptq import PACK, unpack_int4_rows
from evalkit.runners.torch_int4.kernels import pdl

# --------------------------------------------------------------------------- the weight


@dataclass
class W4Weight:
    """One GPTQ linear, ready for the kernels. ``perm`` is None unless act-order was repacked."""

    qweight: torch.Tensor  # int32 [K/8, N]
    qzeros: torch.Tensor  # int32 [K/G, N/8]
    scales: torch.Tensor  # fp16/bf16 [K/G, N]
    perm: torch.Tensor | None  # int64 [K]: x[:, perm] is the input the repacked rows expect
    in_features: int
    out_features: int
    group_size: int
    zero_offset: int
    # input orders of kernels that read x permuted (``input_order``), made once per weight
    orders: dict[str, torch.Tensor] = field(default_factory=dict, repr=False, compare=False)

    @property
    def nbytes(self) -> int:
        """Bytes a full pass over the weight reads (codes, zeros, scales)."""
        return sum(t.numel() * t.element_size() for t in (self.qweight, self.qzeros, self.scales))


SUPPORTED_GROUPS = (32, 64, 128, 256)


def supports(in_features: int, out_features: int, group_size: int) -> str | None:
    """None when the kernels can run this shape, else why not (the caller falls back)."""
    if group_size not in SUPPORTED_GROUPS:
        return f"group_size {group_size} (kernels take {SUPPORTED_GROUPS})"
    if in_features % group_size:
        return f"in_features {in_features} is not a multiple of group_size {group_size}"
    if out_features % PACK:
        return f"out_features {out_features} is not a multiple of {PACK}"
    return None


def pack_gptq(
    qweight: torch.Tensor,
    qzeros: torch.Tensor,
    scales: torch.Tensor,
    g_idx: torch.Tensor,
    *,
    group_size: int,
    zero_offset: int,
) -> W4Weight:
    """A ``W4Weight`` from the stored tensors; act-order rows are permuted into group order.

    With act-order each group still holds exactly ``group_size`` input channels (GPTQ
    assigns groups along the permuted order), so after a stable sort by ``g_idx`` row k
    belongs to group ``k // group_size`` and the stored scales/zeros apply unchanged.
    """
    k, n = g_idx.numel(), scales.shape[1]
    why = supports(k, n, group_size)
    if why:
        raise ValueError(f"W4A16 kernels cannot run this linear: {why}")
    g = g_idx.long()
    natural = torch.arange(k, device=g.device) // group_size
    perm: torch.Tensor | None = None
    if not torch.equal(g, natural):
        perm = torch.sort(g, stable=True).indices
        if not torch.equal(g[perm], natural):
            raise ValueError("g_idx does not give every group exactly group_size input channels")
        codes = unpack_int4_rows(qweight)[:k][perm]  # [K, N] in group order
        shifts = torch.arange(0, 32, 4, device=codes.device, dtype=torch.int32).view(1, PACK, 1)
        qweight = (codes.view(k // PACK, PACK, n).to(torch.int32) << shifts).sum(1, dtype=torch.int32)
    return W4Weight(
        qweight=qweight.contiguous(),
        qzeros=qzeros.contiguous(),
        scales=scales.contiguous(),
        perm=perm,
        in_features=k,
        out_features=n,
        group_size=group_size,
        zero_offset=zero_offset,
    )


# --------------------------------------------------------------------------- kernels


@triton.jit
def _finish(acc, part_ptr, out_ptr, cnt_ptr, tile, offs, mask, pid_k, num_splits, split_stride):
    """Write a split's partial sum; the split that arrives last at its tile adds all of them in
    split order and writes the tile's result. Deterministic (the order is fixed), and the
    consumer reads one finished [M, N] tensor instead of S slices."""
    if num_splits == 1:
        tl.store(out_ptr + offs, acc, mask=mask)
    else:
        tl.store(part_ptr + pid_k * split_stride + offs, acc, mask=mask)
        tl.debug_barrier()  # every thread's partial is written before the release below
        arrived = tl.atomic_add(cnt_ptr + tile, 1, sem="acq_rel", scope="gpu")
        if arrived == num_splits - 1:
            total = tl.load(part_ptr + offs, mask=mask, other=0.0, cache_modifier=".cg")
            # eight loads in flight at a time, added in split order (a split past the end adds 0)
            for k0 in range(1, num_splits, 8):
                for i in tl.static_range(8):
                    total += tl.load(
                        part_ptr + (k0 + i) * split_stride + offs,
                        mask=mask & (offs * 0 + (k0 + i) < num_splits),
                        other=0.0,
                        cache_modifier=".cg",
                    )
            tl.store(out_ptr + offs, total, mask=mask)
            # ready for the next call (and graph replay); relaxed: no fence holds the exit
            tl.atomic_xchg(cnt_ptr + tile, 0, sem="relaxed", scope="gpu")


@triton.jit
def _finish_tile(
    acc, rm, rn, mmask, nmask, M, N, part_ptr, out_ptr, cnt_ptr, pid_k, num_splits, SWAP: tl.constexpr
):
    """`_finish` of a GEMM tile whose accumulator is [rows, columns], or [columns, rows] when
    SWAP (the weight as the MMA's first operand); the output is [M, N] either way."""
    tile = tl.program_id(0) * tl.num_programs(1) + tl.program_id(1)
    if SWAP:
        offs = rm[None, :] * N + rn[:, None]
        mask = mmask[None, :] & nmask[:, None]
    else:
        offs = rm[:, None] * N + rn[None, :]
        mask = mmask[:, None] & nmask[None, :]
    _finish(acc, part_ptr, out_ptr, cnt_ptr, tile, offs, mask, pid_k, num_splits, M * N)


@triton.jit
def _gemv_kernel(
    x_ptr,
    qw_ptr,
    qz_ptr,
    s_ptr,
    out_ptr,
    part_ptr,
    cnt_ptr,
    N,
    num_groups,
    GROUPS_PER_SPLIT,
    num_splits,
    GROUP: tl.constexpr,
    BLOCK_N: tl.constexpr,
    ZERO_OFFSET: tl.constexpr,
):
    """out[pid_k, 0, n] = sum over this split's groups of x . w[:, n] (one activation row)."""
    pid_n = tl.program_id(0)
    pid_k = tl.program_id(1)
    n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    nmask = n < N
    ROWS: tl.constexpr = GROUP // 8
    acc = tl.zeros([BLOCK_N], dtype=tl.float32)
    g0 = pid_k * GROUPS_PER_SPLIT
    # A plain range (no branch in the body) lets Triton pipeline the next group's loads.
    for g in range(g0, tl.minimum(g0 + GROUPS_PER_SPLIT, num_groups)):
        part = tl.zeros([BLOCK_N], dtype=tl.float32)
        xsum = 0.0
        for r in tl.static_range(ROWS):
            w = tl.load(qw_ptr + (g * ROWS + r) * N + n, mask=nmask, other=0)
            for j in tl.static_range(8):
                xj = tl.load(x_ptr + g * GROUP + r * 8 + j).to(tl.float32)
                # move code j (bits 4j..4j+3) to bits 19..22, the top of the mantissa
                bits = w << (19 - 4 * j) if j <= 4 else w >> (4 * j - 19)
                f = ((bits & 0x780000) | 0x3F800000).to(tl.float32, bitcast=True)
                part += xj * f
                xsum += xj
        zw = tl.load(qz_ptr + g * (N // 8) + n // 8, mask=nmask, other=0)
        z = ((zw >> ((n % 8) * 4)) & 0xF) + ZERO_OFFSET
        s = tl.load(s_ptr + g * N + n, mask=nmask, other=0.0).to(tl.float32)
        acc += s * (16.0 * part - (16.0 + z.to(tl.float32)) * xsum)
    _finish(acc, part_ptr, out_ptr, cnt_ptr, pid_n, n, nmask, pid_k, num_splits, N)


@triton.jit
def _gemv2d_kernel(
    x_ptr,
    qw_ptr,
    qz_ptr,
    s_ptr,
    out_ptr,
    part_ptr,
    cnt_ptr,
    N,
    num_groups,
    GROUPS_PER_SPLIT,
    num_splits,
    GROUP: tl.constexpr,
    BLOCK_N: tl.constexpr,
    ZERO_OFFSET: tl.constexpr,
):
    """The GEMV with a [rows, BLOCK_N] accumulator: each weight is dequantized with its scale
    (w = 16 s f - s (16 + z)), x is loaded as vectors, and rows are summed once at the end."""
    pid_n = tl.program_id(0)
    pid_k = tl.program_id(1)
    n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    nmask = n < N
    ROWS: tl.constexpr = GROUP // 8
    r = tl.arange(0, ROWS)
    acc = tl.zeros([ROWS, BLOCK_N], dtype=tl.float32)
    g0 = pid_k * GROUPS_PER_SPLIT
    for g in range(g0, tl.minimum(g0 + GROUPS_PER_SPLIT, num_groups)):
        w = tl.load(qw_ptr + (g * ROWS + r)[:, None] * N + n[None, :], mask=nmask[None, :], other=0)
        zw = tl.load(qz_ptr + g * (N // 8) + n // 8, mask=nmask, other=0)
        z = ((zw >> ((n % 8) * 4)) & 0xF) + ZERO_OFFSET
        s = tl.load(s_ptr + g * N + n, mask=nmask, other=0.0).to(tl.float32)
        s16 = 16.0 * s
        zs = s * (16.0 + z.to(tl.float32))
        for j in tl.static_range(8):
            xj = tl.load(x_ptr + g * GROUP + r * 8 + j).to(tl.float32)
            bits = w << (19 - 4 * j) if j <= 4 else w >> (4 * j - 19)
            f = ((bits & 0x780000) | 0x3F800000).to(tl.float32, bitcast=True)
            acc += xj[:, None] * (f * s16[None, :] - zs[None, :])
    _finish(tl.sum(acc, axis=0), part_ptr, out_ptr, cnt_ptr, pid_n, n, nmask, pid_k, num_splits, N)


@triton.jit
def _gemm_kernel(
    x_ptr,
    qw_ptr,
    qz_ptr,
    s_ptr,
    out_ptr,
    part_ptr,
    cnt_ptr,
    M,
    N,
    num_groups,
    stride_xm,
    GROUPS_PER_SPLIT,
    num_splits,
    GROUP: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    ZERO_OFFSET: tl.constexpr,
    MODE: tl.constexpr,  # 0: bf16 dot, 1: fp16 dot, 2: fp32 dot (exact reference numerics)
):
    """out[pid_k, m, n] = this split's slice of x[m, :] . w[:, n], on tensor cores."""
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    pid_k = tl.program_id(2)
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    rk = tl.arange(0, GROUP)
    ROWS: tl.constexpr = GROUP // 8
    rr = tl.arange(0, ROWS)
    shifts = tl.arange(0, 8) * 4
    mmask = rm < M
    nmask = rn < N
    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    g0 = pid_k * GROUPS_PER_SPLIT
    for g in range(g0, tl.minimum(g0 + GROUPS_PER_SPLIT, num_groups)):
        x = tl.load(
            x_ptr + rm[:, None] * stride_xm + (g * GROUP + rk)[None, :], mask=mmask[:, None], other=0.0
        )
        # Each packed word is loaded once and expanded in registers: row r*8 + j is code j of word r.
        w = tl.load(qw_ptr + (g * ROWS + rr)[:, None] * N + rn[None, :], mask=nmask[None, :], other=0)
        q = tl.reshape((w[:, None, :] >> shifts[None, :, None]) & 0xF, (GROUP, BLOCK_N))
        zw = tl.load(qz_ptr + g * (N // 8) + rn // 8, mask=nmask, other=0)
        z = ((zw >> ((rn % 8) * 4)) & 0xF) + ZERO_OFFSET
        s = tl.load(s_ptr + g * N + rn, mask=nmask, other=0.0).to(tl.float32)
        if MODE == 2:
            wq = (q - z[None, :]).to(tl.float32)
            part = tl.dot(x.to(tl.float32), wq, input_precision="ieee")
        else:
            # 2^23 + q read from the bits, minus 2^23 + z: exact, and no int-to-float conversion.
            wf = (q | 0x4B000000).to(tl.float32, bitcast=True) - (8388608 + z).to(tl.float32)[None, :]
            if MODE == 0:
                part = tl.dot(x.to(tl.bfloat16), wf.to(tl.bfloat16))
            else:
                part = tl.dot(x.to(tl.float16), wf.to(tl.float16))
        acc += part * s[None, :]
    tile = pid_m * tl.num_programs(1) + pid_n
    offs = rm[:, None] * N + rn[None, :]
    _finish(
        acc, part_ptr, out_ptr, cnt_ptr, tile, offs, mmask[:, None] & nmask[None, :], pid_k, num_splits, M * N
    )


@triton.jit
def _gemm_tc_kernel(
    x_ptr,
    qw_ptr,
    qz_ptr,
    s_ptr,
    out_ptr,
    part_ptr,
    cnt_ptr,
    M,
    N,
    num_groups,
    stride_xm,
    GROUPS_PER_SPLIT,
    num_splits,
    GROUP: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,  # divides GROUP: 64 halves the dequantized tile held in registers
    ZERO_OFFSET: tl.constexpr,
    SWAP: tl.constexpr,  # out^T = W^T x^T: the dequantized weight is the dot's first operand
):
    """The large-M GEMM (64..512 rows): one CTA covers BLOCK_M rows (up to 256), so each
    weight tile is dequantized once per M tile. The group's scale is folded into the weight
    in fp32, ``s (2^23 + q - (2^23 + z))``, rounded once to the activation dtype (as
    dequantize + cuBLAS rounds it), and the groups are chained through one accumulator,
    ``acc = dot(a, b, acc)``, which Hopper can keep in a chain of wgmma instructions.

    SWAP computes the transposed tile [BLOCK_N, BLOCK_M] = W^T[BLOCK_N, G] . x^T[G, BLOCK_M]:
    the weight, produced in registers, is the operand wgmma may read from registers, and x
    (loaded as is) the one it reads from shared memory. Split-K uses ``_finish``'s ordered
    fix-up, so results are bitwise reproducible."""
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    pid_k = tl.program_id(2)
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    rk = tl.arange(0, BLOCK_K)
    ROWS: tl.constexpr = BLOCK_K // 8
    STEPS: tl.constexpr = GROUP // BLOCK_K
    rr = tl.arange(0, ROWS)
    shifts = tl.arange(0, 8) * 4
    mmask = rm < M
    nmask = rn < N
    dt = x_ptr.dtype.element_ty  # bf16 or fp16: the dot's dtype
    if SWAP:
        acc = tl.zeros([BLOCK_N, BLOCK_M], dtype=tl.float32)
    else:
        acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    g0 = pid_k * GROUPS_PER_SPLIT
    for kb in range(g0 * STEPS, tl.minimum(g0 + GROUPS_PER_SPLIT, num_groups) * STEPS):
        g = kb // STEPS
        zw = tl.load(qz_ptr + g * (N // 8) + rn // 8, mask=nmask, other=0)
        zoff = (8388608 + ((zw >> ((rn % 8) * 4)) & 0xF) + ZERO_OFFSET).to(tl.float32)
        s = tl.load(s_ptr + g * N + rn, mask=nmask, other=0.0).to(tl.float32)
        if SWAP:
            # [BLOCK_N, ROWS] words -> [BLOCK_N, BLOCK_K] codes: column r*8 + j is code j of word r
            w = tl.load(qw_ptr + (kb * ROWS + rr)[None, :] * N + rn[:, None], mask=nmask[:, None], other=0)
            q = tl.reshape((w[:, :, None] >> shifts[None, None, :]) & 0xF, (BLOCK_N, BLOCK_K))
            wt = (((q | 0x4B000000).to(tl.float32, bitcast=True) - zoff[:, None]) * s[:, None]).to(dt)
            # x loaded as stored (vector loads along K) and transposed in shared memory
            x = tl.load(
                x_ptr + rm[:, None] * stride_xm + (kb * BLOCK_K + rk)[None, :], mask=mmask[:, None], other=0.0
            )
            acc = tl.dot(wt, tl.trans(x), acc)
        else:
            w = tl.load(qw_ptr + (kb * ROWS + rr)[:, None] * N + rn[None, :], mask=nmask[None, :], other=0)
            q = tl.reshape((w[:, None, :] >> shifts[None, :, None]) & 0xF, (BLOCK_K, BLOCK_N))
            wq = (((q | 0x4B000000).to(tl.float32, bitcast=True) - zoff[None, :]) * s[None, :]).to(dt)
            x = tl.load(
                x_ptr + rm[:, None] * stride_xm + (kb * BLOCK_K + rk)[None, :], mask=mmask[:, None], other=0.0
            )
            acc = tl.dot(x, wq, acc)
    _finish_tile(acc, rm, rn, mmask, nmask, M, N, part_ptr, out_ptr, cnt_ptr, pid_k, num_splits, SWAP)


@triton.jit
def _gemm_p16_kernel(
    x_ptr,
    qw_ptr,
    qz_ptr,
    s_ptr,
    out_ptr,
    part_ptr,
    cnt_ptr,
    M,
    N,
    num_blocks,
    stride_xm,
    BLOCKS_PER_SPLIT,
    num_splits,
    GROUP: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    ZERO_OFFSET: tl.constexpr,
    SWAP: tl.constexpr,  # out^T = W^T x^T: the weight is the dot's register operand
    GATHER: tl.constexpr,  # x as stored (strided loads); else x is in ``p16_order`` already
    FOLD: tl.constexpr,  # the weight as s (q - z) in the activation dtype, one accumulator
    MAGIC: tl.constexpr,  # 0x4300 for bf16 activations (128 + q), 0x6400 for fp16 (1024 + q)
    OFF: tl.constexpr,  # 128.0 or 1024.0: the value of MAGIC | 0
):
    """A GEMM that never reshapes codes: the 16 words of a 128-input block hold codes 0..7 of
    inputs 8r + j; code j of all 16 words is one [16, BLOCK_N] operand, and the dot takes it
    against the 16 activations 8r + j (r = 0..15), which ``p16_order`` made contiguous (or
    which GATHER loads with stride 8). Each code becomes the activation dtype in one LOP3 and
    no conversion: ``q | 0x4300`` read as bf16 is 128 + q (``q | 0x6400`` as fp16, 1024 + q),
    exact. The 8 dots of a block chain through one fp32 partial ``p = sum x (c + q)``; the
    group's zero and scale come out once per block and column, with the activations' sum:
    ``acc += s (p - (c + z) sum(x))``. Products are exact (the tensor cores multiply bf16 or
    fp16 exactly into fp32), so the error is fp32 accumulation with the offset c (~1e-6).
    Needs GROUP % 128 == 0 (a block lies in one group). Split-K as in ``_finish``."""
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    pid_k = tl.program_id(2)
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    r16 = tl.arange(0, 16)
    mmask = rm < M
    nmask = rn < N
    dt = x_ptr.dtype.element_ty
    if SWAP:
        acc = tl.zeros([BLOCK_N, BLOCK_M], dtype=tl.float32)
    else:
        acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    b0 = pid_k * BLOCKS_PER_SPLIT
    for b in range(b0, tl.minimum(b0 + BLOCKS_PER_SPLIT, num_blocks)):
        g = (b * 128) // GROUP
        zw = tl.load(qz_ptr + g * (N // 8) + rn // 8, mask=nmask, other=0)
        zc = (((zw >> ((rn % 8) * 4)) & 0xF) + ZERO_OFFSET).to(tl.float32) + OFF
        s = tl.load(s_ptr + g * N + rn, mask=nmask, other=0.0).to(tl.float32)
        xs = tl.zeros([BLOCK_M], dtype=tl.float32)
        zd, sd = zc.to(dt), s.to(dt)  # c + z is exact in dt; s is rounded to bf16 (exact in fp16)
        if SWAP:
            w = tl.load(qw_ptr + (b * 16 + r16)[None, :] * N + rn[:, None], mask=nmask[:, None], other=0)
            part = tl.zeros([BLOCK_N, BLOCK_M], dtype=tl.float32)
        else:
            w = tl.load(qw_ptr + (b * 16 + r16)[:, None] * N + rn[None, :], mask=nmask[None, :], other=0)
            part = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
        for j in tl.static_range(8):
            cols = b * 128 + r16 * 8 + j if GATHER else b * 128 + j * 16 + r16
            xj = tl.load(x_ptr + rm[:, None] * stride_xm + cols[None, :], mask=mmask[:, None], other=0.0)
            qj = (((w >> (4 * j)) & 0xF) | MAGIC).to(tl.int16).to(dt, bitcast=True)
            if FOLD:
                # (c + q) - (c + z) = q - z exactly, times s rounded once: two native bf16/fp16 ops
                if SWAP:
                    acc = tl.dot((qj - zd[:, None]) * sd[:, None], tl.trans(xj), acc)
                else:
                    acc = tl.dot(xj, (qj - zd[None, :]) * sd[None, :], acc)
            else:
                part = tl.dot(qj, tl.trans(xj), part) if SWAP else tl.dot(xj, qj, part)
                xs += tl.sum(xj.to(tl.float32), axis=1)
        if not FOLD:
            if SWAP:
                acc += s[:, None] * (part - zc[:, None] * xs[None, :])
            else:
                acc += s[None, :] * (part - xs[:, None] * zc[None, :])
    _finish_tile(acc, rm, rn, mmask, nmask, M, N, part_ptr, out_ptr, cnt_ptr, pid_k, num_splits, SWAP)


@triton.jit
def _code_plane(w, j: tl.constexpr, MAGIC: tl.constexpr, dt: tl.constexpr):
    """Code j of every word of `w`, as the activation dtype plus its offset c (one LOP3)."""
    return (((w >> (4 * j)) & 0xF) | MAGIC).to(tl.int16).to(dt, bitcast=True)


@triton.jit
def _block_operands(
    qw_ptr, qz_ptr, s_ptr, b, rn, nmask, N, GROUP: tl.constexpr, ZERO_OFFSET: tl.constexpr, OFF, dt
):
    """Block b of 128 inputs for the columns rn of a swapped TMA GEMM: its 16 words per column
    [BN, 16], the zero plus the offset c in `dt` (exact), and the group's scale as stored."""
    w, zw, s = _s128_words(qw_ptr, qz_ptr, s_ptr, b, rn, nmask, N, GROUP)
    return w, _zero_plus(zw, rn, ZERO_OFFSET, OFF, dt), s


@triton.jit
def _zero_plus(zw, rn, ZERO_OFFSET: tl.constexpr, OFF, dt):
    """The zeros of columns rn from their packed words, plus the offset c, in `dt` (exact)."""
    return ((((zw >> ((rn % 8) * 4)) & 0xF) + ZERO_OFFSET).to(tl.float32) + OFF).to(dt)


@triton.jit
def _gemm_p16t_kernel(
    x_desc,
    qw_ptr,
    qz_ptr,
    s_ptr,
    out_ptr,
    part_ptr,
    cnt_ptr,
    M,
    N,
    num_blocks,
    BLOCKS_PER_SPLIT,
    num_splits,
    GROUP: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    ZERO_OFFSET: tl.constexpr,
    FOLD: tl.constexpr,
    MAGIC: tl.constexpr,
    OFF: tl.constexpr,
):
    """The p16 GEMM (weights as the register operand, 8 dots of 16 inputs per block of 128)
    with x read through a TMA descriptor (``x_desc``: x in ``p16_order``, tiles [BLOCK_M, 16]),
    so Triton pipelines x into shared memory instead of loading it through registers on every
    dot, and no sums of x inside the loop: the zero comes off each code in the activation
    dtype, ``(c + q) - (c + z) = q - z`` (exact in bf16 and fp16), and the group's scale
    multiplies the block's fp32 partial (exact products, as p16), or with FOLD is folded into
    the weight, ``s (q - z)`` rounded once to the activation dtype (as p16f), with a single
    accumulator. Rows past M read as zeros (TMA bounds) and are not stored."""
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    pid_k = tl.program_id(2)
    m0 = pid_m * BLOCK_M
    rm = m0 + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    mmask = rm < M
    nmask = rn < N
    dt: tl.constexpr = x_desc.dtype
    acc = tl.zeros([BLOCK_N, BLOCK_M], dtype=tl.float32)
    b0 = pid_k * BLOCKS_PER_SPLIT
    for b in range(b0, tl.minimum(b0 + BLOCKS_PER_SPLIT, num_blocks)):
        w, zd, s = _block_operands(qw_ptr, qz_ptr, s_ptr, b, rn, nmask, N, GROUP, ZERO_OFFSET, OFF, dt)
        part = tl.zeros([BLOCK_N, BLOCK_M], dtype=tl.float32)
        for j in tl.static_range(8):
            xj = x_desc.load([m0, b * 128 + j * 16])
            qj = _code_plane(w, j, MAGIC, dt) - zd[:, None]
            if FOLD:
                acc = tl.dot(qj * s.to(dt)[:, None], tl.trans(xj), acc)
            else:
                part = tl.dot(qj, tl.trans(xj), part)
        if not FOLD:
            acc += s.to(tl.float32)[:, None] * part
    _finish_tile(acc, rm, rn, mmask, nmask, M, N, part_ptr, out_ptr, cnt_ptr, pid_k, num_splits, True)


@triton.jit
def _gemm_p128_kernel(
    x_desc,
    qw_ptr,
    qz_ptr,
    s_ptr,
    out_ptr,
    part_ptr,
    cnt_ptr,
    M,
    N,
    num_blocks,
    BLOCKS_PER_SPLIT,
    num_splits,
    GROUP: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    ZERO_OFFSET: tl.constexpr,
    MAGIC: tl.constexpr,
    OFF: tl.constexpr,
):
    """One 128-deep dot per block of 128 inputs: the weight tile [BLOCK_N, 128] is the 8 code
    planes of the block's 16 words side by side (column 16 j + r is code j of word r, input
    8 r + j: the ``p16_order`` of x), built with ``tl.join`` and a permute. Each plane is taken
    in the layout of a 16-deep MMA operand, so joining them is free in registers, and Triton
    issues the block's 8 wgmma instructions as one asynchronous chain (the p16 kernels wait for
    each 16-deep dot before the next); x comes through a TMA descriptor (tiles [BLOCK_M, 128]).
    The weight is folded, ``s (q - z)`` rounded once to the activation dtype (as p16f). Swapped
    only: the tile is [BLOCK_N, BLOCK_M] = W^T x^T."""
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    pid_k = tl.program_id(2)
    m0 = pid_m * BLOCK_M
    rm = m0 + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    mmask = rm < M
    nmask = rn < N
    dt: tl.constexpr = x_desc.dtype
    acc = tl.zeros([BLOCK_N, BLOCK_M], dtype=tl.float32)
    b0 = pid_k * BLOCKS_PER_SPLIT
    for b in range(b0, tl.minimum(b0 + BLOCKS_PER_SPLIT, num_blocks)):
        w, zd, s = _block_operands(qw_ptr, qz_ptr, s_ptr, b, rn, nmask, N, GROUP, ZERO_OFFSET, OFF, dt)
        lo = tl.join(
            tl.join(_code_plane(w, 0, MAGIC, dt), _code_plane(w, 1, MAGIC, dt)),
            tl.join(_code_plane(w, 2, MAGIC, dt), _code_plane(w, 3, MAGIC, dt)),
        )
        hi = tl.join(
            tl.join(_code_plane(w, 4, MAGIC, dt), _code_plane(w, 5, MAGIC, dt)),
            tl.join(_code_plane(w, 6, MAGIC, dt), _code_plane(w, 7, MAGIC, dt)),
        )
        # [BN, 16, 2, 2, 2] (the joined dims are bits 0, 1, 2 of the plane) -> column 16 j + r
        a = tl.reshape(tl.permute(tl.join(lo, hi), (0, 4, 3, 2, 1)), (BLOCK_N, 128))
        a = (a - zd[:, None]) * s.to(dt)[:, None]  # (c + q) - (c + z) = q - z exactly, times s rounded once
        x = x_desc.load([m0, b * 128])
        acc = tl.dot(a, tl.trans(x), acc)
    _finish_tile(acc, rm, rn, mmask, nmask, M, N, part_ptr, out_ptr, cnt_ptr, pid_k, num_splits, True)


@triton.jit
def _s128_words(qw_ptr, qz_ptr, s_ptr, b, rn, mask, N, GROUP: tl.constexpr):
    """The raw loads of block b for the columns rn (nothing computed from them, so the loads
    stay in flight until ``_s128_tile`` uses them): 16 words per column [BN, 16], the zeros'
    words and the scales. Only where `mask`."""
    g = (b * 128) // GROUP
    w = tl.load(qw_ptr + (b * 16 + tl.arange(0, 16))[None, :] * N + rn[:, None], mask=mask[:, None], other=0)
    zw = tl.load(qz_ptr + g * (N // 8) + rn // 8, mask=mask, other=0)
    s = tl.load(s_ptr + g * N + rn, mask=mask, other=0.0)
    return w, zw, s


@triton.jit
def _s128_tile(w, zw, s, rn, ZERO_OFFSET: tl.constexpr, MAGIC: tl.constexpr, OFF, dt, BLOCK_N: tl.constexpr):
    """A block's folded weight tile [BLOCK_N, 128] in natural input order from its raw loads:
    the 8 codes of word r (inputs 8 r + j) joined in registers, so each thread holds a word's 8
    consecutive inputs, then ``s (q - z)`` rounded once to `dt`."""
    zd = _zero_plus(zw, rn, ZERO_OFFSET, OFF, dt)
    a = tl.join(
        tl.join(
            tl.join(_code_plane(w, 0, MAGIC, dt), _code_plane(w, 4, MAGIC, dt)),
            tl.join(_code_plane(w, 2, MAGIC, dt), _code_plane(w, 6, MAGIC, dt)),
        ),
        tl.join(
            tl.join(_code_plane(w, 1, MAGIC, dt), _code_plane(w, 5, MAGIC, dt)),
            tl.join(_code_plane(w, 3, MAGIC, dt), _code_plane(w, 7, MAGIC, dt)),
        ),
    )  # [BN, 16, 2, 2, 2]: index (r, d1, d2, d3) is code 4 d1 + 2 d2 + d3 of word r
    a = tl.reshape(a, (BLOCK_N, 128))  # column 8 r + j
    return (a - zd[:, None]) * s.to(dt)[:, None]


@triton.jit
def _gemm_s128_kernel(
    x_desc,
    qw_ptr,
    qz_ptr,
    s_ptr,
    out_ptr,
    part_ptr,
    cnt_ptr,
    M,
    N,
    num_blocks,
    BLOCKS_PER_SPLIT,
    num_splits,
    GROUP: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    ZERO_OFFSET: tl.constexpr,
    MAGIC: tl.constexpr,
    OFF: tl.constexpr,
):
    """The 128-deep dot per block with the weight tile in shared memory: the folded tile of
    block b + 1 is built while the tensor cores run block b, from words loaded one iteration
    before (their latency hidden behind a whole block). The tile is a loop-carried value,
    so Triton stores it to shared memory for the MMA (both operands in shared memory) instead of
    keeping it in registers: ptxas serializes every register-operand wgmma of p128 (a wait after
    each of the 8 instructions, sm_90 SASS, Triton 3.6), while this loop issues the block's
    chain back to back and waits once. Natural input order (x as stored, through a TMA
    descriptor, tiles [BLOCK_M, 128]); swapped: the tile is [BLOCK_N, BLOCK_M] = W^T x^T."""
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    pid_k = tl.program_id(2)
    m0 = pid_m * BLOCK_M
    rm = m0 + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    mmask = rm < M
    nmask = rn < N
    dt: tl.constexpr = x_desc.dtype
    acc = tl.zeros([BLOCK_N, BLOCK_M], dtype=tl.float32)
    b0 = pid_k * BLOCKS_PER_SPLIT
    b1 = tl.minimum(b0 + BLOCKS_PER_SPLIT, num_blocks)
    # software pipeline: the tile of block b + 1 is folded while the tensor cores run block b,
    # from words whose loads were issued one iteration earlier (two blocks ahead)
    w, zw, s = _s128_words(qw_ptr, qz_ptr, s_ptr, b0, rn, nmask, N, GROUP)
    a = _s128_tile(w, zw, s, rn, ZERO_OFFSET, MAGIC, OFF, dt, BLOCK_N)
    w, zw, s = _s128_words(qw_ptr, qz_ptr, s_ptr, b0 + 1, rn, nmask & (rn * 0 + b0 + 1 < b1), N, GROUP)
    for b in range(b0, b1):
        x = x_desc.load([m0, b * 128])
        acc = tl.dot(a, tl.trans(x), acc)
        a = _s128_tile(w, zw, s, rn, ZERO_OFFSET, MAGIC, OFF, dt, BLOCK_N)
        w, zw, s = _s128_words(qw_ptr, qz_ptr, s_ptr, b + 2, rn, nmask & (rn * 0 + b + 2 < b1), N, GROUP)
    _finish_slabs(acc, m0, rm, rn, mmask, nmask, M, N, part_ptr, out_ptr, cnt_ptr, pid_k, num_splits, BLOCK_M)


@triton.jit
def _finish_slabs(
    acc, m0, rm, rn, mmask, nmask, M, N, part_ptr, out_ptr, cnt_ptr, pid_k, num_splits, BLOCK_M: tl.constexpr
):
    """``_finish_tile`` (swapped) for tiles too large to hold twice in registers: the split
    that arrives last adds the partials (in split order, as ``_finish``) in slabs of 32 rows."""
    tile = tl.program_id(0) * tl.num_programs(1) + tl.program_id(1)
    offs = rm[None, :] * N + rn[:, None]
    mask = mmask[None, :] & nmask[:, None]
    if num_splits == 1:
        tl.store(out_ptr + offs, acc, mask=mask)
    else:
        tl.store(part_ptr + pid_k * (M * N) + offs, acc, mask=mask)
        tl.debug_barrier()  # every thread's partial is written before the release below
        arrived = tl.atomic_add(cnt_ptr + tile, 1, sem="acq_rel", scope="gpu")
        if arrived == num_splits - 1:
            SLAB: tl.constexpr = 32 if BLOCK_M > 32 else BLOCK_M
            for r0 in tl.static_range(0, BLOCK_M, SLAB):
                rs = m0 + r0 + tl.arange(0, SLAB)
                so = rs[None, :] * N + rn[:, None]
                sm = (rs < M)[None, :] & nmask[:, None]
                total = tl.load(part_ptr + so, mask=sm, other=0.0, cache_modifier=".cg")
                for k in range(1, num_splits):
                    total += tl.load(part_ptr + k * (M * N) + so, mask=sm, other=0.0, cache_modifier=".cg")
                tl.store(out_ptr + so, total, mask=sm)
            # ready for the next call (and graph replay); relaxed: no fence holds the exit
            tl.atomic_xchg(cnt_ptr + tile, 0, sem="relaxed", scope="gpu")


@triton.jit
def _x8(xb):
    """x's 8 inputs of a word row at xb .. xb + 7 (scalars, or tensors for a tensor of rows), fp32."""
    x0 = tl.load(xb + 0).to(tl.float32)
    x1 = tl.load(xb + 1).to(tl.float32)
    x2 = tl.load(xb + 2).to(tl.float32)
    x3 = tl.load(xb + 3).to(tl.float32)
    x4 = tl.load(xb + 4).to(tl.float32)
    x5 = tl.load(xb + 5).to(tl.float32)
    x6 = tl.load(xb + 6).to(tl.float32)
    x7 = tl.load(xb + 7).to(tl.float32)
    return x0, x1, x2, x3, x4, x5, x6, x7


@triton.jit
def _dn_products(acc, w, x0, x1, x2, x3, x4, x5, x6, x7):
    """acc plus the 8 exact products of the "dn" GEMV (``_gemv_lop3_kernel``'s DENORMAL branch),
    added in code order: (w & 0xF << p) read as a float is the denormal q * 2^(p - 149), exactly,
    for any code inside the mantissa (p <= 19); x scaled by 2^(85 - p) makes each product
    x q 2^-64, exact and normal. Codes 0..4 are read in place, 5..7 after one shift. x_j must
    broadcast against w (the words of one row, or a tile with x as a column)."""
    v = w >> 12
    acc += (x0 * 38685626227668133590597632.0) * (w & 0xF).to(tl.float32, bitcast=True)
    acc += (x1 * 2417851639229258349412352.0) * (w & 0xF0).to(tl.float32, bitcast=True)
    acc += (x2 * 151115727451828646838272.0) * (w & 0xF00).to(tl.float32, bitcast=True)
    acc += (x3 * 9444732965739290427392.0) * (w & 0xF000).to(tl.float32, bitcast=True)
    acc += (x4 * 590295810358705651712.0) * (w & 0xF0000).to(tl.float32, bitcast=True)
    acc += (x5 * 151115727451828646838272.0) * (v & 0xF00).to(tl.float32, bitcast=True)
    acc += (x6 * 9444732965739290427392.0) * (v & 0xF000).to(tl.float32, bitcast=True)
    acc += (x7 * 590295810358705651712.0) * (v & 0xF0000).to(tl.float32, bitcast=True)
    return acc


@triton.jit
def _lop3_group(
    x_ptr,
    qw_ptr,
    qz_ptr,
    s_ptr,
    g,
    n,
    nmask,
    N,
    GROUP: tl.constexpr,
    BLOCK_N: tl.constexpr,
    ZERO_OFFSET: tl.constexpr,
    DENORMAL: tl.constexpr,
    EVEN_N: tl.constexpr,
):
    """Group g's share of x . w[:, n] (``_gemv_lop3_kernel``'s docstring says how)."""
    ROWS: tl.constexpr = GROUP // 8
    pl = tl.zeros([BLOCK_N], dtype=tl.float32)  # codes read at bits 12..15
    ph = tl.zeros([BLOCK_N], dtype=tl.float32)  # codes read at bits 16..19
    sl = 0.0
    sh = 0.0
    for r in tl.static_range(ROWS):
        if EVEN_N:
            w = tl.load(qw_ptr + (g * ROWS + r) * N + n).to(tl.uint32, bitcast=True)
        else:
            w = tl.load(qw_ptr + (g * ROWS + r) * N + n, mask=nmask, other=0).to(tl.uint32, bitcast=True)
        xb = x_ptr + g * GROUP + r * 8
        x0, x1, x2, x3, x4, x5, x6, x7 = _x8(xb)
        if DENORMAL:  # exact products (_dn_products)
            sl += x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7
            pl = _dn_products(pl, w, x0, x1, x2, x3, x4, x5, x6, x7)
        else:
            sl += x3 + x1 + x5 + x7
            sh += x4 + x2 + x6 + x0
            v1 = w << 8  # codes 1, 2
            v2 = w >> 8  # codes 5, 6
            v3 = (w << 16) | (w >> 16)  # codes 7 (bits 28..31 -> 12..15), 0 (bits 0..3 -> 16..19)
            pl += x3 * ((w & 0xF000) | 0x3F800000).to(tl.float32, bitcast=True)
            ph += x4 * ((w & 0xF0000) | 0x3F800000).to(tl.float32, bitcast=True)
            pl += x1 * ((v1 & 0xF000) | 0x3F800000).to(tl.float32, bitcast=True)
            ph += x2 * ((v1 & 0xF0000) | 0x3F800000).to(tl.float32, bitcast=True)
            pl += x5 * ((v2 & 0xF000) | 0x3F800000).to(tl.float32, bitcast=True)
            ph += x6 * ((v2 & 0xF0000) | 0x3F800000).to(tl.float32, bitcast=True)
            pl += x7 * ((v3 & 0xF000) | 0x3F800000).to(tl.float32, bitcast=True)
            ph += x0 * ((v3 & 0xF0000) | 0x3F800000).to(tl.float32, bitcast=True)
    if EVEN_N:
        zw = tl.load(qz_ptr + g * (N // 8) + n // 8)
        s = tl.load(s_ptr + g * N + n).to(tl.float32)
    else:
        zw = tl.load(qz_ptr + g * (N // 8) + n // 8, mask=nmask, other=0)
        s = tl.load(s_ptr + g * N + n, mask=nmask, other=0.0).to(tl.float32)
    z = (((zw >> ((n % 8) * 4)) & 0xF) + ZERO_OFFSET).to(tl.float32)
    if DENORMAL:
        part = s * (18446744073709551616.0 * pl - z * sl)  # 2^64 p - z sum(x)
    else:
        part = s * (2048.0 * (pl - sl) + 128.0 * (ph - sh) - z * (sl + sh))
    return part


@triton.jit
def _gemv_lop3_kernel(
    x_ptr,
    qw_ptr,
    qz_ptr,
    s_ptr,
    out_ptr,
    part_ptr,
    cnt_ptr,
    N,
    num_groups,
    GROUPS_PER_SPLIT,
    num_splits,
    GROUP: tl.constexpr,
    BLOCK_N: tl.constexpr,
    ZERO_OFFSET: tl.constexpr,
    DENORMAL: tl.constexpr,
    EVEN_N: tl.constexpr,  # N % BLOCK_N == 0: no masks on the loads
    PDL: tl.constexpr,  # launched with programmatic dependent launch: waits before any load
):
    """The GEMV with one LOP3 and one FMA per weight: two ways of reading a code as a float
    without moving it to a fixed position (a 32-bit word holds codes 0..7 at bits 4j..4j+3).

    DENORMAL ("dn"): ``w & (0xF << p)`` read as a float is the denormal ``q * 2^(p - 149)``,
    exactly, for any code inside the mantissa (p <= 19). Scaling x by ``2^(85 - p)`` makes each
    product ``x q 2^-64`` exact and normal (fp32 FMAs keep denormal operands at full rate;
    Triton emits no ``.ftz``), so a group's dot product is ``2^64 sum(x' f) - z sum(x)``.
    Codes 0..4 are read in place, codes 5..7 after one shift of the word: 1/8 shift, one LOP3
    (one immediate, nothing to rematerialise) and one FMA per weight; products are exact,
    so the error is plain fp32 accumulation (~2e-7 relative), |x| < 2^43.

    Otherwise ("lop3"): four views of the word (itself, rotated by 16, shifted by +-8) put
    every code at bits 12..15 or 16..19, and ``(v & mask) | 0x3F800000`` reads as
    ``1 + q/2048`` or ``1 + q/128``; the offsets come out with the sums of x per position.
    Two constants per LOP3 make ptxas rematerialise the mask before most of them (a MOV per
    weight), and the offset costs about 11 bits (relative error ~5e-5).

    In both, the activation loads, conversions and sums are shared by the BLOCK_N / threads
    columns each thread holds. Counted SASS per weight (sm_90, one group, whole kernel):
    classic 5.4, lop3 4.9, dn 3.9 / 3.3 / 2.9 at 4 / 8 / 16 columns per thread
    (bench/results/kernels_h200_2026-12-02/sass_counts.json).
    """
    if PDL:
        gdc_wait()
    pid_n = tl.program_id(0)
    pid_k = tl.program_id(1)
    n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    nmask = n < N
    acc = tl.zeros([BLOCK_N], dtype=tl.float32)
    g0 = pid_k * GROUPS_PER_SPLIT
    for g in range(g0, tl.minimum(g0 + GROUPS_PER_SPLIT, num_groups)):
        acc += _lop3_group(
            x_ptr, qw_ptr, qz_ptr, s_ptr, g, n, nmask, N, GROUP, BLOCK_N, ZERO_OFFSET, DENORMAL, EVEN_N
        )
    _finish(acc, part_ptr, out_ptr, cnt_ptr, pid_n, n, nmask, pid_k, num_splits, N)


@triton.jit(do_not_specialize=["zero"])
def _gemv_dn2d_kernel(
    x_ptr,
    qw_ptr,
    qz_ptr,
    s_ptr,
    out_ptr,
    part_ptr,
    cnt_ptr,
    N,
    num_groups,
    GROUPS_PER_SPLIT,
    num_splits,
    zero,  # 0: see HOIST
    GROUP: tl.constexpr,
    BLOCK_N: tl.constexpr,
    ZERO_OFFSET: tl.constexpr,
    EVEN_N: tl.constexpr,
    HOIST: tl.constexpr,
    PDL: tl.constexpr,  # launched with programmatic dependent launch: x is read after gdc_wait
):
    """The "dn" GEMV with a group's words loaded as one [GROUP / 8, BLOCK_N] tile: all its
    loads leave before any arithmetic. The row-by-row kernel (``_gemv_lop3_kernel``) is compiled
    with each row's load just ahead of its arithmetic, so a thread has one or two rows in flight
    and the kernel is latency-bound unless many programs share an SM (the stream-K grid of one
    to four programs per SM measured 1.2-10x slower: bench/results/kernels_h200_2026-12-02h/
    sweep15; that kernel, ``_gemv_sk_kernel``, was removed after it: commit db1f205).
    Here a thread holds whole columns of the tile (the loads' layout: 16-byte vectors along N,
    rows repeated in registers), so the sum over a word's rows stays in the thread.
    Same arithmetic per weight as "dn" (one LOP3, one FMA; 1/8 shift), and the same exact
    products with fp32 accumulation."""
    pid_n = tl.program_id(0)
    pid_k = tl.program_id(1)
    n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    nmask = n < N
    ROWS: tl.constexpr = GROUP // 8
    r = tl.arange(0, ROWS)
    acc = tl.zeros([BLOCK_N], dtype=tl.float32)
    g0 = pid_k * GROUPS_PER_SPLIT
    for g in range(g0, tl.minimum(g0 + GROUPS_PER_SPLIT, num_groups)):
        wp = qw_ptr + (g * ROWS + r)[:, None] * N + n[None, :]
        if EVEN_N:
            w = tl.load(wp).to(tl.uint32, bitcast=True)
            zw = tl.load(qz_ptr + g * (N // 8) + n // 8)
            s = tl.load(s_ptr + g * N + n).to(tl.float32)
        else:
            w = tl.load(wp, mask=nmask[None, :], other=0).to(tl.uint32, bitcast=True)
            zw = tl.load(qz_ptr + g * (N // 8) + n // 8, mask=nmask, other=0)
            s = tl.load(s_ptr + g * N + n, mask=nmask, other=0.0).to(tl.float32)
        if PDL:
            gdc_wait()  # the weights above are in flight; x is the previous kernel's output
        xb = x_ptr + g * GROUP + r * 8
        if HOIST:
            # x's address depends on every word of the tile (an XOR of them, times a zero the
            # compiler cannot see): ptxas must issue all the tile's loads before the first use
            xb += tl.xor_sum(tl.xor_sum(w, axis=1), axis=0).to(tl.int32, bitcast=True) * zero
        x0, x1, x2, x3, x4, x5, x6, x7 = _x8(xb)
        sl = tl.sum(x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7, axis=0)
        t = tl.zeros([ROWS, BLOCK_N], dtype=tl.float32)
        t = _dn_products(
            t,
            w,
            x0[:, None],
            x1[:, None],
            x2[:, None],
            x3[:, None],
            x4[:, None],
            x5[:, None],
            x6[:, None],
            x7[:, None],
        )
        pl = tl.sum(t, axis=0)  # a word's rows are in one thread: no exchange
        z = (((zw >> ((n % 8) * 4)) & 0xF) + ZERO_OFFSET).to(tl.float32)
        acc += s * (18446744073709551616.0 * pl - z * sl)  # 2^64 p - z sum(x)
    _finish(acc, part_ptr, out_ptr, cnt_ptr, pid_n, n, nmask, pid_k, num_splits, N)


@triton.jit
def _dequant_kernel(
    qw_ptr,
    qz_ptr,
    s_ptr,
    out_ptr,
    K,
    N,
    GROUP: tl.constexpr,
    BLOCK_K: tl.constexpr,
    BLOCK_N: tl.constexpr,
    ZERO_OFFSET: tl.constexpr,
):
    """out[n, k] = s[g, n] * (q[k, n] - z[g, n]) in out's dtype: the [N, K] weight F.linear takes."""
    rk = tl.program_id(0) * BLOCK_K + tl.arange(0, BLOCK_K)
    rn = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    mask = (rk < K)[:, None] & (rn < N)[None, :]
    w = tl.load(qw_ptr + (rk // 8)[:, None] * N + rn[None, :], mask=mask, other=0)
    q = (w >> ((rk % 8) * 4)[:, None]) & 0xF
    g = rk // GROUP
    zw = tl.load(qz_ptr + g[:, None] * (N // 8) + (rn // 8)[None, :], mask=mask, other=0)
    z = ((zw >> ((rn % 8) * 4)[None, :]) & 0xF) + ZERO_OFFSET
    s = tl.load(s_ptr + g[:, None] * N + rn[None, :], mask=mask, other=0.0).to(tl.float32)
    val = s * (q - z).to(tl.float32)
    tl.store(out_ptr + rn[None, :] * K + rk[:, None], val.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _dequant_t_kernel(
    qw_ptr,
    qz_ptr,
    s_ptr,
    out_ptr,
    K,
    N,
    GROUP: tl.constexpr,
    BLOCK_K: tl.constexpr,
    BLOCK_N: tl.constexpr,
    ZERO_OFFSET: tl.constexpr,
):
    """``_dequant_kernel``'s result, laid out for the memory system: each code word is read
    once (a [BLOCK_K / 8, BLOCK_N] tile, coalesced along N), its 8 codes become 8 consecutive
    outputs of row n (the tile is transposed on chip, so the [BLOCK_N, BLOCK_K] store is
    coalesced along K), a tile lies in one quantization group (one zero and one scale per n),
    and codes become floats without a conversion: ``0x4B000000 | q`` is 2^23 + q, minus
    2^23 + z is exactly q - z."""
    KW: tl.constexpr = BLOCK_K // 8
    rn = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    k0 = tl.program_id(1) * BLOCK_K
    rw = k0 // 8 + tl.arange(0, KW)
    nmask = rn < N
    w = tl.load(qw_ptr + rw[None, :] * N + rn[:, None], mask=nmask[:, None], other=0)  # [BLOCK_N, KW]
    g = k0 // GROUP
    zw = tl.load(qz_ptr + g * (N // 8) + rn // 8, mask=nmask, other=0)
    z = ((zw >> ((rn % 8) * 4)) & 0xF) + ZERO_OFFSET
    zf = (z | 0x4B000000).to(tl.float32, bitcast=True)
    s = tl.load(s_ptr + g * N + rn, mask=nmask, other=0.0).to(tl.float32)
    shifts = tl.arange(0, 8) * 4
    q = ((w[:, :, None] >> shifts[None, None, :]) & 0xF) | 0x4B000000  # [BLOCK_N, KW, 8]
    val = (q.to(tl.float32, bitcast=True) - zf[:, None, None]) * s[:, None, None]
    val = tl.reshape(val, [BLOCK_N, BLOCK_K])
    rk = k0 + tl.arange(0, BLOCK_K)
    tl.store(out_ptr + rn[:, None] * K + rk[None, :], val.to(out_ptr.dtype.element_ty), mask=nmask[:, None])


# --------------------------------------------------------------------------- launch configs


@dataclass(frozen=True)
class GemvConfig:
    block_n: int
    groups_per_split: int
    num_warps: int
    num_stages: int = 1
    # "dn" / "lop3" (_gemv_lop3_kernel), "classic" (_gemv_kernel), "2d", "dn2d" / "dn2dh"
    # (_gemv_dn2d_kernel), "tma" / "tmax" (w4a16_gluon_gemv: num_stages = tiles of words in flight)
    variant: str = "lop3"
    # "tma" / "tmax": tiles asked for before the PDL wait (0: num_stages)
    pre: int = 0
    # "tmax" of down: reads silu(gate) * up from gate|up's output itself (``silu_down``), so the
    # decode step at one row runs no silu_mul kernel
    silu_x: bool = False
    # "tmax" of o: merges the split attention itself (``merge_o``): no merge kernel at one row
    merge_x: bool = False


@dataclass(frozen=True)
class GemmConfig:
    block_m: int
    block_n: int
    groups_per_split: int
    num_warps: int
    num_stages: int


@dataclass(frozen=True)
class TcConfig:
    """A launch of the large-M GEMM (``_gemm_tc_kernel``), bf16/fp16 activations only."""

    block_m: int
    block_n: int
    groups_per_split: int
    num_warps: int
    num_stages: int
    swap: bool = False  # out^T = W^T x^T (the dequantized weight as the dot's first operand)
    block_k: int = 128  # inputs per dot (at most the group size: fewer live registers)
    # "tc": _gemm_tc_kernel; "p16": _gemm_p16_kernel on x in p16_order (groups_per_split then
    # counts blocks of 128 inputs); "p16g": the same kernel loading x as stored (stride 8);
    # "p16f": the same with the weight folded to s (q - z) in the activation dtype (FOLD);
    # "p16t" / "p16ft": _gemm_p16t_kernel (x through a TMA descriptor; swap only), the zero
    # taken off each code, the scale on the block's partial ("p16t") or folded ("p16ft");
    # "p128": _gemm_p128_kernel (one 128-deep dot per block, folded weight, TMA x; swap only);
    # "s128": _gemm_s128_kernel (p128's dot with the weight tile in shared memory, x as stored);
    # "g128": s128's math in Gluon (w4a16_gluon.py), the tile double-buffered so that the MMA of
    # one block runs while the next is dequantized (sm_90 only; num_stages = slots of x, >= 3),
    # raw words two blocks ahead; "g128n": the same with the words one block ahead; "r128" /
    # "r128n": the weight folded straight into the MMA's A registers, never in shared memory (x in
    # ``w4a16_gluon.r128_order``; block_n = 16 num_warps times a power of two; >= 2 stages);
    # "r128o": r128 with block b + 1 folded while block b's MMA runs; "r128w": r128 warp-specialized
    # (``w4a16_gluon_ws``: two consumer partitions of num_warps warps, block_n / 2 rows each, and a
    # producer warp for x; block_n = 32 num_warps times a power of two; no stream-K; gate|up's
    # fused activation per half; max_regs 0: the kernel's own cap, one program an SM; its 256-token
    # tiles are the ones that win, fifteenth session)
    variant: str = "tc"
    # r128 only: > 0 runs a persistent grid of stream_k programs per SM that share the tiles'
    # blocks equally (``w4a16_gluon.stream_k_plan``; groups_per_split is then unused)
    stream_k: int = 0
    # Gluon variants: > 0 caps ptxas at this many registers a thread (Triton's maxnreg): at 128 two
    # 8-warp programs fit an SM's 64K registers (an 8-warp 128 x 128 r128n build takes 128 with or
    # without K splits, r128o 213, a stream-K grid 148-157 unless capped); 0 leaves it to ptxas
    max_regs: int = 0


P16_VARIANTS = (
    "p16",
    "p16g",
    "p16f",
    "p16t",
    "p16ft",
    "p128",
    "s128",
    "g128",
    "g128n",
    "r128",
    "r128n",
    "r128o",
    "r128w",
)
GLUON_VARIANTS = ("g128", "g128n", "r128", "r128n", "r128o", "r128w")


GEMV_VARIANTS = ("dn", "dn2d", "dn2dh", "lop3", "classic", "2d", "tma", "tmax")
# the Gluon GEMV (w4a16_gluon_gemv.py; sm_90, bf16 / fp16 x): weight words through TMA, num_stages
# groups ahead; "tmax" with x scaled once a program into shared memory
GLUON_GEMV_VARIANTS = ("tma", "tmax")

# Measured best configs, keyed by (N, K) for the GEMV and (M bucket, N, K) for the GEMM, at the
# EXAONE-4.0-32B shapes on one H200: the GEMV by bench/w4a16_sweep.py (bench/results/
# kernels_h200_2026-12-02/ and -12-02h/), the GEMM by bench/int4_engine.py on 2026-11-29 and
# confirmed best among the candidates on 2026-12-02. Other shapes use the heuristics below.
TUNED_GEMV: dict[tuple[int, int], GemvConfig] = {
    # H200, 2026-12-03, eighteenth session (bench/results/kernels_h200_2026-12-03i/): the
    # seventeenth session's "tmax" GEMVs (sweep28, kernels_h200_2026-12-03h/; µs per call there
    # with 4 stages, all 4 tiles asked for before the PDL wait, in the comments) with 2 stages and 1
    # tile before the wait, and gate|up in 2 K splits instead of 3. Chosen in the decode step, not
    # in the sweep: the tiles a GEMV asks for before its wait are read while the kernel before it
    # (attention, a norm, silu) runs, and slow it. The engine at one row, 1K context, alternating
    # on one model (bench/gemv_engine_ab.py's way): 132.3-132.9 tok/s with the seventeenth session's
    # four, 140.2-140.8 with fewer tiles before the wait, 145.6-145.9 with 2 stages, 146.2-146.9
    # with gate|up's 2 splits; 150.5-151.1 with the nineteenth session's one-round-trip fix-up
    # (kernels_h200_2026-12-04/), where down with silu_x (149.4-149.6) and o with merge_x
    # (148.6-148.8) lost. Before: "dn2d" / "dn" launched with PDL (eighth session, kernels_h200_
    # 2026-12-02h/; lost there: the stream-K grid, L2 prefetch before the wait, a register double
    # buffer); the per-group x of "tmax" lost in the engine in the sixteenth session.
    (7168, 5120): GemvConfig(256, 3, 2, 2, "tmax", pre=1),  # q|k|v (sweep28: 11.7 us, dn2d 11.7)
    (5120, 5120): GemvConfig(256, 3, 2, 2, "tmax", pre=1),  # o (9.6 us, dn2d 10.0)
    (54784, 5120): GemvConfig(256, 20, 2, 2, "tmax", pre=1),  # gate|up (14 a split: 46.6 us, 76 % of copy)
    (5120, 27392): GemvConfig(128, 16, 1, 2, "tmax", pre=1),  # down (27.4 us, 65 %; dn2d 32.4)
}
# Where the Gluon GEMV cannot run (not a Hopper GPU, a Triton without Gluon, or fp32 x: the exact
# mode), the tl kernels of the eighth session (kernels_h200_2026-12-02h/, sweep17 and sweep19, with
# PDL: 11.9, 10.5, 52.2 and 32.9 us there) stand in for the "tmax" entries.
TUNED_GEMV_TL: dict[tuple[int, int], GemvConfig] = {
    (7168, 5120): GemvConfig(256, 3, 4, 1, "dn2d"),
    (5120, 5120): GemvConfig(256, 2, 4, 1, "dn2d"),
    (54784, 5120): GemvConfig(1024, 1, 4, 1, "dn"),
    (5120, 27392): GemvConfig(256, 8, 2, 1, "dn2d"),
}
_GEMM_16 = {
    (7168, 5120): GemmConfig(16, 128, 10, 4, 3),
    (5120, 5120): GemmConfig(16, 64, 5, 4, 3),
    (54784, 5120): GemmConfig(16, 128, 10, 4, 3),
    (5120, 27392): GemmConfig(16, 128, 13, 4, 3),
}
TUNED_GEMM: dict[tuple[int, int, int], GemmConfig] = {
    **{(8, n, k): c for (n, k), c in _GEMM_16.items()},
    **{(16, n, k): c for (n, k), c in _GEMM_16.items()},
    (64, 7168, 5120): GemmConfig(64, 64, 20, 4, 3),
    (64, 5120, 5120): GemmConfig(64, 64, 5, 4, 3),
    (64, 54784, 5120): GemmConfig(64, 64, 20, 4, 3),
    (64, 5120, 27392): GemmConfig(64, 64, 26, 4, 3),
}
# The large-M and p16 GEMMs, keyed like TUNED_GEMM: (M bucket, N, K) -> config, only where a GPU
# sweep measured them faster than both the GEMM and dequantize + cuBLAS; while a key is absent,
# M < DEQUANT_MATMUL_ROWS takes the GEMM and more rows dequantize + cuBLAS. The entries: H200,
# 2026-12-02, `bench/w4a16_sweep.py --p16`, `--p16t` and `--p128` (bench/results/
# kernels_h200_2026-12-02b/ to -02e/); the large-M GEMM (variant "tc") won nowhere. An (M bucket)
# key serves the rows above the previous bucket up to it (8: 2..8, 16: 9..16, ..., 512: 257..512).
TUNED_TC: dict[tuple[int, int, int], TcConfig] = {
    # H200, 2026-12-02, fifth session: the Gluon GEMM (g128) from `bench/w4a16_sweep.py --g128`
    # (bench/results/kernels_h200_2026-12-02e/), each timed in the same call as the config it
    # replaced (p16/p16f/p16t/p128/s128, the GEMM and dequantize + cuBLAS). Sixth session
    # (kernels_h200_2026-12-02f/): `--g128` again (sweep5) and `--r128` (sweep7-11: the weight
    # folded into the MMA's A registers), which takes gate|up and down at every bucket but 256's
    # down; q|k|v and o stay on g128 (r128 lost at 16, 64, 256 rows). Every r128 entry passed the
    # sweep's checks (act-order on and off, bf16 and fp16 at 16 rows, bitwise repeatable). Seventh
    # session (kernels_h200_2026-12-02g/): sweep12 (`--r128`, r128o measured) and sweep13 (`--r128
    # --stream-k 1,2`, all four linears at 16-512 rows), which moved down at 129..256 rows off
    # dequantize + cuBLAS onto a stream-K r128 grid; all passed the same checks.
    # M=8 (2..8 rows; the GEMM before): 15.5 us, 38 TFLOP/s (GEMM 23.7 us)
    (8, 7168, 5120): TcConfig(8, 64, 14, 4, 4, True, 128, "g128"),
    # M=8: 12.9 us, 32 TFLOP/s (GEMM 19.0 us)
    (8, 5120, 5120): TcConfig(8, 64, 6, 4, 4, True, 128, "g128"),
    # M=8: 65.3 us, 69 TFLOP/s (seventh session, kernels_h200_2026-12-02g/sweep12: r128o, the next
    # block folded while the MMA runs; r128n 66.9 us in the same call, 67.9 in sweep8, the sixth
    # session's; g128 76.1 us; GEMM 121.1 us)
    (8, 54784, 5120): TcConfig(8, 64, 40, 4, 4, True, 128, "r128o"),
    # M=8: 41.5 us, 54 TFLOP/s (sweep12: r128o; r128n 41.9 us; g128 44.6 us in sweep8; GEMM 68.1 us)
    (8, 5120, 27392): TcConfig(8, 128, 16, 4, 4, True, 128, "r128o"),
    # M=16: 16.8 us, 70 TFLOP/s (was p16 21.7 us)
    (16, 7168, 5120): TcConfig(16, 64, 14, 4, 4, True, 128, "g128"),
    # M=16: 14.2 us, 59 TFLOP/s (was p16f 17.8 us)
    (16, 5120, 5120): TcConfig(16, 64, 10, 4, 4, True, 128, "g128"),
    # M=16: 68.3 us, 131 TFLOP/s (sweep7: r128n; g128 80.8 us in the same call; was p16f 104.6 us)
    (16, 54784, 5120): TcConfig(16, 64, 40, 4, 4, True, 128, "r128n"),
    # M=16: 45.8 us, 98 TFLOP/s (sweep7: r128n; g128 51.2 us; was p16t 61.1 us)
    (16, 5120, 27392): TcConfig(16, 64, 31, 4, 4, True, 128, "r128n"),
    # M=32: 21.8 us, 108 TFLOP/s (p128 26.2 us in the fourth session)
    (32, 7168, 5120): TcConfig(32, 64, 20, 4, 3, True, 128, "g128"),
    # M=32: 22.0 us, 76 TFLOP/s (p16f 21.8 us in the fourth session: even)
    (32, 5120, 5120): TcConfig(32, 64, 20, 4, 3, True, 128, "g128"),
    # M=32: 83.6 us, 215 TFLOP/s (sweep12: r128o; r128 92.4 us in the same call, 92.1 in sweep8;
    # g128 97.5 us; p16f 119.3 us in the fourth session)
    (32, 54784, 5120): TcConfig(32, 64, 40, 4, 4, True, 128, "r128o"),
    # M=32: 56.3 us, 159 TFLOP/s (sweep8: r128; g128 61.3 us; p16t 73.5 us in the fourth session)
    (32, 5120, 27392): TcConfig(32, 64, 31, 4, 4, True, 128, "r128"),
    # M=64: 27.2 us, 173 TFLOP/s (was p128 32.4 us)
    (64, 7168, 5120): TcConfig(64, 64, 20, 4, 4, True, 128, "g128"),
    # M=64: 24.7 us, 136 TFLOP/s (twentieth session, kernels_h200_2026-12-04b/call3: r128o capped at
    # 128 registers in 6 K splits, 480 programs; g128 in 2 splits 26.3 us in the same call, r128o in
    # 2 splits 25.6; in the engine at batch 64, 4K +0.2 %, both rounds)
    (64, 5120, 5120): TcConfig(64, 64, 7, 4, 2, True, 128, "r128o", 0, 128),
    # M=64: 96.6 us, 372 TFLOP/s (seventeenth session, kernels_h200_2026-12-03h/sweep29: r128o on
    # 64 x 64 tiles of 4 warps, 2 slots of x, capped at 128 registers, as 128 rows' down; the 8-warp
    # r128n 64 x 128 of sweep7 it replaced 104.7 us in the same call, 103.1 in sweep7)
    (64, 54784, 5120): TcConfig(64, 64, 40, 4, 2, True, 128, "r128o", 0, 128),
    # M=64: 60.7 us, 296 TFLOP/s (twentieth session, kernels_h200_2026-12-04b/call2: the same tile
    # in 6 K splits, 480 programs, 0.91 of a wave at 4 an SM; sweep29's 4 splits (320 programs) 68.9 us
    # in the same call, 5 splits 71.6, 7 splits 76.5 in call 1: the grid's waves decide; in the engine
    # at batch 64, 4K +1.3 %). Sweep29's 4 splits had replaced the r128n with 4 stages of sweep12
    # (82.9 us in its call)
    (64, 5120, 27392): TcConfig(64, 64, 36, 4, 2, True, 128, "r128o", 0, 128),
    # M=128: 31.2 us, 301 TFLOP/s (was s128 37.9 us)
    (128, 7168, 5120): TcConfig(128, 64, 40, 4, 3, True, 128, "g128"),
    # M=128: 30.9 us, 217 TFLOP/s (was s128 37.4 us)
    (128, 5120, 5120): TcConfig(128, 64, 40, 4, 3, True, 128, "g128"),
    # M=128: 149.1 us, 482 TFLOP/s (sweep9: r128n; g128 with 256 columns 160.3 us in the same call,
    # 158.5 in the fifth session; was s128 254.3 us)
    (128, 54784, 5120): TcConfig(128, 128, 40, 8, 3, True, 128, "r128n"),
    # M=128: 101.2 us, 355 TFLOP/s (fifteenth session, kernels_h200_2026-12-03f/sweep25: r128o on
    # 128 x 64 tiles of 4 warps and 2 slots of x, 3 K splits, capped at 128 registers: several
    # programs an SM; the 8-warp 128 x 128 r128n in 6 K splits of the fourteenth session 112.5 us in
    # the same call, 110.9 in sweep22; r128w with 128 tokens a tile 106.8 in sweep24)
    (128, 5120, 27392): TcConfig(128, 64, 72, 4, 2, True, 128, "r128o", 0, 128),
    # M=256 (sixth session, sweep5: 4 slots of x, 2 blocks ahead): 42.3 us, 444 TFLOP/s (3 slots
    # 44.6 us in the fifth session; dequantize + cuBLAS 55.9 us)
    (256, 7168, 5120): TcConfig(128, 128, 40, 8, 4, True, 128, "g128"),
    # M=256: 230.3 us, 624 TFLOP/s (fifteenth session, sweep24: r128w, the warp-specialized r128,
    # 256 tokens a tile, so each weight is folded once for 256 rows; 232.9 in sweep26; the 8-warp
    # r128n 128 x 128 of sweep9 it replaced 245.7 / 248.1 us in the same calls, its stream-K grid
    # 250.2; r128w with 128 tokens 272.5). gate_up_silu takes it too (its fused activation per
    # consumer half, equal bit for bit to gate|up then silu_mul on the H200)
    (256, 54784, 5120): TcConfig(256, 128, 40, 4, 3, True, 128, "r128w"),
    # M=256: 163.7 us, 439 TFLOP/s (sweep24: r128w, 256 tokens a tile, 3 K splits; 162.1 in sweep26;
    # the capped r128o of sweep22 it replaced 165.9 / 165.5 us in the same calls; r128w's stream-K
    # grid 181.8, with 128 tokens 193.5; dequantize + cuBLAS 204.7 us)
    (256, 5120, 27392): TcConfig(256, 128, 72, 4, 3, True, 128, "r128w"),
    # o stays on dequantize + cuBLAS at 129..256 rows: g128 wins by 1.0 us at 256 rows (41.7 against
    # 42.7, sweep5) but costs the same for fewer rows, while the cuBLAS half of the other path
    # shrinks with them; r128 (stream-K too) lost to both in sweep13
    # M=512: 65.1 us, 578 TFLOP/s (fifteenth session, sweep26: r128w, 256 tokens a tile; dequantize +
    # cuBLAS 74.5 us in the same call; at 256 rows g128 stays, 41.0 us against r128w's 58.3)
    (512, 7168, 5120): TcConfig(256, 128, 40, 4, 3, True, 128, "r128w"),
    # M=512: 405.7 us, 708 TFLOP/s (sweep26: r128w, 256 tokens a tile; the r128n of sweep11 it
    # replaced 454.1 us in the same call, 469.3 in sweep11; dequantize + cuBLAS 555.0). o and down
    # stay on dequantize + cuBLAS at 512 rows: r128w 62.0 against 55.3 us, and 294.7 against 290.4
    (512, 54784, 5120): TcConfig(256, 128, 40, 4, 3, True, 128, "r128w"),
    # 257..384 rows (tc_config): the 512 bucket's r128n of before the fifteenth session, whose three
    # 128-token tiles there should cost about 3/4 of its 454.1 us at 512 rows against the two 256-
    # token tiles of r128w's 405.7 (not timed at 384 rows); q|k|v keeps dequantize + cuBLAS there
    (384, 54784, 5120): TcConfig(128, 128, 40, 8, 3, True, 128, "r128n"),
}
# Where Gluon cannot run (not a Hopper GPU, or a Triton without Gluon), the entries of the fourth
# session (tl kernels, measured on the same H200: BENCHMARKS.md, bench/results/kernels_h200_2026-
# 12-02c/ and -02d/) stand in for the g128 ones; 2..8 rows then take the GEMM.
TUNED_TC_TL: dict[tuple[int, int, int], TcConfig] = {
    (16, 7168, 5120): TcConfig(16, 64, 14, 4, 3, True, 128, "p16"),
    (16, 5120, 5120): TcConfig(16, 128, 6, 4, 3, True, 128, "p16f"),
    (16, 54784, 5120): TcConfig(16, 128, 40, 4, 3, True, 128, "p16f"),
    (16, 5120, 27392): TcConfig(16, 128, 16, 4, 3, True, 128, "p16t"),
    (32, 7168, 5120): TcConfig(32, 64, 14, 4, 4, True, 128, "p128"),
    (32, 5120, 5120): TcConfig(32, 128, 6, 4, 3, True, 128, "p16f"),
    (32, 54784, 5120): TcConfig(32, 128, 40, 4, 3, True, 128, "p16f"),
    (32, 5120, 27392): TcConfig(32, 128, 16, 4, 3, True, 128, "p16t"),
    (64, 7168, 5120): TcConfig(64, 64, 20, 4, 4, True, 128, "p128"),
    (64, 54784, 5120): TcConfig(64, 128, 40, 4, 3, True, 128, "p16t"),
    (64, 5120, 27392): TcConfig(64, 128, 16, 4, 3, True, 128, "p16t"),
    (128, 7168, 5120): TcConfig(128, 64, 40, 4, 4, True, 128, "s128"),
    (128, 5120, 5120): TcConfig(128, 64, 40, 4, 4, True, 128, "s128"),
    (128, 54784, 5120): TcConfig(128, 64, 40, 4, 4, True, 128, "s128"),
    (128, 5120, 27392): TcConfig(128, 64, 54, 4, 4, True, 128, "s128"),
    (256, 54784, 5120): TcConfig(256, 64, 40, 4, 3, True, 128, "s128"),
}
# Rows above which the large-M GEMM is never chosen (prefill: dequantize + cuBLAS wins there).
TC_MAX_ROWS = 512
_SMS: dict[int, int] = {}


def _num_sms(device: torch.device) -> int:
    if device.type != "cuda":
        return 8
    idx = device.index if device.index is not None else torch.cuda.current_device()
    if idx not in _SMS:
        _SMS[idx] = torch.cuda.get_device_properties(idx).multi_processor_count
    return _SMS[idx]


def _split(num_groups: int, tiles: int, sms: int, waves: int = 2) -> int:
    """Groups per split so that tiles x splits fills about `waves` waves of the GPU."""
    want_splits = max(1, (waves * sms + tiles - 1) // tiles)
    splits = min(num_groups, want_splits)
    return (num_groups + splits - 1) // splits


def gemv_config(w: W4Weight, device: torch.device, dtype: torch.dtype = torch.bfloat16) -> GemvConfig:
    """The tuned config of the shape (``TUNED_GEMV_TL``'s where a Gluon entry cannot run: another
    GPU, or fp32 x), else a default. fp32 activations (the exact CPU/fp32 mode,
    pinned against the reference to 3e-4) take the exact classic GEMV: lop3's offset trick costs
    about 11 bits (~5e-5 relative), far below bf16/fp16 rounding but visible in fp32 logits."""
    key = (w.out_features, w.in_features)
    tuned = TUNED_GEMV.get(key)
    gluon_ok = dtype in (torch.bfloat16, torch.float16) and gluon_available(device)
    if tuned is not None and tuned.variant in GLUON_GEMV_VARIANTS and not gluon_ok:
        tuned = TUNED_GEMV_TL.get(key)
    if tuned is not None:
        return tuned
    block_n = 1024 if w.out_features >= 8192 else 512 if w.out_features >= 2048 else 128
    num_warps = max(1, min(8, block_n // 128))
    num_groups = w.in_features // w.group_size
    tiles = triton.cdiv(w.out_features, block_n)
    variant = "classic" if dtype == torch.float32 else "lop3"
    return GemvConfig(block_n, _split(num_groups, tiles, _num_sms(device), waves=4), num_warps, 1, variant)


def silu_down_config(w: W4Weight, device: torch.device, dtype: torch.dtype) -> GemvConfig | None:
    """down's one-row config where its kernel reads ``silu(gate) * up`` itself (``silu_x``, the
    Gluon "tmax" GEMV, no act-order), else None (``glue.silu_mul``, then the GEMV)."""
    cfg = gemv_config(w, device, dtype)
    if not cfg.silu_x or cfg.variant != "tmax" or w.perm is not None:
        return None
    if dtype not in (torch.bfloat16, torch.float16) or not gluon_available(device):
        return None
    return cfg


def silu_down(gate_up: torch.Tensor, w: W4Weight, dtype: torch.dtype) -> torch.Tensor:
    """``silu(gate) * up @ w`` for one row, [1, 1, N] float32, from gate|up's output [1, 1, 2K]
    (float32, as the GEMV gives it): bit for bit ``w4_matmul(glue.silu_mul(gate_up, dtype), w)``
    where ``silu_down_config`` gives a config, without the silu_mul kernel."""
    cfg = silu_down_config(w, gate_up.device, dtype)
    if cfg is None:
        raise ValueError(
            f"down [{w.out_features}, {w.in_features}] has no one-row config that reads silu(gate) * up"
        )
    if gate_up.shape != (1, 1, 2 * w.in_features) or gate_up.dtype != torch.float32:
        raise ValueError(
            f"gate|up's output must be [1, 1, {2 * w.in_features}] float32, got {list(gate_up.shape)} "
            f"{gate_up.dtype}"
        )
    return _gluon_gemv(gate_up.reshape(1, -1).contiguous(), w, cfg, silu_act=dtype)


def merge_o_config(w: W4Weight, device: torch.device, dtype: torch.dtype, head_dim: int) -> GemvConfig | None:
    """o's one-row config where its kernel merges the split attention itself (``merge_x``, the
    Gluon "tmax" GEMV, a head a quantization group, no act-order), else None."""
    cfg = gemv_config(w, device, dtype)
    if not cfg.merge_x or cfg.variant != "tmax" or w.perm is not None or w.group_size != head_dim:
        return None
    if dtype not in (torch.bfloat16, torch.float16) or not gluon_available(device):
        return None
    return cfg


def merge_o(
    mid: torch.Tensor, lse: torch.Tensor, groups: int, w: W4Weight, dtype: torch.dtype
) -> torch.Tensor:
    """``x @ w`` for one row, [1, 1, N] float32, where x is the split attention (``attention.
    decode_attention_unmerged``: outputs `mid` [1, KV heads, splits, GP, D], `lse`, `groups`
    query heads a KV head) merged as ``attention._decode_merge_kernel`` merges it and rounded to
    `dtype`: meant bit for bit as the merge kernel, then ``w4_matmul``, one kernel fewer."""
    cfg = merge_o_config(w, mid.device, dtype, mid.shape[-1])
    if cfg is None:
        raise ValueError(f"o [{w.out_features}, {w.in_features}] has no one-row config that merges attention")
    return _gluon_gemv(mid, w, cfg, merge=(lse, groups, dtype))


def _gluon_gemv(
    x: torch.Tensor,
    w: W4Weight,
    cfg: GemvConfig,
    out: torch.Tensor | None = None,
    *,
    silu_act: torch.dtype | None = None,
    merge: tuple[torch.Tensor, int, torch.dtype] | None = None,
) -> torch.Tensor:
    """One launch of the Gluon GEMV (``w4a16_gluon_gemv``) for one row: `out` [1, 1, N] float32
    (made here if None), its K splits' partials, the arrival counters; `silu_act` / `merge`: what
    x is (``silu_down``, ``merge_o``)."""
    from evalkit.runners.torch_int4.kernels import w4a16_gluon_gemv

    n, num_groups = w.out_features, w.in_features // w.group_size
    splits = triton.cdiv(num_groups, cfg.groups_per_split)
    if out is None:
        out = torch.empty((1, 1, n), dtype=torch.float32, device=x.device)
    part = torch.empty((splits, 1, n), dtype=torch.float32, device=x.device) if splits > 1 else out
    w4a16_gluon_gemv.launch(
        x, w.qweight, w.qzeros, w.scales, out, part, _counters(x.device, triton.cdiv(n, cfg.block_n)),
        num_groups=num_groups, groups_per_split=cfg.groups_per_split, group=w.group_size,
        zero_offset=w.zero_offset, block_n=cfg.block_n, num_warps=cfg.num_warps, stages=cfg.num_stages,
        x_shared=cfg.variant == "tmax", pdl=pdl.enabled(x.device), pre=cfg.pre, silu_act=silu_act,
        merge=merge,
    )  # fmt: skip
    return out


def _m_bucket(m: int) -> int:
    for b in (8, 16, 32, 64, 128, 256):
        if m <= b:
            return b
    return 512


def gemm_config(w: W4Weight, m: int, device: torch.device) -> GemmConfig:
    bucket = _m_bucket(m)
    tuned = TUNED_GEMM.get((bucket, w.out_features, w.in_features))
    if tuned is not None:
        return tuned
    block_m = min(max(16, bucket), 64)
    block_n = 128 if w.out_features >= 2048 else 64
    num_groups = w.in_features // w.group_size
    tiles = triton.cdiv(m, block_m) * triton.cdiv(w.out_features, block_n)
    return GemmConfig(block_m, block_n, _split(num_groups, tiles, _num_sms(device)), 4, 2)


def tc_config(w: W4Weight, m: int, dtype: torch.dtype) -> TcConfig | None:
    """The measured large-M GEMM config for `m` rows of `dtype`, or None (take another path):
    TUNED_TC's entry for the rows' bucket, except at 257..384 rows, which take a (384, N, K) entry
    where there is one, and otherwise no 512-bucket config of 256-token tiles (two such tiles
    would cost what 512 rows cost)."""
    if dtype not in (torch.bfloat16, torch.float16) or not 2 <= m <= TC_MAX_ROWS:
        return None
    cfg = TUNED_TC.get((_m_bucket(m), w.out_features, w.in_features))
    if 256 < m <= 384:  # 256-token tiles would leave the second tile half empty or worse
        mid = TUNED_TC.get((384, w.out_features, w.in_features))
        if mid is not None or (cfg is not None and cfg.block_m > 128):
            cfg = mid
    if cfg is not None and cfg.variant != "tc" and w.group_size % 128:
        return None  # the p16 kernel's blocks of 128 inputs must lie in one group
    if cfg is not None and cfg.variant in TMA_VARIANTS and not tma_available(w.qweight.device):
        return None
    if cfg is not None and cfg.variant in GLUON_VARIANTS and not gluon_available(w.qweight.device):
        cfg = TUNED_TC_TL.get((_m_bucket(m), w.out_features, w.in_features))
        if cfg is not None and cfg.variant in TMA_VARIANTS and not tma_available(w.qweight.device):
            return None
    return cfg


_GLUON: dict[torch.device, bool] = {}


def gluon_available(device: torch.device) -> bool:
    """Whether the Gluon GEMM (variant "g128") can run here: a Hopper GPU (wgmma is sm_90 only;
    Gluon kernels do not run in the CPU interpreter) and a Triton with Gluon's Hopper API."""
    if device not in _GLUON:
        ok = device.type == "cuda" and torch.cuda.get_device_capability(device) == (9, 0)
        if ok:
            try:
                from evalkit.runners.torch_int4.kernels import w4a16_gluon  # noqa: F401
            except ImportError:
                ok = False
        _GLUON[device] = ok
    return _GLUON[device]


TMA_VARIANTS = ("p16t", "p16ft", "p128", "s128")
_TMA: dict[torch.device, bool] = {}


def tma_available(device: torch.device) -> bool:
    """Whether the TMA kernels can run here: Triton has host tensor descriptors, and the GPU is
    a Hopper or later (the interpreter on a CPU runs them too). Elsewhere their table entries are
    skipped and the shape takes the GEMM or dequantize + cuBLAS."""
    if device not in _TMA:
        try:
            from triton.tools.tensor_descriptor import TensorDescriptor  # noqa: F401

            ok = device.type != "cuda" or torch.cuda.get_device_capability(device) >= (9, 0)
        except ImportError:
            ok = False
        _TMA[device] = ok
    return _TMA[device]


def p16_order(x: torch.Tensor) -> torch.Tensor:
    """x [M, K] with each block of 128 columns reordered so that column 16 j + r is input
    8 r + j (code j of the block's word r): the order ``_gemm_p16_kernel`` reads."""
    m, k = x.shape
    return x.view(m, k // 128, 16, 8).transpose(2, 3).reshape(m, k)


# --------------------------------------------------------------------------- entry points


_COUNTERS: dict[torch.device, torch.Tensor] = {}


def _counters(device: torch.device, tiles: int) -> torch.Tensor:
    """Arrival counters of the split-K fix-up, zero between calls (the last split resets its
    tile's). One buffer per device serves every call: kernels on a stream run one at a time."""
    buf = _COUNTERS.get(device)
    if buf is None or buf.numel() < tiles:
        buf = torch.zeros(max(tiles, 1 << 16), dtype=torch.int32, device=device)
        _COUNTERS[device] = buf
    return buf


def _mode(dtype: torch.dtype) -> int:
    return {torch.bfloat16: 0, torch.float16: 1, torch.float32: 2}[dtype]


_GEMV_KERNELS = {
    "lop3": _gemv_lop3_kernel,
    "dn": _gemv_lop3_kernel,
    "classic": _gemv_kernel,
    "2d": _gemv2d_kernel,
    "dn2d": _gemv_dn2d_kernel,
    "dn2dh": _gemv_dn2d_kernel,
}


def input_order(w: W4Weight, rows: int, dtype: torch.dtype) -> torch.Tensor | None:
    """Where the kernel that ``w4_matmul`` takes for `rows` rows of `dtype` wants each input of x
    (int64 [K]: x's column c at column dest[c]; act-order's ``perm`` included), or None where it
    reads x as given. A producer of x can write it so (``glue.silu_mul(..., dest)``,
    ``glue.add_norm_ordered``) and hand it over with ``w4_matmul(x, w, dest=dest)``: the copy
    the kernel would make is saved. Today: the r128 GEMM (``w4a16_gluon.r128_order``)."""
    cfg = tc_config(w, rows, dtype)
    if cfg is None or not cfg.variant.startswith("r128"):
        return None
    return r128_dest(w)


def r128_dest(w: W4Weight) -> torch.Tensor:
    """x's column c goes to column dest[c] of what the r128 GEMM reads (``perm``, then each block
    of 128 in ``r128_order``); made once per weight, on its device."""
    dest = w.orders.get("r128")
    if dest is None:
        from evalkit.runners.torch_int4.kernels.w4a16_gluon import r128_order

        k = w.in_features
        src = r128_order(torch.arange(k)[None])[0]  # position j of the kernel's x holds input src[j]
        if w.perm is not None:
            src = w.perm.cpu()[src]
        dest = torch.empty(k, dtype=torch.int64)
        dest[src] = torch.arange(k)
        dest = w.orders["r128"] = dest.to(w.qweight.device)
    return dest


def w4_matmul(
    x: torch.Tensor,
    w: W4Weight,
    *,
    gemv: GemvConfig | None = None,
    gemm: GemmConfig | None = None,
    tc: TcConfig | None = None,
    out: torch.Tensor | None = None,
    dest: torch.Tensor | None = None,
) -> torch.Tensor:
    """``x [M, K] @ W`` in float32, shaped [1, M, N] (the partial-sums interface of the glue
    kernels, with its K slices already added by the kernel itself).

    One row takes the GEMV, more rows the tensor-core GEMM (bf16, fp16, or fp32 with
    IEEE products for reference numerics, after x's dtype), or the large-M GEMM where
    ``TUNED_TC`` has a config for these rows (or `tc` is given; bf16/fp16 only). `dest`: x is
    already in the kernel's input order, ``input_order``'s map for these rows.
    """
    if x.dim() != 2 or x.shape[1] != w.in_features:
        raise ValueError(f"x must be [M, {w.in_features}], got {list(x.shape)}")
    if tc is not None and x.dtype not in (torch.bfloat16, torch.float16):
        raise ValueError(f"the large-M GEMM takes bf16 or fp16 activations, got {x.dtype}")
    m, n = x.shape[0], w.out_features
    if tc is None and gemv is None and gemm is None:
        tc = tc_config(w, m, x.dtype)
    if dest is not None:
        if tc is None or not tc.variant.startswith("r128") or dest is not w.orders.get("r128"):
            raise ValueError(f"x in an input order is for the r128 GEMM with its map (input_order), not {tc}")
        return _gemm_p16(x.contiguous(), w, tc, out, ordered=True)
    if w.perm is not None:
        x = x.index_select(1, w.perm)
    x = x.contiguous()
    num_groups = w.in_features // w.group_size
    if tc is not None:
        return _gemm_tc(x, w, tc, out)
    if m == 1 and gemm is None:
        cfg = gemv or gemv_config(w, x.device, x.dtype)
        if cfg.variant in GLUON_GEMV_VARIANTS:
            if x.dtype not in (torch.bfloat16, torch.float16) or not gluon_available(x.device):
                raise ValueError(f"the Gluon GEMV takes bf16 / fp16 x on sm_90, not {x.dtype} on {x.device}")
            return _gluon_gemv(x, w, cfg, out)
        splits = triton.cdiv(num_groups, cfg.groups_per_split)
        if out is None:
            out = torch.empty((1, 1, n), dtype=torch.float32, device=x.device)
        grid = (triton.cdiv(n, cfg.block_n), splits)
        part = torch.empty((splits, 1, n), dtype=torch.float32, device=x.device) if splits > 1 else out
        # the GEMVs that wait for x (gdc_wait) take programmatic dependent launch where it runs
        early = cfg.variant in ("lop3", "dn", "dn2d", "dn2dh") and pdl.enabled(x.device)
        _GEMV_KERNELS[cfg.variant][grid](
            x,
            w.qweight,
            w.qzeros,
            w.scales,
            out,
            part,
            _counters(x.device, grid[0]),
            n,
            num_groups,
            cfg.groups_per_split,
            splits,
            *((0,) if cfg.variant in ("dn2d", "dn2dh") else ()),
            GROUP=w.group_size,
            BLOCK_N=cfg.block_n,
            ZERO_OFFSET=w.zero_offset,
            num_warps=cfg.num_warps,
            num_stages=cfg.num_stages,
            **(
                {"DENORMAL": cfg.variant == "dn", "EVEN_N": n % cfg.block_n == 0, "PDL": early}
                if cfg.variant in ("lop3", "dn")
                else {"EVEN_N": n % cfg.block_n == 0, "HOIST": cfg.variant == "dn2dh", "PDL": early}
                if cfg.variant in ("dn2d", "dn2dh")
                else {}
            ),
            **({"launch_pdl": True} if early else {}),
        )
        return out
    gcfg = gemm or gemm_config(w, m, x.device)
    splits = triton.cdiv(num_groups, gcfg.groups_per_split)
    if out is None:
        out = torch.empty((1, m, n), dtype=torch.float32, device=x.device)
    part = torch.empty((splits, m, n), dtype=torch.float32, device=x.device) if splits > 1 else out
    grid3 = (triton.cdiv(m, gcfg.block_m), triton.cdiv(n, gcfg.block_n), splits)
    _gemm_kernel[grid3](
        x,
        w.qweight,
        w.qzeros,
        w.scales,
        out,
        part,
        _counters(x.device, grid3[0] * grid3[1]),
        m,
        n,
        num_groups,
        x.stride(0),
        gcfg.groups_per_split,
        splits,
        GROUP=w.group_size,
        BLOCK_M=gcfg.block_m,
        BLOCK_N=gcfg.block_n,
        ZERO_OFFSET=w.zero_offset,
        MODE=_mode(x.dtype),
        num_warps=gcfg.num_warps,
        num_stages=gcfg.num_stages,
    )
    return out


# The row buckets (as TUNED_TC's) where gate|up with the activation in its epilogue beat gate|up
# then glue.silu_mul: H200, 2026-12-03, a decode step of the 32B shapes as a CUDA graph
# (bench/prefill_profile.py --steps silu; bench/results/kernels_h200_2026-12-03d/silu_check.json):
# 16 rows 11.041 -> 10.918 ms, 128 rows 30.326 -> 29.267, 256 rows 50.938 -> 49.856; 64 rows
# lost then (20.253 -> 20.381, on that table's 8-warp 64 x 128 r128n) and won on the seventeenth
# session's 4-warp 64 x 64 r128o (twentieth session, kernels_h200_2026-12-04b/call3: batch 64 at 4K
# 2,020.7 / 2,019.9 -> 2,058.8 / 2,059.1 tok/s, alternating); 8, 32 and 512 not measured
SILU_EPILOGUE_BUCKETS = (16, 64, 128, 256)


def silu_config(w: W4Weight, rows: int, dtype: torch.dtype) -> TcConfig | None:
    """The r128 config that ``w4_matmul`` takes for `rows` rows of the gate|up weight `w` where it
    also applies ``silu(gate) * up`` in its epilogue (``gate_up_silu``): one K split, no
    stream-K, whole tiles, a bucket of SILU_EPILOGUE_BUCKETS; else None (gate|up, then
    ``glue.silu_mul``)."""
    if _m_bucket(rows) not in SILU_EPILOGUE_BUCKETS:
        return None
    cfg = tc_config(w, rows, dtype)
    if cfg is None or not cfg.variant.startswith("r128") or cfg.stream_k:
        return None
    if w.out_features % cfg.block_n or cfg.block_n % 16 or cfg.groups_per_split < w.in_features // 128:
        return None
    return cfg


def gate_up_silu(
    x: torch.Tensor, w: W4Weight, dest: torch.Tensor, out_dest: torch.Tensor | None = None
) -> torch.Tensor:
    """``silu(gate) * up`` [M, I] in x's dtype, for x [M, K] already in the r128 input order
    (`dest`, ``input_order``'s map) and the gate|up weight `w` (N = 2 I): the r128 GEMM of
    ``silu_config`` with the activation in its epilogue, with ``glue.silu_mul``'s roundings
    (equal to it bit for bit); output column c at column out_dest[c] (the next linear's input
    order) where given. The weight is read as stored: each tile's rows are gate and up of the
    same outputs (``w4a16_gluon.silu_rows``)."""
    cfg = silu_config(w, x.shape[0], x.dtype)
    if cfg is None or dest is not w.orders.get("r128"):
        raise ValueError(f"gate_up_silu takes x in r128 order at rows with a silu_config, got {cfg}")
    from evalkit.runners.torch_int4.kernels import w4a16_gluon

    x = x.contiguous()
    m, inter = x.shape[0], w.out_features // 2
    out = torch.empty((m, inter), dtype=x.dtype, device=x.device)
    grid = (triton.cdiv(m, cfg.block_m), w.out_features // cfg.block_n, 1)
    w4a16_gluon.launch(
        x, w.qweight, w.qzeros, w.scales, out, out, _counters(x.device, 1),
        grid=grid, num_blocks=w.in_features // 128, blocks_per_split=w.in_features // 128,
        group=w.group_size, zero_offset=w.zero_offset, block_m=cfg.block_m, block_n=cfg.block_n,
        num_warps=cfg.num_warps, stages=cfg.num_stages, ahead=1 if cfg.variant.endswith("n") else 2,
        registers_a=True, overlap=cfg.variant == "r128o", silu=True, dest=out_dest, max_regs=cfg.max_regs,
        warp_specialized=cfg.variant == "r128w",
    )  # fmt: skip
    return out


def _gemm_tc(x: torch.Tensor, w: W4Weight, cfg: TcConfig, out: torch.Tensor | None) -> torch.Tensor:
    """Launch the large-M GEMM on x (already in ``perm`` order, contiguous)."""
    if cfg.variant != "tc":
        return _gemm_p16(x, w, cfg, out)
    m, n = x.shape[0], w.out_features
    num_groups = w.in_features // w.group_size
    splits = triton.cdiv(num_groups, cfg.groups_per_split)
    if out is None:
        out = torch.empty((1, m, n), dtype=torch.float32, device=x.device)
    part = torch.empty((splits, m, n), dtype=torch.float32, device=x.device) if splits > 1 else out
    grid = (triton.cdiv(m, cfg.block_m), triton.cdiv(n, cfg.block_n), splits)
    _gemm_tc_kernel[grid](
        x,
        w.qweight,
        w.qzeros,
        w.scales,
        out,
        part,
        _counters(x.device, grid[0] * grid[1]),
        m,
        n,
        num_groups,
        x.stride(0),
        cfg.groups_per_split,
        splits,
        GROUP=w.group_size,
        BLOCK_M=cfg.block_m,
        BLOCK_N=cfg.block_n,
        BLOCK_K=min(cfg.block_k, w.group_size),
        ZERO_OFFSET=w.zero_offset,
        SWAP=cfg.swap,
        num_warps=cfg.num_warps,
        num_stages=cfg.num_stages,
    )
    return out


def _gemm_p16(
    x: torch.Tensor, w: W4Weight, cfg: TcConfig, out: torch.Tensor | None, *, ordered: bool = False
) -> torch.Tensor:
    """Launch ``_gemm_p16_kernel`` on x (already in ``perm`` order, contiguous; `ordered`: r128
    only, x in ``r128_order`` too)."""
    if w.group_size % 128 or w.in_features % 128:
        raise ValueError(f"the p16 GEMM needs groups of a multiple of 128 inputs, got {w.group_size}")
    if cfg.variant not in P16_VARIANTS:
        raise ValueError(f"unknown TcConfig variant {cfg.variant!r}")
    gather, half = cfg.variant == "p16g", x.dtype == torch.float16
    if not gather and cfg.variant not in ("s128", *GLUON_VARIANTS):
        x = p16_order(x)
    m, n = x.shape[0], w.out_features
    num_blocks = w.in_features // 128
    splits = triton.cdiv(num_blocks, cfg.groups_per_split)
    grid = (triton.cdiv(m, cfg.block_m), triton.cdiv(n, cfg.block_n), splits)
    tiles = grid[0] * grid[1]
    if cfg.stream_k:
        from evalkit.runners.torch_int4.kernels import w4a16_gluon

        if not cfg.variant.startswith("r128") or cfg.variant == "r128w":
            raise ValueError(f"stream-K (stream_k > 0) is an r128 grid (not r128w), got {cfg}")
        programs = min(cfg.stream_k * _num_sms(x.device), tiles * num_blocks)
        splits = w4a16_gluon.stream_k_max_parts(tiles, num_blocks, programs)  # slots of the partials
        grid = (programs, 1, 1)
    if out is None:
        out = torch.empty((1, m, n), dtype=torch.float32, device=x.device)
    part = torch.empty((splits, m, n), dtype=torch.float32, device=x.device) if splits > 1 else out
    if cfg.variant in GLUON_VARIANTS:
        from evalkit.runners.torch_int4.kernels import w4a16_gluon

        r128 = cfg.variant.startswith("r128")
        if not cfg.swap or cfg.num_stages < (2 if r128 else 3):
            raise ValueError(
                f"the {cfg.variant} GEMM computes W^T x^T (swap=True), >= 3 stages (r128: 2), got {cfg}"
            )
        ws = cfg.variant == "r128w"  # two consumers of num_warps warps, block_n / 2 rows each
        per = 16 * cfg.num_warps * (2 if ws else 1)
        reps = cfg.block_n // per  # r128: A-fragment repeats per warp
        if r128 and (cfg.block_n % per or reps & (reps - 1)):
            raise ValueError(
                f"the {cfg.variant} GEMM needs block_n = {per // cfg.num_warps} num_warps times a power "
                f"of two, got {cfg}"
            )
        if not gluon_available(x.device):
            raise ValueError(
                f"the {cfg.variant} GEMM runs on a Hopper GPU only (Gluon kernels do not run in Triton's "
                f"interpreter), not on {x.device}: take tc_config's choice, which falls back"
            )
        if r128 and not ordered:
            x = w4a16_gluon.r128_order(x)
        w4a16_gluon.launch(
            x, w.qweight, w.qzeros, w.scales, out, part,
            _counters(x.device, 2 * tiles if ws else tiles),  # r128w: a counter for each half of a tile
            grid=grid, num_blocks=num_blocks, blocks_per_split=cfg.groups_per_split, group=w.group_size,
            zero_offset=w.zero_offset, block_m=cfg.block_m, block_n=cfg.block_n,
            num_warps=cfg.num_warps, stages=cfg.num_stages, ahead=1 if cfg.variant.endswith("n") else 2,
            registers_a=r128, overlap=cfg.variant == "r128o", stream_k=cfg.stream_k > 0,
            max_regs=cfg.max_regs, warp_specialized=ws,
        )  # fmt: skip
        return out
    if cfg.variant in TMA_VARIANTS:
        from triton.tools.tensor_descriptor import TensorDescriptor

        if not cfg.swap:
            raise ValueError(f"the {cfg.variant} GEMM computes W^T x^T only (swap=True)")
        p128 = cfg.variant in ("p128", "s128")
        kernel = {"p128": _gemm_p128_kernel, "s128": _gemm_s128_kernel}.get(cfg.variant, _gemm_p16t_kernel)
        extra = {} if p128 else {"FOLD": cfg.variant == "p16ft"}
        kernel[grid](
            TensorDescriptor.from_tensor(x, block_shape=[cfg.block_m, 128 if p128 else 16]),
            w.qweight, w.qzeros, w.scales, out, part, _counters(x.device, grid[0] * grid[1]),
            m, n, num_blocks, cfg.groups_per_split, splits,
            GROUP=w.group_size, BLOCK_M=cfg.block_m, BLOCK_N=cfg.block_n, ZERO_OFFSET=w.zero_offset,
            MAGIC=0x6400 if half else 0x4300, OFF=1024.0 if half else 128.0,
            num_warps=cfg.num_warps, num_stages=cfg.num_stages, **extra,
        )  # fmt: skip
        return out
    _gemm_p16_kernel[grid](
        x, w.qweight, w.qzeros, w.scales, out, part, _counters(x.device, grid[0] * grid[1]),
        m, n, num_blocks, x.stride(0), cfg.groups_per_split, splits,
        GROUP=w.group_size, BLOCK_M=cfg.block_m, BLOCK_N=cfg.block_n, ZERO_OFFSET=w.zero_offset,
        SWAP=cfg.swap, GATHER=gather, FOLD=cfg.variant == "p16f",
        MAGIC=0x6400 if half else 0x4300, OFF=1024.0 if half else 128.0,
        num_warps=cfg.num_warps, num_stages=cfg.num_stages,
    )  # fmt: skip
    return out


def dequantize(
    w: W4Weight,
    dtype: torch.dtype,
    out: torch.Tensor | None = None,
    *,
    block_n: int = 128,
    block_k: int = 128,
    num_warps: int = 8,
    transposed: bool = True,
) -> torch.Tensor:
    """The dense weight [N, K] (``nn.Linear`` layout, rows in ``perm`` order) in `dtype`.

    For prefill and large decode batches: dequantize into a reused scratch buffer, then one
    cuBLAS matmul, which is faster than the fused kernels past 64 rows. `transposed` False
    takes the first kernel (``_dequant_kernel``; benchmarks compare them). The default tile,
    on an H200 at the 32B shapes (2026-12-02): q|k|v 57 us, o 52, gate|up 227, down 126
    (first kernel: 74, 64, 308, 169), 2.8-3.1 TB/s on the two large ones.
    """
    k, n = w.in_features, w.out_features
    if out is None:
        out = torch.empty((n, k), dtype=dtype, device=w.qweight.device)
    if transposed:
        bk = min(block_k, w.group_size)  # a tile lies in one group
        _dequant_t_kernel[(triton.cdiv(n, block_n), k // bk)](
            w.qweight, w.qzeros, w.scales, out, k, n,
            GROUP=w.group_size, BLOCK_K=bk, BLOCK_N=block_n, ZERO_OFFSET=w.zero_offset, num_warps=num_warps,
        )  # fmt: skip
        return out
    bk, bn = 64, 64
    grid = (triton.cdiv(k, bk), triton.cdiv(n, bn))
    _dequant_kernel[grid](
        w.qweight,
        w.qzeros,
        w.scales,
        out,
        k,
        n,
        GROUP=w.group_size,
        BLOCK_K=bk,
        BLOCK_N=bn,
        ZERO_OFFSET=w.zero_offset,
    )
    return out
