"""The Gluon W4A16 GEMMs (variants "g128" and "r128", kernels/w4a16_gluon.py) on a CPU machine.

Gluon kernels do not run in Triton's interpreter, so its numbers are checked on the GPU
(bench/w4a16_sweep.py checks every winning config against the PyTorch twin, with and without
act-order, and for bitwise repeatability). Here: the fold of two inputs, instruction by
instruction as each kernel's PTX does it, against the twin's weight on real GPTQ words (for r128
in the input order it gives x in); the dispatch where Gluon cannot run; the launch wiring; and
the sm_90 builds (no spills; g128: the MMA of one block kept in flight while the next is
dequantized; r128: the weight reaches the MMA in registers, never in shared memory).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from evalkit.runners.torch_int4.kernels import torch_ops, w4a16
from tests.runners.test_fast_path import random_linear

gluon = pytest.importorskip("evalkit.runners.torch_int4.kernels.w4a16_gluon")
CPU = torch.device("cpu")


def _bytes(v: torch.Tensor) -> list[torch.Tensor]:
    return [(v >> (8 * k)) & 0xFF for k in range(4)]


def prmt(a: torch.Tensor, b: torch.Tensor, sel: int) -> torch.Tensor:
    """PTX prmt.b32 (default mode): byte k of the result is byte (sel >> 4k) & 7 of {b, a}."""
    src = _bytes(a) + _bytes(b)
    out = torch.zeros_like(a)
    for k in range(4):
        out |= src[(sel >> (4 * k)) & 7] << (8 * k)
    return out


def lop3(a: torch.Tensor, b: int, c: int, lut: int) -> torch.Tensor:
    """PTX lop3.b32 for any truth table, bit by bit (a, b, c are the table's 0xF0, 0xCC, 0xAA)."""
    bb, cc = torch.full_like(a, b), torch.full_like(a, c)
    out = torch.zeros_like(a)
    for idx in range(8):
        if lut >> idx & 1:
            ta, tb, tc = (0xF0 >> idx) & 1, (0xCC >> idx) & 1, (0xAA >> idx) & 1
            term = (a if ta else ~a) & (bb if tb else ~bb) & (cc if tc else ~cc)
            out |= term
    return out & 0xFFFFFFFF


def halves(v: torch.Tensor, dt: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """The two 16-bit halves of each 32-bit value as `dt` (patterns below 0x8000 here: c + q)."""
    lo, hi = v & 0xFFFF, (v >> 16) & 0xFFFF
    assert int(lo.max()) < 0x8000 and int(hi.max()) < 0x8000
    return lo.to(torch.int16).view(dt), hi.to(torch.int16).view(dt)


def fold_pair(word: torch.Tensor, i: int, zc: torch.Tensor, s: torch.Tensor, magic: int) -> torch.Tensor:
    """Inputs 2i and 2i + 1 of each word [N, W] folded as the kernel's PTX does it: [N, W, 2]."""
    dt = torch.float16 if magic == 0x6400 else torch.bfloat16
    w = word.to(torch.int64) & 0xFFFFFFFF
    t = prmt(w, w >> 4, gluon.pair_selector(i))
    t = lop3(t, gluon.PAIR_MASK, magic * 0x10001, gluon.LOP3_AND_OR)
    lo, hi = halves(t, dt)
    pair = torch.stack([lo, hi], dim=-1)  # c + q, exact in dt
    # packed sub (exact: both are c + small integers) then packed mul, each rounded to dt
    return ((pair.float() - zc[:, None, None].float()).to(dt).float() * s[:, None, None].float()).to(dt)


@pytest.mark.parametrize("magic", [0x4300, 0x6400])
def test_fold_of_two_inputs_matches_the_twin_weight(magic: int) -> None:
    """The PRMT selectors, the mask and magic of the LOP3 and the rounding of the packed
    subtraction and multiplication give s (q - z) rounded once, with inputs 2i and 2i + 1 of
    word r at columns 8 r + 2i and 8 r + 2i + 1: the weight the s128 twin is checked against."""
    dt = torch.float16 if magic == 0x6400 else torch.bfloat16
    k, n, group = 256, 48, 128
    w, _ = random_linear(k, n, group, seed=21, act_order=False)
    # the twin's folded weight [N, K]: s (q - z), s rounded to dt first, the product rounded once
    s = w.scales.float()[torch.arange(k) // group].t()
    qz = torch_ops.dense_weight(w, torch.float32) / s
    want = (qz.to(dt) * s.to(dt)).float()
    off = 1024.0 if magic == 0x6400 else 128.0
    got = torch.empty(n, k)
    for b in range(k // 128):
        words = w.qweight[b * 16 : (b + 1) * 16].t()  # [N, 16]
        g = b * 128 // group
        z = ((w.qzeros[g].to(torch.int64) & 0xFFFFFFFF)[:, None] >> (4 * torch.arange(8))) & 0xF
        zc = (z.reshape(-1) + w.zero_offset).float() + off  # c + z per column
        sc = w.scales[g].float().to(dt)
        for i in range(4):
            pair = fold_pair(words, i, zc.to(dt), sc, magic).float()  # [N, 16, 2]
            cols = b * 128 + 8 * torch.arange(16)[:, None] + 2 * i + torch.arange(2)
            got[:, cols] = pair
    assert torch.equal(got, want)


def test_g128_entries_fall_back_where_gluon_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a machine without a Hopper GPU a g128 table entry gives way to the tl kernel measured
    for the same key (TUNED_TC_TL), or to the GEMM / dequantize + cuBLAS where there is none."""
    w, _ = random_linear(256, 80, 128, seed=12, act_order=False)
    key = (16, 80, 256)
    assert not w4a16.gluon_available(CPU)
    g128 = w4a16.TcConfig(16, 64, 1, 4, 4, True, variant="g128")
    tl_cfg = w4a16.TcConfig(16, 32, 1, 4, 1, True, variant="p16")
    monkeypatch.setitem(w4a16.TUNED_TC, key, g128)
    assert w4a16.tc_config(w, 16, torch.bfloat16) is None
    monkeypatch.setitem(w4a16.TUNED_TC_TL, key, tl_cfg)
    assert w4a16.tc_config(w, 16, torch.bfloat16) == tl_cfg
    # and a TMA stand-in is skipped in turn where TMA is missing
    monkeypatch.setitem(w4a16.TUNED_TC_TL, key, w4a16.TcConfig(16, 32, 1, 4, 1, True, variant="s128"))
    monkeypatch.setitem(w4a16._TMA, CPU, False)
    assert w4a16.tc_config(w, 16, torch.bfloat16) is None
    # a direct call with a g128 config is refused clearly rather than run wrongly
    with pytest.raises(ValueError, match="Hopper GPU only"):
        w4a16.w4_matmul(torch.randn(16, 256).to(torch.bfloat16), w, tc=g128)
    # the stand-ins of the real table are tl kernels; its r128 tiles are ones r128 can take
    for key_g, cfg in w4a16.TUNED_TC.items():
        if cfg.variant in w4a16.GLUON_VARIANTS:
            stand_in = w4a16.TUNED_TC_TL.get(key_g)
            assert stand_in is None or stand_in.variant not in w4a16.GLUON_VARIANTS
        if cfg.variant.startswith("r128"):
            reps = cfg.block_n // (16 * cfg.num_warps)
            assert cfg.block_n % (16 * cfg.num_warps) == 0 and reps & (reps - 1) == 0, (key_g, cfg)
            assert cfg.swap and cfg.num_stages >= 2, (key_g, cfg)


Launch = tuple[tuple[int, ...], tuple[object, ...], dict[str, object]]


def _record_launches(monkeypatch: pytest.MonkeyPatch, kernel: str, module: Any = gluon) -> list[Launch]:
    """Replace the Gluon kernel `kernel` of `module` by a recorder: the list of its launches
    (grid, args, kw)."""
    calls: list[Launch] = []

    class Recorder:
        def __getitem__(self, grid: tuple[int, ...]):  # type: ignore[no-untyped-def]
            return lambda *args, **kw: calls.append((grid, args, kw))

    monkeypatch.setattr(module, kernel, Recorder())
    return calls


def test_g128_launch_wiring(monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``w4_matmul`` hands the Gluon kernel (recorded instead of launched: no GPU here): the
    grid of M tiles, N tiles and K splits, N and its evenness as constants, the magic of the
    activation dtype, the slots of x and how far ahead the words are loaded."""
    calls = _record_launches(monkeypatch, "gemm_g128_kernel")
    monkeypatch.setitem(w4a16._GLUON, CPU, True)
    w, _ = random_linear(512, 80, 128, seed=13, act_order=False)
    x = torch.randn(37, 512).to(torch.float16)
    w4a16.w4_matmul(x, w, tc=w4a16.TcConfig(16, 64, 3, 4, 4, True, variant="g128n"))
    ((grid, args, kw),) = calls
    assert grid == (3, 2, 2)  # 37 rows in tiles of 16, 80 columns in tiles of 64, 4 blocks in splits of 3
    assert args[7:11] == (37, 4, 3, 2)  # M, blocks, blocks per split, splits
    assert (kw["N"], kw["EVEN_N"], kw["BLOCK_M"], kw["BLOCK_N"]) == (80, False, 16, 64)
    assert (kw["MAGIC"], kw["OFF"], kw["STAGES"], kw["AHEAD"], kw["num_warps"]) == (0x6400, 1024.0, 4, 1, 4)
    with pytest.raises(ValueError, match=">= 3 stages"):
        w4a16.w4_matmul(x, w, tc=w4a16.TcConfig(16, 64, 3, 4, 2, True, variant="g128"))


def _cuda_bin() -> Path:
    import triton

    return Path(triton.__file__).parent / "backends" / "nvidia" / "bin"


def _compile_sm90(
    block_m: int, block_n: int, num_warps: int, stages: int, ahead: int, kernel: str = "g128"
) -> str:
    """SASS of the kernel for sm_90 at gate|up's N (no GPU needed): g128, r128, or r128 with
    OVERLAP ("r128o"), each r128 also with STREAM_K (a trailing "s": "r128s", "r128os"); "r128w":
    the warp-specialized r128 at down's N (num_warps: one consumer's)."""
    if kernel == "gemv_dn2d":
        return _compile_gemv_sm90(block_n, num_warps)
    if kernel.startswith("gemv_tma"):
        # the Gluon GEMV at down's shape, 16 groups a split, PDL; ahead: x' shared; "gemv_tma_preN":
        # N tiles asked for before the wait (else all `stages`); "gemv_tma_silu": x = silu(gate) * up
        # read from gate|up's fp32 output, 1 tile before the wait; "gemv_tma_merge": o's shape (3
        # groups a split), x the split attention merged (5 query heads a KV head, padded to 16)
        from triton.experimental.gluon import language as gl

        from evalkit.runners.torch_int4.kernels import w4a16_gluon_gemv

        pre = int(kernel.removeprefix("gemv_tma_pre")) if kernel.startswith("gemv_tma_pre") else stages
        silu, merge = kernel == "gemv_tma_silu", kernel == "gemv_tma_merge"
        consts = {
            "N": 5120, "GROUP": 128, "BLOCK_N": block_n, "GROUPS_PER_SPLIT": 3 if merge else 16,
            "ZERO_OFFSET": 1, "STAGES": stages, "XS": bool(ahead), "PDL": True,
            "PRE": 1 if silu or merge else pre, "SILU_X": silu, "MERGE_X": merge, "MGROUPS": 5, "MGP": 16,
            "ACT": gl.bfloat16,
        }  # fmt: skip
        fn = w4a16_gluon_gemv.gemv_tma_kernel
        return _build_gluon_sm90(fn, consts, 128, {"num_warps": num_warps}, kernel)
    options: dict[str, object] = {"num_warps": num_warps}
    if kernel in ("r128w", "r128wsilu"):  # the warp-specialized r128 (w4a16_gluon_ws), num_warps a
        # consumer's; r128wsilu: gate|up's N with silu(gate) * up in the epilogue, the down order's map
        from evalkit.runners.torch_int4.kernels import w4a16_gluon_ws

        fused = kernel == "r128wsilu"
        options["maxnreg"] = w4a16_gluon_ws.MAX_REGS
        consts = {
            "N": 54784 if fused else 5120, "EVEN_N": True, "GROUP": 128, "BLOCK_M": block_m,
            "BLOCK_N": block_n, "ZERO_OFFSET": 1, "MAGIC": 0x4300, "OFF": 128.0, "STAGES": stages,
            "SECOND_REGS": w4a16_gluon_ws.consumer_regs(block_m), "PRODUCER": w4a16_gluon_ws.PRODUCER_REGS,
            "SILU": fused, "ORDER": fused,
        }  # fmt: skip
        wptrs = {
            "qw_ptr": "*i32", "qz_ptr": "*i32", "s_ptr": "*bf16", "out_ptr": "*bf16" if fused else "*fp32",
            "part_ptr": "*fp32", "cnt_ptr": "*i32",
        }  # fmt: skip
        if fused:
            wptrs["dest_ptr"] = "*i64"
        else:
            consts["dest_ptr"] = None
        return _build_gluon_sm90(w4a16_gluon_ws.gemm_r128w_kernel, consts, block_m, options, kernel, wptrs)
    silu = kernel == "r128silu"  # r128n with silu(gate) * up in the epilogue, the down order's map
    kernel = "r128" if silu else kernel
    stream = kernel.startswith("r128") and kernel.endswith("s")
    kernel = kernel.removesuffix("s") if stream else kernel
    fn = getattr(gluon, f"gemm_{kernel.removesuffix('o')}_kernel")  # "r128o": r128 with OVERLAP
    ptrs = {"qw_ptr": "*i32", "qz_ptr": "*i32", "s_ptr": "*bf16", "out_ptr": "*fp32", "part_ptr": "*fp32"}
    ptrs["cnt_ptr"] = "*i32"
    consts: dict[str, object] = {
        "N": 54784, "EVEN_N": True, "GROUP": 128, "BLOCK_M": block_m, "BLOCK_N": block_n,
        "ZERO_OFFSET": 1, "MAGIC": 0x4300, "OFF": 128.0, "STAGES": stages, "AHEAD": ahead,
        "OVERLAP": kernel == "r128o", "STREAM_K": stream,
    }  # fmt: skip
    if kernel.startswith("r128"):
        consts |= {"SILU": silu, "ORDER": silu, "dest_ptr": None}
    if silu:
        consts.pop("dest_ptr")
        ptrs |= {"out_ptr": "*bf16", "dest_ptr": "*i64"}
    return _build_gluon_sm90(fn, consts, block_m, options, kernel, ptrs)


def _build_gluon_sm90(
    fn: Any,
    consts: dict[str, object],
    block_m: int,
    options: dict[str, object],
    kernel: str,
    ptrs: dict[str, str] | None = None,
) -> str:
    """SASS (first line: "// registers N") of the Gluon kernel `fn` built for sm_90 with these
    constants, i32 scalars and a bf16 x descriptor of [block_m, 128] tiles."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.experimental.gluon import language as gl
    from triton.experimental.gluon._runtime import GluonASTSource

    layout = gl.NVMMASharedLayout.get_default_for([block_m, 128], gl.bfloat16)
    ptrs = ptrs or {
        "qw_ptr": "*i32", "qz_ptr": "*i32", "s_ptr": "*bf16", "out_ptr": "*fp32", "part_ptr": "*fp32",
        "cnt_ptr": "*i32", "lse_ptr": "*fp32",
    }  # fmt: skip
    sig: dict[str, str] = {}
    constexprs: dict[tuple[int, ...], object] = {}
    attrs: dict[tuple[int, ...], list[list[object]]] = {}
    words = gl.NVMMASharedLayout(swizzle_byte_width=0, element_bitwidth=32, rank=2)
    for i, name in enumerate(fn.arg_names):
        if name == "x_desc":
            sig[name] = f"tensordesc<bf16[{block_m}, 128],{layout!r}>"
        elif name == "w_desc":  # the Gluon GEMV's words, [16, BLOCK_N] tiles
            sig[name] = f"tensordesc<i32[16, {consts['BLOCK_N']}],{words!r}>"
        elif name == "x_ptr":
            sig[name] = "*fp32" if consts.get("SILU_X") or consts.get("MERGE_X") else "*bf16"
            attrs[(i,)] = [["tt.divisibility", 16]]
        elif name in ptrs:
            sig[name] = ptrs[name]
            attrs[(i,)] = [["tt.divisibility", 16]]
        elif name in consts:
            sig[name] = "constexpr"
            constexprs[(i,)] = consts[name]
        else:
            sig[name] = "i32"
    src = GluonASTSource(fn=fn, signature=sig, constexprs=constexprs, attrs=attrs)
    compiled = triton.compile(src, target=GPUTarget("cuda", 90, 32), options=options)
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"{kernel}_{os.getpid()}_{block_m}"
    tmp.with_suffix(".cubin").write_bytes(compiled.asm["cubin"])
    sass, usage = (
        subprocess.run(
            [str(_cuda_bin() / tool), flag, str(tmp.with_suffix(".cubin"))],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for tool, flag in (("nvdisasm", "-c"), ("cuobjdump", "-res-usage"))
    )
    tmp.with_suffix(".cubin").unlink(missing_ok=True)
    regs = re.search(r"REG:(\d+)", usage)
    return f"// registers {regs.group(1) if regs else '?'}\n{sass}"


def _compile_gemv_sm90(block_n: int, num_warps: int) -> str:
    """SASS of the one-tile GEMV (a tl kernel) for sm_90 at down's N, launched with PDL."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from evalkit.runners.torch_int4.kernels import w4a16

    fn = w4a16._gemv_dn2d_kernel
    consts = {"GROUP": 128, "BLOCK_N": block_n, "ZERO_OFFSET": 1, "EVEN_N": True, "HOIST": False, "PDL": True}
    ptrs = {"x_ptr": "*bf16", "s_ptr": "*bf16", "out_ptr": "*fp32", "part_ptr": "*fp32"}
    sig: dict[str, str] = {}
    constexprs: dict[tuple[int, ...], object] = {}
    attrs: dict[tuple[int, ...], list[list[object]]] = {}
    for i, name in enumerate(fn.arg_names):
        if name in consts:
            sig[name] = "constexpr"
            constexprs[(i,)] = consts[name]
        elif name.endswith("_ptr"):
            sig[name] = ptrs.get(name, "*i32")
            attrs[(i,)] = [["tt.divisibility", 16]]
        else:
            sig[name] = "i32"
            if name == "N":  # 5120, as Triton's launcher marks it
                attrs[(i,)] = [["tt.divisibility", 16]]
    src = ASTSource(fn=fn, signature=sig, constexprs=constexprs, attrs=attrs)
    compiled = triton.compile(src, target=GPUTarget("cuda", 90, 32), options={"num_warps": num_warps})
    cubin = Path(os.environ.get("TMPDIR", "/tmp")) / f"gemv_{os.getpid()}_{block_n}_{num_warps}.cubin"
    cubin.write_bytes(compiled.asm["cubin"])
    try:
        return subprocess.run(
            [str(_cuda_bin() / "nvdisasm"), "-c", str(cubin)], capture_output=True, text=True, check=True
        ).stdout
    finally:
        cubin.unlink(missing_ok=True)


def _main_loop(sass: str) -> list[str]:
    """The instructions of the loop that issues the MMA (from its label to the branch back)."""
    for _, _, loop in _loops(sass):
        if any("HGMMA" in t for t in loop):
            return loop
    raise AssertionError("no loop with an MMA in the SASS")


def _innermost_loops(sass: str) -> list[list[str]]:
    """The instructions of each loop with no other loop inside it."""
    loops = _loops(sass)
    return [
        body
        for start, end, body in loops
        if not any(start <= s and e <= end and (s, e) != (start, end) for s, e, _ in loops)
    ]


def _loops(sass: str) -> list[tuple[int, int, list[str]]]:
    """Each loop of the SASS (from a label to a branch back to it): first and last address, and
    its instructions; in the order of the branches."""
    lines = sass.splitlines()
    labels: dict[str, int] = {}
    body: list[tuple[int, str]] = []
    pending = None
    for line in lines:
        m = re.match(r"\s*\.L_x_(\d+):", line)
        if m:
            pending = m.group(1)
            continue
        m = re.match(r"\s+/\*([0-9a-f]{4,5})\*/\s+(.*?);", line)
        if m:
            addr = int(m.group(1), 16)
            if pending is not None:
                labels[pending] = addr
                pending = None
            body.append((addr, m.group(2)))
    loops: list[tuple[int, int, list[str]]] = []
    for addr, text in body:
        m = re.search(r"BRA\s+`\(\.L_x_(\d+)\)", text)
        if m and labels.get(m.group(1), 1 << 30) < addr:
            start = labels[m.group(1)]
            loops.append((start, addr, [t for a, t in body if start <= a <= addr]))
    return loops


# Interpreters to build with: this one, and those of EVALKIT_SM90_PYTHONS (`make gpu-triton`: the
# GPU image's Triton 3.6, which accepts different Gluon code than the dev Triton; CI sets it).
SM90_PYTHONS = [
    sys.executable,
    *(p for p in os.environ.get("EVALKIT_SM90_PYTHONS", "").split(os.pathsep) if p),
]
SM90_IDS = ["dev-triton", *(f"extra{i}" for i in range(1, len(SM90_PYTHONS)))]


def _build_in_subprocess(
    block_m: int,
    block_n: int,
    num_warps: int,
    stages: int,
    ahead: int,
    kernel: str,
    python: str = sys.executable,
) -> str:
    # in a process of its own: the tests run Triton in interpreter mode, which Gluon cannot build in
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[2]), env.get("PYTHONPATH", "")])
    args = [str(v) for v in (block_m, block_n, num_warps, stages, ahead)] + [kernel]
    run = subprocess.run(
        [python, __file__, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).parents[2],
    )
    if run.returncode == 3:  # a Triton without Gluon's Hopper API or its tools
        pytest.skip(f"cannot build for sm_90 here: {run.stdout.strip()}")
    assert run.returncode == 0, f"{python}: {run.stderr[-3000:]}"
    return run.stdout


@pytest.mark.parametrize("python", SM90_PYTHONS, ids=SM90_IDS)
@pytest.mark.parametrize(
    ("block_m", "block_n", "num_warps", "stages", "ahead"), [(16, 64, 4, 4, 2), (64, 128, 8, 3, 1)]
)
def test_g128_builds_for_sm90_with_the_mma_in_flight(
    block_m: int, block_n: int, num_warps: int, stages: int, ahead: int, python: str
) -> None:
    sass = _build_in_subprocess(block_m, block_n, num_warps, stages, ahead, "g128", python)
    assert not re.search(r"\b(STL|LDL)\b", sass), "registers spill to local memory"
    loop = _main_loop(sass)
    # the wait inside the loop leaves one MMA group (the block before) running
    assert any(re.search(r"WARPGROUP\.DEPBAR\.LE gsb0, 0x1", t) for t in loop)
    assert not any(re.search(r"WARPGROUP\.DEPBAR\.LE gsb0, 0x0", t) for t in loop)
    # two weights per instruction: one packed multiplication and one PRMT per pair of inputs
    ops = [re.sub(r"^@!?U?P\w+\s+", "", t).split()[0].split(".")[0] for t in loop]
    pairs = block_n * 128 // (32 * num_warps) // 2
    assert ops.count("HMUL2") == pairs
    assert ops.count("HGMMA") == 8 * block_n // (16 * num_warps)  # a chain of 16-deep MMAs a block
    # the whole loop, loads, stores, barriers and MMA included: under 5 instructions a weight
    # (Triton's tl kernels of the same math: 5.3 for s128, 4.9 for p16f; sm_90, Triton 3.6)
    assert len(ops) < 5 * 2 * pairs


@pytest.mark.parametrize("magic", [0x4300, 0x6400])
def test_r128_fold_is_the_twin_weight_in_r128_order(magic: int) -> None:
    """r128's A operand, built as its PTX does (word 4 t + i of the block shifted right by 4 c,
    LOP3, packed subtraction and multiplication: codes c and c + 4 in one register) and placed
    where the kernel's reshape and permute put it (position 32 i + 16 s1 + 8 h + 2 t + b, c =
    2 s1 + h), is the twin's folded weight with its inputs in ``r128_order``: the order x is
    given to the kernel in, so the products are the twin's."""
    dt = torch.float16 if magic == 0x6400 else torch.bfloat16
    k, n, group = 384, 40, 128
    w, _ = random_linear(k, n, group, seed=23, act_order=False)
    s = w.scales.float()[torch.arange(k) // group].t()
    qz = torch_ops.dense_weight(w, torch.float32) / s
    want = (qz.to(dt) * s.to(dt)).float()  # [N, K], natural order
    order = gluon.r128_order(torch.arange(k, dtype=torch.float64)[None]).long()[0]
    assert sorted(order.tolist()) == list(range(k))  # a permutation within each block of 128
    assert torch.equal(order // 128, torch.arange(k) // 128)
    off = 1024.0 if magic == 0x6400 else 128.0
    got = torch.full((n, k), float("nan"))
    for b in range(k // 128):
        words = w.qweight[b * 16 : (b + 1) * 16].t().to(torch.int64) & 0xFFFFFFFF  # [N, 16]
        g = b * 128 // group
        z = ((w.qzeros[g].to(torch.int64) & 0xFFFFFFFF)[:, None] >> (4 * torch.arange(8))) & 0xF
        zc = ((z.reshape(-1) + w.zero_offset).float() + off).to(dt).float()
        sc = w.scales[g].float().to(dt).float()
        for j in range(16):
            t4, i = divmod(j, 4)
            for c in range(4):
                v = lop3(words[:, j] >> (4 * c), gluon.PAIR_MASK, magic * 0x10001, gluon.LOP3_AND_OR)
                lo, hi = halves(v, dt)
                s1, h = divmod(c, 2)
                for half, val in ((0, lo), (1, hi)):
                    pos = b * 128 + 32 * i + 16 * s1 + 8 * h + 2 * t4 + half
                    got[:, pos] = ((val.float() - zc).to(dt).float() * sc).to(dt).float()
    assert torch.equal(got, want[:, order])


def test_r128_launch_wiring(monkeypatch: pytest.MonkeyPatch) -> None:
    """r128 gets x in ``r128_order`` (through its TMA descriptor), block_n and the words' distance;
    tiles that are not 16 warps' rows times a power of two are refused."""
    calls = _record_launches(monkeypatch, "gemm_r128_kernel")
    seen: list[torch.Tensor] = []
    monkeypatch.setattr(gluon, "x_descriptor", lambda x, bm: seen.append(x) or x)
    monkeypatch.setitem(w4a16._GLUON, CPU, True)
    w, _ = random_linear(512, 256, 128, seed=14, act_order=False)
    x = torch.randn(20, 512).to(torch.bfloat16)
    w4a16.w4_matmul(x, w, tc=w4a16.TcConfig(16, 128, 4, 4, 2, True, variant="r128n"))
    ((grid, args, kw),) = calls
    assert grid == (2, 2, 1)
    assert args[7:11] == (20, 4, 4, 1)  # M, blocks, blocks per split, splits
    assert torch.equal(seen[0], gluon.r128_order(x))
    assert (kw["BLOCK_M"], kw["BLOCK_N"], kw["STAGES"], kw["AHEAD"], kw["num_warps"]) == (16, 128, 2, 1, 4)
    with pytest.raises(ValueError, match="16 num_warps times a power of two"):
        w4a16.w4_matmul(x, w, tc=w4a16.TcConfig(16, 96, 4, 4, 2, True, variant="r128"))
    with pytest.raises(ValueError, match="Hopper GPU only"):
        monkeypatch.setitem(w4a16._GLUON, CPU, False)
        w4a16.w4_matmul(x, w, tc=w4a16.TcConfig(16, 128, 4, 4, 2, True, variant="r128"))


def test_silu_rows_pair_each_output_s_gate_and_up_in_one_thread() -> None:
    """The fused gate|up tile's rows (``silu_rows``): every output column of the tile once from
    gate and once from up, row i and row i + 8 (registers of one thread in the MMA's
    accumulator) holding the gate and the up of the same output."""
    inter, bn = 27392, 128
    seen: list[int] = []
    for tile in (0, 1, inter * 2 // bn - 1):
        rows = gluon.silu_rows(bn, inter, tile)
        seen += rows
        outs = range(tile * bn // 2, (tile + 1) * bn // 2)
        assert sorted(rows) == sorted([*outs, *(c + inter for c in outs)])
        for i in range(bn):
            if not i & 8:
                assert rows[i] < inter and rows[i + 8] == rows[i] + inter
    assert len(set(seen)) == len(seen)


def test_gate_up_silu_wiring(monkeypatch: pytest.MonkeyPatch) -> None:
    """gate_up_silu launches the r128 config of its rows with SILU, the down order's map and an
    [M, I] output of x's dtype; rows whose config is split in K, stream-K or not r128 take the
    unfused path (silu_config None), and x must come in the r128 order."""
    calls = _record_launches(monkeypatch, "gemm_r128_kernel")
    monkeypatch.setattr(gluon, "x_descriptor", lambda x, bm: x)
    monkeypatch.setitem(w4a16._GLUON, CPU, True)
    w, _ = random_linear(512, 512, 128, seed=15, act_order=False)
    monkeypatch.setattr(w4a16, "SILU_EPILOGUE_BUCKETS", (32,))
    key = (w4a16._m_bucket(20), 512, 512)
    monkeypatch.setitem(w4a16.TUNED_TC, key, w4a16.TcConfig(32, 128, 4, 4, 3, True, 128, "r128n"))
    cfg = w4a16.silu_config(w, 20, torch.bfloat16)
    assert cfg is not None
    dest = w4a16.input_order(w, 20, torch.bfloat16)
    assert dest is not None
    out_dest = torch.arange(256)
    x = torch.randn(20, 512).to(torch.bfloat16)
    act = w4a16.gate_up_silu(x, w, dest, out_dest)
    assert act.shape == (20, 256) and act.dtype == torch.bfloat16
    ((grid, args, kw),) = calls
    assert grid == (1, 4, 1)  # M tiles, 128-row tiles of gate|up (64 outputs each), one K split
    assert args[4] is act and args[7:11] == (20, 4, 4, 1)
    assert kw["SILU"] is True and kw["ORDER"] is True and kw["dest_ptr"] is out_dest
    assert w4a16.silu_config(w, 20, torch.float32) is None
    monkeypatch.setattr(w4a16, "SILU_EPILOGUE_BUCKETS", (16, 64))
    assert w4a16.silu_config(w, 20, torch.bfloat16) is None  # a bucket where it lost
    monkeypatch.setattr(w4a16, "SILU_EPILOGUE_BUCKETS", (32,))
    with pytest.raises(ValueError, match="r128 order"):
        w4a16.gate_up_silu(x, w, dest.clone())
    for other in (
        w4a16.TcConfig(32, 128, 2, 4, 3, True, 128, "r128n"),  # K in two splits
        w4a16.TcConfig(32, 128, 4, 4, 3, True, 128, "r128n", 1),  # stream-K
        w4a16.TcConfig(32, 64, 4, 4, 3, True, 128, "g128"),
    ):
        monkeypatch.setitem(w4a16.TUNED_TC, key, other)
        assert w4a16.silu_config(w, 20, torch.bfloat16) is None


@pytest.mark.parametrize(
    ("m_tiles", "n_tiles", "blocks", "programs"),
    [(2, 80, 214, 264), (2, 40, 214, 132), (1, 112, 40, 132), (4, 428, 40, 264), (1, 3, 5, 15), (3, 1, 7, 2)],
)
def test_stream_k_plan_takes_every_block_once_and_the_fixup_adds_each_tile_in_order(
    m_tiles: int, n_tiles: int, blocks: int, programs: int
) -> None:
    """The stream-K grid (down at 256 rows on 132 SMs x 2, o, gate|up at 512, small cases): every
    (tile, block) iteration belongs to exactly one program's segment, and the parts the kernel
    computes for the fix-up (first program, count) are the programs that hold the tile, in
    order, so part p - first is the p-th segment and all fit in ``stream_k_max_parts`` slots."""
    tiles = m_tiles * n_tiles
    total = tiles * blocks
    plan = gluon.stream_k_plan(m_tiles, n_tiles, blocks, programs)
    seen = sorted((t, b) for segs in plan for t, b0, nb in segs for b in range(b0, b0 + nb))
    assert seen == [(t, b) for t in range(tiles) for b in range(blocks)]
    held: dict[int, list[tuple[int, int, int]]] = {}
    for p, segs in enumerate(plan):
        for t, b0, nb in segs:
            held.setdefault(t, []).append((p, b0, nb))
    slots = gluon.stream_k_max_parts(tiles, blocks, programs)
    rng = torch.Generator().manual_seed(5)
    value = torch.randint(-1000, 1000, (tiles, blocks), generator=rng)
    for t, parts in held.items():
        first, count = gluon.stream_k_parts(t, blocks, total, programs)
        assert [p for p, _, _ in parts] == list(range(first, first + count))
        assert count <= slots
        # the parts in slot order cover the tile's blocks in order: their sum is the tile's
        assert [b0 for _, b0, _ in parts] == sorted(b0 for _, b0, _ in parts)
        sums = [int(value[t, b0 : b0 + nb].sum()) for _, b0, nb in parts]
        assert sum(sums) == int(value[t].sum())
    assert slots == max(len(v) for v in held.values())


def test_r128_stream_k_launch_wiring(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stream-K config launches stream_k programs per SM (capped at the iterations), passes the
    M tiles where the splits go, sizes the partials by the most parts a tile has, and is refused
    for any variant but r128's."""
    calls = _record_launches(monkeypatch, "gemm_r128_kernel")
    monkeypatch.setattr(gluon, "x_descriptor", lambda x, bm: x)
    monkeypatch.setitem(w4a16._GLUON, CPU, True)
    monkeypatch.setattr(w4a16, "_num_sms", lambda dev: 5)
    w, _ = random_linear(640, 256, 128, seed=15, act_order=False)
    x = torch.randn(40, 640).to(torch.bfloat16)
    w4a16.w4_matmul(x, w, tc=w4a16.TcConfig(32, 128, 5, 4, 3, True, 128, "r128o", 2))
    ((grid, args, kw),) = calls
    assert grid == (10, 1, 1)  # 2 programs per SM, 5 SMs; 2 x 2 tiles x 5 blocks = 20 iterations
    assert args[7:11] == (40, 5, 5, 2)  # M, blocks, (unused), M tiles
    assert args[5].shape == (gluon.stream_k_max_parts(4, 5, 10), 40, 256)  # the partials
    assert kw["STREAM_K"] is True and kw["OVERLAP"] is True
    calls.clear()
    two = x[:1].expand(2, -1).contiguous()
    w4a16.w4_matmul(two, w, tc=w4a16.TcConfig(16, 128, 5, 4, 3, True, 128, "r128", 9))
    assert calls[0][0] == (10, 1, 1)  # 9 x 5 programs, capped at 2 tiles x 5 blocks
    with pytest.raises(ValueError, match="stream-K"):
        w4a16.w4_matmul(x, w, tc=w4a16.TcConfig(32, 128, 5, 4, 3, True, 128, "g128", 1))


def test_r128w_launch_wiring(monkeypatch: pytest.MonkeyPatch) -> None:
    """The warp-specialized r128 gets r128's grid (M tiles, N tiles, K splits), x in r128's order,
    its partitions' register budgets and its own register cap (or the config's), gate|up's fused
    activation over one K split, and is refused as a stream-K grid, with r128o's overlap, and
    with a block_n its two consumers cannot split."""
    from evalkit.runners.torch_int4.kernels import w4a16_gluon_ws

    calls = _record_launches(monkeypatch, "gemm_r128w_kernel", w4a16_gluon_ws)
    monkeypatch.setattr(gluon, "x_descriptor", lambda x, bm: x)
    monkeypatch.setitem(w4a16._GLUON, CPU, True)
    w, _ = random_linear(640, 256, 128, seed=16, act_order=False)
    x = torch.randn(40, 640).to(torch.bfloat16)
    w4a16.w4_matmul(x, w, tc=w4a16.TcConfig(32, 128, 2, 4, 3, True, 128, "r128w"))
    ((grid, args, kw),) = calls
    assert grid == (2, 2, 3)  # 40 rows in tiles of 32, 256 columns in tiles of 128, 5 blocks by 2
    assert torch.equal(args[0], gluon.r128_order(x))
    assert args[7:11] == (40, 5, 2, 3)  # M, blocks, blocks per split, splits
    assert args[5].shape == (3, 40, 256)  # the partials
    assert (kw["BLOCK_M"], kw["BLOCK_N"], kw["STAGES"], kw["num_warps"]) == (32, 128, 3, 4)
    assert (kw["SECOND_REGS"], kw["PRODUCER"]) == (w4a16_gluon_ws.CONSUMER_REGS, w4a16_gluon_ws.PRODUCER_REGS)
    assert kw["maxnreg"] == w4a16_gluon_ws.MAX_REGS
    assert "OVERLAP" not in kw and "STREAM_K" not in kw and "SILU" not in kw
    calls.clear()
    w4a16.w4_matmul(x, w, tc=w4a16.TcConfig(32, 128, 5, 4, 3, True, 128, "r128w", 0, 160))
    assert calls[0][0] == (2, 2, 1) and calls[0][2]["maxnreg"] == 160
    with pytest.raises(ValueError, match="stream-K"):
        w4a16.w4_matmul(x, w, tc=w4a16.TcConfig(32, 128, 5, 4, 3, True, 128, "r128w", 1))
    with pytest.raises(ValueError, match="32 num_warps"):
        w4a16.w4_matmul(x, w, tc=w4a16.TcConfig(32, 64, 5, 4, 3, True, 128, "r128w"))
    launch: dict[str, Any] = {
        "grid": (1, 2, 1), "num_blocks": 5, "blocks_per_split": 5, "group": 128, "zero_offset": 1,
        "block_m": 32, "block_n": 128, "num_warps": 4, "stages": 3, "registers_a": True,
        "warp_specialized": True,
    }  # fmt: skip
    with pytest.raises(ValueError, match="plain r128 grid"):
        gluon.launch(x, w.qweight, w.qzeros, w.scales, x, x, x, **launch, overlap=True)
    # gate|up's fused activation: each half of a tile is a fused tile of its own
    calls.clear()
    dest = torch.arange(128)
    gluon.launch(x, w.qweight, w.qzeros, w.scales, x, x, x, **launch, silu=True, dest=dest)
    kw = calls[0][2]
    assert kw["SILU"] is True and kw["ORDER"] is True and kw["dest_ptr"] is dest
    with pytest.raises(ValueError, match="one K split"):
        gluon.launch(x, w.qweight, w.qzeros, w.scales, x, x, x, **(launch | {"grid": (1, 2, 2)}), silu=True)
    gate_up, _ = random_linear(640, 256, 128, seed=17, act_order=False)
    monkeypatch.setattr(w4a16, "SILU_EPILOGUE_BUCKETS", (64,))
    for cfg, fused in (
        (w4a16.TcConfig(64, 128, 5, 4, 3, True, 128, "r128w"), True),
        (w4a16.TcConfig(64, 128, 2, 4, 3, True, 128, "r128w"), False),  # K split
        (w4a16.TcConfig(64, 32, 5, 1, 3, True, 128, "r128w"), True),  # halves of 16 rows
        (w4a16.TcConfig(64, 16, 5, 1, 3, True, 128, "r128n"), True),
    ):
        monkeypatch.setitem(w4a16.TUNED_TC, (64, 256, 640), cfg)
        assert (w4a16.silu_config(gate_up, 64, torch.bfloat16) is not None) == fused, cfg


def test_gemv_tma_launch_wiring(monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``w4_matmul`` hands the Gluon GEMV at one row (recorded instead of launched): the grid
    of N tiles and K splits, the words as a descriptor of [16, BLOCK_N] tiles, the split size,
    the tiles in flight and x' in shared memory as constants; refused for fp32 x, where Gluon
    cannot run, for a block_n its warps cannot split or a TMA box cannot hold, and for more
    groups of x' a split than its shared memory holds."""
    from evalkit.runners.torch_int4.kernels import w4a16_gluon_gemv as gg

    calls = _record_launches(monkeypatch, "gemv_tma_kernel", gg)
    monkeypatch.setattr(gg, "words_descriptor", lambda qw, bn, group: ("words", bn, group))
    w, _ = random_linear(1280, 384, 128, seed=18, act_order=False)
    x = torch.randn(1, 1280).to(torch.bfloat16)
    cfg = w4a16.GemvConfig(128, 3, 1, 4, "tmax")
    with pytest.raises(ValueError, match="sm_90"):  # no Gluon on a CPU
        w4a16.w4_matmul(x, w, gemv=cfg)
    monkeypatch.setitem(w4a16._GLUON, CPU, True)
    out = w4a16.w4_matmul(x, w, gemv=cfg)
    ((grid, args, kw),) = calls
    assert grid == (3, 4)  # 384 columns in tiles of 128, 10 groups in splits of 3
    assert args[0] == ("words", 128, 128) and args[1] is x and args[4] is out
    assert args[5].shape == (4, 1, 384)  # the splits' partials
    assert args[7:9] == (10, 4) and args[10] == 0  # groups, splits; no merge: no attention splits
    assert (kw["N"], kw["BLOCK_N"], kw["GROUPS_PER_SPLIT"], kw["STAGES"], kw["PRE"]) == (384, 128, 3, 4, 4)
    assert (kw["XS"], kw["PDL"], kw["num_warps"], kw["ZERO_OFFSET"]) == (True, False, 1, w.zero_offset)
    calls.clear()
    w4a16.w4_matmul(x, w, gemv=w4a16.GemvConfig(128, 10, 1, 3, "tma"))
    assert calls[0][0] == (3, 1) and calls[0][2]["XS"] is False and calls[0][2]["STAGES"] == 3
    for pre, want in ((1, 1), (2, 2), (7, 3)):  # tiles before the PDL wait: at most the stages
        calls.clear()
        w4a16.w4_matmul(x, w, gemv=w4a16.GemvConfig(128, 10, 1, 3, "tmax", pre=pre))
        assert (calls[0][2]["STAGES"], calls[0][2]["PRE"]) == (3, want)
    with pytest.raises(ValueError, match="bf16 / fp16"):
        w4a16.w4_matmul(x.float(), w, gemv=cfg)
    for bad in (w4a16.GemvConfig(512, 3, 4, 4, "tmax"), w4a16.GemvConfig(128, 3, 8, 4, "tmax")):
        with pytest.raises(ValueError, match="block_n"):
            w4a16.w4_matmul(x, w, gemv=bad)
    launch = {
        "num_groups": 80, "groups_per_split": 80, "group": 128, "zero_offset": 1, "block_n": 128,
        "num_warps": 1, "stages": 4, "x_shared": True, "pdl": False,
    }  # fmt: skip
    with pytest.raises(ValueError, match="at most 64 groups"):  # x' of 80 groups: its shared memory
        gg.launch(x, w.qweight, w.qzeros, w.scales, out, out, out, **launch)  # type: ignore[arg-type]


def test_silu_down_launch_wiring(monkeypatch: pytest.MonkeyPatch) -> None:
    """``w4a16.silu_down`` (recorded instead of launched): gate|up's float32 output as x, x' in
    shared memory with SILU_X and the activation dtype, the config's split, stages and tiles
    before the wait; taken only where down's config says so (silu_x, "tmax", no act-order, bf16 /
    fp16 on sm_90), refused for an output of another shape or dtype."""
    from triton.experimental.gluon import language as gl

    from evalkit.runners.torch_int4.kernels import w4a16_gluon_gemv as gg

    calls = _record_launches(monkeypatch, "gemv_tma_kernel", gg)
    monkeypatch.setattr(gg, "words_descriptor", lambda qw, bn, group: ("words", bn, group))
    down, _ = random_linear(1280, 384, 128, seed=19, act_order=False)
    shuffled, _ = random_linear(1280, 384, 128, seed=19, act_order=True)
    gate_up = torch.randn(1, 1, 2560)
    cfg = w4a16.GemvConfig(128, 4, 1, 2, "tmax", pre=1, silu_x=True)
    monkeypatch.setitem(w4a16.TUNED_GEMV, (384, 1280), cfg)
    assert w4a16.silu_down_config(down, CPU, torch.bfloat16) is None  # no Gluon on a CPU
    monkeypatch.setitem(w4a16._GLUON, CPU, True)
    assert w4a16.silu_down_config(down, CPU, torch.bfloat16) == cfg
    assert w4a16.silu_down_config(down, CPU, torch.float32) is None  # the exact mode: tl GEMVs
    assert w4a16.silu_down_config(shuffled, CPU, torch.bfloat16) is None  # act-order: x is permuted
    out = w4a16.silu_down(gate_up, down, torch.float16)
    ((grid, args, kw),) = calls
    assert grid == (3, 3) and out.shape == (1, 1, 384)  # 10 groups in splits of 4
    assert args[1].shape == (1, 2560) and args[1].data_ptr() == gate_up.data_ptr()
    assert (kw["XS"], kw["SILU_X"], kw["ACT"], kw["STAGES"], kw["PRE"]) == (True, True, gl.float16, 2, 1)
    with pytest.raises(ValueError, match="float32"):
        w4a16.silu_down(gate_up[..., :1280], down, torch.bfloat16)
    with pytest.raises(ValueError, match="float32"):
        w4a16.silu_down(gate_up.half(), down, torch.bfloat16)
    for other in (
        w4a16.GemvConfig(128, 4, 1, 2, "tmax", pre=1),
        w4a16.GemvConfig(128, 4, 1, 2, "tma", silu_x=True),
    ):
        monkeypatch.setitem(w4a16.TUNED_GEMV, (384, 1280), other)
        assert w4a16.silu_down_config(down, CPU, torch.bfloat16) is None
        with pytest.raises(ValueError, match="no one-row config"):
            w4a16.silu_down(gate_up, down, torch.bfloat16)
    launch = {
        "num_groups": 10, "groups_per_split": 4, "group": 128, "zero_offset": 1, "block_n": 128,
        "num_warps": 1, "stages": 2, "x_shared": False, "pdl": False,
    }  # fmt: skip
    x = gate_up.reshape(1, -1)
    with pytest.raises(ValueError, match="x_shared only"):
        gg.launch(x, down.qweight, down.qzeros, down.scales, out, out, out, **launch, silu_act=torch.bfloat16)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bf16 or fp16"):
        gg.launch(
            x,
            down.qweight,
            down.qzeros,
            down.scales,
            out,
            out,
            out,
            **(launch | {"x_shared": True}),
            silu_act=torch.float32,
        )  # type: ignore[arg-type]


def test_merge_o_launch_wiring(monkeypatch: pytest.MonkeyPatch) -> None:
    """``w4a16.merge_o`` (recorded instead of launched): the split attention's outputs as x and its
    log-sum-exps, their split count, query heads a KV head and padding, x' in shared memory with
    MERGE_X; taken only where o's config says so (merge_x, "tmax", a head a group, no act-order,
    bf16 / fp16 on sm_90); refused for results of another shape."""
    from triton.experimental.gluon import language as gl

    from evalkit.runners.torch_int4.kernels import w4a16_gluon_gemv as gg

    calls = _record_launches(monkeypatch, "gemv_tma_kernel", gg)
    monkeypatch.setattr(gg, "words_descriptor", lambda qw, bn, group: ("words", bn, group))
    o, _ = random_linear(1280, 384, 128, seed=20, act_order=False)  # 10 heads of 128: 2 KV heads x 5
    mid, lse = torch.randn(1, 2, 3, 16, 128), torch.randn(1, 2, 3, 16)
    cfg = w4a16.GemvConfig(128, 4, 1, 2, "tmax", pre=1, merge_x=True)
    monkeypatch.setitem(w4a16.TUNED_GEMV, (384, 1280), cfg)
    assert w4a16.merge_o_config(o, CPU, torch.bfloat16, 128) is None  # no Gluon on a CPU
    monkeypatch.setitem(w4a16._GLUON, CPU, True)
    assert w4a16.merge_o_config(o, CPU, torch.bfloat16, 128) == cfg
    assert w4a16.merge_o_config(o, CPU, torch.bfloat16, 64) is None  # a head is not a group
    assert w4a16.merge_o_config(o, CPU, torch.float32, 128) is None
    out = w4a16.merge_o(mid, lse, 5, o, torch.bfloat16)
    ((grid, args, kw),) = calls
    assert grid == (3, 3) and out.shape == (1, 1, 384)
    assert args[1] is mid and args[9] is lse and args[10] == 3  # outputs, lse, attention splits
    assert (kw["XS"], kw["MERGE_X"], kw["SILU_X"], kw["MGROUPS"], kw["MGP"]) == (True, True, False, 5, 16)
    assert (kw["ACT"], kw["GROUPS_PER_SPLIT"], kw["PRE"]) == (gl.bfloat16, 4, 1)
    with pytest.raises(ValueError, match="are not 10 groups"):  # 3 query heads a KV head: 6 heads
        w4a16.merge_o(mid, lse, 3, o, torch.bfloat16)
    with pytest.raises(ValueError, match="split attention's outputs"):
        w4a16.merge_o(mid, lse[..., :8], 5, o, torch.bfloat16)
    monkeypatch.setitem(w4a16.TUNED_GEMV, (384, 1280), w4a16.GemvConfig(128, 4, 1, 2, "tmax", pre=1))
    with pytest.raises(ValueError, match="merges attention"):
        w4a16.merge_o(mid, lse, 5, o, torch.bfloat16)


def _written(instr: str) -> set[int]:
    """The registers an SASS instruction writes (its first operand, 2 or 4 wide for .64 / .128
    and WIDE forms); none for stores, branches and barriers (their first operand is read)."""
    m = re.match(r"(?:@!?U?P\w+\s+)?(\S+)\s+R(\d+)\b", instr)
    if not m or m.group(1).split(".")[0] in ("STG", "STS", "ST", "RED", "ATOM", "BRA", "BAR", "SYNCS"):
        return set()
    width = 4 if ".128" in m.group(1) else 2 if (".64" in m.group(1) or "WIDE" in m.group(1)) else 1
    return {int(m.group(2)) + q for q in range(width)}


def a_register_hazards(loop: list[str]) -> list[tuple[int, str]]:
    """Instructions of the loop that write a register of an MMA's A operand (HGMMA with A in
    registers: four of them from the second operand) after that MMA is issued and before the
    wait for it (the next WARPGROUP.DEPBAR, going round the loop): the MMA reads A while it runs."""
    hazards = []
    for i, t in enumerate(loop):
        m = re.search(r"HGMMA\S*\s+R\d+,\s+R(\d+),", t)
        if not m:
            continue
        regs = {int(m.group(1)) + q for q in range(4)}
        for later in loop[i + 1 :] + loop[: i + 1]:
            if "DEPBAR" in later:
                break
            if _written(later) & regs:
                hazards.append((i, later))
    return hazards


def test_a_register_hazard_scan() -> None:
    """The scan finds a write to an in-flight MMA's A registers, also across the loop's back edge
    and through a 128-bit load, and not a write after the wait or to other registers."""
    mma = "HGMMA.64x16x16.F32.BF16 R24, R40, gdesc[UR4], R24, gsb0"
    wait = "WARPGROUP.DEPBAR.LE gsb0, 0x0"
    assert a_register_hazards(["LOP3.LUT R40, R1, 0xf, R2, 0xea, !PT", wait, mma]) != []  # round the loop
    assert a_register_hazards([mma, "LDG.E.128 R36, desc[UR8][R2.64]", wait]) == []  # R36..R39
    assert a_register_hazards([mma, "LDG.E.128 R38, desc[UR8][R2.64]", wait]) != []  # R38..R41 hits R40, R41
    assert a_register_hazards([mma, wait, "LOP3.LUT R40, R1, 0xf, R2, 0xea, !PT"]) == []
    assert a_register_hazards([mma, "LOP3.LUT R44, R1, 0xf, R2, 0xea, !PT", "STS.128 [R40], R8", wait]) == []


@pytest.mark.parametrize(
    ("block_m", "block_n", "num_warps", "stages", "ahead", "per_weight"),
    [(16, 128, 4, 4, 2, 3.75), (64, 128, 8, 3, 1, 4.5)],
)
@pytest.mark.parametrize("kernel", ["r128", "r128o", "r128s", "r128os"])
@pytest.mark.parametrize("python", SM90_PYTHONS, ids=SM90_IDS)
def test_r128_builds_for_sm90_with_the_weight_in_registers(
    block_m: int,
    block_n: int,
    num_warps: int,
    stages: int,
    ahead: int,
    per_weight: float,
    kernel: str,
    python: str,
) -> None:
    """The folded weight reaches the MMA in registers (no shared-memory stores in the loop, the
    HGMMA takes A from registers), one LOP3 + HADD2 + HMUL2 per two weights, no spills, and no
    register of an MMA's A operand written before the MMA is waited for (r128o folds the next
    block while the MMA runs; a loop that waited after the fold instead wrote them: 99-234 such
    writes in its SASS, and NaN on the GPU)."""
    sass = _build_in_subprocess(block_m, block_n, num_warps, stages, ahead, kernel, python)
    assert not re.search(r"\b(STL|LDL)\b", sass), "registers spill to local memory"
    loop = _main_loop(sass)
    ops = [re.sub(r"^@!?U?P\w+\s+", "", t).split()[0].split(".")[0] for t in loop]
    assert "STS" not in ops
    hgmma = [t for t in loop if "HGMMA" in t]
    assert len(hgmma) == 8 * block_n // (16 * num_warps)
    for t in hgmma:
        assert re.search(r"HGMMA\S*\s+R\d+,\s+R\d+,\s+gdesc", t), t  # A from registers, B (x) from smem
    pairs = block_n * 128 // (32 * num_warps) // 2
    assert ops.count("HMUL2") == pairs and ops.count("HADD2") == pairs
    assert a_register_hazards(loop) == []
    # the whole loop a weight: 3.5 at 128 weights a thread, 4.2 at 64 (g128: 4.3-4.5 at 64); the
    # stream-K grid's x slots and phases follow a program-wide count (about 20 more instructions)
    assert len(ops) < (per_weight + (0.25 if kernel.endswith("s") else 0)) * 2 * pairs


@pytest.mark.parametrize("python", SM90_PYTHONS, ids=SM90_IDS)
def test_r128_with_k_split_leaves_room_for_two_programs_an_sm(python: str) -> None:
    """The 128 x 128 r128n tile of 8 warps and 3 slots of x (down's at 128 and 256 rows), built
    with K split (the fix-up's code in): at most 128 registers a thread and no spills, so that
    two programs share an SM (64K registers, 96 KB of shared memory each). With the partial and
    the output stored in two branches it took 195, one program an SM: down at 256 rows in two K
    splits took 273.1 us then and 219.4 after the fix (H200, sweep21 and sweep22)."""
    sass = _build_in_subprocess(128, 128, 8, 3, 1, "r128", python)
    regs = re.match(r"// registers (\d+)", sass)
    assert regs is not None and int(regs.group(1)) <= 128, sass[:40]
    assert not re.search(r"\b(STL|LDL)\b", sass), "registers spill to local memory"


@pytest.mark.parametrize("python", SM90_PYTHONS, ids=SM90_IDS)
@pytest.mark.parametrize("block_m", [128, 256])
def test_r128w_builds_for_sm90_with_its_partitions_apart(block_m: int, python: str) -> None:
    """The warp-specialized r128 (w4a16_gluon_ws) at down's 256-row tiles (128 or 256 tokens x
    128 rows, two 4-warp consumers, 3 slots of x): no spills; registers handed between the partitions
    (setmaxnreg); two inner loops that issue the MMA, one a consumer, each with 8 MMAs on A from
    registers, r128's fold (one packed multiplication per two weights of its 64 rows), no store
    to shared memory, no A register written before the MMA's wait, and only barriers of its own
    warpgroup (a bar.sync of 128 threads: none waits for the other consumer or the producer);
    one inner loop, the producer's, that issues the TMA of x and no MMA."""
    sass = _build_in_subprocess(block_m, 128, 4, 3, 1, "r128w", python)
    assert not re.search(r"\b(STL|LDL)\b", sass), "registers spill to local memory"
    from evalkit.runners.torch_int4.kernels import w4a16_gluon_ws as ws

    # what each warpgroup asks of the 12-warp pool: all of it at once must fit, or a partition
    # waits for registers forever (the second consumer's and the default's largest ask)
    asks = {int(v, 16) for v in re.findall(r"USETMAXREG\.TRY_ALLOC\S*\s+U?P\d+,\s*(0x[0-9a-f]+)", sass)}
    assert ws.consumer_regs(block_m) in asks
    assert ws.consumer_regs(block_m) + max(asks) + ws.PRODUCER_REGS <= 3 * ws.MAX_REGS, asks
    inner = _innermost_loops(sass)
    consumers = [loop for loop in inner if any("HGMMA" in t for t in loop)]
    producers = [loop for loop in inner if any("UTMALDG" in t for t in loop)]
    assert len(consumers) == 2 and len(producers) == 1
    assert not any("HGMMA" in t for t in producers[0])
    bar_ids = set()
    for loop in consumers:
        ops = [re.sub(r"^@!?U?P\w+\s+", "", t).split()[0].split(".")[0] for t in loop]
        hgmma = [t for t in loop if "HGMMA" in t]
        assert len(hgmma) == 8
        assert all(re.search(r"HGMMA\S*\s+R\d+,\s+R\d+,\s+gdesc", t) for t in hgmma)
        assert ops.count("HMUL2") == ops.count("HADD2") == 64 * 128 // (32 * 4) // 2
        assert "STS" not in ops and "UTMALDG" not in ops
        assert a_register_hazards(loop) == []
        bars = [t for t in loop if t.startswith("BAR") or " BAR." in t]
        assert bars and all(re.search(r"BAR\.SYNC\S*\s+(0x[0-9a-f]+),\s*0x80\b", t) for t in bars), bars
        bar_ids |= {re.search(r"BAR\.SYNC\S*\s+(0x[0-9a-f]+)", t).group(1) for t in bars}  # type: ignore[union-attr]
    assert len(bar_ids) == 2  # a named barrier each


@pytest.mark.parametrize("python", SM90_PYTHONS, ids=SM90_IDS)
@pytest.mark.parametrize(
    ("block_n", "num_warps", "x_shared", "stages", "pre"),
    [
        (128, 1, True, 4, 4),
        (256, 2, True, 4, 4),
        (256, 2, False, 4, 4),
        (128, 1, True, 2, 1),
        (256, 2, True, 2, 1),
    ],
)
def test_gemv_tma_builds_for_sm90_with_its_words_through_tma(
    block_n: int, num_warps: int, x_shared: bool, stages: int, pre: int, python: str
) -> None:
    """The Gluon GEMV (w4a16_gluon_gemv) at down's shape, `stages` tiles in flight, PDL: no spills;
    the first `pre` tiles' TMA loads issued before griddepcontrol.wait (ACQBULK), the rest of the
    first `stages` after it, one more in the group loop; the group loop does the "dn" arithmetic,
    one LOP3 and one FFMA per weight (16 rows x 8 inputs x the thread's columns); with x' in
    shared memory ("tmax") the split's 16 groups of x are loaded in one go after the wait (all
    their loads before the first store to shared memory: one round trip), and the group loop
    neither loads nor scales x and stays under 2.6 instructions a weight (the sweep's winners,
    2.5; "tma" 3.3). The split that arrives last asks for the other splits' partials 16 at a time
    (masked past the last: one round trip for the one-row table's 14 splits) before it adds the
    first, and no fence holds its exit after the counter's reset."""
    kernel = "gemv_tma" if pre == stages else f"gemv_tma_pre{pre}"
    sass = _build_in_subprocess(0, block_n, num_warps, stages, int(x_shared), kernel, python)
    assert not re.search(r"\b(STL|LDL)\b", sass), "registers spill to local memory"
    lines = sass.splitlines()
    arrive = next(i for i, t in enumerate(lines) if "ATOMG.E.ADD" in t)
    fixup = lines[arrive:]
    first_add = next(i for i, t in enumerate(fixup) if re.search(r"\bFADD\b", t))
    assert len([t for t in fixup[:first_add] if re.search(r"\bLDG\.E.*STRONG\.GPU", t)]) >= 16
    assert not any("MEMBAR" in t for t in fixup), "a fence after the arrival (the reset is relaxed)"
    tma = [i for i, t in enumerate(lines) if "UTMALDG" in t]
    (wait,) = [i for i, t in enumerate(lines) if re.search(r"\bACQBULK\b", t)]
    assert len([i for i in tma if i < wait]) == pre
    assert len(tma) == stages + 1  # the first `stages`, and the group loop's refill
    (loop,) = [body for body in _innermost_loops(sass) if any("FFMA" in t for t in body)]
    ops = [re.sub(r"^@!?U?P\w+\s+", "", t).split()[0].split(".")[0] for t in loop]
    weights = 16 * 8 * block_n // (32 * num_warps)  # a group's weights a thread
    assert weights <= ops.count("FFMA") <= weights + 8 and weights <= ops.count("LOP3") <= weights + 8
    assert ops.count("UTMALDG") == 1
    if x_shared:
        after = lines[wait:]
        first_store = next(i for i, t in enumerate(after) if re.search(r"\bSTS\b", t))
        assert len([t for t in after[:first_store] if re.search(r"\bLDG\b", t)]) >= 16
        assert ops.count("FMUL") <= 8 and ops.count("LDG") <= 8  # the next group's scales and zeros
        assert len(loop) <= 2.6 * weights, len(loop) / weights


@pytest.mark.parametrize("python", SM90_PYTHONS, ids=SM90_IDS)
def test_gemv_tma_reading_silu_builds_for_sm90(python: str) -> None:
    """down's Gluon GEMV reading silu(gate) * up from gate|up's float32 output (SILU_X; 1 warp,
    128 columns, 2 stages, 1 tile before the wait): no spills; after the wait the split's gate and
    up values are all asked for before the first store to shared memory (one round trip), one
    exp per input (16 groups x 128 inputs on 32 threads: 64), and the group loop as without it."""
    sass = _build_in_subprocess(0, 128, 1, 2, 1, "gemv_tma_silu", python)
    assert not re.search(r"\b(STL|LDL)\b", sass), "registers spill to local memory"
    lines = sass.splitlines()
    (wait,) = [i for i, t in enumerate(lines) if re.search(r"\bACQBULK\b", t)]
    assert len([i for i, t in enumerate(lines) if "UTMALDG" in t and i < wait]) == 1
    after = lines[wait:]
    first_store = next(i for i, t in enumerate(after) if re.search(r"\bSTS\b", t))
    assert len([t for t in after[:first_store] if re.search(r"\bLDG\b", t)]) >= 32
    assert len(re.findall(r"\bMUFU\.EX2\b", sass)) == 64
    (loop,) = [body for body in _innermost_loops(sass) if any("FFMA" in t for t in body)]
    assert len(loop) <= 2.6 * 16 * 8 * 128 // 32


@pytest.mark.parametrize("python", SM90_PYTHONS, ids=SM90_IDS)
def test_gemv_tma_merging_attention_builds_for_sm90(python: str) -> None:
    """o's Gluon GEMV merging the split attention (MERGE_X; 2 warps, 256 columns, 3 heads a split,
    2 stages, 1 tile before the wait): nothing spilled in the group loop (Triton 3.6's ptxas keeps
    one address word in local memory from the start to the epilogue: one store, its loads after
    the loop), the one tile before the wait, the merge's exponentials after it and before x' is
    stored, and the group loop as without it."""
    sass = _build_in_subprocess(0, 256, 2, 2, 1, "gemv_tma_merge", python)
    assert len(re.findall(r"\bSTL\b", sass)) <= 1
    lines = sass.splitlines()
    (wait,) = [i for i, t in enumerate(lines) if re.search(r"\bACQBULK\b", t)]
    assert len([i for i, t in enumerate(lines) if "UTMALDG" in t and i < wait]) == 1
    after = lines[wait:]
    first_store = next(i for i, t in enumerate(after) if re.search(r"\bSTS\b", t))
    assert any(re.search(r"\bMUFU\.EX2\b", t) for t in after[:first_store])
    (loop,) = [
        body
        for body in _innermost_loops(sass)
        if any("FFMA" in t for t in body) and "UTMALDG" in " ".join(body)
    ]
    assert not any(re.search(r"\b(STL|LDL)\b", t) for t in loop)
    assert len(loop) <= 2.6 * 16 * 8 * 256 // 64


@pytest.mark.parametrize("python", SM90_PYTHONS, ids=SM90_IDS)
def test_r128w_with_silu_in_its_epilogue_builds_for_sm90(python: str) -> None:
    """r128w on gate|up's 256-row tile with silu(gate) * up in each consumer's epilogue: no
    spills, 8 MMAs a consumer loop, one exp and one 2-byte store per output a thread (each
    consumer: 32 outputs x 128 tokens on 128 threads, so 32 of each, 64 in all), and each
    consumer's pass of the activation through shared memory in a scratch of its own."""
    sass = _build_in_subprocess(128, 128, 4, 3, 1, "r128wsilu", python)
    assert not re.search(r"\b(STL|LDL)\b", sass), "registers spill to local memory"
    consumers = [loop for loop in _innermost_loops(sass) if any("HGMMA" in t for t in loop)]
    assert len(consumers) == 2 and all(len([t for t in loop if "HGMMA" in t]) == 8 for loop in consumers)
    assert len(re.findall(r"\bMUFU\.EX2\b", sass)) == 64
    assert len(re.findall(r"\bSTG\.E\.U16\b", sass)) == 64


@pytest.mark.parametrize("python", SM90_PYTHONS, ids=SM90_IDS)
def test_r128_with_silu_in_its_epilogue_builds_for_sm90(python: str) -> None:
    """gate|up's 256-row tile with silu(gate) * up in the epilogue: no spills, the fold and MMA
    as in r128, one exp and one 2-byte store per output a thread (64 outputs x 128 tokens on
    256 threads: 32); the activation goes through shared memory to a warp per token."""
    sass = _build_in_subprocess(128, 128, 8, 3, 1, "r128silu", python)
    assert not re.search(r"\b(STL|LDL)\b", sass), "registers spill to local memory"
    loop = _main_loop(sass)
    assert len([t for t in loop if "HGMMA" in t]) == 8
    assert len(re.findall(r"\bMUFU\.EX2\b", sass)) == 32
    assert len(re.findall(r"\bSTG\.E\.U16\b", sass)) == 32


@pytest.mark.parametrize("python", SM90_PYTHONS, ids=SM90_IDS)
@pytest.mark.parametrize(("block_n", "num_warps"), [(512, 4), (256, 2)])
def test_gemv_tile_loads_leave_before_the_pdl_wait(block_n: int, num_warps: int, python: str) -> None:
    """The one-tile GEMV launched with PDL: a group's 16 rows of words (one 16-byte load per row
    and 4 columns a thread) are all issued before ``griddepcontrol.wait`` (ACQBULK), so they
    stream while the kernel before it finishes, and x is read only after it; no spills."""
    sass = _build_in_subprocess(0, block_n, num_warps, 0, 0, "gemv_dn2d", python)
    assert not re.search(r"\b(STL|LDL)\b", sass), "registers spill to local memory"
    ops = [m.group(1) for m in re.finditer(r"/\*[0-9a-f]{4,5}\*/\s+(?:@!?U?P\w+\s+)?([A-Z0-9_.]+)", sass)]
    wait = ops.index("ACQBULK")
    rows = 128 // 8 * block_n // (32 * num_warps * 4)
    assert ops[:wait].count("LDG.E.128") == rows
    assert not any(op.startswith("LDG.E.U16") for op in ops[:wait])  # x after the wait


if __name__ == "__main__":  # the builds of the test_*_builds_for_sm90_* tests
    try:
        print(
            _compile_sm90(
                *(int(a) for a in sys.argv[1:6]), kernel=sys.argv[6] if len(sys.argv) > 6 else "g128"
            )
        )
    except (ImportError, FileNotFoundError) as exc:
        print(exc)
        raise SystemExit(3) from exc
