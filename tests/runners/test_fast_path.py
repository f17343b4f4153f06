"""The int4 runner's fast path on a CPU: Triton kernels in Triton's interpreter against their
plain-PyTorch twins, and the fast model/engine (on the twins) against the reference model.

The same comparisons at EXAONE-4.0-32B shapes, compiled on an H200, are in
bench/int4_gpu_check.py (figures in BENCHMARKS.md). Triton's interpreter computes bf16 dot
products wrongly (it reinterprets the bits), so the bf16 GEMM is checked on the GPU only; the
large-M GEMM's bf16 tests widen the operands first (``interpreter_bf16_dot``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from evalkit.errors import UsageError
from evalkit.kv_planning import plan_batch_size
from evalkit.records import SamplingParams
from evalkit.runners.torch_int4 import fast_model
from evalkit.runners.torch_int4.config import parse_config
from evalkit.runners.torch_int4.engine import GenerationRequest, ReferenceEngine
from evalkit.runners.torch_int4.fast_engine import FastEngine, MemoryPlanError, admission_order, plan_cache
from evalkit.runners.torch_int4.fast_model import FastExaone4
from evalkit.runners.torch_int4.gptq import dequantize_gptq
from evalkit.runners.torch_int4.kernels import attention, glue, prefill_attention, torch_ops, w4a16
from evalkit.runners.torch_int4.loader import load_model
from evalkit.runners.torch_int4.paged_cache import CacheLayout, PagedKVCache

CPU = torch.device("cpu")


def rel(out: torch.Tensor, ref: torch.Tensor) -> float:
    assert torch.isfinite(out).all(), "non-finite output (an element was never written?)"
    return float((out.double() - ref.double()).norm() / ref.double().norm())


def random_linear(
    k: int, n: int, group: int, seed: int, act_order: bool
) -> tuple[w4a16.W4Weight, torch.Tensor]:
    """A random GPTQ linear (asymmetric zeros, v1 offset) and its float32 weight [K, N] as stored."""
    g = torch.Generator().manual_seed(seed)
    qweight = torch.randint(-(2**31), 2**31 - 1, (k // 8, n), dtype=torch.int32, generator=g)
    qzeros = torch.randint(-(2**31), 2**31 - 1, (k // group, n // 8), dtype=torch.int32, generator=g)
    scales = (torch.rand(k // group, n, generator=g) * 0.01 + 1e-3).half()
    g_idx = torch.arange(k, dtype=torch.int32) // group
    if act_order:
        g_idx = g_idx[torch.randperm(k, generator=g)]
    ref = dequantize_gptq(qweight, qzeros, scales, g_idx, zero_offset=1)
    return w4a16.pack_gptq(qweight, qzeros, scales, g_idx, group_size=group, zero_offset=1), ref


@pytest.mark.parametrize("act_order", [False, True])
def test_repacking_matches_the_stored_tensors(act_order: bool) -> None:
    w, ref = random_linear(128, 48, 32, seed=1, act_order=act_order)
    assert (w.perm is not None) == act_order
    dense = torch_ops.dense_weight(w, torch.float32)  # [N, K], rows in perm order
    stored_order = dense if w.perm is None else dense[:, torch.argsort(w.perm)]
    assert torch.equal(stored_order.t(), ref)
    x = torch.randn(3, 128)
    assert rel(torch_ops.w4_matmul(x, w).sum(0), x @ ref) < 1e-6


def test_unsupported_shapes_are_refused_clearly() -> None:
    assert "group_size" in (w4a16.supports(256, 64, -1) or "")
    assert "multiple" in (w4a16.supports(100, 64, 32) or "")
    with pytest.raises(ValueError, match="cannot run this linear"):
        w4a16.pack_gptq(
            torch.zeros(12, 8, dtype=torch.int32),
            torch.zeros(1, 1, dtype=torch.int32),
            torch.ones(1, 8),
            torch.zeros(96, dtype=torch.int32),
            group_size=96,
            zero_offset=1,
        )


@pytest.mark.parametrize(
    ("variant", "dtype", "tol"),
    [
        ("dn", torch.float32, 1e-6),
        ("dn", torch.float16, 1e-6),
        ("lop3", torch.float32, 2e-4),
        ("lop3", torch.float16, 2e-4),
        ("classic", torch.float32, 1e-6),
        ("2d", torch.float32, 1e-6),
        ("dn2d", torch.float32, 1e-6),
        ("dn2d", torch.float16, 1e-6),
        ("dn2dh", torch.float32, 1e-6),
    ],
)
@pytest.mark.parametrize("act_order", [False, True])
def test_gemv_kernels(variant: str, dtype: torch.dtype, tol: float, act_order: bool) -> None:
    # 12 groups of 32, one per split: the last split to arrive adds all twelve (two batches of
    # loads in the fix-up) and resets its tile's counter
    w, ref = random_linear(384, 64, 32, seed=2, act_order=act_order)
    # seeded: fp32 accumulation error depends on the draw (an unseeded x sat at the tolerance)
    x = torch.randn(1, 384, generator=torch.Generator().manual_seed(3)).to(dtype)
    out = torch.full((1, 1, 64), float("nan"))
    parts = w4a16.w4_matmul(x, w, gemv=w4a16.GemvConfig(32, 1, 1, 1, variant), out=out)
    assert parts.shape == (1, 1, 64)
    assert int(w4a16._counters(CPU, 1).abs().sum()) == 0
    assert rel(parts.sum(0), x.double() @ ref.double()) < tol
    again = w4a16.w4_matmul(x, w, gemv=w4a16.GemvConfig(32, 1, 1, 1, variant))
    assert torch.equal(again, parts)


def test_denormal_gemv_at_group_128_with_large_and_zero_activations() -> None:
    """The "dn" GEMV scales x by up to 2^85: activations up to 1e6 and exact zeros stay exact."""
    w, ref = random_linear(256, 64, 128, seed=4, act_order=False)
    x = torch.randn(1, 256) * torch.logspace(-6, 6, 256)
    x[0, ::7] = 0.0
    parts = w4a16.w4_matmul(x, w, gemv=w4a16.GemvConfig(64, 2, 1, 1, "dn"))
    assert rel(parts.sum(0), x.double() @ ref.double()) < 1e-6


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float32, 1e-5), (torch.float16, 2e-3)])
@pytest.mark.parametrize("act_order", [False, True])
def test_gemm_kernel(dtype: torch.dtype, tol: float, act_order: bool) -> None:
    w, ref = random_linear(128, 64, 32, seed=5, act_order=act_order)
    x = torch.randn(5, 128).to(dtype)
    parts = w4a16.w4_matmul(x, w, gemm=w4a16.GemmConfig(16, 32, 2, 4, 1))
    # 4 groups, 2 per split: the last split to arrive adds both and resets its tile's counter
    assert parts.shape == (1, 5, 64)
    assert int(w4a16._counters(CPU, 1).abs().sum()) == 0
    assert rel(parts.sum(0), x.double() @ ref.double()) < tol


@pytest.fixture
def interpreter_bf16_dot(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make Triton's interpreter compute bf16 as the GPU does. It multiplies bf16 dot operands
    as their raw uint16 bits (see the module docstring): widen them to fp32 first, which is
    exact, as the tensor cores' products are. And it truncates fp32 -> bf16 casts: round them
    to nearest even (torch's rounding, and the GPU's). bf16 add/sub/mul act on the raw bits
    too: compute them in fp32 and round once (the GPU's native bf16 ops, exact then rounded)."""
    import triton.language as tl
    from triton.runtime import interpreter

    builder = interpreter.InterpreterBuilder
    dot, cast = builder.create_dot, builder.cast_impl

    def create_dot(self: Any, a: Any, b: Any, d: Any, *args: Any) -> Any:
        a, b = (cast(self, t, tl.float32) if t.dtype.scalar == tl.bfloat16 else t for t in (a, b))
        return dot(self, a, b, d, *args)

    def cast_impl(self: Any, src: Any, dst_type: Any) -> Any:
        if src.dtype.scalar == tl.float32 and dst_type.scalar == tl.bfloat16:
            bf = torch.from_numpy(src.data.copy()).to(torch.bfloat16).view(torch.int16).numpy()
            return interpreter.TensorHandle(bf.view("uint16"), tl.bfloat16)
        return cast(self, src, dst_type)

    def bf16_op(name: str) -> Callable[..., Any]:
        """A float binary op that treats bf16 operands as numbers (widened, the result rounded
        to nearest even), as the GPU's native bf16 sub/mul do; other dtypes as before."""
        plain = getattr(builder, name)

        def op(self: Any, lhs: Any, rhs: Any) -> Any:
            if lhs.dtype.scalar != tl.bfloat16:
                return plain(self, lhs, rhs)
            wide = plain(self, cast(self, lhs, tl.float32), cast(self, rhs, tl.float32))
            return cast_impl(self, wide, tl.bfloat16)

        return op

    monkeypatch.setattr(builder, "create_dot", create_dot)
    monkeypatch.setattr(builder, "cast_impl", cast_impl)
    for name in ("create_fadd", "create_fsub", "create_fmul"):
        monkeypatch.setattr(builder, name, bf16_op(name))


