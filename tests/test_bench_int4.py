"""The int4 benchmark's CPU-testable parts: random GPTQ checkpoint, ceilings, schema, report, vLLM glue."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from bench import engine_host, hw_ceilings, int4_engine, int4_gpu_check, int4_report, vllm_baseline
from bench import gptq_random as gr
from bench.int4_schema import EngineResult, HwCeilings, ModelFacts, exaone4_32b_config
from evalkit.runners.torch_int4.config import parse_config
from evalkit.runners.torch_int4.gptq import QuantLinear, dequantize_gptq, unpack_int4_rows
from evalkit.runners.torch_int4.loader import load_model
from evalkit.runners.torch_int4.model import Exaone4LM

# 64 layers like the real model, tiny widths: checks activations stay finite through the depth.
DEEP = replace(gr.TINY, num_layers=64)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Many tiny ops: one thread avoids oversubscription on the shared 2-core CI machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ckpt") / "tiny-random"
    # Small shards so the index and several shard files are exercised.
    return gr.write_checkpoint(out, shape=gr.TINY, device="cpu", seed=3, shard_bytes=1_500_000)


def test_generated_tensors_have_the_gptq_v1_sym_layout() -> None:
    shapes = gr.expected_tensor_shapes(gr.TINY)
    got = dict(gr.iter_state_dict(gr.TINY, device="cpu", seed=1))
    assert set(got) == set(shapes)
    for name, t in got.items():
        assert (tuple(t.shape), t.dtype) == shapes[name], name
    p = "model.layers.2.mlp.down_proj"
    assert bool((got[f"{p}.qzeros"] == 0x77777777).all())
    assert torch.equal(got[f"{p}.g_idx"], torch.arange(512, dtype=torch.int32) // 128)
    codes = unpack_int4_rows(got[f"{p}.qweight"]).float()
    assert float(codes.min()) >= 1 and abs(float(codes.mean()) - 8) < 0.05  # symmetric about zero point 8
    s = got[f"{p}.scales"].float()
    assert float(s.min()) >= 1e-4 * 0.999 and float(s.max()) < 0.02
    assert bool((got["model.layers.0.post_attention_layernorm.weight"] == 1).all())
    assert abs(float(got["lm_head.weight"].float().std()) - 0.02) < 0.002
    # Seeded per tensor name: reproducible, and a different seed gives different weights.
    again = gr.generate_layer(gr.TINY, 2, device="cpu", seed=1)
    assert torch.equal(again[f"{p}.qweight"], got[f"{p}.qweight"])
    other = gr.generate_layer(gr.TINY, 2, device="cpu", seed=2)
    assert not torch.equal(other[f"{p}.qweight"], got[f"{p}.qweight"])


def test_real_shape_is_exaone4_32b() -> None:
    s = gr.EXAONE4_32B
    assert [i for i, t in enumerate(s.layer_types) if t == "full_attention"] == list(range(3, 64, 4))
    assert s.linear_shapes()["mlp.down_proj"] == (27392, 5120)
    assert 64 * s.linear_params_per_layer() == 30_953_963_520  # docs/exaone4-architecture.md#roofline
    cfg = gr.config_json(s, bos=1, eos=2, pad=0)
    q = cfg["quantization_config"]
    assert (q["quant_method"], q["bits"], q["group_size"], q["sym"], q["desc_act"]) == (
        "gptq",
        4,
        128,
        True,
        False,
    )
    assert (q["checkpoint_format"], q["lm_head"]) == ("gptq", False)
    assert cfg["rope_scaling"]["rope_type"] == "llama3" and cfg["tie_word_embeddings"] is False


def test_checkpoint_loads_with_evalkits_loader(tiny_dir: Path) -> None:
    index = json.loads((tiny_dir / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) >= 3 and all((tiny_dir / f).is_file() for f in shards)
    assert shards[0].endswith(f"-of-{len(shards):05d}.safetensors")
    for f in ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", gr.MARKER):
        assert (tiny_dir / f).is_file(), f
    assert gr.is_complete(tiny_dir, gr.TINY, 3, "cpu") and not gr.is_complete(tiny_dir, gr.TINY, 4, "cpu")

    model = load_model(tiny_dir, device=torch.device("cpu"), dtype=torch.float32, cache_dequantized=False)
    written = dict(gr.iter_state_dict(gr.TINY, device="cpu", seed=3))  # same seed, same device: same tensors
    quant = {n: m for n, m in model.named_modules() if isinstance(m, QuantLinear)}
    assert len(quant) == 7 * gr.TINY.num_layers
    for name, m in quant.items():
        k, n = gr.TINY.linear_shapes()[name.split(".", 3)[3]]
        assert (m.in_features, m.out_features) == (k, n)
        ref = dequantize_gptq(*(written[f"{name}.{s}"] for s in gr.GPTQ_SUFFIXES), zero_offset=1)
        assert torch.equal(m.dense_weight(), ref.t().contiguous()), name
    lm_head = model.lm_head
    assert isinstance(lm_head, torch.nn.Linear)
    assert torch.equal(lm_head.weight, written["lm_head.weight"].float())
    assert torch.equal(model.model.embed_tokens.weight, written["model.embed_tokens.weight"].float())

    ids = torch.randint(0, 4000, (2, 80))  # crosses the 64-token window
    logits = model(ids, model.new_cache(torch.zeros(2, dtype=torch.long), 80))
    assert logits.shape == (2, 1, gr.TINY.vocab_size) and bool(logits.isfinite().all())


@pytest.mark.slow  # importing transformers costs ~4 s on the CI machine; run by `make check-data`
def test_transformers_reads_the_config(tiny_dir: Path) -> None:
    transformers = pytest.importorskip("transformers")
    cfg = transformers.AutoConfig.from_pretrained(str(tiny_dir))
    assert cfg.model_type == "exaone4" and cfg.num_hidden_layers == 4
    assert cfg.quantization_config["bits"] == 4


def test_64_layer_model_stays_finite() -> None:
    """64 random layers (in memory, the loader is covered above): the residual stream stays bounded.

    Float32 has bf16's exponent range, so finite here means no bf16 overflow either.
    """
    cfg = parse_config(gr.config_json(DEEP, bos=1, eos=2, pad=0))
    model = Exaone4LM(cfg, torch.float32)
    sd: dict[str, torch.Tensor] = {}
    for group, tensors in gr.iter_state_groups(DEEP, device="cpu", seed=0):
        for suffix in gr.LINEARS:
            p = f"model.{group}.{suffix}"
            if f"{p}.qweight" in tensors:
                q = [tensors.pop(f"{p}.{s}") for s in gr.GPTQ_SUFFIXES]
                sd[f"{p}.weight"] = dequantize_gptq(*q, zero_offset=1).t()
        sd.update({k: v.float() for k, v in tensors.items()})
    model.load_state_dict(sd, strict=True)
    peaks: list[float] = []
    for layer in model.model.layers:
        layer.register_forward_hook(lambda _m, _i, out: peaks.append(float(out.abs().max())))
    ids = torch.randint(0, 4000, (1, 72))
    with torch.no_grad():
        logits = model(ids, model.new_cache(torch.zeros(1, dtype=torch.long), 72))
    assert bool(logits.isfinite().all()) and len(peaks) == 64
    assert max(peaks) < 1e3  # each post-normed block adds a unit-RMS vector: growth ~ sqrt(depth)
    assert 0.1 < float(logits.std()) < 10  # N(0, 0.02) lm_head on a unit-RMS state: ~0.02·16


def test_rewrite_is_skipped_when_complete(tiny_dir: Path) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in tiny_dir.iterdir()}
    gr.write_checkpoint(tiny_dir, shape=gr.TINY, device="cpu", seed=3, shard_bytes=1_500_000)
    assert {p.name: p.stat().st_mtime_ns for p in tiny_dir.iterdir()} == before


def test_hw_ceilings_runs_on_cpu() -> None:
    r = hw_ceilings.measure("cpu", copy_bytes=1 << 20, matmul_n=64, copy_iters=3, matmul_iters=3)
    hw = HwCeilings.from_dict(json.loads(json.dumps(r)))
    assert hw.device == "cpu" and hw.copy_gbs > 0 and hw.matmul_tflops > 0
    assert hw.copy_bytes == 1 << 20 and hw.matmul_n == 64 and hw.extra["copy_buffers"] >= 2


def test_model_facts_reproduce_the_reference_roofline() -> None:
    f = ModelFacts.from_config(exaone4_32b_config())
    assert f.decode_weight_bytes() == 17_010_577_408  # ≈ 17.011 GB (docs/exaone4-architecture.md#roofline)
    assert f.decode_weight_bytes(as_stored=True) == 17_146_368_000
    assert f.total_bytes == 18_194_933_760
    for t in (1, 1024, 4096, 32768, 131072):
        assert f.kv_bytes(t) == 65_536 * t + 196_608 * min(t, 4096)
    assert round(f.decode_roofline_tok_s(1, 1024, 4300), 1) == 248.9
    assert round(f.decode_roofline_tok_s(64, 2048, 4300)) == 5357
    assert round(f.decode_roofline_tok_s(32, 32768, 4300)) == 1234


def test_model_facts_from_tensors_equal_computed(tiny_dir: Path) -> None:
    from_tensors = ModelFacts.from_checkpoint(tiny_dir)
    computed = ModelFacts.from_config(json.loads((tiny_dir / "config.json").read_text()))
    assert from_tensors.bytes_by_kind == computed.bytes_by_kind
    assert from_tensors.num_global_layers == 1 and from_tensors.sliding_window == 64


def test_engine_result_schema_roundtrip(tmp_path: Path) -> None:
    r = EngineResult.from_dict({"engine": "torch_int4", "batch1_1k_tok_s": 200.0, "profile": "x.json"})
    assert r.extra == {"profile": "x.json"} and r.batch64_4k_tok_s is None
    r.save(tmp_path / "r.json")
    assert EngineResult.load(tmp_path / "r.json") == r
    with pytest.raises(ValueError):
        EngineResult.from_dict({"batch1_1k_tok_s": 1.0})


def test_report_fractions(tmp_path: Path) -> None:
    f = ModelFacts.from_config(exaone4_32b_config())
    hw = HwCeilings(
        device="NVIDIA H200", copy_gbs=4260.0, matmul_tflops=789.0, copy_bytes=1 << 30, matmul_n=8192
    )
    mean_ctx = 1024 + 128
    at_roof = f.decode_roofline_tok_s(1, mean_ctx, hw.copy_gbs)
    ours = EngineResult(
        engine="torch_int4",
        batch1_1k_tok_s=at_roof,
        batch64_4k_tok_s=1900.0,
        prefill_tok_s=7000.0,
        weights_gb=18.2,
    )
    vllm = EngineResult(
        engine="vllm-machete", batch1_1k_tok_s=92.0, batch64_4k_tok_s=1837.0, kernel="MacheteLinearKernel"
    )
    row = int4_report.decode_row(ours, "batch1_1k_tok_s", f, hw)
    assert row["roofline_fraction"] == pytest.approx(1.0)
    assert row["weight_gbs"] == pytest.approx(at_roof * f.decode_weight_bytes() / 1e9)
    assert row["copy_fraction"] == pytest.approx(row["weight_gbs"] / 4260.0)
    p = int4_report.prefill_row(ours, f, hw)
    assert p["tflops"] == pytest.approx(7000.0 * f.prefill_flops_per_token(4096) / 1e12)

    hw_path, a, b = tmp_path / "hw.json", tmp_path / "a.json", tmp_path / "b.json"
    hw_path.write_text(json.dumps(hw.to_dict()))
    ours.save(a)
    vllm.save(b)
    out = tmp_path / "report.md"
    assert (
        int4_report.main(
            ["--hw", str(hw_path), "--engine", str(a), str(b), "--ours", "torch_int4", "--out", str(out)]
        )
        == 0
    )
    md = out.read_text()
    assert "| torch_int4 | batch 1, 1K |" in md and "100.0 %" in md
    assert "| vllm-machete | MacheteLinearKernel |" in md
    assert "1.03" in md  # 1900 / 1837 against the best vLLM at batch 64
    assert "MISSED" in md or "met" in md


# --------------------------------------------------------------------------- vLLM glue (no vLLM here)


def test_vllm_baseline_fails_fast_without_cuda(tiny_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys = (
        "VLLM_DISABLED_KERNELS",
        "VLLM_USE_FLASHINFER_SAMPLER",
        "VLLM_ENABLE_V1_MULTIPROCESSING",
        "VLLM_CACHE_ROOT",
    )
    saved = {k: os.environ.get(k) for k in keys}
    try:
        with pytest.raises(SystemExit) as e:
            vllm_baseline.main(
                ["--model", str(tiny_dir), "--kernel", "marlin", "--out", "/nonexistent/x.json"]
            )
        assert e.value.code == 2
        assert os.environ["VLLM_DISABLED_KERNELS"] == "MacheteLinearKernel"
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    err = capsys.readouterr().err
    assert "CUDA" in err or "vLLM" in err
    with pytest.raises(SystemExit):
        vllm_baseline.main(["--model", str(tiny_dir / "missing"), "--out", "x.json"])


class _FakeEngine:
    """Chunked prefill of one request per step, then every started request decodes one token per step."""

    def __init__(self, clock: list[float]):
        self.clock = clock
        self.reqs: list[dict] = []

    def add_request(self, rid: str, prompt: dict, params: SimpleNamespace) -> None:
        self.reqs.append({"id": rid, "n": 0, "max": params.max_tokens, "started": False})

    def has_unfinished_requests(self) -> bool:
        return any(r["n"] < r["max"] for r in self.reqs)

    def step(self) -> list[SimpleNamespace]:
        self.clock[0] += 1.0
        outs = []
        pending = [r for r in self.reqs if not r["started"]]
        if pending:  # this step prefills one request and samples its first token
            pending[0]["started"] = True
        for r in self.reqs:
            if r["started"] and r["n"] < r["max"]:
                r["n"] += 1
                outs.append(
                    SimpleNamespace(
                        request_id=r["id"],
                        finished=r["n"] == r["max"],
                        outputs=[SimpleNamespace(token_ids=[7])],
                    )
                )
        return outs


def test_decode_window_excludes_prefill_and_ramp(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]
    monkeypatch.setattr(vllm_baseline.time, "perf_counter", lambda: clock[0])
    kind = SimpleNamespace(DELTA="delta")
    fake_vllm = SimpleNamespace(
        SamplingParams=lambda **kw: SimpleNamespace(**kw),
        sampling_params=SimpleNamespace(RequestOutputKind=kind),
    )
    llm = SimpleNamespace(llm_engine=_FakeEngine(clock))
    prompts = [[1, 2, 3]] * 4
    r = vllm_baseline.decode_by_steps(llm, fake_vllm, prompts, 10, 0.0)
    # All 4 started after 4 steps; from then on 4 tokens per 1-second step until the first finishes.
    assert r["decode_tok_s"] == pytest.approx(4.0)
    assert r["all_started_s"] == pytest.approx(4.0) and r["window_steps"] == 6
    # Too few new tokens: the first request finishes before the last starts; no figure, a warning.
    llm2 = SimpleNamespace(llm_engine=_FakeEngine(clock))
    short = vllm_baseline.decode_by_steps(llm2, fake_vllm, prompts, 2, 0.0)
    assert short["decode_tok_s"] is None and "decode-tokens" in short["warning"]


def test_engine_step_time_is_the_whole_loop_between_full_batch_steps() -> None:
    """int4_engine's decode figure: the time from one full-batch step's start to the next one's
    (bookkeeping after the tokens included, as vLLM's time between engine steps), only between two
    full-batch steps; the start-to-tokens times of the same steps are kept beside it."""
    log = [(0.0, 0.5, 3), (1.0, 0.6, 4), (2.5, 0.7, 4), (4.5, 0.8, 4), (5.0, 0.1, 2), (6.0, 0.2, 4)]
    loop, inner = int4_engine.full_batch_steps(log, 4)
    assert loop == [1.5, 2.0]  # (1.0 -> 2.5), (2.5 -> 4.5); 4.5 is followed by a 2-row step
    assert inner == [0.6, 0.7]
    assert int4_engine.full_batch_steps(log, 8) == ([], [])


def test_engine_host_time_runs_the_real_loop_with_the_passes_faked() -> None:
    """bench/engine_host.py drives FastEngine.generate (admission, block tables, sampler,
    bookkeeping) with instant stand-in passes; each full-batch step's loop time includes its
    start-to-tokens time (unpipelined; pipelined, a step's tokens are read after the next one
    starts)."""
    loop, inner = engine_host.host_step_ms(batch=4, new_tokens=12, prompt=16, pipeline=False)
    assert 0 < inner <= loop
    loop, inner = engine_host.host_step_ms(batch=4, new_tokens=12, prompt=16)
    assert 0 < loop < inner


def test_gpu_check_of_the_linears_runs_each_case_and_lists_misses() -> None:
    """int4_gpu_check's W4A16 cases (on the CPU here: small shape, fp32, the interpreter): each
    case names its kernel, matches the twin, repeats bitwise; the verdict lists a case whose
    error is over its dtype's limit, whose repeat or ordered run differs, and only those."""
    cases = int4_gpu_check.linear_checks(
        shapes=((256, 64),), rows=(1, 3), dtypes=(torch.float32,), device="cpu"
    )
    assert len(cases) == 2 * 2  # act-order off and on, two row counts
    for c in cases:
        assert c["rel"] < 1e-5 and c["repeat_equal"] and c["ordered_equal"] is None  # no r128 on a CPU
        assert c["kernel"].startswith("GemvConfig" if c["M"] == 1 else "GemmConfig")
    assert int4_gpu_check.linear_failures(cases) == []
    bad = [
        {**cases[0], "dtype": "bfloat16", "rel": 0.02},
        {**cases[1], "repeat_equal": False},
        {**cases[2], "ordered_equal": False},
        {**cases[3], "dtype": "bfloat16", "rel": 0.009, "ordered_equal": True},
    ]
    got = int4_gpu_check.linear_failures(bad)
    assert (
        len(got) == 3
        and "rel 0.02" in got[0]
        and "repeat differs" in got[1]
        and "ordered x differs" in got[2]
    )


def test_kernel_counts_reads_quant_method_kernels() -> None:
    class MacheteLinearKernel:
        pass

    layers = [SimpleNamespace(quant_method=SimpleNamespace(kernel=MacheteLinearKernel())) for _ in range(3)]
    model = SimpleNamespace(named_modules=lambda: [(str(i), m) for i, m in enumerate([*layers, object()])])
    llm = SimpleNamespace(apply_model=lambda fn: [fn(model)])
    assert vllm_baseline.kernel_counts(llm) == {"MacheteLinearKernel": 3}
    assert vllm_baseline.kernel_counts(SimpleNamespace()) is None
    m = vllm_baseline._KERNEL_LOG.search("Using MarlinLinearKernel for mixed-precision linear")
    assert m is not None and m.group(1) == "MarlinLinearKernel"


class _FakeLLM:
    """Just enough of ``vllm.LLM`` for vllm_baseline.main: an engine, generate, apply_model, log lines."""

    def __init__(self, clock: list[float], **kwargs: object):
        import logging

        self.kwargs = kwargs
        self.llm_engine = _FakeEngine(clock)
        log = logging.getLogger("vllm.model_executor.kernels.linear")
        log.info("Using %s for mixed-precision linear", "MacheteLinearKernel")
        log.info("Model loading took %.4f GiB and 12.3 seconds", 16.9)

    def generate(self, prompts: list, params: SimpleNamespace, use_tqdm: bool = False) -> list:
        self.llm_engine.clock[0] += 0.5
        out = SimpleNamespace(token_ids=[7] * params.max_tokens)
        return [SimpleNamespace(outputs=[out]) for _ in prompts]

    def apply_model(self, fn: object) -> list[dict[str, int]]:
        return [{"MacheteLinearKernel": 256}]


def test_vllm_baseline_main_with_a_fake_vllm(
    tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging
    import sys

    clock = [0.0]
    kind = SimpleNamespace(DELTA="delta")
    fake = SimpleNamespace(
        __version__="0.26.0-fake",
        LLM=lambda **kw: _FakeLLM(clock, **kw),
        SamplingParams=lambda **kw: SimpleNamespace(**kw),
        sampling_params=SimpleNamespace(RequestOutputKind=kind),
    )
    monkeypatch.setitem(sys.modules, "vllm", fake)
    monkeypatch.setattr(vllm_baseline, "preflight", lambda model_dir, kernel: None)
    monkeypatch.setattr(vllm_baseline.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda: (40e9, 141e9))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "NVIDIA H200 (fake)")
    monkeypatch.setattr(torch.cuda, "max_memory_reserved", lambda *a: 5e9)
    vlog = logging.getLogger("vllm")
    level = vlog.level
    vlog.setLevel(logging.INFO)  # vLLM configures INFO itself
    out = tmp_path / "vllm.json"
    try:
        assert (
            vllm_baseline.main(
                [
                    "--model",
                    str(tiny_dir),
                    "--kernel",
                    "machete",
                    "--out",
                    str(out),
                    "--decode-tokens",
                    "300",  # the fake prefills one request a step: 256 requests need a longer window
                    "--prefill-batch",
                    "4",
                ]
            )
            == 0
        )
    finally:
        vlog.setLevel(level)
        for h in list(vlog.handlers):
            if isinstance(h, vllm_baseline._Capture):
                vlog.removeHandler(h)
    r = EngineResult.load(out)
    assert r.engine == "vllm-machete" and r.kernel == "MacheteLinearKernel"
    assert r.weights_gb == pytest.approx(16.9 * 2**30 / 1e9, abs=0.01)
    assert r.peak_mem_gb == pytest.approx(101.0)
    assert r.batch1_1k_tok_s == pytest.approx(1.0)  # the fake engine makes one token per second at batch 1
    assert r.batch64_4k_tok_s == pytest.approx(64.0)
    assert r.prefill_tok_s == pytest.approx(4 * 4096 / 0.5)
    assert r.extra["llm_kwargs"]["enable_prefix_caching"] is False
    assert r.extra["kernels_logged"] == ["MacheteLinearKernel"]
    assert r.batch256_1k_tok_s == pytest.approx(256.0)
    assert set(r.extra["scenarios"]) == {"b1_1k", "b1_32k", "b16_4k", "b64_4k", "b256_1k", "prefill"}


# --------------------------------------------------------------------------- W4A16 kernel table

SWEEP1 = Path(__file__).resolve().parents[1] / "bench/results/kernels_h200_2026-12-02/sweep1_best.json"


def test_kernel_table_from_the_h200_sweep(tmp_path: Path) -> None:
    """The kernel table and batch-1 estimate from the real best.json of the 2026-12-02 sweep."""
    best = json.loads(SWEEP1.read_text())["best"]
    md = int4_report.kernel_table(best)
    assert "| gate_up | 1 | GEMV classic | 76.3 | 1,910 | GEMV lop3 | 69.1 | 2,109 |" in md
    assert "| down | 256 | dequant+cublas |" in md
    est = int4_report.batch1_estimate(best)
    assert est is not None
    layer_us = sum(best[f"{n} M=1"]["best"]["us"] for n in int4_report.LINEARS)
    assert est["layer_us_after"] == pytest.approx(layer_us)
    assert est["tok_s_after"] == pytest.approx(1e3 / (64 * layer_us / 1e3 + int4_report.ATTN_GLUE_MS_B1))
    assert est["tok_s_before"] < est["tok_s_after"] < 100
    out = tmp_path / "k.md"
    assert int4_report.main(["--kernels", str(SWEEP1), "--out", str(out)]) == 0
    assert out.read_text().startswith("| linear | M |")
    del best["down M=1"]
    assert int4_report.batch1_estimate(best) is None
    with pytest.raises(SystemExit):
        int4_report.main([])
    with pytest.raises(SystemExit):
        int4_report.main(["--engine", str(out)])


def test_w4a16_sweep_large_m_candidates_and_paste_lines() -> None:
    """--only-tc's candidates stay few per (shape, M), and its TUNED_TC lines parse back into
    the table, only where the large-M GEMM won."""
    from bench import w4a16_sweep
    from evalkit.runners.torch_int4.kernels.w4a16 import TcConfig

    for k, n in w4a16_sweep.SHAPES.values():
        for m in w4a16_sweep.TC_MS:
            cands = w4a16_sweep.tc_candidates(m, n, k, 132)
            assert 4 <= len(cands) <= 10 and len(set(cands)) == len(cands)
            assert all(c.block_m <= 256 and 1 <= c.groups_per_split <= k // 128 for c in cands)
    won, lost = TcConfig(256, 128, 14, 8, 2), TcConfig(128, 128, 40, 8, 3)
    best = {
        "qkv M=256": {
            "K": 5120,
            "N": 7168,
            "M": 256,
            "best_tc": {"cfg": str(won), "us": 40.0, "tflops": 470.0},
            "best_other": {"cfg": "dequant+cublas", "us": 66.4},
        },
        "o M=512": {
            "K": 5120,
            "N": 5120,
            "M": 512,
            "best_tc": {"cfg": str(lost), "us": 70.0, "tflops": 1.0},
            "best_other": {"cfg": "dequant+cublas", "us": 60.0},
        },
    }
    lines = w4a16_sweep.tc_paste_lines(best)
    assert all(len(line) <= 110 for line in lines)
    table: dict[str, object] = {"TcConfig": TcConfig}
    exec("T = {\n" + "\n".join(lines) + "\n}", table)
    assert table["T"] == {(256, 7168, 5120): won}


def test_w4a16_sweep_p16_candidates_and_tuned_table(tmp_path: Path) -> None:
    """--p16's (and --p16t's, --p128's) candidates are configs of their variants whose splits
    cover K in blocks of 128, and a sweep's best.json gives TUNED_TC entries only where the p16
    (or large-M) GEMM won."""
    import json

    from bench import w4a16_sweep
    from evalkit.runners.torch_int4.kernels.w4a16 import TcConfig

    for k, n in w4a16_sweep.SHAPES.values():
        for m in w4a16_sweep.P16_MS:
            cands = w4a16_sweep.p16_candidates(m, n, k, 132)
            assert 3 <= len(cands) <= 30 and len(set(cands)) == len(cands)
            assert all(c.variant in ("p16", "p16g", "p16f") for c in cands)
            tables = (
                (w4a16_sweep.P16T_SHAPES, ("p16t", "p16ft")),
                (w4a16_sweep.P128_SHAPES, ("p128",)),
                (w4a16_sweep.S128_SHAPES, ("s128",)),
            )
            for table, variants in tables:  # --p16t / --p128: the TMA kernels, swapped only
                tma = w4a16_sweep.p16t_candidates(m, n, k, 132, table)
                assert 3 <= len(tma) <= 30 and len(set(tma)) == len(tma)
                assert all(c.variant in variants and c.swap for c in tma)
                assert all(1 <= c.groups_per_split <= k // 128 for c in tma)
                assert any(c.groups_per_split == k // 128 for c in tma)  # the unsplit launch is tried
            assert all(1 <= c.groups_per_split <= k // 128 for c in cands)
    won, lost = TcConfig(64, 128, 5, 4, 3, True, 128, "p16"), TcConfig(16, 64, 40, 4, 3, True, 128, "p16")
    best = {
        "qkv M=64": {
            "K": 5120,
            "N": 7168,
            "M": 64,
            "best_tc": {"cfg": str(won), "us": 20.0, "tflops": 240.0},
            "best_other": {"cfg": "GemmConfig(64, 64, 20, 4, 3)", "us": 33.4},
        },
        "o M=16": {
            "K": 5120,
            "N": 5120,
            "M": 16,
            "best_tc": {"cfg": str(lost), "us": 30.0, "tflops": 1.0},
            "best_other": {"cfg": "GemmConfig(16, 64, 5, 4, 3)", "us": 19.3},
        },
    }
    (tmp_path / "best.json").write_text(json.dumps({"best": best}))
    assert w4a16_sweep.tuned_from_best(tmp_path / "best.json") == {(64, 7168, 5120): won}
    lines = w4a16_sweep.tc_paste_lines(best)
    assert len(lines) == 2 and "'p16'" in lines[1]
    assert eval("{" + lines[1] + "}", {"TcConfig": TcConfig}) == {(64, 7168, 5120): won}


def test_profile_families_tell_our_kernels_from_cublas() -> None:
    """The decode profile's families: the W4A16 kernels (tl by function name, Gluon g128/r128)
    apart from cuBLAS, whose kernel names contain "gemm" too; attention and glue by name."""
    from bench.prefill_profile import family

    assert family("gemm_r128_kernel") == "W4A16 GEMM (Gluon r128)"
    assert family("gemm_g128_kernel") == "W4A16 GEMM (Gluon g128)"
    assert family("_gemm_p16_kernel") == family("_gemv_lop3_kernel") == "W4A16 GEMM/GEMV (Triton)"
    for cublas in (
        "sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64",
        "nvjet_tst_192x128_64x4_1x2",
    ):
        assert family(cublas) == "cuBLAS GEMM"
    assert family("_decode_split_kernel") == family("_decode_merge_kernel") == "decode attention (Triton)"
    assert family("_dequant_kernel") == "dequantize (Triton)"
    assert family("_add_norm_kernel") == "add_norm"
    assert family("void at::native::elementwise_kernel<128, 4>(copy)") == "copies"


def test_w4a16_sweep_gemv_candidates_and_tuned_gemv(tmp_path: Path) -> None:
    """The one-row sweep tries the row-by-row and the group-as-a-tile GEMVs; a best.json gives a
    TUNED_GEMV entry per shape whose winner passed its checks, none where a check failed."""
    import json

    from bench import w4a16_sweep
    from evalkit.runners.torch_int4.kernels.w4a16 import GemvConfig

    for k, n in w4a16_sweep.SHAPES.values():
        cands = w4a16_sweep.gemv_candidates(n, k, 132)
        assert len(set(cands)) == len(cands)
        assert {"dn", "dn2d", "dn2dh", "lop3"} == {c.variant for c in cands}
    won, failed = GemvConfig(1024, 1, 4, 1, "dn2d"), GemvConfig(512, 3, 4, 1, "dn2dh")
    best = {
        "gate_up M=1": {"K": 5120, "N": 54784, "M": 1, "best": {"cfg": str(won), "us": 45.0}},
        "down M=1": {"K": 27392, "N": 5120, "M": 1, "best": {"cfg": str(failed), "us": 30.0}},
        "o M=16": {"K": 5120, "N": 5120, "M": 16, "best": {"cfg": "GemmConfig(16, 64, 5, 4, 3)", "us": 19.3}},
    }
    checks = {
        f"gate_up M=1 bfloat16 act_order=True {won}": {"rel_err": 2e-7, "bitwise_repeat": 1.0},
        f"down M=1 bfloat16 act_order=True {failed}": {"rel_err": 2e-7, "bitwise_repeat": 0.0},
    }
    (tmp_path / "best.json").write_text(json.dumps({"best": best, "checks": checks}))
    assert w4a16_sweep.tuned_gemv_from_best(tmp_path / "best.json") == {(54784, 5120): won}


def test_sampler_bench_measures_flat_and_peaked_logits_on_a_cpu() -> None:
    from bench import sampler_bench

    res = sampler_bench.measure(rows=4, vocab=2000, device=torch.device("cpu"), n=1)
    assert res["sigma 8.0 exact rows"] == 4  # peaked: the candidates settle every row
    assert res["sigma 0.5 exact rows"] == 0  # flat: every row takes the full sort
    assert res["sigma 0.5 kept tokens per row"] > 1000 > res["sigma 8.0 kept tokens per row"]
    assert all(v > 0 for k, v in res.items() if k.endswith(" ms"))
    assert "sigma 0.5 top-p kernel ms" in res  # the kernel, interpreted
    for sigma in sampler_bench.SPREADS:  # its draws are the definition's
        assert res[f"sigma {sigma} top-p kernel draws equal to the definition"] == "16/16"


def test_attention_shared_prefix_bench_builds_groups_that_match_row_by_row() -> None:
    """The benchmark's groups (rows i*members.. of one prefix, their table row the first
    member's) give the row-by-row attention, on a CPU in Triton's interpreter (float32, small
    heads); an idle SharedPrefix (no group in use) too."""
    from bench import attention_shared_prefix as bench

    for split_blocks in (1, 16):
        r = bench.case(
            8, 128, 96, 4, 2, path="shared", split_blocks=split_blocks, device="cpu", shape=(4, 2, 32)
        )
        assert r["err"] < 1e-5 and r["us"] > 0
    idle = bench.case(8, 128, 96, 4, 2, path="idle", max_groups=4, device="cpu", shape=(4, 2, 32))
    assert idle["err"] == 0.0


def test_w4a16_sweep_tiles_and_variants_options() -> None:
    """--tiles sets the r128 tiles at every M bucket (also tiles the table lacks there), --variants
    keeps only those variants; neither keeps the table."""
    from bench import w4a16_sweep

    table = w4a16_sweep.R128_SHAPES
    assert w4a16_sweep._chosen_tiles(table, None, None) == table
    both = w4a16_sweep._chosen_tiles(table, "64x128x8x3,128x128x8x4", "r128n")
    assert set(both) == set(table)
    for rows in both.values():
        assert rows == [(64, 128, 8, 3, "r128n"), (128, 128, 8, 4, "r128n")]
    only_o = w4a16_sweep._chosen_tiles(table, None, "r128o")
    assert only_o[256] == [e for e in table[256] if e[4] == "r128o"]


def test_gemv_engine_ab_parses_variants_and_swaps_only_what_they_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``bench/gemv_engine_ab.py``: a variant names linears and GemvConfig fields; each run sees
    the committed table with only those entries replaced, the committed run first in every round,
    and the table is the committed one again afterwards, also when a run fails."""
    from bench import gemv_engine_ab as ab
    from evalkit.runners.torch_int4.kernels import w4a16

    name, table = ab.parse_variant("d=down:128,16,1,2,tmax,1;o:256,3,2,2,tmax")
    assert name == "d"
    assert table == {
        (5120, 27392): w4a16.GemvConfig(128, 16, 1, 2, "tmax", pre=1),
        (5120, 5120): w4a16.GemvConfig(256, 3, 2, 2, "tmax"),
    }
    _, table = ab.parse_variant("s=down:128,16,1,2,tmax,1,silu")
    assert table == {(5120, 27392): w4a16.GemvConfig(128, 16, 1, 2, "tmax", pre=1, silu_x=True)}
    _, table = ab.parse_variant("m=o:256,3,2,2,tmax,1,merge")
    assert table == {(5120, 5120): w4a16.GemvConfig(256, 3, 2, 2, "tmax", pre=1, merge_x=True)}
    for bad, why in (
        ("d", "NAME=LINEAR"),
        ("d=lm_head:1,2,3,4,tmax", "names no linear"),
        ("d=down:128,16,1,tmax", "block_n,groups"),
        ("d=down:128,16,1,2,tmax,1,fast", "block_n,groups"),
        ("d=down:128,16,x,2,tmax", "invalid literal"),
        ("d=down:128,16,1,2,fast", "variant 'fast'"),
    ):
        with pytest.raises(ValueError, match=why):
            ab.parse_variant(bad)

    committed = dict(w4a16.TUNED_GEMV)
    seen: list[dict[tuple[int, int], w4a16.GemvConfig]] = []

    def fake_decode(model: object, batch: int, context: int, new: int) -> dict[str, float]:
        assert (batch, context, new) == (1, 1024, 128)
        seen.append(dict(w4a16.TUNED_GEMV))
        return {"tok_s": 100.0 + len(seen), "step_ms": 10.0}

    monkeypatch.setattr(ab.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(ab.torch.cuda, "get_device_name", lambda: "fake")
    monkeypatch.setattr(ab, "build", lambda shape, dense: object())
    monkeypatch.setattr(ab, "decode_tps", fake_decode)
    out = tmp_path / "ab.json"
    assert ab.main(["--out", str(out), "--rounds", "2", "--variant", "d=down:128,16,1,2,tmax,1"]) == 0
    assert len(seen) == 4 and seen[0] == seen[2] == committed
    assert seen[1] == seen[3] == committed | {(5120, 27392): w4a16.GemvConfig(128, 16, 1, 2, "tmax", pre=1)}
    assert json.loads(out.read_text())["tok_s"]["d"][1]["tok_s"] == 104.0
    assert committed == w4a16.TUNED_GEMV

    def failing(*a: object) -> dict[str, float]:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(ab, "decode_tps", failing)
    with pytest.raises(RuntimeError):
        ab.main(["--out", str(out), "--variant", "d=down:128,16,1,2,tmax,1"])
    assert committed == w4a16.TUNED_GEMV


def test_engine_batch1_figures_are_the_median_of_their_runs() -> None:
    """``int4_engine.median_of_runs``: each figure's median over the runs (two runs: their mean,
    as vllm_baseline.py takes its batch-1 rates), every run kept; at least one run."""
    figures = iter(
        [{"tok_s": 139.0, "step_ms": 7.2}, {"tok_s": 146.0, "step_ms": 6.8}, {"tok_s": 147.0, "step_ms": 6.7}]
    )
    med, runs = int4_engine.median_of_runs(lambda: next(figures), 2)
    assert med == {"tok_s": 142.5, "step_ms": 7.0} and [r["tok_s"] for r in runs] == [139.0, 146.0]
    med, runs = int4_engine.median_of_runs(lambda: {"tok_s": 1.0}, 0)
    assert med == {"tok_s": 1.0} and len(runs) == 1
    three = iter([{"tok_s": 5.0}, {"tok_s": 1.0}, {"tok_s": 3.0}])
    assert int4_engine.median_of_runs(lambda: next(three), 3)[0] == {"tok_s": 3.0}
