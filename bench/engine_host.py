"""The fast engine's own host time per decode step, with the model's passes faked out (CPU only).

    python bench/engine_host.py [--batch 256] [--new-tokens 100] [--prompt 64] [--repeats 3]

Runs ``FastEngine.generate`` on the tiny EXAONE 4 model with its decode and prefill passes
replaced by instant stand-ins that return zero logits over a narrow vocabulary (so the real
sampler's greedy argmax costs next to nothing here, as on a GPU where it is device time), and
prints the engine loop's time per step with every sequence decoding (``int4_engine``'s
definition: one step's start to the next one's) and its start-to-tokens part. What remains is
the Python and host-tensor work a GPU step waits on: scheduling, block tables, bookkeeping.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gptq_random import SHAPES
from bench.int4_engine import build, full_batch_steps
from evalkit.records import SamplingParams
from evalkit.runners.torch_int4.engine import GenerationRequest
from evalkit.runners.torch_int4.fast_engine import FastEngine

FAKE_VOCAB = 256  # columns of the stand-in logits


def host_step_ms(
    batch: int, new_tokens: int, prompt: int, seed: int = 0, pipeline: bool = True
) -> tuple[float, float]:
    """(loop ms, start-to-tokens ms) per full-batch decode step, the passes faked out. Pipelined
    (the engine's default), a step's tokens are read after the next step is launched, so its
    start-to-tokens time spans more than one loop."""
    model = build(SHAPES["tiny"], dense=False, device="cpu")
    engine = FastEngine(
        model,
        decode=lambda ids: "",
        eos_ids=[],
        max_batch_size=batch,
        max_seq_len=prompt + new_tokens + 8,
        prefill_tokens=8192,
        pipeline=pipeline,
    )
    zeros = torch.zeros(batch, FAKE_VOCAB)

    def decode_logits(
        tokens: list[int] | torch.Tensor, positions: list[int], rows: list[int], *, groups: object = None
    ) -> torch.Tensor:
        return zeros[: len(tokens)]

    def prefill(chunks: list[object], cache: object, all_logits: bool = False) -> torch.Tensor:
        return torch.zeros(len(chunks), FAKE_VOCAB)

    engine.decode_logits = decode_logits  # type: ignore[method-assign]
    model.prefill = prefill  # type: ignore[method-assign,assignment]
    g = torch.Generator().manual_seed(seed)
    vocab = model.cfg.vocab_size
    reqs = [
        GenerationRequest(
            torch.randint(10, vocab, (prompt,), generator=g).tolist(),
            SamplingParams(max_new_tokens=new_tokens, temperature=0.0),
        )
        for _ in range(batch)
    ]
    engine.step_log = []
    with torch.inference_mode():
        for _ in engine.generate(reqs):
            pass
    loop, inner = full_batch_steps(engine.step_log, batch)
    return 1e3 * sum(loop) / len(loop), 1e3 * sum(inner) / len(inner)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--new-tokens", type=int, default=100)
    ap.add_argument("--prompt", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    machine = platform.processor() or platform.machine()
    date = time.strftime("%Y-%m-%d")
    print(f"{machine}, {torch.get_num_threads()} threads, torch {torch.__version__}, {date}")
    for i in range(args.repeats):
        loop, _ = host_step_ms(args.batch, args.new_tokens, args.prompt, seed=i)
        plain, inner = host_step_ms(args.batch, args.new_tokens, args.prompt, seed=i, pipeline=False)
        print(
            f"batch {args.batch}: engine loop {loop:.3f} ms a step pipelined; unpipelined {plain:.3f} ms, "
            f"start to tokens {inner:.3f} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
