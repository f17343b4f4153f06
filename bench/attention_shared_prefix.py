"""Decode attention over rows that share a prefix (the repeats of one prompt), at the 32B head
shapes: row by row (``decode_attention`` without ``shared``, where L2 serves part of the
repeated reads), and through the shared-prefix path (each group's prefix read once), per split
count of the rows' own keys and ``attention.SPLIT_BLOCKS``; plus the cost of a graph that
carries the path when no row is grouped, and rows without any shared prefix.

    python bench/attention_shared_prefix.py [--out FILE.json]

Caches at full length in scattered 32-token blocks; groups of 16 consecutive rows share their
first blocks. Timed as ``bench/attention_splits.py`` (a CUDA graph of 64 calls, median of 5),
microseconds per layer call; ``err`` is the shared path's relative difference from the
row-by-row result (bf16: the probabilities are rounded to bf16 in both, differently split).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.attention_splits import write_results
from bench.int4_engine import _sync_time
from evalkit.runners.torch_int4.kernels import attention

KV_HEADS, HEADS, HEAD_DIM, BS = 8, 40, 128, 32  # EXAONE-4.0-32B, the engine's block size


def case(
    rows: int, keys: int, shared: int, members: int, splits: int, *, path: str, split_blocks: int = 16,
    max_groups: int | None = None, device: str = "cuda",
    shape: tuple[int, int, int] = (HEADS, KV_HEADS, HEAD_DIM),
) -> dict[str, Any]:  # fmt: skip
    """One timing. `path`: "rows" (no SharedPrefix), "shared" (groups in use), "idle" (a
    SharedPrefix of `max_groups` entries, none in use). On a CPU (Triton's interpreter, the
    tests): float32, `shape` (heads, KV heads, head dim) small, no graph."""
    heads, kv_heads, head_dim = shape
    cuda = device == "cuda"
    dtype = torch.bfloat16 if cuda else torch.float32
    old = attention.SPLIT_BLOCKS
    attention.SPLIT_BLOCKS = split_blocks
    try:
        torch.manual_seed(0)
        groups = rows // members
        nb, sb = keys // BS, shared // BS
        total = groups * sb + rows * (nb - sb)
        kc = torch.randn(total, BS, kv_heads, head_dim, device=device, dtype=dtype)
        vc = torch.randn_like(kc)
        q = torch.randn(rows, heads, head_dim, device=device, dtype=dtype)
        perm = torch.randperm(total, device=device).to(torch.int32)
        gid = torch.arange(rows, device=device) // members
        own = perm[groups * sb :].view(rows, nb - sb)
        table = torch.cat([perm[: groups * sb].view(groups, sb)[gid], own], 1).contiguous()
        slots = torch.arange(rows, device=device, dtype=torch.int32)
        pos = torch.full((rows,), keys - 1, device=device, dtype=torch.int32)
        sp = None
        if path != "rows":
            g = max_groups or groups
            fields = torch.zeros(5, g, dtype=torch.int32)
            skip = torch.zeros(2, rows, dtype=torch.int32)
            used = groups if path == "shared" else 0
            for i in range(used):
                fields[:, i] = torch.tensor([i * members, i * members, members, shared, shared])
                skip[:, i * members : (i + 1) * members] = shared
            flat = torch.cat([torch.tensor([used], dtype=torch.int32), fields.flatten()]).to(device)
            members_t = torch.arange(rows, dtype=torch.int32, device=device)
            most = attention.max_group_members(heads, kv_heads)
            sp = attention.SharedPrefix(flat, members_t, skip.to(device), most)

        def call() -> torch.Tensor:
            return attention.decode_attention(
                q, kc, vc, table, slots, pos, window=None, splits=splits, shared=sp
            )

        out = call()
        ref = attention.decode_attention(q, kc, vc, table, slots, pos, window=None, splits=splits)
        err = float((out.float() - ref.float()).norm() / ref.float().norm())
        if cuda:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                for _ in range(64):
                    call()
            graph.replay()
            t = sorted(_sync_time(graph.replay) for _ in range(5))[2] / 64
        else:
            t = _sync_time(call)
    finally:
        attention.SPLIT_BLOCKS = old
    return {
        "rows": rows, "keys": keys, "shared": shared, "members": members, "splits": splits, "path": path,
        "split_blocks": split_blocks, "max_groups": max_groups, "us": round(t * 1e6, 1), "err": err,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    results = []

    def run(*a: Any, **kw: Any) -> None:
        r = case(*a, **kw)
        results.append(r)
        print(json.dumps(r), flush=True)

    for keys, shared in ((576, 512), (1024, 512), (2304, 2048)):
        run(256, keys, shared, 16, 2, path="rows")
        for split_blocks in (8, 16):
            for splits in (1, 2):
                run(256, keys, shared, 16, splits, path="shared", split_blocks=split_blocks)
        run(256, keys, shared, 16, 2, path="shared", max_groups=64)
    run(256, 1024, 0, 16, 2, path="rows")
    run(256, 1024, 0, 16, 2, path="idle", max_groups=64)
    run(64, 1024, 512, 16, 3, path="rows")
    run(64, 1024, 512, 16, 3, path="shared")
    if args.out is not None:
        write_results(args.out, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
