"""Decode attention alone at the 32B head shapes for several key-split counts: which split count
reads the KV cache fastest per (rows, keys), against ``attention.default_splits``'s choice; with
``--launches``, each split count also under each launch of the split kernel (blocks of keys an
iteration x warps x pipeline stages, ``attention.SplitLaunch``).

    python bench/attention_splits.py [--out FILE.json] [--cases 64x4096,256x1024]
                                     [--launches 1x4x3,2x4x3,2x8x3] [--near]

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
from evalkit.runners.torch_int4.kernels.attention import (
    SPLITS_MEASURED_SMS,
    SplitLaunch,
    default_splits,
    split_launch,
)

KV_HEADS, HEADS, HEAD_DIM = 8, 40, 128  # EXAONE-4.0-32B
CASES = {
    (1, 1024): (4, 8, 16, 32),
    (16, 4096): (2, 3, 4, 6, 8, 12, 16),
    (64, 4096): (1, 2, 3, 4),
    (128, 1024): (1, 2, 3),
    (256, 1024): (1, 2),
}


def _best(results: list[dict[str, float]], kv_heads: int, sms: int) -> dict[int, dict[str, float]]:
    """The fastest row of each case (split count and launch together), keyed by programs before
    splitting (rows x KV heads) on a GPU of ``SPLITS_MEASURED_SMS`` SMs."""
    best: dict[int, dict[str, float]] = {}
    for r in results:
        programs = round(int(r["rows"]) * kv_heads * SPLITS_MEASURED_SMS / sms)
        if programs not in best or r["us"] < best[programs]["us"]:
            best[programs] = r
    return best


def _launch_of(r: dict[str, float]) -> SplitLaunch:
    """A row's launch (rows measured before launches were swept ran the default)."""
    d = SplitLaunch()
    return SplitLaunch(
        int(r.get("blocks", d.blocks)), int(r.get("warps", d.warps)), int(r.get("stages", d.stages))
    )


def table_line(results: list[dict[str, float]], kv_heads: int, sms: int) -> str:
    """``attention.SPLITS_BY_PROGRAMS`` from measured rows: the split count and launch of each
    case's fastest row, keyed by programs before splitting."""
    best = _best(results, kv_heads, sms)
    entries = ", ".join(f"({p}, {int(best[p]['splits'])}, {_launch_of(best[p])!r})" for p in sorted(best))
    return f"SPLITS_BY_PROGRAMS = ({entries})"


def write_results(path: Path, results: list[dict[str, Any]]) -> None:
    """`results` as JSON with the GPU, torch version and date (the attention benchmarks' files)."""
    meta = {
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }
    path.write_text(json.dumps({"meta": meta, "results": results}, indent=1))


def parse_launches(text: str) -> list[SplitLaunch]:
    """ "1x4x3,2x8x3" (blocks x warps x stages) as launches."""
    out = []
    for item in text.split(","):
        parts = item.strip().split("x")
        if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise ValueError(f"--launches: {item!r} is not BLOCKSxWARPSxSTAGES (positive integers)")
        out.append(SplitLaunch(*(int(p) for p in parts)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--cases", default=None, help="only these ROWSxKEYS cases (e.g. 64x4096,256x1024)")
    ap.add_argument(
        "--launches", default=None, help="also these split-kernel launches (BLOCKSxWARPSxSTAGES,...)"
    )
    ap.add_argument(
        "--near",
        action="store_true",
        help="only split counts within 2x of default_splits' (fewer kernel builds)",
    )
    args = ap.parse_args(argv)
    launches = parse_launches(args.launches) if args.launches else [None]
    cases = dict(CASES)
    if args.cases:
        want = {tuple(int(v) for v in c.split("x")) for c in args.cases.split(",")}
        cases = {k: v for k, v in CASES.items() if k in want}
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    results = []
    for (b, n), options in cases.items():
        chosen = default_splits(n, b, KV_HEADS, sms)
        for splits in sorted({*options, chosen}):
            if args.near and not chosen / 2 <= splits <= chosen * 2:
                continue
            for launch in launches:
                lau = launch or split_launch(b, KV_HEADS, sms)
                try:
                    t, nbytes = time_decode_attention(b, n, HEADS, KV_HEADS, HEAD_DIM, splits, launch=lau)
                except Exception as exc:  # a launch that does not build (shared memory): skip it
                    print(f"[attention] B={b} keys={n} splits={splits} launch={lau}: {exc}"[:300], flush=True)
                    torch.cuda.empty_cache()
                    continue
                row = {"rows": b, "keys": n, "splits": splits, "default": splits == chosen, "us": t * 1e6}
                row.update(blocks=lau.blocks, warps=lau.warps, stages=lau.stages, gbs=nbytes / t / GB)
                results.append(row)
                mark = " (default_splits)" if splits == chosen else ""
                print(
                    f"[attention] B={b} keys={n} splits={splits} launch={lau.blocks}x{lau.warps}x"
                    f"{lau.stages}: {t * 1e6:.1f} us, {row['gbs']:.0f} GB/s{mark}",
                    flush=True,
                )
    if args.out is not None:
        write_results(args.out, results)
    print("paste into kernels/attention.py:", table_line(results, KV_HEADS, sms), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
