"""Numerics of the fast GPU path against the plain-PyTorch reference, on a GPU.

    python bench/int4_gpu_check.py [--out DIR]

1. Each Triton kernel against its torch twin at EXAONE-4.0-32B shapes, fresh random inputs,
   outputs poisoned first: relative error ||out - ref|| / ||ref|| (float64 reference). The
   W4A16 linears at every ``TUNED_TC`` bucket (1 to 512 rows), with and without act-order, in
   bf16, fp16 and fp32, each run twice (bitwise equal) and, where the kernel reads x in another
   order (r128), once more with x written in that order (``w4_matmul(dest=)``, bitwise equal);
   any miss (relative error >= 1e-2 in bf16/fp16, >= 1e-4 in fp32, a repeat or the ordered run
   differing) is listed under "FAILED" and the script exits 1.
2. The tiny model: fast path (fp32 and bf16) vs the reference model in fp32 on the CPU:
   max |delta logit| after prefill and 64 decode steps, and whether 64 greedy tokens match.
3. A random full-size model of 2 layers (one sliding, one global) written as a real GPTQ
   checkpoint and loaded by the runner's loader: fast bf16 logits vs the reference in fp32.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gptq_random import EXAONE4_32B, random_gptq_linear, write_checkpoint
from evalkit.models import resolve_model
from evalkit.records import SamplingParams
from evalkit.runners.torch_int4.engine import GenerationRequest, ReferenceEngine
from evalkit.runners.torch_int4.fast_engine import FastEngine
from evalkit.runners.torch_int4.fast_model import FastExaone4
from evalkit.runners.torch_int4.kernels import attention, glue, torch_ops, w4a16
from evalkit.runners.torch_int4.loader import load_model
from evalkit.runners.torch_int4.paged_cache import PagedKVCache


def rel(out: torch.Tensor, ref: torch.Tensor) -> float:
    o, r = out.double().cpu(), ref.double().cpu()
    if not torch.isfinite(o).all():
        return float("nan")
    return float((o - r).norm() / r.norm())


LINEAR_SHAPES = ((5120, 7168), (5120, 5120), (5120, 54784), (27392, 5120))  # (K, N): q|k|v, o, gate|up, down
# rows: the upper end of every TUNED_TC bucket, and some between two (200: a 256-token tile part
# full; 300 and 384: the (384, N, K) entries of tc_config; 400: two 256-token tiles, one part full)
LINEAR_ROWS = (1, 8, 16, 32, 64, 128, 200, 256, 300, 384, 400, 512)
LINEAR_DTYPES = (torch.bfloat16, torch.float16, torch.float32)
MAX_REL = {torch.bfloat16: 1e-2, torch.float16: 1e-2, torch.float32: 1e-4}


def _path(w: w4a16.W4Weight, m: int, dt: torch.dtype) -> str:
    """The kernel ``w4_matmul`` takes for m rows (its config's repr)."""
    tc = w4a16.tc_config(w, m, dt)
    if tc is not None:
        return repr(tc)
    return repr(
        w4a16.gemv_config(w, w.qweight.device, dt) if m == 1 else w4a16.gemm_config(w, m, w.qweight.device)
    )


def linear_checks(
    shapes: tuple[tuple[int, int], ...] = LINEAR_SHAPES,
    rows: tuple[int, ...] = LINEAR_ROWS,
    dtypes: tuple[torch.dtype, ...] = LINEAR_DTYPES,
    device: str = "cuda",
    seed: int = 7,
) -> list[dict[str, Any]]:
    """Each case of ``w4_matmul`` as dispatched (``TUNED_TC`` and the rest): its kernel, relative
    error against the twin, whether a second run is bitwise equal, and (where the kernel reads x
    in another order) whether x written in that order gives bitwise the same (else None)."""
    dev = torch.device(device)
    gen = torch.Generator(device=dev).manual_seed(seed)
    out: list[dict[str, Any]] = []
    for k, n in shapes:
        t = random_gptq_linear(k, n, name=f"check{k}x{n}", seed=seed, device=dev)
        for actorder in (False, True):
            g_idx = t["g_idx"]
            if actorder:
                g_idx = g_idx[torch.randperm(k, device=dev, generator=gen)]
            w = w4a16.pack_gptq(t["qweight"], t["qzeros"], t["scales"], g_idx, group_size=128, zero_offset=1)
            for m in rows:
                x = torch.randn(m, k, device=dev, generator=gen)
                for dt in dtypes:
                    xin = x.to(dt)
                    ref = torch_ops.w4_matmul(xin.float(), w).sum(0).double()
                    first = w4a16.w4_matmul(xin, w).sum(0)
                    again = w4a16.w4_matmul(xin, w).sum(0)
                    ordered = None
                    dest = w4a16.input_order(w, m, dt)
                    if dest is not None:
                        xo = torch.empty_like(xin)
                        xo[:, dest] = xin
                        ordered = bool(torch.equal(w4a16.w4_matmul(xo, w, dest=dest).sum(0), first))
                    out.append(
                        {
                            "K": k, "N": n, "M": m, "dtype": str(dt)[6:], "actorder": actorder,
                            "kernel": _path(w, m, dt), "rel": rel(first, ref),
                            "repeat_equal": bool(torch.equal(first, again)), "ordered_equal": ordered,
                        }
                    )  # fmt: skip
    return out


def linear_failures(cases: list[dict[str, Any]]) -> list[str]:
    """The cases that miss: relative error at or over ``MAX_REL``, a repeat or the ordered run differing."""
    limit = {str(dt)[6:]: v for dt, v in MAX_REL.items()}
    bad = []
    for c in cases:
        why = [
            f"rel {c['rel']:.3g}" if not c["rel"] < limit[c["dtype"]] else "",
            "repeat differs" if not c["repeat_equal"] else "",
            "ordered x differs" if c["ordered_equal"] is False else "",
        ]
        if any(why):
            name = f"K={c['K']} N={c['N']} M={c['M']} {c['dtype']} actorder={c['actorder']} {c['kernel']}"
            bad.append(f"{name}: {', '.join(x for x in why if x)}")
    return bad


def silu_down_checks(device: torch.device) -> dict[str, Any]:
    """down's one-row GEMV reading silu(gate) * up from gate|up's output (``w4a16.silu_down``)
    with the committed config plus ``silu_x``, at the 32B shape: bitwise the unfused pair
    (``glue.silu_mul``, then ``w4_matmul``), bitwise run to run, bf16 and fp16."""
    k, n = 27392, 5120
    t = random_gptq_linear(k, n, name="silu_down", seed=9, device=device)
    w = w4a16.pack_gptq(t["qweight"], t["qzeros"], t["scales"], t["g_idx"], group_size=128, zero_offset=1)
    res: dict[str, Any] = {}
    saved = w4a16.TUNED_GEMV.get((n, k))
    base = w4a16.gemv_config(w, device, torch.bfloat16)
    if base.variant != "tmax":
        return {"silu_down": f"not run: down's one-row config here is {base.variant!r}, not 'tmax'"}
    w4a16.TUNED_GEMV[(n, k)] = replace(base, silu_x=True)
    try:
        gen = torch.Generator(device=device).manual_seed(9)
        for dt in (torch.bfloat16, torch.float16):
            gate_up = torch.randn(1, 1, 2 * k, device=device, generator=gen) * 3
            fused = w4a16.silu_down(gate_up, w, dt)
            again = w4a16.silu_down(gate_up, w, dt)
            plain = w4a16.w4_matmul(glue.silu_mul(gate_up, dt), w)
            name = str(dt)[6:]
            res[f"silu_down {name} bitwise the unfused pair"] = bool(torch.equal(fused, plain))
            res[f"silu_down {name} repeat bitwise equal"] = bool(torch.equal(fused, again))
    finally:
        if saved is None:
            w4a16.TUNED_GEMV.pop((n, k), None)
        else:
            w4a16.TUNED_GEMV[(n, k)] = saved
    if not all(res.values()):
        res["silu_down FAILED"] = [key for key, ok in res.items() if ok is False]
    return res


def merge_o_checks(device: torch.device) -> dict[str, Any]:
    """o's one-row GEMV merging the split attention itself (``w4a16.merge_o``) with the committed
    config plus ``merge_x``, at the 32B shapes (40 query / 8 KV heads, D 128; one row over 1,000
    keys in 8 splits): bitwise the merge kernel then ``w4_matmul``, bitwise run to run."""
    cfg = EXAONE4_32B
    h, hkv, d, bs = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim, 32
    t = random_gptq_linear(h * d, cfg.hidden_size, name="merge_o", seed=10, device=device)
    w = w4a16.pack_gptq(t["qweight"], t["qzeros"], t["scales"], t["g_idx"], group_size=128, zero_offset=1)
    key = (w.out_features, w.in_features)
    saved = w4a16.TUNED_GEMV.get(key)
    base = w4a16.gemv_config(w, device, torch.bfloat16)
    if base.variant != "tmax":
        return {"merge_o": f"not run: o's one-row config here is {base.variant!r}, not 'tmax'"}
    res: dict[str, Any] = {}
    w4a16.TUNED_GEMV[key] = replace(base, merge_x=True)
    try:
        gen = torch.Generator(device=device).manual_seed(10)
        for dt in (torch.bfloat16, torch.float16):
            kc = torch.randn(40, bs, hkv, d, device=device, dtype=dt, generator=gen)
            vc = torch.randn(40, bs, hkv, d, device=device, dtype=dt, generator=gen)
            table = torch.randperm(40, device=device, generator=gen).to(torch.int32)[None]
            q = torch.randn(1, h, d, device=device, dtype=dt, generator=gen)
            rows, pos = torch.zeros(1, device=device, dtype=torch.int32), torch.tensor([999], device=device)
            args = (q, kc, vc, table, rows, pos.to(torch.int32))
            split = attention.decode_attention_unmerged(*args, window=None, splits=8)
            fused = w4a16.merge_o(split.mid, split.lse, split.groups, w, dt)
            again = w4a16.merge_o(split.mid, split.lse, split.groups, w, dt)
            plain = w4a16.w4_matmul(attention.decode_attention(*args, window=None, splits=8), w)
            name = str(dt)[6:]
            res[f"merge_o {name} bitwise the merge kernel then the GEMV"] = bool(torch.equal(fused, plain))
            res[f"merge_o {name} repeat bitwise equal"] = bool(torch.equal(fused, again))
    finally:
        if saved is None:
            w4a16.TUNED_GEMV.pop(key, None)
        else:
            w4a16.TUNED_GEMV[key] = saved
    if not all(res.values()):
        res["merge_o FAILED"] = [k for k, ok in res.items() if ok is False]
    return res


def kernels() -> dict[str, Any]:
    res: dict[str, Any] = {}
    dev = torch.device("cuda")
    res.update(silu_down_checks(dev))
    res.update(merge_o_checks(dev))
    cases = linear_checks()
    for c in cases:
        key = f"w4_matmul K={c['K']} N={c['N']} M={c['M']} {c['dtype']} actorder={c['actorder']}"
        res[key] = c["rel"]
    res["w4_matmul cases"] = len(cases)
    res["w4_matmul repeats bitwise equal"] = sum(c["repeat_equal"] for c in cases)
    res["w4_matmul ordered x bitwise equal"] = f"{sum(c['ordered_equal'] is True for c in cases)} of " + str(
        sum(c["ordered_equal"] is not None for c in cases)
    )
    failures = linear_failures(cases)
    if failures:
        res["w4_matmul FAILED"] = failures
    for k, n in LINEAR_SHAPES:
        t = random_gptq_linear(k, n, name=f"check{k}x{n}", seed=7, device=dev)
        for actorder in (False, True):
            g_idx = t["g_idx"]
            if actorder:
                g_idx = g_idx[torch.randperm(k, device=dev)]
            w = w4a16.pack_gptq(t["qweight"], t["qzeros"], t["scales"], g_idx, group_size=128, zero_offset=1)
            dq = w4a16.dequantize(w, torch.bfloat16)
            res[f"dequantize K={k} N={n} actorder={actorder}"] = rel(
                dq.float(), torch_ops.dense_weight(w, torch.float32)
            )
    # glue + attention at 32B head shapes
    cfg = EXAONE4_32B
    h, hkv, d = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
    for dt in (torch.bfloat16, torch.float32):
        b = 8
        parts = torch.randn(3, b, (h + 2 * hkv) * d, device=dev)
        qn, kn = torch.rand(d, device=dev, dtype=dt) + 0.5, torch.rand(d, device=dev, dtype=dt) + 0.5
        inv = 1.0 / (1e6 ** (torch.arange(0, d, 2, device=dev).float() / d))
        pos = torch.randint(0, 9000, (b,), device=dev, dtype=torch.int32)
        slots = torch.randperm(b, device=dev).to(torch.int32)  # each token's block (of 32 tokens)
        dst = slots * 32 + pos % 32
        kc1 = torch.full((b + 1, 32, hkv, d), float("nan"), device=dev, dtype=dt)
        vc1, kc2, vc2 = kc1.clone(), kc1.clone(), kc1.clone()
        a = glue.qkv_post(
            parts,
            num_heads=h,
            num_kv_heads=hkv,
            head_dim=d,
            q_norm=qn,
            k_norm=kn,
            eps=1e-5,
            inv_freq=inv,
            positions=pos,
            dtype=dt,
            cache=(kc1, vc1, dst),
        )
        r = torch_ops.qkv_post(
            parts,
            num_heads=h,
            num_kv_heads=hkv,
            head_dim=d,
            q_norm=qn,
            k_norm=kn,
            eps=1e-5,
            inv_freq=inv,
            positions=pos,
            dtype=dt,
            cache=(kc2, vc2, dst),
        )
        res[f"qkv_post {str(dt)[6:]}"] = max(rel(x, y) for x, y in zip(a, r, strict=True))
        res[f"qkv_post cache write {str(dt)[6:]}"] = rel(kc1.nan_to_num(0), kc2.nan_to_num(0))
        hres = torch.randn(b, 5120, device=dev, dtype=dt)
        p2 = torch.randn(4, b, 5120, device=dev)
        wn = torch.rand(5120, device=dev, dtype=dt) + 0.5
        res[f"add_norm {str(dt)[6:]}"] = rel(
            glue.add_norm(p2, wn, 1e-5, hres.clone()), torch_ops.add_norm(p2, wn, 1e-5, hres.clone())
        )
        p3 = torch.randn(2, b, 2 * 27392, device=dev)
        res[f"silu_mul {str(dt)[6:]}"] = rel(glue.silu_mul(p3, dt), torch_ops.silu_mul(p3, dt))
        for cap, window in ((4096, 4096), (40000, None)):  # a sliding layer, a long global one
            bs, nb = 32, cap // 32 + 1
            kc = torch.randn(b * nb + 1, bs, hkv, d, device=dev, dtype=dt)
            vc = torch.randn_like(kc)
            table = torch.randperm(b * nb, device=dev).to(torch.int32).view(b, nb)
            q = torch.randn(b, h, d, device=dev, dtype=dt)
            pos = torch.randint(0, cap, (b,), device=dev, dtype=torch.int32)
            rows = torch.randperm(b, device=dev).to(torch.int32)
            kw: dict[str, Any] = dict(window=window)
            out = attention.decode_attention(
                q, kc, vc, table, rows, pos, splits=attention.default_splits(cap, b, hkv, 132), **kw
            )
            ref = torch_ops.decode_attention(q, kc, vc, table, rows, pos, splits=1, **kw)
            res[f"paged decode_attention cap={cap} window={window} {str(dt)[6:]}"] = rel(out, ref)
    return res


def tiny(steps: int = 64) -> dict[str, Any]:
    res: dict[str, Any] = {}
    d = resolve_model("tiny")
    ref = load_model(d, device=torch.device("cpu"), dtype=torch.float32)
    g = torch.Generator().manual_seed(3)
    prompts = [torch.randint(5, 4000, (n,), generator=g).tolist() for n in (30, 100, 200, 7)]
    params = SamplingParams(max_new_tokens=steps, temperature=0.0)
    reqs = [GenerationRequest(p, params) for p in prompts]

    def dec(ids: Any) -> str:
        return ""

    want = dict(ReferenceEngine(ref, decode=dec, eos_ids=[], max_batch_size=4).generate(reqs))
    for dt in (torch.float32, torch.bfloat16):
        lm = load_model(d, device=torch.device("cuda"), dtype=dt, cache_dequantized=False)
        fm = FastExaone4.from_reference(lm)
        got = dict(
            FastEngine(
                fm, decode=dec, eos_ids=[], max_batch_size=2, max_seq_len=512, prefill_tokens=96
            ).generate(reqs)
        )
        same = [want[i].token_ids == got[i].token_ids for i in range(len(reqs))]
        firsts = [
            next(
                (
                    j
                    for j, (a, b) in enumerate(zip(want[i].token_ids, got[i].token_ids, strict=False))
                    if a != b
                ),
                None,
            )
            for i in range(len(reqs))
        ]
        res[f"tiny greedy {steps} tokens identical ({str(dt)[6:]})"] = (
            f"{sum(same)}/{len(same)} (first divergence {firsts})"
        )
        # teacher-forced logits along the reference's tokens
        cache = PagedKVCache.contiguous(fm.cfg, 1, 512, dt, torch.device("cuda"))
        seq = prompts[2] + want[2].token_ids
        rc = ref.new_cache(torch.zeros(1, dtype=torch.long), 512)
        with torch.no_grad():
            rl = ref(torch.tensor([seq]), rc, all_logits=True)[0]
        with torch.inference_mode():
            lg = fm.prefill([(torch.tensor(prompts[2]), 0, 0)], cache)
            errs = [float((lg[0].cpu() - rl[len(prompts[2]) - 1]).abs().max())]
            for j, tok in enumerate(want[2].token_ids[:-1]):
                p = len(prompts[2]) + j
                lo = fm.decode(
                    torch.tensor([tok], device="cuda"),
                    torch.tensor([p], device="cuda", dtype=torch.int32),
                    torch.tensor([0], device="cuda", dtype=torch.int32),
                    cache,
                )
                errs.append(float((lo[0].cpu() - rl[p]).abs().max()))
        scale = float(rl.abs().max())
        res[f"tiny max|dlogit| prefill+{steps} decode ({str(dt)[6:]}), logit scale {scale:.2f}"] = max(errs)
    return res


def full_layer() -> dict[str, Any]:
    res: dict[str, Any] = {}
    shape = replace(EXAONE4_32B, num_layers=2, sliding_window_pattern=2, sliding_window=64)
    with tempfile.TemporaryDirectory() as tmp:
        write_checkpoint(Path(tmp) / "m", shape=shape, device="cuda", seed=5)
        ref = load_model(Path(tmp) / "m", device=torch.device("cuda"), dtype=torch.float32)
        lm = load_model(
            Path(tmp) / "m", device=torch.device("cuda"), dtype=torch.bfloat16, cache_dequantized=False
        )
    torch.backends.cuda.matmul.allow_tf32 = False
    fm = FastExaone4.from_reference(lm)
    ids = torch.randint(10, 4000, (200,), generator=torch.Generator().manual_seed(4))
    rc = ref.new_cache(torch.zeros(1, dtype=torch.long, device="cuda"), 256)
    with torch.inference_mode():
        rl = ref(ids[None].cuda(), rc, all_logits=True)[0]
        cache = PagedKVCache.contiguous(fm.cfg, 1, 256, torch.bfloat16, torch.device("cuda"))
        lg = fm.prefill([(ids[:150], 0, 0)], cache)
        outs = [lg[0]]
        for p in range(150, 199):
            outs.append(
                fm.decode(
                    ids[p : p + 1].cuda(),
                    torch.tensor([p], device="cuda", dtype=torch.int32),
                    torch.tensor([0], device="cuda", dtype=torch.int32),
                    cache,
                )[0]
            )
    fast = torch.stack(outs)
    want = rl[149:199]
    res["full-size 2-layer model (sliding W=64 + global), bf16 fast vs fp32 reference: rel err"] = rel(
        fast, want
    )
    res["  top-1 agreement"] = float((fast.argmax(-1) == want.argmax(-1)).float().mean())
    return res


def runner() -> dict[str, Any]:
    """The evalkit runner end to end on the GPU: engine=fast (warm-up, CUDA graphs, continuous
    batching over 4 slots) against engine=reference, greedy and seeded sampling, 10 prompts."""
    from evalkit.records import ChatRequest
    from evalkit.runners.torch_int4.runner import TorchInt4Runner

    texts = [
        "안녕하세요, 자기소개를 해 주세요.",
        "What is the capital of France?",
        "¿Cuál es la raíz de 144?",
        "대한민국의 수도는?",
        "Explain GPTQ in one sentence.",
        "Escribe un haiku.",
        "1부터 10까지 더하면?",
        "List three primes.",
        "부가가치세율은?",
        "Translate 'good morning' into Korean.",
    ]
    res: dict[str, Any] = {}
    for label, params in (
        ("greedy", dict(temperature=0.0)),
        ("sampled T=0.8", dict(temperature=0.8, top_p=0.95)),
    ):
        reqs = [
            ChatRequest(
                messages=[{"role": "user", "content": t}],
                params=SamplingParams(max_new_tokens=48, seed=i, **params),
            )  # type: ignore[arg-type]
            for i, t in enumerate(texts)
        ]
        ref = TorchInt4Runner("tiny", device="cuda", dtype="float32", engine="reference", max_batch_size=4)
        want = dict(ref.generate(reqs))
        for dtype in ("float32", "bfloat16"):
            fast = TorchInt4Runner(
                "tiny", device="cuda", dtype=dtype, engine="fast", max_batch_size=4, max_seq_len=1024
            )
            got = dict(fast.generate(reqs))
            same = sum(want[i].token_ids == got[i].token_ids for i in range(len(reqs)))
            res[f"runner {label}: fast {dtype} == reference float32, 48 tokens"] = f"{same}/{len(reqs)}"
            if label == "greedy":
                la = ref.next_token_logits(reqs[0], " 네, 안녕하세요")
                lb = fast.next_token_logits(reqs[0], " 네, 안녕하세요")
                res[f"runner next_token_logits fast {dtype} vs reference: max|dlogit|"] = float(
                    (la.logits.float() - lb.logits.float()).abs().max()
                )
            fast.close()
        ref.close()
    return res


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--parts", default="kernels,tiny,full_layer,runner")
    args = ap.parse_args()
    report: dict[str, Any] = {}
    parts = {"kernels": kernels, "tiny": tiny, "full_layer": full_layer, "runner": runner}
    for name, fn in ((p, parts[p]) for p in args.parts.split(",")):
        try:
            report.update(fn())
        except Exception as exc:  # report and go on: one broken part must not hide the others
            import traceback

            traceback.print_exc()
            report[f"{name} FAILED"] = f"{type(exc).__name__}: {exc}"
        torch.cuda.empty_cache()
    for k, v in report.items():
        print(f"{k}: {v:.3g}" if isinstance(v, float) else f"{k}: {v}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2))
    return 1 if any(k.endswith("FAILED") for k in report) else 0


if __name__ == "__main__":
    raise SystemExit(main())
