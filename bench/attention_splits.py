"""Decode attention alone at the 32B head shapes for several key-split counts: which split count
reads the KV cache fastest per (rows, keys), against ``attention.default_splits``'s choice.

    python bench/attention_splits.py [--out FILE.json]

Caches are random bf16 in scattered 32-token blocks of a shared pool, at full length; each
figure is a CUDA graph of 64 calls, median of 5, in microseconds per layer call and GB/s of
keys and values read (the copy bandwidth of the GPU is the ceiling).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from evalkit.runners.torch_int4.kernels.attention import decode_attention, default_splits

GB = 1e9
KV_HEADS, HEADS, HEAD_DIM = 8, 40, 128  # EXAONE-4.0-32B
CASES = {(1, 1024): (4, 8, 16, 32), (16, 4096): (2, 3, 4, 6, 8, 12, 16), (64, 4096): (1, 2, 3, 4)}


def _time(fn) -> float:  # type: ignore[no-untyped-def]
    torch.cuda.synchronize()
    t = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    results = []
    for (b, n), options in CASES.items():
        kc = torch.randn(b * n // 32, 32, KV_HEADS, HEAD_DIM, device="cuda", dtype=torch.bfloat16)
        vc = torch.randn_like(kc)
        q = torch.randn(b, HEADS, HEAD_DIM, device="cuda", dtype=torch.bfloat16)
        table = torch.randperm(b * n // 32, device="cuda").to(torch.int32).view(b, n // 32)
        slots = torch.arange(b, device="cuda", dtype=torch.int32)
        pos = torch.full((b,), n - 1, device="cuda", dtype=torch.int32)
        nbytes = 2 * b * n * KV_HEADS * HEAD_DIM * 2
        chosen = default_splits(n, b, KV_HEADS, sms)
        for splits in sorted({*options, chosen}):
            decode_attention(q, kc, vc, table, slots, pos, window=None, splits=splits)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                for _ in range(64):
                    decode_attention(q, kc, vc, table, slots, pos, window=None, splits=splits)
            graph.replay()
            t = sorted(_time(graph.replay) for _ in range(5))[2] / 64
            row = {"rows": b, "keys": n, "splits": splits, "default": splits == chosen, "us": t * 1e6}
            row["gbs"] = nbytes / t / GB
            results.append(row)
            mark = " (default_splits)" if splits == chosen else ""
            print(
                f"[attention] B={b} keys={n} splits={splits}: {t * 1e6:.1f} us, {row['gbs']:.0f} GB/s{mark}",
                flush=True,
            )
            del graph
        del kc, vc
        torch.cuda.empty_cache()
    if args.out is not None:
        meta = {
            "device": torch.cuda.get_device_name(0),
            "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%d"),
        }
        args.out.write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
