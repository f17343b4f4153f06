"""Decode attention alone at the 32B head shapes for several key-split counts: which split count
reads the KV cache fastest per (rows, keys), against ``attention.default_splits``'s choice.

    python bench/attention_splits.py [--out FILE.json]

Timed as ``bench/int4_engine.py``'s attention profile (``time_decode_attention``: random bf16
caches in scattered 32-token blocks at full length, a CUDA graph of 64 calls, median of 5), in
microseconds per layer call and GB/s of keys and values read (the GPU's copy bandwidth is the
ceiling).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.int4_engine import GB, time_decode_attention
from evalkit.runners.torch_int4.kernels.attention import SPLITS_MEASURED_SMS, default_splits

KV_HEADS, HEADS, HEAD_DIM = 8, 40, 128  # EXAONE-4.0-32B
CASES = {
    (1, 1024): (4, 8, 16, 32),
    (16, 4096): (2, 3, 4, 6, 8, 12, 16),
    (64, 4096): (1, 2, 3, 4),
    (128, 1024): (1, 2, 3),
    (256, 1024): (1, 2),
}


def table_line(results: list[dict[str, float]], kv_heads: int, sms: int) -> str:
    """``attention.SPLITS_BY_PROGRAMS`` from measured rows: the fastest split count per case,
    keyed by programs before splitting (rows x KV heads) on a GPU of ``SPLITS_MEASURED_SMS`` SMs."""
    best: dict[int, dict[str, float]] = {}
    for r in results:
        programs = round(int(r["rows"]) * kv_heads * SPLITS_MEASURED_SMS / sms)
        if programs not in best or r["us"] < best[programs]["us"]:
            best[programs] = r
    pairs = ", ".join(f"({p}, {int(best[p]['splits'])})" for p in sorted(best))
    return f"SPLITS_BY_PROGRAMS = ({pairs})"


def write_results(path: Path, results: list[dict[str, Any]]) -> None:
    """`results` as JSON with the GPU, torch version and date (the attention benchmarks' files)."""
    meta = {
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }
    path.write_text(json.dumps({"meta": meta, "results": results}, indent=1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    results = []
    for (b, n), options in CASES.items():
        chosen = default_splits(n, b, KV_HEADS, sms)
        for splits in sorted({*options, chosen}):
            t, nbytes = time_decode_attention(b, n, HEADS, KV_HEADS, HEAD_DIM, splits)
            row = {"rows": b, "keys": n, "splits": splits, "default": splits == chosen, "us": t * 1e6}
            row["gbs"] = nbytes / t / GB
            results.append(row)
            mark = " (default_splits)" if splits == chosen else ""
            print(
                f"[attention] B={b} keys={n} splits={splits}: {t * 1e6:.1f} us, {row['gbs']:.0f} GB/s{mark}",
                flush=True,
            )
    if args.out is not None:
        write_results(args.out, results)
    print("paste into kernels/attention.py:", table_line(results, KV_HEADS, sms), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