@pytest.mark.usefixtures("interpreter_bf16_dot")
@pytest.mark.parametrize(
    ("dtype", "swap"), [(torch.bfloat16, True), (torch.float16, True), (torch.bfloat16, False)]
)
@pytest.mark.parametrize("act_order", [False, True])
def test_large_m_gemm_kernel(dtype: torch.dtype, swap: bool, act_order: bool) -> None:
    """37 rows (not a multiple of BLOCK_M), 80 columns (not of BLOCK_N), 2 groups of 128 in two
    splits: the weight is s (q - z) rounded once to the activation dtype, so the result is the
    dense weight of that dtype times x up to fp32 accumulation, and bitwise repeatable."""
    w, ref = random_linear(256, 80, 128, seed=8, act_order=act_order)
    x = torch.randn(37, 256).to(dtype)
    cfg = w4a16.TcConfig(16, 32, 1, 4, 1, swap)
    out = torch.full((1, 37, 80), float("nan"))
    parts = w4a16.w4_matmul(x, w, tc=cfg, out=out)
    assert parts.shape == (1, 37, 80)
    assert int(w4a16._counters(CPU, 1).abs().sum()) == 0
    assert rel(parts.sum(0), x.double() @ ref.double()) < (4e-3 if dtype == torch.bfloat16 else 5e-4)
    xp = x if w.perm is None else x[:, w.perm]
    rounded = xp.double() @ torch_ops.dense_weight(w, dtype).double().t()
    assert rel(parts.sum(0), rounded) < 1e-6
    assert torch.equal(w4a16.w4_matmul(x, w, tc=cfg), parts)
    # one split, the group in two dots of 64 inputs
    one_split = w4a16.w4_matmul(x, w, tc=w4a16.TcConfig(32, 64, 2, 4, 1, swap, block_k=64))
    assert rel(one_split.sum(0), rounded) < 1e-6


