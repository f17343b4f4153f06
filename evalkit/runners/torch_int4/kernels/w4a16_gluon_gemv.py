"""The one-row W4A16 GEMV in Gluon, for sm_90 only (``GemvConfig`` variants "tma" and "tmax").

The tl GEMVs (``w4a16._gemv_lop3_kernel``, ``_gemv_dn2d_kernel``) read the weight words into
registers: a thread has one or two groups' loads in flight, so the memory is kept busy only by
many resident programs, and they stay at 53-66 % of copy bandwidth (BENCHMARKS.md, eighth
session). Here the words reach shared memory through the tensor-memory accelerator (TMA),
``STAGES`` groups of 128 inputs ahead: a program keeps ``STAGES - 1`` tiles of [16, BLOCK_N]
words (16 KB at 256 columns) in flight whatever its registers, and the warps only read shared
memory. The arithmetic is the "dn" GEMV's (``w4a16._dn_products``): ``w & (0xF << p)`` read as a
float is the denormal ``q 2^(p - 149)``, exactly; x scaled by ``2^(85 - p)`` makes each product
``x q 2^-64``, exact; a group's dot product is ``s (2^64 sum(x' f) - z sum(x))``. Each thread
holds BLOCK_N / (32 num_warps) consecutive columns and a word row's 8 inputs of x, so the sums
over a group stay in the thread: "tma" loads and scales x at every word row (3.3 SASS
instructions a weight), "tmax" scales the split's x once, with each group's sum, into shared
memory (2.5). K splits are added by the split that arrives last, in split order
(``w4a16._finish``'s scheme): deterministic.

With ``PDL`` (programmatic dependent launch) the first ``PRE`` tiles, the first group's scales
and zeros are asked for before ``griddepcontrol.wait``, the rest of the first ``STAGES`` tiles
and x (the kernel before's output) after it. Those early reads overlap the kernel before, and
slow it: in the one-row decode step one tile before the wait of 2 stages won (eighteenth
session). Gluon kernels do not run in Triton's CPU interpreter: the numbers are checked on the
GPU against the PyTorch twin (``bench/w4a16_sweep.py`` checks every winning config, act-order on
and off, bf16 and fp16, bitwise repeat; ``bench/int4_gpu_check.py`` the whole table); ``make
test`` builds the kernel for sm_90 and checks its SASS (TMA loads, no spills).
"""

from __future__ import annotations

import torch
from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.hopper import mbarrier

# Gluon renames things between releases: the TMA load and the CTA barrier as w4a16_gluon names
# them, and a shared-memory view of another shape (_reinterpret in 3.6, reinterpret in 3.9)
from evalkit.runners.torch_int4.kernels.w4a16_gluon import _cta_barrier, _tma_load

# (the view: w4a16_gluon has none to share)
_PUBLIC_REINTERPRET = gl.constexpr(hasattr(gl.shared_memory_descriptor, "reinterpret"))

_ACT = {torch.bfloat16: gl.bfloat16, torch.float16: gl.float16}
MAX_BLOCK_N = 256  # a TMA box holds at most 256 elements a dimension
MAX_SHARED_X_GROUPS = 64  # "tmax": x' of at most this many groups a split (34 KB of shared memory)
# partials the last split loads at once when it adds them up (the one-row table has 2-14 splits)
FIXUP_LOADS = gl.constexpr(16)


@gluon.constexpr_function
def _pow2(v: int) -> int:
    return 1 << (int(v) - 1).bit_length()


@gluon.jit
def _gdc_wait():
    gl.inline_asm_elementwise(
        "griddepcontrol.wait; // dummy $0", "=r", [], dtype=gl.int32, is_pure=False, pack=1
    )


