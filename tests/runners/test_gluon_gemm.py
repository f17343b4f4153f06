"""The Gluon W4A16 GEMM (variant "g128", kernels/w4a16_gluon.py) on a CPU machine.

Gluon kernels do not run in Triton's interpreter, so its numbers are checked on the GPU
(bench/w4a16_sweep.py checks every winning config against the PyTorch twin, with and without
act-order, and for bitwise repeatability). Here: the fold of two inputs, instruction by
instruction as the kernel's PTX does it, against the twin's weight on real GPTQ words; the
dispatch where Gluon cannot run; and the sm_90 build (no spills, the MMA of one block kept in
flight while the next is dequantized, one packed multiplication per two weights).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

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
    # the stand-ins of the real table are tl kernels
    for key_g, cfg in w4a16.TUNED_TC.items():
        if cfg.variant in ("g128", "g128n"):
            stand_in = w4a16.TUNED_TC_TL.get(key_g)
            assert stand_in is None or stand_in.variant not in ("g128", "g128n")


def test_g128_launch_wiring(monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``w4_matmul`` hands the Gluon kernel (recorded instead of launched: no GPU here): the
    grid of M tiles, N tiles and K splits, N and its evenness as constants, the magic of the
    activation dtype, the slots of x and how far ahead the words are loaded."""
    calls: list[tuple[tuple[int, ...], tuple[object, ...], dict[str, object]]] = []

    class Recorder:
        def __getitem__(self, grid: tuple[int, ...]):  # type: ignore[no-untyped-def]
            return lambda *args, **kw: calls.append((grid, args, kw))

    monkeypatch.setattr(gluon, "gemm_g128_kernel", Recorder())
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


def _compile_sm90(block_m: int, block_n: int, num_warps: int, stages: int, ahead: int) -> str:
    """SASS of the kernel for sm_90 at gate|up's N (no GPU needed)."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.experimental.gluon import language as gl
    from triton.experimental.gluon._runtime import GluonASTSource

    fn = gluon.gemm_g128_kernel
    layout = gl.NVMMASharedLayout.get_default_for([block_m, 128], gl.bfloat16)
    ptrs = {"qw_ptr": "*i32", "qz_ptr": "*i32", "s_ptr": "*bf16", "out_ptr": "*fp32", "part_ptr": "*fp32"}
    ptrs["cnt_ptr"] = "*i32"
    consts = {
        "N": 54784, "EVEN_N": True, "GROUP": 128, "BLOCK_M": block_m, "BLOCK_N": block_n,
        "ZERO_OFFSET": 1, "MAGIC": 0x4300, "OFF": 128.0, "STAGES": stages, "AHEAD": ahead,
    }  # fmt: skip
    sig: dict[str, str] = {}
    constexprs: dict[tuple[int, ...], object] = {}
    attrs: dict[tuple[int, ...], list[list[object]]] = {}
    for i, name in enumerate(fn.arg_names):
        if name == "x_desc":
            sig[name] = f"tensordesc<bf16[{block_m}, 128],{layout!r}>"
        elif name in ptrs:
            sig[name] = ptrs[name]
            attrs[(i,)] = [["tt.divisibility", 16]]
        elif name in consts:
            sig[name] = "constexpr"
            constexprs[(i,)] = consts[name]
        else:
            sig[name] = "i32"
    src = GluonASTSource(fn=fn, signature=sig, constexprs=constexprs, attrs=attrs)
    compiled = triton.compile(src, target=GPUTarget("cuda", 90, 32), options={"num_warps": num_warps})
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"g128_{os.getpid()}_{block_m}_{block_n}_{num_warps}"
    tmp.with_suffix(".cubin").write_bytes(compiled.asm["cubin"])
    sass = subprocess.run(
        [str(_cuda_bin() / "nvdisasm"), "-c", str(tmp.with_suffix(".cubin"))],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    tmp.with_suffix(".cubin").unlink(missing_ok=True)
    return sass


def _main_loop(sass: str) -> list[str]:
    """The instructions of the loop that issues the MMA (from its label to the branch back)."""
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
    for addr, text in body:
        m = re.search(r"BRA\s+`\(\.L_x_(\d+)\)", text)
        if m and labels.get(m.group(1), 1 << 30) < addr:
            loop = [t for a, t in body if labels[m.group(1)] <= a <= addr]
            if any("HGMMA" in t for t in loop):
                return loop
    raise AssertionError("no loop with an MMA in the SASS")


@pytest.mark.parametrize(
    ("block_m", "block_n", "num_warps", "stages", "ahead"), [(16, 64, 4, 4, 2), (64, 128, 8, 3, 1)]
)
def test_g128_builds_for_sm90_with_the_mma_in_flight(
    block_m: int, block_n: int, num_warps: int, stages: int, ahead: int
) -> None:
    # in a process of its own: the tests run Triton in interpreter mode, which Gluon cannot build in
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[2]), env.get("PYTHONPATH", "")])
    args = [str(v) for v in (block_m, block_n, num_warps, stages, ahead)]
    run = subprocess.run(
        [sys.executable, __file__, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).parents[2],
    )
    if run.returncode == 3:  # a Triton without Gluon's Hopper API or its tools
        pytest.skip(f"cannot build for sm_90 here: {run.stdout.strip()}")
    assert run.returncode == 0, run.stderr[-3000:]
    sass = run.stdout
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


if __name__ == "__main__":  # the build of test_g128_builds_for_sm90_with_the_mma_in_flight
    try:
        print(_compile_sm90(*(int(a) for a in sys.argv[1:6])))
    except (ImportError, FileNotFoundError) as exc:
        print(exc)
        raise SystemExit(3) from exc