@pytest.mark.usefixtures("interpreter_bf16_dot")
@pytest.mark.parametrize(
    ("dtype", "swap", "variant", "act_order"),
    [
        (torch.bfloat16, True, "p16", False),
        (torch.float16, True, "p16", True),
        (torch.bfloat16, False, "p16", True),
        (torch.bfloat16, True, "p16g", False),
        (torch.bfloat16, True, "p16f", True),
        (torch.float16, False, "p16f", False),
        (torch.bfloat16, True, "p16t", True),
        (torch.float16, True, "p16t", False),
        (torch.bfloat16, True, "p16ft", False),
        (torch.float16, True, "p16ft", True),
        (torch.bfloat16, True, "p128", True),
        (torch.float16, True, "p128", False),
        (torch.bfloat16, True, "s128", True),
        (torch.float16, True, "s128", False),
    ],
)
def test_p16_gemm_kernel(dtype: torch.dtype, swap: bool, variant: str, act_order: bool) -> None:
    """The p16 GEMM (codes read in place, 8 dots of 16 inputs per block of 128) against the
    float64 twin: 37 rows, 80 columns, 3 blocks of 128 (groups of 128; once also 4 blocks in
    groups of 256) in two splits and in one. Its products are exact, so the error is only the activation's own
    rounding (x is given in `dtype`) plus fp32 accumulation: ~1e-5 against x @ W in float64.
    "p16f" and "p16ft" round each weight s (q - z) to the activation dtype, with s itself
    rounded first (bf16): they are checked against that rounded weight. "p16t" and "p16ft" read
    x through a TMA descriptor (rows past 37 come back as zeros). "s128" reads x as stored (no
    p16_order) and builds each block's tile one block ahead (the last split's prefetch is masked)."""
    shapes = ((128, 384), (256, 512)) if (dtype, variant) == (torch.float16, "p16") else ((128, 384),)
    for group, k in shapes:
        w, ref = random_linear(k, 80, group, seed=10, act_order=act_order)
        x = torch.randn(37, k).to(dtype)
        want = x.double() @ ref.double()
        if variant in ("p16f", "p16ft", "p128", "s128"):  # [N, K] in perm order: s (q - z) exact in fp32
            s = w.scales.float()[torch.arange(k) // group].t()
            qz = torch_ops.dense_weight(w, torch.float32) / s
            wr = qz.to(dtype) * s.to(dtype)  # rounded once, after s
            xp = x if w.perm is None else x[:, w.perm]
            want = xp.double() @ wr.double().t()
        cfg = w4a16.TcConfig(16, 32, 2, 4, 1, swap, variant=variant)
        out = torch.full((1, 37, 80), float("nan"))
        parts = w4a16.w4_matmul(x, w, tc=cfg, out=out)
        assert parts.shape == (1, 37, 80)
        assert int(w4a16._counters(CPU, 1).abs().sum()) == 0
        assert rel(parts.sum(0), want) < 1e-4
        assert torch.equal(w4a16.w4_matmul(x, w, tc=cfg), parts)
        one_split = w4a16.w4_matmul(x, w, tc=w4a16.TcConfig(32, 64, 8, 4, 1, swap, variant=variant))
        assert rel(one_split.sum(0), want) < 1e-4


def test_p16_order_and_group_guard() -> None:
    """p16_order puts input 8 r + j of each block of 128 at column 16 j + r; the p16 GEMM
    refuses groups that do not hold whole blocks, and the table lookup skips such weights."""
    x = torch.arange(2 * 256, dtype=torch.float32).view(2, 256)
    xp = w4a16.p16_order(x)
    for col in (0, 1, 15, 16, 17, 127, 128, 200, 255):
        blk, j, r = col // 128, (col % 128) // 16, col % 16
        assert torch.equal(xp[:, col], x[:, blk * 128 + 8 * r + j])
    w, _ = random_linear(256, 80, 64, seed=11, act_order=False)
    cfg = w4a16.TcConfig(16, 32, 1, 4, 1, True, variant="p16")
    with pytest.raises(ValueError, match="multiple of 128"):
        w4a16.w4_matmul(torch.randn(4, 256).half(), w, tc=cfg)
    key = (16, 80, 256)
    w4a16.TUNED_TC[key] = cfg
    try:
        assert w4a16.tc_config(w, 16, torch.bfloat16) is None
        w128, _ = random_linear(256, 80, 128, seed=11, act_order=False)
        assert w4a16.tc_config(w128, 16, torch.bfloat16) == cfg
    finally:
        del w4a16.TUNED_TC[key]


def test_tma_entries_are_skipped_where_tma_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A TUNED_TC entry of a TMA kernel (p16t, p16ft, p128, s128) is taken where tensor descriptors
    work (here: the interpreter) and skipped where they do not (an older Triton or a GPU before
    Hopper): the shape then takes the GEMM or dequantize + cuBLAS instead of failing."""
    w, _ = random_linear(256, 80, 128, seed=12, act_order=False)
    key = (16, 80, 256)
    for variant in w4a16.TMA_VARIANTS:
        cfg = w4a16.TcConfig(16, 32, 1, 4, 1, True, variant=variant)
        monkeypatch.setitem(w4a16.TUNED_TC, key, cfg)
        monkeypatch.setitem(w4a16._TMA, CPU, True)
        assert w4a16.tc_config(w, 16, torch.bfloat16) == cfg
        monkeypatch.setitem(w4a16._TMA, CPU, False)
        assert w4a16.tc_config(w, 16, torch.bfloat16) is None
    monkeypatch.setitem(w4a16.TUNED_TC, key, w4a16.TcConfig(16, 32, 1, 4, 1, True, variant="p16"))
    assert w4a16.tc_config(w, 16, torch.bfloat16) is not None  # the p16 kernels need no TMA


def test_large_m_gemm_is_taken_only_where_tuned(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a TUNED_TC entry for the shape, w4_matmul and the fast model's linear keep the
    GEMM and dequantize + cuBLAS. With an entry, both take the large-M GEMM for bf16/fp16 at <= 512 rows."""
    from evalkit.runners.torch_int4.fast_model import DEQUANT_MATMUL_ROWS, takes_dequant_matmul

    w, _ = random_linear(256, 80, 128, seed=9, act_order=False)
    x = torch.randn(20, 256).half()
    assert w4a16.tc_config(w, 300, torch.bfloat16) is None
    assert takes_dequant_matmul(300, w, torch.bfloat16) and takes_dequant_matmul(
        DEQUANT_MATMUL_ROWS, w, x.dtype
    )
    assert not takes_dequant_matmul(DEQUANT_MATMUL_ROWS - 1, w, torch.bfloat16)
    cfg = w4a16.TcConfig(16, 32, 1, 4, 1)
    monkeypatch.setitem(w4a16.TUNED_TC, (32, 80, 256), cfg)
    monkeypatch.setitem(w4a16.TUNED_TC, (512, 80, 256), cfg)
    assert w4a16.tc_config(w, 20, torch.float16) == cfg
    assert w4a16.tc_config(w, 20, torch.float32) is None
    assert w4a16.tc_config(w, 513, torch.bfloat16) is None
    assert not takes_dequant_matmul(300, w, torch.bfloat16)
    assert takes_dequant_matmul(600, w, torch.bfloat16) and takes_dequant_matmul(300, w, torch.float32)
    assert torch.equal(w4a16.w4_matmul(x, w), w4a16.w4_matmul(x, w, tc=cfg))
    with pytest.raises(ValueError, match="bf16 or fp16"):
        w4a16.w4_matmul(x.float(), w, tc=cfg)


def test_rows_257_to_384_skip_the_512_buckets_256_token_tiles(monkeypatch: pytest.MonkeyPatch) -> None:
    """At 257..384 rows two 256-token tiles cost what 512 rows cost: tc_config takes a (384, N, K)
    entry there where the table has one, else no large-M config when the 512 bucket's has
    256-token tiles (the other path, as before such entries); a 512 config of 128-token tiles, and
    385..512 rows, keep the 512 bucket's."""
    w, _ = random_linear(256, 80, 128, seed=9, act_order=False)
    wide, narrow, mid = (w4a16.TcConfig(bm, 32, 1, 4, 1) for bm in (256, 128, 64))
    monkeypatch.setitem(w4a16.TUNED_TC, (512, 80, 256), wide)
    assert [w4a16.tc_config(w, m, torch.bfloat16) for m in (256, 257, 384, 385, 512)] == [
        None, None, None, wide, wide,
    ]  # fmt: skip
    monkeypatch.setitem(w4a16.TUNED_TC, (384, 80, 256), mid)
    assert [w4a16.tc_config(w, m, torch.bfloat16) for m in (257, 384, 385)] == [mid, mid, wide]
    monkeypatch.delitem(w4a16.TUNED_TC, (384, 80, 256))
    monkeypatch.setitem(w4a16.TUNED_TC, (512, 80, 256), narrow)
    assert w4a16.tc_config(w, 300, torch.bfloat16) == narrow
    # the real table: gate|up has its 384 entry, q|k|v goes back to dequantize + cuBLAS there
    for n, k, want in ((54784, 5120, "r128n"), (7168, 5120, None)):
        cfg = w4a16.TUNED_TC.get((384, n, k))
        assert (cfg.variant if cfg else None) == want
        assert w4a16.TUNED_TC[(512, n, k)].block_m == 256


def test_tuned_configs_cover_the_32b_shapes() -> None:
    """The kernels' tables hold a GEMV config for each EXAONE-4.0-32B linear, and the heuristic
    configs of other shapes split K so that a few waves of CTAs fill the GPU."""
    for n, k in ((7168, 5120), (5120, 5120), (54784, 5120), (5120, 27392)):
        assert w4a16.TUNED_GEMV[(n, k)].variant in w4a16.GEMV_VARIANTS
        # a Gluon entry gives way to the tl one where it cannot run: here (no Hopper GPU), and
        # for fp32 x even where it can
        shape = SimpleNamespace(out_features=n, in_features=k)
        tl_cfg = w4a16.TUNED_GEMV_TL[(n, k)]
        assert tl_cfg.variant not in w4a16.GLUON_GEMV_VARIANTS
        if w4a16.TUNED_GEMV[(n, k)].variant in w4a16.GLUON_GEMV_VARIANTS:
            assert w4a16.gemv_config(shape, CPU, torch.bfloat16) == tl_cfg  # type: ignore[arg-type]
            try:
                w4a16._GLUON[CPU] = True  # as on an H200
                assert w4a16.gemv_config(shape, CPU, torch.bfloat16) == w4a16.TUNED_GEMV[(n, k)]  # type: ignore[arg-type]
                assert w4a16.gemv_config(shape, CPU, torch.float32) == tl_cfg  # type: ignore[arg-type]
            finally:
                w4a16._GLUON.pop(CPU, None)
    w, _ = random_linear(1024, 256, 32, seed=6, act_order=False)
    cfg = w4a16.gemv_config(w, CPU)
    tiles = -(-256 // cfg.block_n)
    assert cfg.variant in w4a16.GEMV_VARIANTS and 1 <= cfg.groups_per_split <= 32
    assert tiles * -(-32 // cfg.groups_per_split) >= 8  # CPU stands in as 8 SMs
    # fp32 activations (the exact mode) take the exact GEMV; bf16/fp16 the faster lop3 one.
    assert w4a16.gemv_config(w, CPU, torch.float32).variant == "classic"
    assert w4a16.gemv_config(w, CPU, torch.bfloat16).variant == "lop3"


@pytest.mark.parametrize("transposed", [True, False])
def test_dequantize_kernel_is_exact(transposed: bool) -> None:
    w, ref = random_linear(128, 64, 32, seed=3, act_order=True)
    out = w4a16.dequantize(w, torch.float32, transposed=transposed)
    assert w.perm is not None
    assert torch.equal(out.t(), ref[w.perm])
    w, ref = random_linear(256, 96, 128, seed=4, act_order=False)  # N not a multiple of the tile
    assert torch.equal(w4a16.dequantize(w, torch.float32, transposed=transposed).t(), ref)


@pytest.mark.parametrize("rope", [True, False])
def test_qkv_post_kernel_matches_torch_and_writes_the_blocks(rope: bool) -> None:
    h, hkv, d, t = 4, 2, 32, 3
    parts = torch.randn(2, t, (h + 2 * hkv) * d)
    qn, kn = torch.rand(d) + 0.5, torch.rand(d) + 0.5
    inv = 1.0 / (10000 ** (torch.arange(0, d, 2).float() / d))
    pos = torch.tensor([5, 17, 130], dtype=torch.int32)
    dst = torch.tensor([3 * 16 + 5, -1, 16 + 2], dtype=torch.int32)  # token 1 is not written
    caches = [
        (torch.full((4, 16, hkv, d), float("nan")), torch.full((4, 16, hkv, d), float("nan")))
        for _ in range(2)
    ]
    kw: dict[str, Any] = dict(
        num_heads=h,
        num_kv_heads=hkv,
        head_dim=d,
        q_norm=qn,
        k_norm=kn,
        eps=1e-5,
        inv_freq=inv if rope else None,
        positions=pos,
        dtype=torch.float32,
    )
    a = glue.qkv_post(parts, cache=(*caches[0], dst), **kw)
    b = torch_ops.qkv_post(parts, cache=(*caches[1], dst), **kw)
    for x, y in zip(a, b, strict=True):
        assert rel(x, y) < 1e-6
    for x, y in zip(caches[0], caches[1], strict=True):
        assert torch.equal(x.isnan(), y.isnan())  # the same cells written
        assert rel(x.nan_to_num(0), y.nan_to_num(0)) < 1e-6
    written = ~caches[0][0].isnan().any(-1).any(-1)
    assert written.sum() == 2 and written[3, 5] and written[1, 2]
    assert torch.equal(caches[0][0][3, 5], a[1][0])  # token 0's key at block 3, offset 5


def test_add_norm_and_silu_mul_kernels() -> None:
    parts = torch.randn(3, 2, 96)
    w = torch.rand(96) + 0.5
    h = torch.randn(2, 96)
    assert rel(glue.add_norm(parts, w, 1e-5, h.clone()), torch_ops.add_norm(parts, w, 1e-5, h.clone())) < 1e-6
    assert rel(glue.add_norm(parts, w, 1e-5, None), torch_ops.add_norm(parts, w, 1e-5, None)) < 1e-6
    gu = torch.randn(2, 2, 2 * 80)
    assert rel(glue.silu_mul(gu, torch.float32), torch_ops.silu_mul(gu, torch.float32)) < 1e-6


def test_producers_write_in_the_next_kernels_input_order() -> None:
    """add_norm_ordered and silu_mul with a map write the very values of the plain kernels, column
    c at dest[c] (bitwise), as their twins do; add_norm_ordered's h is add_norm's."""
    parts = torch.randn(3, 2, 256)
    w = torch.rand(256) + 0.5
    h = torch.randn(2, 256)
    dest = torch.randperm(256, generator=torch.Generator().manual_seed(8))
    plain = glue.add_norm(parts, w, 1e-5, h.clone())
    h2, copy = glue.add_norm_ordered(parts, w, 1e-5, h.clone(), dest)
    assert torch.equal(h2, plain) and torch.equal(copy[:, dest], plain)
    t_h, t_copy = torch_ops.add_norm_ordered(parts, w, 1e-5, h.clone(), dest)
    assert torch.equal(t_copy[:, dest], t_h) and rel(t_copy, copy) < 1e-6
    gu = torch.randn(2, 2, 2 * 256)
    act = glue.silu_mul(gu, torch.float32)
    assert torch.equal(glue.silu_mul(gu, torch.float32, dest)[:, dest], act)
    assert torch.equal(
        torch_ops.silu_mul(gu, torch.float32, dest)[:, dest], torch_ops.silu_mul(gu, torch.float32)
    )


@pytest.mark.parametrize("act_order", [False, True])
def test_r128_input_order_is_perm_then_r128_order(act_order: bool) -> None:
    """``input_order``'s map for r128 puts x where the kernel would have put it (``perm``, then
    ``r128_order``), only for rows whose config is r128, and ``w4_matmul`` takes x so ordered only
    with that very map and config."""
    from evalkit.runners.torch_int4.kernels import w4a16_gluon

    w, _ = random_linear(384, 64, 128, seed=9, act_order=act_order)
    x = torch.randn(5, 384)
    dest = w4a16.r128_dest(w)
    assert dest is w4a16.r128_dest(w)  # made once
    want = w4a16_gluon.r128_order(x if w.perm is None else x[:, w.perm])
    got = torch.empty_like(x)
    got[:, dest] = x
    assert torch.equal(got, want)
    r128 = w4a16.TcConfig(16, 64, 3, 4, 3, True, 128, "r128n")
    key = (16, 64, 384)
    try:
        w4a16.TUNED_TC[key] = r128
        w4a16.TUNED_TC_TL[key] = w4a16.TcConfig(16, 64, 3, 4, 3, True, 128, "p16")
        assert w4a16.input_order(w, 12, torch.bfloat16) is None  # no Gluon here: the tl fallback
        w4a16._GLUON[CPU] = True
        assert w4a16.input_order(w, 12, torch.bfloat16) is dest
        assert (
            w4a16.input_order(w, 12, torch.float32) is None
            and w4a16.input_order(w, 40, torch.bfloat16) is None
        )
        with pytest.raises(ValueError, match="input order is for the r128 GEMM"):
            w4a16.w4_matmul(x.bfloat16(), w, dest=dest.clone())
    finally:
        w4a16.TUNED_TC.pop(key), w4a16.TUNED_TC_TL.pop(key), w4a16._GLUON.pop(CPU, None)


def test_default_splits_follow_the_measured_table() -> None:
    """At the measured shapes (H200, 132 SMs, 8 KV heads) the split count is the measured best;
    other program counts take the nearest measured one, scaled to the GPU's SMs; never more than
    one split per 64 keys of capacity, never fewer than one."""
    d = attention.default_splits
    assert [d(4096, rows, 8, 132) for rows in (1, 16, 64, 128, 256)] == [8, 4, 2, 2, 1]
    # between two measured counts the nearer in log scale, a tie to the smaller count
    assert d(4096, 2, 8, 132) == 8 and d(4096, 32, 8, 132) == 4 and d(4096, 512, 8, 132) == 1
    assert d(4096, 48, 8, 132) == 2 and d(4096, 4, 8, 132) == 8 and d(4096, 5, 8, 132) == 4
    assert d(4096, 16, 8, 66) == d(4096, 32, 8, 132)  # half the SMs: as twice the programs
    assert d(4096, 8, 8, 264) == d(4096, 4, 8, 132)
    assert d(100, 1, 8, 132) == 2 and d(10, 1, 8, 132) == 1  # capacity caps it
    assert d(4096, 0, 8, 132) >= 1
    # the split kernel's launch comes from the same entry
    launch = attention.split_launch
    assert launch(1, 8, 132) == attention.SplitLaunch(4, 8, 2) and launch(256, 8, 132).stages == 4
    assert launch(64, 8, 132) == attention.SplitLaunch(2, 4, 4) == launch(32, 8, 66)


def test_splits_table_is_the_one_its_measurement_gives() -> None:
    """attention.SPLITS_BY_PROGRAMS is what bench/attention_splits.py measured (H200, 2026-12-03,
    split counts with split-kernel launches): each entry's split count is its case's fastest, and
    its launch was timed there within 1 % of the fastest (256 x 1K took the engine's choice of the
    sweep's two tied best). The table cannot drift from its data."""
    import json

    from bench.attention_splits import KV_HEADS, _best, _launch_of, table_line

    path = Path(__file__).parents[2] / "bench/results/kernels_h200_2026-12-03h/attention_splits.json"
    doc = json.loads(path.read_text())
    assert doc["meta"]["device"] == "NVIDIA H200"
    rows = doc["results"]
    best = _best(rows, KV_HEADS, 132)
    assert [e[0] for e in attention.SPLITS_BY_PROGRAMS] == sorted(best)
    for programs, splits, launch in attention.SPLITS_BY_PROGRAMS:
        top = best[programs]
        assert splits == top["splits"]
        timed = [
            r["us"]
            for r in rows
            if (r["rows"], r["keys"], r["splits"]) == (top["rows"], top["keys"], splits)
            and _launch_of(r) == launch
        ]
        assert timed and timed[0] <= 1.01 * top["us"]
    # the printed table differs only where the engine broke the tie
    line = table_line(rows, KV_HEADS, 132)
    assert line.replace("(2048, 1, SplitLaunch(blocks=1, warps=4, stages=2))", "") == (
        f"SPLITS_BY_PROGRAMS = {attention.SPLITS_BY_PROGRAMS}".replace(
            "(2048, 1, SplitLaunch(blocks=2, warps=4, stages=4))", ""
        )
    )


@pytest.mark.parametrize("blocks", [1, 2, 4])
@pytest.mark.parametrize("splits", [1, 4])
@pytest.mark.parametrize("window", [None, 40])
def test_paged_decode_attention_kernel(splits: int, window: int | None, blocks: int) -> None:
    """Rows of 1, 26 and 96 keys in scattered 16-token blocks; a window of 40 starts mid-block
    (and its first blocks were released: their table entries point at garbage). The split
    kernel takes 1, 2 or 4 blocks an iteration (an iteration that runs past a split's end, or
    past the row's last block, uses no key there: row 1's unused entries point out of range)."""
    b, h, hkv, d, bs = 3, 4, 2, 32, 16
    keys, values = torch.randn(20, bs, hkv, d), torch.randn(20, bs, hkv, d)
    q = torch.randn(b, h, d)
    table = torch.randperm(20, generator=torch.Generator().manual_seed(0))[:18].view(3, 6).int()
    table = torch.cat([table, torch.full((1, 6), 19, dtype=torch.int32)])  # a scratch row
    if window is not None:
        table[2, :2] = 10_000  # released: out of range, must never be read
    table[1, 1:] = 10_000  # past row 1's one key
    rows = torch.tensor([1, 3, 2], dtype=torch.int32)
    pos = torch.tensor([0, 25, 95], dtype=torch.int32)
    launch = attention.SplitLaunch(blocks=blocks)
    out = attention.decode_attention(
        q, keys, values, table, rows, pos, window=window, splits=splits, launch=launch
    )
    ref = torch_ops.decode_attention(q, keys, values, table, rows, pos, window=window, splits=1)
    assert rel(out, ref) < 1e-5
    # without the merge kernel: the splits' results, merged by their reader (here the twin merge)
    split = attention.decode_attention_unmerged(
        q, keys, values, table, rows, pos, window=window, splits=splits, launch=launch
    )
    assert split.mid.shape == (3, 2, splits, 16, 32) and split.groups == 2
    assert rel(attention.merge_splits(split, q.dtype), out) < 1e-6
    if window is not None:  # the twin itself: row 2 sees exactly positions 56..95
        flat = table[2, torch.arange(56, 96) // bs].long() * bs + torch.arange(56, 96) % bs
        k = keys.flatten(0, 1)[flat].repeat_interleave(2, dim=1)
        v = values.flatten(0, 1)[flat].repeat_interleave(2, dim=1)
        want = torch.einsum("hn,nhd->hd", (torch.einsum("hd,nhd->hn", q[2], k) * d**-0.5).softmax(-1), v)
        assert rel(ref[2].view(h, d), want) < 1e-6


@pytest.mark.parametrize("splits", [1, 3])
@pytest.mark.parametrize("split_blocks", [1, 16])
@pytest.mark.parametrize("window", [None, 40])
def test_decode_attention_reads_shared_prefixes_once_per_group(
    splits: int, split_blocks: int, window: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six rows in mixed batch order: three share 3 blocks (48 keys), two share 2 blocks, one
    has none; the prefix pass over each group (in one split, or one per block: 3 and 2) plus
    each row's own keys equals the attention over the row's whole table, with and without a
    window (which starts inside the prefix for some rows). 3 programs take the work items in
    turn. Pointing a group at another group's table row changes the result: the prefix keys
    really come from the prefix pass."""
    monkeypatch.setattr(attention, "SPLIT_BLOCKS", split_blocks)
    g = torch.Generator().manual_seed(1)
    b, h, hkv, d, bs, nblocks = 6, 4, 2, 32, 16, 40
    keys = torch.randn(nblocks, bs, hkv, d, generator=g)
    values = torch.randn(nblocks, bs, hkv, d, generator=g)
    q = torch.randn(b, h, d, generator=g)
    perm = torch.randperm(nblocks - 1, generator=g).int().tolist()
    table = torch.full((7, 8), nblocks - 1, dtype=torch.int32)
    own = iter(perm[5:])
    for r in range(6):  # table rows 0-2 share perm[:3], rows 3-4 share perm[3:5]
        pre = perm[:3] if r < 3 else perm[3:5] if r < 5 else []
        table[r, : len(pre)] = torch.tensor(pre, dtype=torch.int32)
        table[r, len(pre) : 4] = torch.tensor([next(own) for _ in range(4 - len(pre))], dtype=torch.int32)
    rows = torch.tensor([2, 0, 5, 1, 3, 4], dtype=torch.int32)
    pos = torch.tensor([60, 48, 20, 63, 40, 33], dtype=torch.int32)
    members = torch.tensor([0, 1, 3, 4, 5, 0], dtype=torch.int32)  # batch rows: (0, 1, 3), (4, 5)
    fields = torch.zeros(5, 3, dtype=torch.int32)  # the third entry unused
    fields[:, 0] = torch.tensor([0, 0, 3, 48, 48 if window else 0])
    fields[:, 1] = torch.tensor([3, 3, 2, 32, 32])
    skip = torch.zeros(2, b, dtype=torch.int32)
    skip[:, [0, 1, 3]] = torch.tensor([[48], [48 if window else 0]], dtype=torch.int32)
    skip[:, [4, 5]] = 32

    def shared_of(f: torch.Tensor) -> attention.SharedPrefix:
        flat = torch.cat([torch.tensor([2], dtype=torch.int32), f.flatten()])
        return attention.SharedPrefix(flat, members, skip, attention.max_group_members(h, hkv))

    shared = shared_of(fields)
    ref = torch_ops.decode_attention(q, keys, values, table, rows, pos, window=window, splits=1)
    out = attention.decode_attention(
        q, keys, values, table, rows, pos, window=window, splits=splits, shared=shared
    )
    assert rel(out, ref) < 1e-5
    twin = torch_ops.decode_attention(
        q, keys, values, table, rows, pos, window=window, splits=1, shared=shared
    )
    assert rel(twin, ref) < 1e-6
    wrong = fields.clone()
    wrong[0, 1] = 0  # the second group's prefix read through the first group's blocks
    bad = attention.decode_attention(
        q, keys, values, table, rows, pos, window=window, splits=splits, shared=shared_of(wrong)
    )
    assert rel(bad[[0, 1, 2, 3]], ref[[0, 1, 2, 3]]) < 1e-5 and rel(bad[4:], ref[4:]) > 1e-2


@pytest.mark.parametrize("window", [None, 40])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_prefill_attention_kernel_over_packed_chunks(window: int | None, dtype: torch.dtype) -> None:
    """Three chunks in one launch, in scattered 16-token blocks: a fresh prompt longer than the
    window, a chunk after 50 tokens of history, a 1-token chunk after 95; tiles of 16 queries
    that straddle nothing; GQA 4:2. The released blocks (before the window of a chunk's first
    token) point out of range and must never be read."""
    h, hkv, d, bs = 4, 2, 32, 16
    g = torch.Generator().manual_seed(5)
    keys = torch.randn(40, bs, hkv, d, generator=g).to(dtype)
    values = torch.randn(40, bs, hkv, d, generator=g).to(dtype)
    table = torch.randperm(40, generator=g)[:36].view(3, 12).int()
    table = torch.cat([table, torch.full((1, 12), 39, dtype=torch.int32)])
    if window is not None:
        table[2, :3] = 10_000  # row 2 starts at 95: positions < 56 are released
    bounds = [(0, 70, 0, 0), (70, 100, 1, 50), (100, 101, 2, 95)]
    packed = prefill_attention.pack_chunks(bounds, CPU, block_m=16)
    q = torch.randn(101, h, d, generator=g).to(dtype)
    out = prefill_attention.prefill_attention(q, keys, values, table, packed, window=window, block_n=16)
    ref = torch_ops.prefill_attention(q, keys, values, table, packed, window=window)
    assert rel(out.float(), ref.float()) < (1e-5 if dtype == torch.float32 else 2e-3)
    # the twin itself, for the middle chunk's last query (position 79 of row 1)
    lo = 0 if window is None else 79 - window + 1
    kpos = torch.arange(lo, 80)
    flat = table[1, kpos // bs].long() * bs + kpos % bs
    k = keys.flatten(0, 1)[flat].float().repeat_interleave(2, dim=1)
    v = values.flatten(0, 1)[flat].float().repeat_interleave(2, dim=1)
    scores = torch.einsum("hd,nhd->hn", q[99].float(), k) * d**-0.5
    want = torch.einsum("hn,nhd->hd", scores.softmax(-1), v)
    assert rel(ref[99].view(h, d).float(), want) < (1e-6 if dtype == torch.float32 else 2e-3)


# --------------------------------------------------------------------------- model and engine


@pytest.fixture(scope="module")
def tiny_dir(checkpoint: Callable[[str], Path]) -> Path:
    return checkpoint("tiny:gptq")


@pytest.fixture(scope="module")
def reference(tiny_dir: Path):
    return load_model(tiny_dir, device=CPU, dtype=torch.float32)


@pytest.fixture(scope="module")
def fast(tiny_dir: Path) -> FastExaone4:
    return FastExaone4.from_reference(
        load_model(tiny_dir, device=CPU, dtype=torch.float32, cache_dequantized=False)
    )


def paged(fm: FastExaone4, rows: int, max_len: int, block_size: int = 16) -> PagedKVCache:
    """A cache whose rows own scattered blocks covering `max_len` tokens each."""
    layout = CacheLayout.build(fm.cfg, max_len, torch.float32, block_size)
    per_row = layout.max_blocks
    cache = PagedKVCache(fm.cfg, layout, rows * per_row * layout.groups, rows, torch.float32, CPU)
    order = torch.randperm(cache.num_blocks, generator=torch.Generator().manual_seed(3)).tolist()
    for g in range(layout.groups):
        for r in range(rows):
            for j in range(per_row):
                cache.set_entry(g, r, j, order.pop())
    cache.flush()
    return cache


def test_fast_model_logits_match_the_reference_across_the_window(reference, fast: FastExaone4) -> None:
    """Chunked prefill of two sequences in one pass, then decode past the 64-token window,
    all in scattered 16-token blocks."""
    ids = torch.randint(5, 4000, (150,), generator=torch.Generator().manual_seed(0))
    cache = paged(fast, 2, 256)
    with torch.inference_mode():
        first = fast.prefill([(ids[:70], 0, 0), (ids[:30], 1, 0)], cache)
        second = fast.prefill([(ids[70:120], 0, 70)], cache)
        steps = [
            fast.decode(
                ids[p : p + 1],
                torch.tensor([p], dtype=torch.int32),
                torch.tensor([0], dtype=torch.int32),
                cache,
            )[0]
            for p in range(120, 150)
        ]
        want = reference(
            ids[None], reference.new_cache(torch.zeros(1, dtype=torch.long), 256), all_logits=True
        )[0]
    assert (first[0] - want[69]).abs().max() < 1e-4
    assert (first[1] - want[29]).abs().max() < 1e-4
    assert (second[0] - want[119]).abs().max() < 1e-4
    assert (torch.stack(steps) - want[120:150]).abs().max() < 1e-4


def test_fast_prefill_of_chunks_equals_one_pass_per_chunk(fast: FastExaone4) -> None:
    """Packing chunks of several sequences into one pass gives each the logits it gets alone."""
    ids = torch.randint(5, 4000, (130,), generator=torch.Generator().manual_seed(4))
    together, alone = paged(fast, 3, 256), paged(fast, 3, 256)
    with torch.inference_mode():
        fast.prefill([(ids[:40], 0, 0)], together)
        got = fast.prefill([(ids[40:100], 0, 40), (ids[:90], 1, 0), (ids[100:101], 2, 0)], together)
        fast.prefill([(ids[:40], 0, 0)], alone)
        want = [
            fast.prefill([(ids[40:100], 0, 40)], alone)[0],
            fast.prefill([(ids[:90], 1, 0)], alone)[0],
            fast.prefill([(ids[100:101], 2, 0)], alone)[0],
        ]
    assert (got - torch.stack(want)).abs().max() < 1e-4


def test_fast_model_with_producers_writing_the_kernels_input_order(fast: FastExaone4) -> None:
    """Where a linear's kernel reads x in another order (on the GPU: r128), add_norm and silu_mul
    write it so and the linear takes it as is: here with the twins and a random order per weight
    (the twin linear takes the order back), the logits of prefill and decode are unchanged."""
    ids = torch.randint(5, 4000, (40,), generator=torch.Generator().manual_seed(6))
    maps: dict[int, torch.Tensor] = {}
    asked: list[int] = []

    def order(w, rows: int, dtype: torch.dtype) -> torch.Tensor:  # type: ignore[no-untyped-def]
        asked.append(rows)
        return maps.setdefault(
            id(w), torch.randperm(w.in_features, generator=torch.Generator().manual_seed(len(maps)))
        )

    def run() -> torch.Tensor:
        cache = paged(fast, 2, 64)
        first = fast.prefill([(ids[:30], 0, 0), (ids[:20], 1, 0)], cache)
        pos = torch.tensor([30, 20], dtype=torch.int32)
        step = fast.decode(ids[30:32], pos, torch.tensor([0, 1], dtype=torch.int32), cache)
        return torch.cat([first, step])

    with torch.inference_mode():
        want = run()
        try:
            fast._input_order = order
            got = run()
        finally:
            fast._input_order = fast_model._as_given
    assert len(maps) == 2 * fast.cfg.num_layers and set(asked) == {50, 2}  # gate|up and down, each pass
    assert torch.equal(got, want)


def _decode_after_prompt(fast: FastExaone4, ids: torch.Tensor, rows: int) -> torch.Tensor:
    """Logits of one decode step of `rows` rows, each after the same 20-token prompt of `ids`."""
    cache = paged(fast, rows, 64)
    fast.prefill([(ids[:20], r, 0) for r in range(rows)], cache)
    pos = torch.full((rows,), 20, dtype=torch.int32)
    return fast.decode(ids[20:21].repeat(rows), pos, torch.arange(rows, dtype=torch.int32), cache)


def test_down_reading_silu_itself_at_one_row(fast: FastExaone4, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where down's one-row config reads silu(gate) * up itself (``w4a16.silu_down_config``; on the
    GPU the Gluon GEMV), the decode step at one row hands it gate|up's output and runs no
    silu_mul; at two rows nothing changes. Here with the config faked and ``silu_down`` as its
    twin (silu_mul, then the linear): the same logits, one call a layer."""
    ids = torch.randint(5, 4000, (24,), generator=torch.Generator().manual_seed(8))
    fused: list[int] = []
    unfused: list[int] = []
    silu_mul = fast._silu_mul

    def down(gate_up: torch.Tensor, w: w4a16.W4Weight, dtype: torch.dtype) -> torch.Tensor:
        fused.append(gate_up.shape[-1])
        return torch_ops.w4_matmul(torch_ops.silu_mul(gate_up, dtype), w)

    def counted(parts: torch.Tensor, dtype: torch.dtype, dest: torch.Tensor | None = None) -> torch.Tensor:
        unfused.append(parts.shape[1])
        return silu_mul(parts, dtype, dest)

    def run(rows: int) -> torch.Tensor:
        return _decode_after_prompt(fast, ids, rows)

    with torch.inference_mode():
        want = [run(1), run(2)]
        cfg = w4a16.GemvConfig(128, 1, 1, 2, "tmax", pre=1, silu_x=True)
        monkeypatch.setattr(w4a16, "silu_down_config", lambda w, device, dtype: cfg)
        monkeypatch.setattr(w4a16, "silu_down", down)
        monkeypatch.setattr(fast, "_silu_mul", counted)
        monkeypatch.setattr(fast, "triton_kernels", True)
        got = run(1)
        assert len(fused) == fast.cfg.num_layers and set(unfused) == {20}  # prefill's rows only
        assert set(fused) == {2 * fast.layers[0].down.in_features}  # type: ignore[union-attr]
        assert torch.equal(got, want[0])
        fused.clear()
        assert torch.equal(run(2), want[1]) and not fused  # two rows: silu_mul, then down
        monkeypatch.setattr(fast, "fused_silu", False)  # EVALKIT_FUSED_SILU=0
        assert torch.equal(run(1), want[0]) and not fused


def test_o_merging_the_split_attention_at_one_row(fast: FastExaone4, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where o's one-row config merges the split attention itself (``w4a16.merge_o_config``; on
    the GPU the Gluon GEMV), the decode step at one row runs the split kernel only and hands its
    results to o; not with two rows or with EVALKIT_FUSED_MERGE=0. Here with the config faked and
    ``merge_o`` as its twin (the merge in PyTorch, then the linear): the logits of the twins' step,
    within fp32 rounding (the split kernel runs interpreted), one call a layer."""
    ids = torch.randint(5, 4000, (24,), generator=torch.Generator().manual_seed(9))
    merged: list[tuple[int, ...]] = []

    def o_twin(
        mid: torch.Tensor, lse: torch.Tensor, groups: int, w: w4a16.W4Weight, dtype: torch.dtype
    ) -> torch.Tensor:
        merged.append(tuple(mid.shape))
        x = attention.merge_splits(attention.SplitAttention(mid, lse, groups), dtype)
        return torch_ops.w4_matmul(x, w)

    def run(rows: int) -> torch.Tensor:
        return _decode_after_prompt(fast, ids, rows)

    with torch.inference_mode():
        want = [run(1), run(2)]
        cfg = w4a16.GemvConfig(128, 1, 1, 2, "tmax", pre=1, merge_x=True)
        monkeypatch.setattr(w4a16, "merge_o_config", lambda w, device, dtype, head_dim: cfg)
        monkeypatch.setattr(w4a16, "merge_o", o_twin)
        monkeypatch.setattr(fast, "triton_kernels", True)
        got = run(1)
        assert len(merged) == fast.cfg.num_layers
        assert {m[:2] for m in merged} == {(1, fast.cfg.num_kv_heads)}
        assert rel(got, want[0]) < 1e-5
        merged.clear()
        assert torch.equal(run(2), want[1]) and not merged  # two rows: attention with its merge
        monkeypatch.setattr(fast, "fused_merge", False)  # EVALKIT_FUSED_MERGE=0
        assert torch.equal(run(1), want[0]) and not merged


def test_act_order_model_matches_the_reference(checkpoint: Callable[[str], Path]) -> None:
    model_dir = checkpoint("tiny:gptq-actorder")
    ref = load_model(model_dir, device=CPU, dtype=torch.float32)
    fm = FastExaone4.from_reference(
        load_model(model_dir, device=CPU, dtype=torch.float32, cache_dequantized=False)
    )
    assert fm.layers[0].qkv.perm is not None  # type: ignore[union-attr]
    ids = torch.randint(5, 4000, (40,), generator=torch.Generator().manual_seed(5))
    with torch.inference_mode():
        got = fm.prefill([(ids, 0, 0)], paged(fm, 1, 64), all_logits=True)
        want = ref(ids[None], ref.new_cache(torch.zeros(1, dtype=torch.long), 64), all_logits=True)[0]
    assert (got - want).abs().max() < 1e-4


def exaone_32b_config():
    raw = {
        "vocab_size": 102400,
        "hidden_size": 5120,
        "intermediate_size": 27392,
        "num_hidden_layers": 64,
        "num_attention_heads": 40,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "sliding_window": 4096,
        "sliding_window_pattern": 4,
        "max_position_embeddings": 131072,
        "rms_norm_eps": 1e-5,
        "rope_theta": 1e6,
        "eos_token_id": 361,
    }
    return parse_config(raw, generation_config=None, source=Path("config.json"))


def test_cache_layout_of_exaone_32b_holds_only_the_window_on_sliding_layers() -> None:
    cfg = exaone_32b_config()
    lay = CacheLayout.build(cfg, 131072, torch.bfloat16, block_size=32)
    assert lay.groups == 4 and lay.members == 16 and lay.group_sliding == (False, True, True, True)
    assert lay.group_of_layer[3] == 0 and lay.group_of_layer[0] == 1 and lay.group_of_layer[63] == 0
    assert lay.bytes_per_block == 32 * 65536  # 32 tokens x 16 layers x K and V x 8 heads x 128 x bf16
    # docs/exaone4-architecture.md#kv-cache-size: KV(T) = 65,536 T + 196,608 min(T, 4096);
    # blocks round up, a window is 129 blocks
    for t in (1024, 32768, 131072):
        want = 65536 * t + 196608 * min(t, 4096)
        assert want <= lay.bytes_for(t) <= want + 196608 * 64 + 65536 * 32
    plan = plan_cache(
        _Fake(cfg),  # type: ignore[arg-type]
        max_seqs=512,
        max_seq_len=131072,
        prefill_tokens=8192,
        total_bytes=141 * 10**9,
        used_bytes=19 * 10**9,
    )
    # ~101 GB of cache: the old profile's 16 slots of 73,728 tokens become ~370 sequences of 1K
    assert plan.sequences_at(1024) == plan.num_blocks // lay.blocks_for(1024) >= 300
    assert plan.sequences_at(32768) >= 30 and plan.sequences_at(131072) >= 10
    assert "sequences at once" in plan.summary()
    with pytest.raises(MemoryPlanError, match=r"one sequence of 131,072 tokens needs .* tokens fit"):
        plan_cache(_Fake(cfg), max_seqs=8, max_seq_len=131072, prefill_tokens=8192, cache_blocks=1000)  # type: ignore[arg-type]


class _Fake:
    def __init__(self, cfg: Any):
        self.cfg, self.dtype = cfg, torch.bfloat16


def dec(ids: object) -> str:
    return ""


def requests_of(shapes: list[tuple[int, int]], seed: int = 1) -> list[GenerationRequest]:
    g = torch.Generator().manual_seed(seed)
    return [
        GenerationRequest(
            torch.randint(5, 4000, (n,), generator=g).tolist(),
            SamplingParams(max_new_tokens=m, temperature=0.0 if i % 2 == 0 else 0.8, top_p=0.9, seed=i),
        )
        for i, (n, m) in enumerate(shapes)
    ]


def test_continuous_batching_with_preemption_equals_the_reference_engine(
    reference, fast: FastExaone4
) -> None:
    """5 requests, at most 3 at once, in a pool too small for them: rows leave and enter, the
    latest-admitted are preempted and recomputed, prompts longer than the window go in 48-token
    chunks; greedy and seeded sampling: every token equals the reference engine's."""
    shapes = [(30, 64), (100, 20), (7, 40), (150, 64), (64, 70)]
    reqs = requests_of(shapes)
    want = dict(ReferenceEngine(reference, decode=dec, eos_ids=[], max_batch_size=3).generate(reqs))
    engine = FastEngine(
        fast, decode=dec, eos_ids=[], max_batch_size=3, max_seq_len=256, prefill_tokens=48,
        block_size=16, cache_blocks=64, admit_horizon=0,
    )  # fmt: skip
    engine.warmup()  # runs in the scratch row: must not disturb any request
    engine.step_log = []
    results = list(engine.generate(reqs))
    got = dict(results)
    assert sorted(i for i, _ in results) == list(range(5))  # each exactly once
    log = engine.step_log
    assert len(log) == engine.stats.decode_steps and {rows for _, _, rows in log} <= {1, 2, 3}
    # a step that starts before the last one's tokens are read is exactly a pipelined one
    overlapping = sum(a[0] + a[1] > b[0] for a, b in itertools.pairwise(log))
    assert overlapping == engine.stats.pipelined_steps > 0
    assert engine.stats.preemptions > 0 and engine.stats.peak_running == 3
    assert engine.stats.prefill_computed > engine.stats.prompt_tokens == sum(n for n, _ in shapes)
    for i in range(5):
        assert got[i].token_ids == want[i].token_ids, f"request {i}"
        assert len(got[i].token_ids) == shapes[i][1]
    assert engine.pool.available == engine.plan.num_blocks  # every block came back
    # reserving each sequence's growth at admission (the default) avoids the preemptions
    planned = FastEngine(
        fast, decode=dec, eos_ids=[], max_batch_size=3, max_seq_len=256, prefill_tokens=48,
        block_size=16, cache_blocks=64,
    )  # fmt: skip
    assert {i: r.token_ids for i, r in planned.generate(reqs)} == {i: r.token_ids for i, r in got.items()}
    assert planned.stats.preemptions == 0 and planned.stats.prefill_computed == planned.stats.prompt_tokens
    with pytest.raises(UsageError, match="exceeds the engine's max_seq_len of 256"):
        list(engine.generate([GenerationRequest([5] * 250, SamplingParams(max_new_tokens=10))]))


def test_pipelined_decode_gives_the_same_tokens_and_discards_what_follows_a_stop(
    fast: FastExaone4,
) -> None:
    """Steps launched before the last one's tokens are read: with EOS and stop strings ending
    requests early (so pipelined steps hold rows of sequences that have just stopped), greedy
    and seeded sampling, a presence penalty, a pool small enough to stall admission and
    preempt, every request's tokens, text and finish reason equal the unpipelined engine's."""

    def text(ids: object) -> str:
        return " ".join(str(i) for i in ids)  # type: ignore[attr-defined]

    shapes = [(30, 40), (100, 25), (7, 40), (90, 33), (64, 40), (18, 12), (45, 40)]
    g = torch.Generator().manual_seed(11)
    reqs = [
        GenerationRequest(
            torch.randint(5, 4000, (n,), generator=g).tolist(),
            SamplingParams(
                max_new_tokens=m,
                temperature=0.0 if i % 3 == 0 else 1.0,
                seed=i,
                presence_penalty=0.5 if i == 4 else 0.0,
            ),
        )
        for i, (n, m) in enumerate(shapes)
    ]

    def run(
        pipeline: bool, eos: list[int], reqs: list[GenerationRequest]
    ) -> tuple[dict[int, Any], FastEngine]:
        engine = FastEngine(
            fast, decode=text, eos_ids=eos, max_batch_size=4, max_seq_len=192, prefill_tokens=64,
            block_size=16, cache_blocks=40, admit_horizon=0, pipeline=pipeline,
        )  # fmt: skip
        out = {i: (r.token_ids, r.text, r.finish_reason) for i, r in engine.generate(reqs)}
        assert engine.pool.available == engine.plan.num_blocks
        return out, engine

    free, _ = run(False, [], reqs)
    # an EOS that several requests meet mid-way, and a stop string from another one's output
    counts: dict[int, int] = {}
    for ids, _, _ in free.values():
        for t in set(ids[2:-2]):
            counts[t] = counts.get(t, 0) + 1
    eos = [max(counts, key=lambda t: counts[t])]
    ids6 = free[6][0]
    stopped = [
        r if i != 6 else GenerationRequest(r.prompt_ids, replace(r.params, stop=(f"{ids6[5]} {ids6[6]}",)))
        for i, r in enumerate(reqs)
    ]
    want, plain = run(False, eos, stopped)
    got, piped = run(True, eos, stopped)
    assert got == want
    assert sorted(got) == list(range(len(reqs)))
    reasons = [got[i][2] for i in range(len(reqs))]
    assert reasons.count("stop") >= 2 and "length" in reasons
    assert plain.stats.pipelined_steps == 0 and plain.stats.discarded == 0
    assert piped.stats.pipelined_steps > 0
    assert piped.stats.discarded > 0  # rows given to sequences that had just stopped
    assert piped.stats.preemptions > 0 and piped.stats.prefill_computed == plain.stats.prefill_computed


def test_repeats_and_common_prefixes_are_prefilled_once(fast: FastExaone4) -> None:
    """8 samples of one prompt and 3 prompts sharing a 70-token prefix: the shared full blocks
    are computed once, and every request's tokens equal those it gets alone."""
    g = torch.Generator().manual_seed(7)
    prompt = torch.randint(5, 4000, (90,), generator=g).tolist()
    prefix = torch.randint(5, 4000, (70,), generator=g).tolist()
    reqs = [
        GenerationRequest(prompt, SamplingParams(max_new_tokens=12, temperature=0.9, seed=s))
        for s in range(8)
    ]
    reqs += [
        GenerationRequest(
            prefix + torch.randint(5, 4000, (9,), generator=g).tolist(), SamplingParams(max_new_tokens=6)
        )
        for _ in range(3)
    ]
    engine = FastEngine(
        fast, decode=dec, eos_ids=[], max_batch_size=16, max_seq_len=128, block_size=16,
        shared_prefix_min_rows=2,
    )  # fmt: skip
    got = dict(engine.generate(reqs))
    st = engine.stats
    assert st.prompt_tokens == 8 * 90 + 3 * 79
    # one copy of the prompt and of the prefix; the others compute only their last partial block
    assert st.prefill_computed == 90 + 7 * (90 - 80) + 79 + 2 * (79 - 64)
    assert st.prefix_hit_tokens == st.prompt_tokens - st.prefill_computed
    alone = FastEngine(
        fast, decode=dec, eos_ids=[], max_batch_size=1, max_seq_len=128, block_size=16, prefix_sharing=False
    )
    for i in (0, 5, 9):
        assert got[i].token_ids == dict(alone.generate([reqs[i]]))[0].token_ids
    assert len({tuple(got[i].token_ids) for i in range(8)}) > 1  # the samples do differ
    # the decode steps read each group's shared blocks once (twins: through the group's row)
    assert st.shared_prefix_rows > 0 and st.shared_prefix_keys_saved > 0


def test_shared_prefix_attention_gives_the_tokens_of_per_row_attention(fast: FastExaone4) -> None:
    """Repeats of short prompts (their sliding blocks stay until the window passes them, mid-
    run) and of a long one (released at once), greedy and sampled, 3 rows per group at most:
    every token equals the engine's without the shared-prefix path."""
    g = torch.Generator().manual_seed(9)
    prompts = [torch.randint(5, 4000, (n,), generator=g).tolist() for n in (40, 35, 100)]
    reqs = [
        GenerationRequest(p, SamplingParams(max_new_tokens=40, temperature=0.0 if s == 0 else 0.9, seed=s))
        for p in prompts
        for s in range(4)
    ]

    def run(shared: bool) -> tuple[dict[int, list[int]], FastEngine]:
        engine = FastEngine(
            fast, decode=dec, eos_ids=[], max_batch_size=12, max_seq_len=160, block_size=16,
            shared_prefix_attention=shared, shared_prefix_min_rows=min_rows,
        )  # fmt: skip
        engine._max_members = 3
        return {i: r.token_ids for i, r in engine.generate(reqs)}, engine

    min_rows = 2
    want, plain = run(False)
    got, engine = run(True)
    assert got == want
    assert plain.stats.shared_prefix_rows == 0 < engine.stats.shared_prefix_rows
    assert engine.pool.available == engine.plan.num_blocks
    min_rows = 13  # more rows than the batch holds: the path stays off
    assert run(True)[1].stats.shared_prefix_rows == 0
    # 12 rows decode at once, in groups of 3 + 1 per prompt: 9 grouped rows at most
    min_rows = 10
    assert run(True)[1].stats.shared_prefix_rows == 0
    min_rows = 9
    assert run(True)[1].stats.shared_prefix_rows > 0


def test_results_do_not_depend_on_admission_order(fast: FastExaone4) -> None:
    reqs = requests_of([(20, 9), (33, 30), (20, 5), (70, 17), (12, 25)], seed=3)
    reqs.append(reqs[1])  # a repeat: admitted next to its twin
    assert admission_order(reqs) == [1, 5, 4, 3, 0, 2]  # repeats together, long outputs first
    engine = FastEngine(fast, decode=dec, eos_ids=[], max_batch_size=2, max_seq_len=128, block_size=16)
    base = dict(engine.generate(reqs))
    perm = [4, 2, 0, 5, 3, 1]
    shuffled = dict(engine.generate([reqs[i] for i in perm]))
    for j, i in enumerate(perm):
        assert shuffled[j].token_ids == base[i].token_ids


def test_runner_fast_engine_on_cpu_equals_reference_engine(tiny_dir: Path) -> None:
    from evalkit.records import ChatRequest
    from evalkit.runners.torch_int4.runner import TorchInt4Runner

    reqs = [
        ChatRequest(
            messages=[{"role": "user", "content": t}],
            params=SamplingParams(max_new_tokens=12, temperature=0.0),
        )
        for t in ("안녕하세요", "What is 2+2?", "¿Hola?")
    ]
    ref = TorchInt4Runner(str(tiny_dir), device="cpu", max_batch_size=2)
    fast = TorchInt4Runner(str(tiny_dir), device="cpu", max_batch_size=2, engine="fast", max_seq_len=512)
    assert "engine" not in ref.describe() and fast.describe()["engine"] == "fast-paged"
    a, b = dict(ref.generate(reqs)), dict(fast.generate(reqs))
    assert [a[i].text for i in range(3)] == [b[i].text for i in range(3)]
    la = ref.next_token_logits(reqs[0], " 네")
    lb = fast.next_token_logits(reqs[0], " 네")
    assert la.token_ids == lb.token_ids and (la.logits - lb.logits).abs().max() < 1e-4
    # The plan's budget is the block pool: two sequences of max_seq_len tokens at every layer fit.
    budget, per_token = fast.kv_cache_budget_bytes(), fast.kv_bytes_per_token()
    assert budget is not None and budget >= 2 * 512 * per_token
    assert plan_batch_size(per_token, 512, budget, cap=64) >= 2


@pytest.mark.slow
def test_fast_model_on_interpreted_triton_kernels(tiny_dir: Path, reference) -> None:
    """The whole fast model on the real Triton kernels (interpreted): slow, hence `make check-data`."""
    fm = FastExaone4.from_reference(
        load_model(tiny_dir, device=CPU, dtype=torch.float32, cache_dequantized=False), triton_kernels=True
    )
    ids = torch.randint(5, 4000, (20,), generator=torch.Generator().manual_seed(2))
    cache = paged(fm, 1, 64)
    with torch.inference_mode():
        first = fm.prefill([(ids[:18], 0, 0)], cache)
        steps = [
            fm.decode(
                ids[p : p + 1],
                torch.tensor([p], dtype=torch.int32),
                torch.tensor([0], dtype=torch.int32),
                cache,
            )[0]
            for p in (18, 19)
        ]
        want = reference(
            ids[None], reference.new_cache(torch.zeros(1, dtype=torch.long), 64), all_logits=True
        )[0]
    assert (first[0] - want[17]).abs().max() < 1e-4
    assert (torch.stack(steps) - want[18:20]).abs().max() < 3e-4  # fp32, logits of scale ~7


def test_block_pool_keeps_released_prefixes_until_it_needs_the_room() -> None:
    from evalkit.runners.torch_int4.paged_cache import BlockPool, prefix_hashes

    pool = BlockPool(3)
    h = prefix_hashes([1, 2, 3, 4], 2, 2)
    assert h == prefix_hashes([1, 2, 3, 4, 9], 2, 2) and h[1] != prefix_hashes([1, 2, 3, 5], 2, 2)[1]
    a, b = pool.take(), pool.take()
    pool.register(h[0], 0, 1, a)
    pool.register(h[1], 0, 1, b)
    assert pool.lookup(h[0], 0) == a and pool.available == 1
    pool.ready.add(a)  # a's keys/values are computed, b's are not
    pool.release(a)
    pool.release(b)
    assert pool.available == 3 and pool.lookup(h[0], 0) == a  # a is kept for a later hit...
    assert pool.lookup(h[1], 0) == -1  # ...b, never computed, is forgotten
    pool.share(a)
    assert pool.refs[a] == 1 and pool.available == 2
    pool.release(a)
    taken = [pool.take() for _ in range(3)]  # the free blocks first, then the cached one
    assert taken[-1] == a and pool.lookup(h[0], 0) == -1 and pool.available == 0


def test_block_pool_drops_cached_prefixes_on_request() -> None:
    from evalkit.runners.torch_int4.paged_cache import BlockPool, prefix_hashes

    pool = BlockPool(2)
    h = prefix_hashes([1, 2], 2, 1)
    a = pool.take()
    pool.register(h[0], 0, 1, a)
    pool.ready.add(a)
    pool.release(a)
    assert pool.lookup(h[0], 0) == a and a in pool.cached
    pool.drop_cached()
    assert pool.lookup(h[0], 0) == -1 and not pool.cached and a in pool.free and pool.available == 2


def test_programmatic_dependent_launch_only_on_hopper_cuda_at_one_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PDL (kernels/pdl.py) is off on the CPU (the interpreter cannot run its PTX), before sm_90,
    with EVALKIT_PDL=0, and for the glue kernels at more than one row; on at one row otherwise."""
    from evalkit.runners.torch_int4.kernels import pdl

    assert pdl.launch(CPU, 1) == {"PDL": False}
    cuda = torch.device("cuda", 0)
    capability = {"cap": (9, 0)}
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index: capability["cap"])
    pdl._capable.cache_clear()
    monkeypatch.delenv("EVALKIT_PDL", raising=False)
    try:
        assert pdl.launch(cuda, 1) == {"PDL": True, "launch_pdl": True}
        assert pdl.launch(cuda, 16) == {"PDL": False}
        monkeypatch.setenv("EVALKIT_PDL", "0")
        assert not pdl.enabled(cuda) and pdl.launch(cuda, 1) == {"PDL": False}
        monkeypatch.delenv("EVALKIT_PDL")
        capability["cap"] = (8, 0)
        pdl._capable.cache_clear()
        assert not pdl.enabled(cuda)
    finally:
        pdl._capable.cache_clear()