@gluon.jit
def gemv_tma_kernel(
    w_desc,
    x_ptr,
    qz_ptr,
    s_ptr,
    out_ptr,
    part_ptr,
    cnt_ptr,
    num_groups,
    num_splits,
    lse_ptr,  # MERGE_X: the split attention's log-sum-exps (x_ptr: its outputs)
    merge_splits,  # MERGE_X: its splits
    N: gl.constexpr,
    GROUP: gl.constexpr,
    BLOCK_N: gl.constexpr,
    GROUPS_PER_SPLIT: gl.constexpr,
    ZERO_OFFSET: gl.constexpr,
    STAGES: gl.constexpr,
    XS: gl.constexpr,  # x' and its group sums made once a program, in shared memory ("tmax")
    PDL: gl.constexpr,
    PRE: gl.constexpr,  # tiles asked for before the PDL wait (the others right after it)
    SILU_X: gl.constexpr,  # with XS: x = silu(gate) * up from gate|up's [2K] output (see launch)
    MERGE_X: gl.constexpr,  # with XS: x = the split attention merged, a head a group (see launch)
    MGROUPS: gl.constexpr,  # MERGE_X: query heads a KV head
    MGP: gl.constexpr,  # MERGE_X: those padded (the split results' stride)
    ACT: gl.constexpr,  # SILU_X / MERGE_X: the activation dtype x is rounded to
):
    ROWS: gl.constexpr = GROUP // 8
    NW: gl.constexpr = gl.num_warps()
    VN: gl.constexpr = BLOCK_N // (32 * NW)
    # [1, BLOCK_N, 8]: a word row of the tile (a thread's VN columns) times the row's 8 inputs,
    # all in the thread's registers
    L3: gl.constexpr = gl.BlockedLayout([1, VN, 8], [1, 32, 1], [1, NW, 1], [2, 1, 0])
    RL: gl.constexpr = gl.SliceLayout(2, L3)  # [1, BLOCK_N]: a word row as read from shared memory
    CL: gl.constexpr = gl.SliceLayout(0, RL)  # [BLOCK_N] columns
    XL: gl.constexpr = gl.SliceLayout(1, L3)  # [1, 8] a word row's inputs, in every thread
    JL: gl.constexpr = gl.SliceLayout(0, XL)  # [8]

    pid_n = gl.program_id(0)
    pid_k = gl.program_id(1)
    n0 = pid_n * BLOCK_N
    n = n0 + gl.arange(0, BLOCK_N, layout=CL)
    nmask = n < N
    g0 = pid_k * GROUPS_PER_SPLIT
    count = gl.minimum(GROUPS_PER_SPLIT, num_groups - g0)

    w_smem = gl.allocate_shared_memory(gl.int32, [STAGES, ROWS, BLOCK_N], w_desc.layout)
    bars = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    for st in gl.static_range(STAGES):
        mbarrier.init(bars.index(st), count=1)
    for st in gl.static_range(PRE):
        pred = st < count
        mbarrier.expect(bars.index(st), w_desc.block_type.nbytes, pred=pred)
        _tma_load(w_desc, [(g0 + st) * ROWS, n0], bars.index(st), w_smem.index(st), pred=pred)
    zw = gl.load(qz_ptr + g0 * (N // 8) + n // 8, mask=nmask, other=0)
    s = gl.load(s_ptr + g0 * N + n, mask=nmask, other=0.0).to(gl.float32)

    # code j of a word: w (j < 5) or w >> 12 (j >= 5), masked at bit p, p = 4 j or 4 j - 12;
    # x'_j = x_j 2^(85 - p), the power of two built from its bits
    j = gl.arange(0, 8, layout=JL)
    p = gl.where(j < 5, 4 * j, 4 * j - 12)
    shift = gl.where(j < 5, 0, 12)
    code_mask = gl.full([8], 15, gl.int32, layout=JL) << p
    scale = ((212 - p) << 23).to(gl.float32, bitcast=True)  # 2^(85 - p): exponent 127 + 85 - p
    if PDL:
        _gdc_wait()  # the tiles above are in flight; x is the previous kernel's output
    for st in gl.static_range(PRE, STAGES):
        pred = st < count
        mbarrier.expect(bars.index(st), w_desc.block_type.nbytes, pred=pred)
        _tma_load(w_desc, [(g0 + st) * ROWS, n0], bars.index(st), w_smem.index(st), pred=pred)
    if XS:
        # x'_c (x_c scaled for code c % 8) of the split's groups, and each group's sum(x) (column 0
        # of its 8), written once by all the threads. The split's x is one load: one round trip
        # after the wait, not one a group. Written as [XG, GROUP], read as XG rows of [1, GROUP]
        XW: gl.constexpr = GROUP // (32 * NW)
        XC: gl.constexpr = gl.BlockedLayout([1, XW], [1, 32], [1, NW], [1, 0])  # [XG, GROUP]
        SC: gl.constexpr = gl.BlockedLayout([1, 8], [32, 1], [NW, 1], [1, 0])  # [XG, 8]
        XG: gl.constexpr = _pow2(GROUPS_PER_SPLIT)
        plain: gl.constexpr = gl.SwizzledSharedLayout(1, 1, 1, [1, 0])
        xs_flat = gl.allocate_shared_memory(gl.float32, [XG, GROUP], plain)
        sum_flat = gl.allocate_shared_memory(gl.float32, [XG, 8], plain)
        rows = gl.arange(0, XG, layout=gl.SliceLayout(1, XC))[:, None]
        c = gl.arange(0, GROUP, layout=gl.SliceLayout(0, XC))[None, :]
        cj = c % 8
        cp = gl.where(cj < 5, 4 * cj, 4 * cj - 12)
        cscale = ((212 - cp) << 23).to(gl.float32, bitcast=True)
        if SILU_X:
            # glue.silu_mul's steps, each rounded where it rounds: gate and up to the activation
            # dtype, silu(gate), the product
            at = x_ptr + (g0 + rows) * GROUP + c
            got = rows < count
            gate = gl.load(at, mask=got, other=0.0).to(ACT).to(gl.float32)
            up = gl.load(at + num_groups * GROUP, mask=got, other=0.0).to(ACT).to(gl.float32)
            act = (gate / (1.0 + gl.exp(-gate))).to(ACT).to(gl.float32)
            xg = (act * up).to(ACT).to(gl.float32)
        elif MERGE_X:
            # attention._decode_merge_kernel's merge, in its order, of one row's splits for the
            # split's heads (a head is a group: GROUP = D): the largest log-sum-exp, then each
            # split's weight and weighted output added split by split, then the division
            head = g0 + rows
            live = rows < count
            first = (head // MGROUPS) * merge_splits * MGP + head % MGROUPS  # split 0's entry
            mtop = gl.full([XG, 1], float("-inf"), gl.float32, layout=XC)
            for sp in range(merge_splits):
                mtop = gl.maximum(mtop, gl.load(lse_ptr + first + sp * MGP, mask=live, other=float("-inf")))
            mtotal = gl.zeros([XG, 1], gl.float32, layout=XC)
            macc = gl.zeros([XG, GROUP], gl.float32, layout=XC)
            for sp in range(merge_splits):
                mlse = gl.load(lse_ptr + first + sp * MGP, mask=live, other=float("-inf"))
                mw = gl.where(mlse > float("-inf"), gl.exp(mlse - mtop), 0.0)
                mtotal += mw
                macc += mw * gl.load(x_ptr + (first + sp * MGP) * GROUP + c, mask=live, other=0.0)
            xg = (macc / gl.where(mtotal > 0, mtotal, 1.0)).to(ACT).to(gl.float32)
        else:
            xg = gl.load(x_ptr + (g0 + rows) * GROUP + c, mask=rows < count, other=0.0).to(gl.float32)
        xs_flat.store(xg * cscale)
        xsums = gl.convert_layout(gl.sum(xg, axis=1), gl.SliceLayout(1, SC))[:, None]
        j2 = gl.arange(0, 8, layout=gl.SliceLayout(0, SC))[None, :]
        sum_flat.store(gl.where(j2 == 0, xsums, 0.0))
        if _PUBLIC_REINTERPRET:
            xs_smem = xs_flat.reinterpret(gl.float32, [XG, 1, GROUP], plain)
            sum_smem = sum_flat.reinterpret(gl.float32, [XG, 1, 8], plain)
        else:
            xs_smem = xs_flat._reinterpret(gl.float32, [XG, 1, GROUP], plain)
            sum_smem = sum_flat._reinterpret(gl.float32, [XG, 1, 8], plain)
        _cta_barrier()

    acc = gl.zeros([BLOCK_N], gl.float32, layout=CL)
    for i in range(count):
        g = g0 + i
        slot = i % STAGES
        more = nmask & (i + 1 < count)
        zw_next = gl.load(qz_ptr + (g + 1) * (N // 8) + n // 8, mask=more, other=0)
        s_next = gl.load(s_ptr + (g + 1) * N + n, mask=more, other=0.0)
        mbarrier.wait(bars.index(slot), (i // STAGES) & 1)
        tile = w_smem.index(slot)
        xsum = gl.zeros([8], gl.float32, layout=JL)
        prod = gl.zeros([1, BLOCK_N, 8], gl.float32, layout=L3)
        for r in gl.static_range(ROWS):
            if XS:
                xq = xs_smem.index(i).slice(r * 8, 8, dim=1).load(XL)[:, None, :]
            else:
                xr = gl.load(x_ptr + (g * GROUP + r * 8) + j).to(gl.float32)
                xsum += xr
                xq = (xr * scale)[None, None, :]
            w = tile.slice(r, 1, dim=0).load(RL)[:, :, None]
            f = ((w >> shift[None, None, :]) & code_mask[None, None, :]).to(gl.float32, bitcast=True)
            prod += f * xq
        _cta_barrier()  # every warp has read the slot before it is refilled
        nxt = i + STAGES
        pred = nxt < count
        mbarrier.expect(bars.index(slot), w_desc.block_type.nbytes, pred=pred)
        _tma_load(w_desc, [(g0 + nxt) * ROWS, n0], bars.index(slot), w_smem.index(slot), pred=pred)
        pl = gl.sum(gl.sum(prod, axis=2), axis=0)  # all in one thread: no exchange
        if XS:  # noqa: SIM108 (a constexpr branch: sum_smem exists only with XS)
            sl = gl.sum(gl.sum(sum_smem.index(i).load(XL), axis=1), axis=0)
        else:
            sl = gl.sum(xsum, axis=0)
        z = (((zw >> ((n % 8) * 4)) & 0xF) + ZERO_OFFSET).to(gl.float32)
        acc += s * (18446744073709551616.0 * pl - z * sl)  # 2^64 p - z sum(x)
        zw = zw_next
        s = s_next.to(gl.float32)
    for st in gl.static_range(STAGES):
        mbarrier.invalidate(bars.index(st))

    if num_splits == 1:
        gl.store(out_ptr + n, acc, mask=nmask)
    else:
        gl.store(part_ptr + pid_k * N + n, acc, mask=nmask)
        _cta_barrier()  # every thread's partial is written before the release below
        arrived = gl.atomic_add(cnt_ptr + pid_n, 1, sem="acq_rel", scope="gpu")
        if arrived == num_splits - 1:
            total = gl.load(part_ptr + n, mask=nmask, other=0.0, cache_modifier=".cg")
            # added in split order, FIXUP_LOADS loads in flight at a time (one round trip for the
            # one-row table's splits; a split past the end adds 0)
            for k0 in range(1, num_splits, FIXUP_LOADS):
                for u in gl.static_range(FIXUP_LOADS):
                    fix = part_ptr + (k0 + u) * N + n
                    total += gl.load(fix, mask=nmask & (k0 + u < num_splits), other=0.0, cache_modifier=".cg")
            gl.store(out_ptr + n, total, mask=nmask)
            # ready for the next call (and graph replay); relaxed: the next kernel to read the
            # counter starts after this grid has ended, so no fence need hold this program's exit
            gl.atomic_xchg(cnt_ptr + pid_n, 0, sem="relaxed", scope="gpu")


def words_descriptor(qweight: torch.Tensor, block_n: int, group: int):
    """qweight [K / 8, N] int32 as the kernel's TMA descriptor: tiles [group / 8, block_n],
    unswizzled (a warp reads a row's consecutive columns: no bank conflicts)."""
    from triton.experimental.gluon.nvidia.hopper import TensorDescriptor

    layout = gl.NVMMASharedLayout(swizzle_byte_width=0, element_bitwidth=32, rank=2)
    return TensorDescriptor.from_tensor(qweight, [group // 8, block_n], layout)


def launch(
    x: torch.Tensor,
    qweight: torch.Tensor,
    qzeros: torch.Tensor,
    scales: torch.Tensor,
    out: torch.Tensor,
    part: torch.Tensor,
    counters: torch.Tensor,
    *,
    num_groups: int,
    groups_per_split: int,
    group: int,
    zero_offset: int,
    block_n: int,
    num_warps: int,
    stages: int,
    x_shared: bool,
    pdl: bool,
    pre: int = 0,
    silu_act: torch.dtype | None = None,
    merge: tuple[torch.Tensor, int, torch.dtype] | None = None,
) -> None:
    """One launch on x [1, K] (bf16 or fp16, contiguous) over (N / block_n tiles, K splits of
    `groups_per_split` groups); `out` [N] fp32 takes x W, `part` holds the splits' partials.
    `pre`: tiles of words asked for before the PDL wait (0: all `stages`). `silu_act` (with
    `x_shared`): x is gate|up's output [1, 2K] (fp32, gate then up) and the kernel reads
    ``silu(gate) * up`` from it, rounded to `silu_act` as ``glue.silu_mul`` rounds: the same x,
    without the silu_mul kernel between. `merge` = (lse, query heads a KV head, activation dtype)
    (with `x_shared`): x is one row's split attention outputs [1, KV heads, splits, GP, D] (D the
    group size) and the kernel merges them as attention's merge kernel does, without it."""
    n = qweight.shape[1]
    if block_n > MAX_BLOCK_N or block_n % (32 * num_warps):
        raise ValueError(f"block_n must be a multiple of 32 x {num_warps} warps, at most {MAX_BLOCK_N}")
    if x_shared and (groups_per_split > MAX_SHARED_X_GROUPS or group % (32 * num_warps)):
        raise ValueError(
            f"x in shared memory takes at most {MAX_SHARED_X_GROUPS} groups a split of a group size "
            f"that 32 x {num_warps} warps divide, not {groups_per_split} of {group}"
        )
    if silu_act is not None:
        if not x_shared:
            raise ValueError("silu(gate) * up is read into x' in shared memory: x_shared only")
        if x.shape != (1, 2 * num_groups * group) or silu_act not in _ACT:
            raise ValueError(
                f"silu(gate) * up takes gate|up's output [1, {2 * num_groups * group}] and a bf16 or "
                f"fp16 activation, not {list(x.shape)} and {silu_act}"
            )
    lse, mgroups, mgp, msplits, act = x, 1, 1, 0, silu_act
    if merge is not None:
        lse, mgroups, act = merge
        if silu_act is not None or not x_shared:
            raise ValueError("the merge of the split attention is read into x' in shared memory, alone")
        if (
            x.dim() != 5
            or x.shape[0] != 1
            or x.shape[4] != group
            or lse.shape != x.shape[:4]
            or act not in _ACT
        ):
            raise ValueError(
                f"the split attention's outputs [1, KV heads, splits, GP, {group}], their lse [1, KV "
                f"heads, splits, GP] and a bf16 or fp16 activation, not {list(x.shape)}, {list(lse.shape)}, "
                f"{act}"
            )
        msplits, mgp = x.shape[2], x.shape[3]
        if x.shape[1] * mgroups != num_groups or mgroups > mgp:
            raise ValueError(f"{x.shape[1]} KV heads of {mgroups} query heads are not {num_groups} groups")
    splits = -(-num_groups // groups_per_split)
    gemv_tma_kernel[(-(-n // block_n), splits)](
        words_descriptor(qweight, block_n, group), x, qzeros, scales, out, part, counters,
        num_groups, splits, lse, msplits,
        N=n, GROUP=group, BLOCK_N=block_n, GROUPS_PER_SPLIT=groups_per_split, ZERO_OFFSET=zero_offset,
        STAGES=stages, XS=x_shared, PDL=pdl, PRE=min(pre or stages, stages),
        SILU_X=silu_act is not None, MERGE_X=merge is not None, MGROUPS=mgroups, MGP=mgp,
        ACT=gl.bfloat16 if act is None else _ACT[act],
        num_warps=num_warps, **({"launch_pdl": True} if pdl else {}),
    )  # fmt: skip
