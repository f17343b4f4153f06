"""One-row decode of the engine with other GEMV configs, alternating on one model (issue 15).

    python bench/gemv_engine_ab.py --out FILE [--rounds 3] [--context 1024] [--batch 1]
        [--variant NAME=LINEAR:FIELDS[;LINEAR:FIELDS...]] ... [--timeline]

LINEAR is qkv, o, gate_up or down (the EXAONE-4.0-32B shapes); FIELDS are ``GemvConfig``'s,
comma-separated: ``block_n,groups_per_split,num_warps,num_stages,variant[,pre[,flag]]``, e.g.
``--variant d2=down:128,16,1,2,tmax,1``; a last field ``silu`` sets ``silu_x`` (down reads
silu(gate) * up itself: ``w4a16.silu_down``), ``merge`` sets ``merge_x`` (o merges the split
attention itself: ``w4a16.merge_o``). The committed table runs as "committed", first in every
round; each variant replaces only the linears it names. Every run builds a new engine (so its
CUDA graphs are captured with the variant's configs) and decodes 128 tokens after a 1K prompt:
tokens/s as ``bench/int4_engine.py`` measures them (the engine loop's step, all rows decoding).

Why not the kernel sweep alone: at one row the GEMVs are launched with programmatic dependent
launch, and the tiles a GEMV asks for before its wait are read while the kernel before it (a
norm, attention, silu) still runs. ``w4a16_sweep.py`` times each GEMV after another GEMV; in
the decode step the same configs rank otherwise (eighteenth session: fewer tiles before the wait
won 1-2 % a linear in the step, invisible in the sweep). The first run after the model is
built is slower (≈ 5 %, seen every session since the seventeenth): read the later rounds.

``--timeline`` also prints one layer's kernels under ``torch.profiler`` (start, duration, end in
µs). The profiler changes what it measures here: a change that took 3-4 µs a layer off the
profiled step left the unprofiled step as it was. Use it to see the order of kernels, not to
choose between configs.

``--batch B`` decodes B rows at once (prompts of ``--context`` tokens each): with ``--timeline``
the busy time by kernel of a larger batch's step; the one-row table then matters only where a
batch has one row left.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gptq_random import SHAPES
from bench.int4_engine import _run, bench_engine, build, decode_tps
from evalkit.runners.torch_int4.fast_model import FastExaone4
from evalkit.runners.torch_int4.kernels import w4a16
from evalkit.runners.torch_int4.kernels.w4a16 import GemvConfig

# (N, K) of each linear at the EXAONE-4.0-32B shapes (w4a16.TUNED_GEMV's keys)
LINEARS = {"qkv": (7168, 5120), "o": (5120, 5120), "gate_up": (54784, 5120), "down": (5120, 27392)}


def parse_variant(text: str) -> tuple[str, dict[tuple[int, int], GemvConfig]]:
    """``NAME=LINEAR:FIELDS[;LINEAR:FIELDS]`` as (name, {(N, K): config})."""
    name, sep, spec = text.partition("=")
    if not sep or not name:
        raise ValueError(f"--variant {text!r}: expected NAME=LINEAR:FIELDS")
    table: dict[tuple[int, int], GemvConfig] = {}
    for part in spec.split(";"):
        linear, sep, fields = part.partition(":")
        if linear not in LINEARS or not sep:
            raise ValueError(f"--variant {name}: {part!r} names no linear of {sorted(LINEARS)}")
        f = fields.split(",")
        flag = f[6] if len(f) == 7 else ""
        if len(f) not in (5, 6) and flag not in ("silu", "merge"):
            raise ValueError(
                f"--variant {name}: {linear} takes block_n,groups,warps,stages,variant[,pre[,silu|merge]]"
            )
        try:
            nums = [int(v) for v in f[:4]]
            pre = int(f[5]) if len(f) >= 6 else 0
        except ValueError as e:
            raise ValueError(f"--variant {name}: {linear}: {e}") from None
        if f[4] not in w4a16.GEMV_VARIANTS:
            raise ValueError(f"--variant {name}: {linear}: variant {f[4]!r} not in {w4a16.GEMV_VARIANTS}")
        block_n, groups, warps, stages = nums
        table[LINEARS[linear]] = GemvConfig(
            block_n,
            groups,
            warps,
            stages,
            variant=f[4],
            pre=pre,
            silu_x=flag == "silu",
            merge_x=flag == "merge",
        )
    return name, table


def timeline(model: FastExaone4, context: int, batch: int = 1) -> list[str]:
    """One layer of a late decode step under torch.profiler (see the module doc's caveat), and
    one step's busy time by kernel."""
    from torch.profiler import ProfilerActivity, profile

    prompts, engine = bench_engine(model, batch, context, context + 80, seed=1)
    _run(engine, prompts, 8)
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        _run(engine, prompts, 24)
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "trace.json"
        prof.export_chrome_trace(str(trace))
        events = json.loads(trace.read_text())["traceEvents"]
    kernels = sorted((e for e in events if e.get("cat") == "kernel"), key=lambda e: e["ts"])
    post = [i for i, e in enumerate(kernels) if "qkv_post" in e["name"]]
    if len(post) < 130:
        return [f"only {len(post)} layers profiled"]
    first, nxt = post[-40], post[-39]
    t0 = kernels[first - 1]["ts"]
    lines = [
        f"{e['ts'] - t0:8.2f} {e['dur']:7.2f} {e['ts'] + e['dur'] - t0:8.2f}  {e['name'][:48]}"
        for e in kernels[first - 1 : nxt - 1]
    ]
    busy: dict[str, float] = collections.defaultdict(float)
    lo, hi = kernels[post[-128]]["ts"], kernels[post[-64]]["ts"]
    for e in kernels:
        if lo <= e["ts"] < hi:
            busy[e["name"][:40]] += e["dur"]
    lines.append(f"one step: {hi - lo:.1f} us; busy by kernel:")
    lines += [f"  {d:9.1f}  {n}" for n, d in sorted(busy.items(), key=lambda x: -x[1])[:12]]
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--context", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=1, help="rows decoding at once (the tables are one-row's)")
    ap.add_argument("--decode-tokens", type=int, default=128)
    ap.add_argument("--variant", action="append", default=[])
    ap.add_argument("--timeline", action="store_true")
    args = ap.parse_args(argv)
    try:
        variants = dict(parse_variant(v) for v in args.variant)
    except ValueError as e:
        ap.error(str(e))
    if not torch.cuda.is_available():
        print("needs a CUDA GPU", file=sys.stderr)
        return 2
    committed = dict(w4a16.TUNED_GEMV)
    runs: dict[str, list[dict[str, float]]] = {}
    result: dict[str, Any] = {
        "meta": {
            "device": torch.cuda.get_device_name(),
            "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "context": args.context,
            "batch": args.batch,
            "committed": {str(k): repr(v) for k, v in committed.items()},
            "variants": {n: {str(k): repr(v) for k, v in t.items()} for n, t in variants.items()},
        },
        "tok_s": runs,
    }
    model = build(SHAPES["exaone4-32b"], dense=False)
    try:
        if args.timeline:
            result["timeline"] = timeline(model, args.context, args.batch)
            print("\n".join(result["timeline"]), flush=True)
        for r in range(args.rounds):
            for name, table in [("committed", {}), *variants.items()]:
                w4a16.TUNED_GEMV.clear()
                w4a16.TUNED_GEMV.update(committed | table)
                got = decode_tps(model, args.batch, args.context, args.decode_tokens)
                runs.setdefault(name, []).append(got)
                print(
                    f"round {r} {name:>14}: {got['tok_s']:8.2f} tok/s  {got['step_ms']:.3f} ms a step",
                    flush=True,
                )
                args.out.write_text(json.dumps(result, indent=1))
    finally:
        w4a16.TUNED_GEMV.clear()
        w4a16.TUNED_GEMV.update(committed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
