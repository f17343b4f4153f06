"""The same code on CUDA (skipped where there is no GPU, as in CI): CPU and GPU agree."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from evalkit.records import SamplingParams
from evalkit.runners.torch_int4.engine import GenerationRequest, ReferenceEngine
from evalkit.runners.torch_int4.loader import load_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA, CPU = torch.device("cuda"), torch.device("cpu")


@torch.inference_mode()
@pytest.mark.parametrize("variant", ["gptq", "gptq-actorder"])
def test_cuda_fp32_matches_cpu_with_on_the_fly_dequant(
    variant: str, checkpoint: Callable[[str], Path]
) -> None:
    torch.backends.cuda.matmul.allow_tf32 = False  # compare fp32 with fp32
    cpu = load_model(checkpoint(variant), device=CPU)
    gpu = load_model(checkpoint(variant), device=CUDA, cache_dequantized=False)
    ids = torch.randint(0, cpu.cfg.vocab_size, (2, 90), generator=torch.Generator().manual_seed(0))
    start = torch.tensor([0, 20])
    a = cpu(ids, cpu.new_cache(start, 8), all_logits=True)
    b = gpu(ids.to(CUDA), gpu.new_cache(start, 8), all_logits=True).cpu()
    assert (a[0] - b[0]).abs().max().item() < 1e-3
    assert (a[1, 20:] - b[1, 20:]).abs().max().item() < 1e-3  # real tokens of the padded row

    requests = [
        GenerationRequest(ids[0, :70].tolist(), SamplingParams(max_new_tokens=24)),
        GenerationRequest(
            ids[1, :9].tolist(), SamplingParams(temperature=0.8, top_p=0.9, max_new_tokens=24, seed=3)
        ),
    ]

    def run(model: object) -> dict[int, list[int]]:
        engine = ReferenceEngine(model, decode=lambda ids: "", eos_ids=())  # type: ignore[arg-type]
        return {i: r.token_ids for i, r in engine.generate(requests)}

    # The random stream lives on the CPU, so a seeded request draws the same tokens on either device.
    assert run(cpu) == run(gpu)


@torch.inference_mode()
def test_cuda_bf16_generates(checkpoint: Callable[[str], Path]) -> None:
    model = load_model(checkpoint("gptq"), device=CUDA, dtype=torch.bfloat16, cache_dequantized=True)
    engine = ReferenceEngine(model, decode=lambda ids: "", eos_ids=(), max_batch_size=4)
    requests = [GenerationRequest(list(range(1, n)), SamplingParams(max_new_tokens=16)) for n in (5, 80, 30)]
    results = dict(engine.generate(requests))
    assert all(len(r.token_ids) == 16 for r in results.values())


@torch.inference_mode()
@pytest.mark.parametrize("temperature", [0.0, 0.6])
def test_slot_sampler_queues_a_step_without_waiting_for_the_gpu(temperature: float) -> None:
    """The pipelined engine launches step N + 1 and then queues step N + 1's sampling: nothing in
    ``SlotSampler.sample`` may wait for the device (a scatter of a host scalar into ``seen`` did,
    so every step's sampling waited for its own forward). CUDA's sync debug mode raises on any
    synchronising call."""
    from evalkit.runners.torch_int4.sampling import UniformStream
    from evalkit.runners.torch_int4.slot_sampler import SlotSampler

    rows, vocab = 8, 4096
    sampler = SlotSampler(rows, vocab, CUDA)
    for r in range(rows):
        sampler.assign(r, SamplingParams(temperature=temperature, top_p=0.95, seed=r), UniformStream(r), [])
    logits = torch.randn(rows, vocab, device=CUDA)
    sampler.sample(logits, list(range(rows)))  # builds the kernels first
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        tokens = sampler.sample(logits, list(range(rows)))
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert tokens.shape == (rows,) and bool(sampler.seen[torch.arange(rows, device=CUDA), tokens].all())


@torch.inference_mode()
@pytest.mark.parametrize("variant", ["table", "r128w", "r128w256"])
@pytest.mark.parametrize("act_order", [False, True])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_gate_up_with_silu_in_its_epilogue_equals_gate_up_then_silu_mul(
    act_order: bool, dtype: torch.dtype, variant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At the 32B gate|up shape, every row count whose kernel takes the fused epilogue: the
    activation equals gate|up's output through glue.silu_mul bit for bit, in down's input order
    and as given; with TUNED_TC's configs, and with the warp-specialized r128 in their place."""
    from bench.w4a16_sweep import random_weight
    from evalkit.runners.torch_int4.kernels import glue, w4a16

    if variant != "table":  # r128w256: 256 tokens a tile at the 256-row bucket
        widest = 256 if variant == "r128w256" else 128
        for bucket in w4a16.SILU_EPILOGUE_BUCKETS:
            cfg = w4a16.TcConfig(min(bucket, widest), 128, 40, 4, 3, True, 128, "r128w")
            monkeypatch.setitem(w4a16.TUNED_TC, (bucket, 2 * 27392, 5120), cfg)
    w = random_weight(5120, 2 * 27392, act_order=act_order, seed=3, dev=CUDA)
    down = random_weight(27392, 5120, act_order=act_order, seed=4, dev=CUDA)
    tried = 0
    for rows in (2, 8, 16, 33, 64, 100, 128, 200, 256, 300, 512):
        dest = w4a16.input_order(w, rows, dtype)
        if w4a16.silu_config(w, rows, dtype) is None or dest is None:
            continue
        tried += 1
        x = torch.randn(rows, 5120, device=CUDA, dtype=dtype)
        xo = torch.empty_like(x)
        xo[:, dest] = x
        for out_dest in (w4a16.input_order(down, rows, dtype), None):
            want = glue.silu_mul(w4a16.w4_matmul(xo, w, dest=dest), dtype, out_dest)
            got = w4a16.gate_up_silu(xo, w, dest, out_dest)
            assert got.dtype == dtype and got.shape == (rows, 27392)
            assert torch.equal(got, want), (rows, out_dest is not None)
    assert tried >= 5


@torch.inference_mode()
@pytest.mark.parametrize("act_order", [False, True])
@pytest.mark.parametrize(("n", "k"), [(5120, 27392), (2 * 27392, 5120)])
def test_r128w_equals_r128n_bit_for_bit(n: int, k: int, act_order: bool) -> None:
    """The warp-specialized r128 (two 4-warp consumers, 64 rows each) computes each output as
    r128n with 8 warps does at the same tile (a warpgroup's MMA over 64 rows, the same blocks in
    the same order, the fix-up in split order): equal bit for bit, in K splits and without, at
    64 to 300 rows, 64 to 256 tokens a tile, bf16 and fp16. (Run it under `timeout`: a mistake in
    its mbarriers hangs.)"""
    from bench.w4a16_sweep import random_weight
    from evalkit.runners.torch_int4.kernels import w4a16

    w = random_weight(k, n, act_order=act_order, seed=5, dev=CUDA)
    blocks = k // 128
    for rows, block_m in ((64, 64), (200, 128), (256, 128), (256, 256), (300, 256)):
        for split in (blocks, -(-blocks // 3)):
            for dtype in (torch.bfloat16, torch.float16):
                x = torch.randn(rows, k, device=CUDA, dtype=dtype)
                ws = w4a16.TcConfig(block_m, 128, split, 4, 3, True, 128, "r128w")
                plain = w4a16.TcConfig(block_m, 128, split, 8, 3, True, 128, "r128n")
                got = w4a16.w4_matmul(x, w, tc=ws)
                assert torch.equal(got, w4a16.w4_matmul(x, w, tc=plain)), (rows, split, dtype)
                assert torch.equal(got, w4a16.w4_matmul(x, w, tc=ws)), "not repeatable"
