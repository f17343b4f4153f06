"""The vLLM runner for real, on a GPU: a task end to end in both modes, and greedy parity with
the in-house torch runner on the same (tiny GPTQ) checkpoint.

    python bench/vllm_check.py [--out DIR]

Prints, per mode, the run's headline and health figures, then for 10 prompts whether the first
16 greedy tokens of vLLM equal those of the torch runner (fp32 activations on the same GPU).
Needs vLLM and CUDA; see docs/vllm-on-h200.md for the trimmed bundle used in this workplace.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from evalkit.pipeline import RunConfig, run_eval
from evalkit.records import ChatRequest, SamplingParams
from evalkit.runners.profiles import load_profile, make_runner
from evalkit.runners.torch_int4.runner import TorchInt4Runner

PROMPTS = [
    "안녕하세요, 자기소개를 해 주세요.",
    "What is the capital of France?",
    "¿Cuál es la raíz cuadrada de 144?",
    "대한민국 헌법상 국회의원의 임기는 몇 년인가?",
    "Explain GPTQ quantization in one sentence.",
    "Escribe un haiku sobre el mar.",
    "1부터 10까지 더하면 얼마인가요?",
    "List three prime numbers.",
    "부가가치세의 기본세율은 얼마입니까?",
    "Translate 'good morning' into Korean.",
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("vllm_check"))
    ap.add_argument("--limit", type=int, default=16)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict[str, object] = {}

    t0 = time.time()
    vllm_runner = make_runner(load_profile("vllm-tiny"))
    report["vllm_load_s"] = round(time.time() - t0, 1)
    report["vllm_describe"] = vllm_runner.describe()
    for mode in ("non-reasoning", "reasoning"):
        res = run_eval(
            RunConfig(
                task="kmmlu_pro",
                runner="vllm-tiny",
                mode=mode,
                limit=args.limit,
                results_dir=args.out / "runs",
                progress=False,
            ),
            runner=vllm_runner,
        )
        m = res.metrics
        report[mode] = {
            k: m[k]
            for k in (
                "value",
                "n_samples",
                "truncation_rate",
                "no_answer_rate",
                "unclosed_think_rate",
                "tokens",
                "generation_time_s",
            )
        }
        print(
            f"[{mode}] {res.run_dir.name}: n={m['n_samples']} acc={m['value']:.3f} "
            f"truncated={m['truncation_rate']:.2f} unclosed_think={m['unclosed_think_rate']:.2f} "
            f"completion_tokens={m['tokens']['completion_total']} gen={m['generation_time_s']:.1f}s",
            flush=True,
        )

    params = SamplingParams(temperature=0.0, max_new_tokens=16)
    reqs = [
        ChatRequest(messages=[{"role": "user", "content": p}], params=params, enable_thinking=(i % 2 == 1))
        for i, p in enumerate(PROMPTS)
    ]
    v = dict(vllm_runner.generate(reqs))
    torch_runner = TorchInt4Runner("tiny", device="cuda", dtype="float32", max_batch_size=10)
    t = dict(torch_runner.generate(reqs))
    rows = []
    for i in range(len(reqs)):
        a, b = (v[i].token_ids or [])[:16], (t[i].token_ids or [])[:16]
        first_diff = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
        rows.append(
            {
                "prompt": PROMPTS[i],
                "thinking": i % 2 == 1,
                "agree16": a == b,
                "first_diff": first_diff,
                "vllm": a,
                "torch": b,
            }
        )
        print(f"prompt {i}: agree={a == b} first_diff={first_diff}", flush=True)
    agree = sum(r["agree16"] for r in rows)
    report["parity"] = {"agree_first16": agree, "of": len(rows), "rows": rows}
    print(f"greedy parity vs torch fp32, first 16 tokens: {agree}/{len(rows)} prompts identical", flush=True)

    # Where they part, is it a near-tie (precision) or a real difference (a bug)? Teacher-force the
    # common prefix through the fp32 torch model and read the gap between its choice and vLLM's.
    import torch

    lm = torch_runner.lm
    for r, req in zip(rows, reqs, strict=True):
        k = r["first_diff"]
        if k is None:
            continue
        ids = torch_runner.encode(torch_runner.render(req)) + r["torch"][:k]
        x = torch.tensor([ids], device=lm.device)
        with torch.no_grad():
            logits = lm(x, lm.new_cache(torch.zeros(1, dtype=torch.long, device=lm.device), len(ids)))[0, -1]
        probs = logits.softmax(-1)
        top2 = logits.topk(2)
        r["gap_logit_torch_vs_vllm_token"] = float(logits[r["torch"][k]] - logits[r["vllm"][k]])
        r["top2_logit_gap"] = float(top2.values[0] - top2.values[1])
        r["p_torch_token"], r["p_vllm_token"] = float(probs[r["torch"][k]]), float(probs[r["vllm"][k]])
        print(
            f"prompt {rows.index(r)}: at token {k} fp32 logit gap torch-choice minus vLLM-choice = "
            f"{r['gap_logit_torch_vs_vllm_token']:.4f} "
            f"(p {r['p_torch_token']:.3f} vs {r['p_vllm_token']:.3f})",
            flush=True,
        )

    def first16(out: dict[int, Any], i: int) -> list[int]:
        return (out[i].token_ids or [])[:16]

    for dtype in ("float16", "bfloat16"):  # same-dtype torch runs: how much is precision alone?
        other = dict(TorchInt4Runner("tiny", device="cuda", dtype=dtype, max_batch_size=10).generate(reqs))
        vs_vllm = sum(first16(v, i) == first16(other, i) for i in range(len(reqs)))
        vs_fp32 = sum(first16(t, i) == first16(other, i) for i in range(len(reqs)))
        report[f"parity_vs_torch_{dtype}"] = vs_vllm
        report[f"torch_{dtype}_vs_torch_fp32"] = vs_fp32
        print(f"vLLM vs torch {dtype}: {vs_vllm}/10; torch {dtype} vs torch fp32: {vs_fp32}/10", flush=True)
    (args.out / "vllm_check.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
