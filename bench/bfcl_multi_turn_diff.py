"""evalkit's BFCL multi-turn simulations and checker against gorilla's own, on generated calls.

    TZ=UTC python bench/bfcl_multi_turn_diff.py GORILLA_GIT_DIR [--seed 0] [--every 1]
        [--probes 3] [--trajectories 2] [--no-reset] [--builtins]
        [--record tests/data/bfcl/multi_turn_probes.jsonl.gz --record-every 8]

GORILLA_GIT_DIR: a clone (or bare git directory) of github.com/ShishirPatil/gorilla that has
commits cd9429cc (the BFCL v3 data's) and da7f73a8 (the EXAONE 4.0 handler); see
bench/bfcl_official.py. Run with TZ=UTC.

Prints two sets of figures over the 800 multi-turn entries of ../shared/data/bfcl_v3:
1. simulations: `--probes` random probe sequences per entry (bench/bfcl_mt_cases.py) run
   step by step through gorilla's decoder + executor and through evalkit's; steps whose
   decoding, result texts, or (after the step) API states differ;
2. checker: trajectories with ordinary mistakes and with probes, scored by gorilla's
   `multi_turn_checker` (driven as its eval_runner drives it) and by evalkit's
   `score_episode`; agreement on (valid, error_type), per kind.
`--record` writes the sequences, gorilla's result and state hashes, and gorilla's verdicts
for every `--record-every`-th entry used, for tests/tools/test_bfcl_multi_turn_probes.py
(recorded with `--every 4 --probes 2 --trajectories 2 --record-every 2`).
`--no-reset` lets the objects BFCL shares process-wide carry over between entries, as in
its own runs (evalkit starts each entry afresh): the figures then measure that deviation.
`--builtins` adds calls of Python builtins, which BFCL evaluates and evalkit does not.
"""

from __future__ import annotations

import argparse
import collections
import faulthandler
import gzip
import hashlib
import json
import random
import re
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import bfcl_mt_cases as cases
from bench.bfcl_mt_cases import MISTAKES, load_entries, probe_sequence, trajectory
from bench.bfcl_official import Official, forget_instances, load_official, reset_shared
from evalkit.benchmarks.bfcl.multi_turn.episode import multi_turn_metadata, score_episode, step_calls
from evalkit.benchmarks.bfcl.multi_turn.state import canonical_state
from evalkit.benchmarks.bfcl.multi_turn.world import World
from evalkit.records import Completion, Sample
from evalkit.solvers import EpisodeOutput

RESET = True  # --no-reset: let BFCL's shared objects carry over between entries, as in its runs
_SET_MSG = re.compile(r"(Must be one of )\{([^}]*)\}")


def normalise(text: str) -> str:
    """Gorilla prints one Python set in an error message, in hash-seed order; sort it."""
    return _SET_MSG.sub(lambda m: m.group(1) + "{" + ", ".join(sorted(m.group(2).split(", "))) + "}", text)


def h(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def state_hash(instances: dict[str, Any]) -> str:
    return h(json.dumps(canonical_state(instances), sort_keys=True))


class OfficialRun:
    """One model's calls executed by gorilla's executor (its instances persist per name)."""

    counter = 0

    def __init__(self, off: Official, entry: dict[str, Any]) -> None:
        OfficialRun.counter += 1
        self.off, self.entry = off, entry
        self.model = f"diff{OfficialRun.counter}"
        self.instances: dict[str, Any] = {}

    def step(self, text: str) -> list[str] | None:
        try:
            calls = self.off.decode_execute(text)
        except Exception:
            return None
        results, self.instances = self.off.execute(
            calls,
            self.entry["initial_config"],
            self.entry["involved_classes"],
            self.model,
            self.entry["id"],
            long_context="long_context" in self.entry["category"],
            is_evaL_run=True,
        )
        return [normalise(r) for r in results]

    def close(self) -> None:
        forget_instances(self.off, self.model)


class EvalkitRun:
    def __init__(self, entry: dict[str, Any]) -> None:
        self.world = World(
            entry["initial_config"], entry["involved_classes"], "long_context" in entry["category"]
        )

    def step(self, text: str) -> list[str] | None:
        calls = step_calls(text)
        return None if calls is None else self.world.run_all(calls)


def compare_sequence(
    off: Official, entry: dict[str, Any], rng: random.Random
) -> tuple[dict[str, Any], list[str]]:
    """Make one probe sequence while running it on both sides; the record and the differences."""
    if RESET:
        reset_shared(off)
    o, e = OfficialRun(off, entry), EvalkitRun(entry)
    diffs: list[str] = []
    rec: dict[str, Any] = {"id": entry["id"], "steps": [], "result_hashes": [], "state_hashes": []}

    def run_step(text: str) -> list[str]:
        ro, re_ = o.step(text), e.step(text)
        where = f"{entry['id']} step {sum(map(len, rec['steps'])) + len(cur)}"
        if ro != re_:
            diffs.append(
                f"{where}: results differ\n  text: {text[:300]}\n"
                f"  gorilla: {str(ro)[:300]}\n  evalkit: {str(re_)[:300]}"
            )
        so = state_hash(o.instances) if ro is not None else None
        if ro is not None and so != state_hash(e.world.instances):
            a, b = canonical_state(o.instances), canonical_state(e.world.instances)
            bad = [f"{c}.{k}" for c in a for k in a[c] if a[c][k] != b.get(c, {}).get(k)]
            diffs.append(f"{where}: state differs {bad}\n  text: {text[:300]}")
        cur.append(text)
        step_results.append(None if ro is None else [h(r) for r in ro])
        return ro or []

    for turn_steps in range(len(entry["question"])):
        cur: list[str] = []
        step_results: list[list[str] | None] = []
        rng_turn = random.Random(rng.random())
        sub = {**entry, "question": [None]}  # one turn at a time, this turn's ground truth
        sub["ground_truth"] = (
            [entry["ground_truth"][turn_steps]] if turn_steps < len(entry["ground_truth"]) else [[]]
        )
        probe_sequence(rng_turn, sub, run_step)
        rec["steps"].append(cur)
        rec["result_hashes"].append(step_results)
        rec["state_hashes"].append(state_hash(o.instances) if o.instances else None)
    o.close()
    return rec, diffs


def official_verdict(off: Official, entry: dict[str, Any], turns: list[list[str]]) -> tuple[bool, str]:
    """Gorilla's eval_runner.multi_turn_runner for one entry, then its multi_turn_checker."""
    gt = entry["ground_truth"]
    if len(turns) != len(gt):
        return False, "multi_turn:force_terminated"
    decoded = []
    for steps in turns:
        turn = []
        for text in [*steps, "Done."]:
            try:
                d = off.decode_execute(text)
            except Exception:
                continue
            if off.utils_module.is_empty_execute_response(d):
                continue
            turn.append(d)
        decoded.append(turn)
    OfficialRun.counter += 1
    model = f"chk{OfficialRun.counter}"
    if RESET:
        reset_shared(off)
    try:
        r = off.checker(decoded, gt, entry, entry["category"], model)
    finally:
        forget_instances(off, model)
    return bool(r["valid"]), r.get("error_type", "") if not r["valid"] else ""


def evalkit_verdict(entry: dict[str, Any], turns: list[list[str]]) -> tuple[bool, str]:
    meta = multi_turn_metadata(entry, entry["question"], entry["ground_truth"])
    texts, steps = [], []
    for s in turns:
        texts += [*s, "Done."]
        steps.append(len(s) + 1)
    calls = [Completion(text=x, finish_reason="stop") for x in texts]
    sample = Sample(
        id=entry["id"],
        messages=[],
        target=entry["ground_truth"],
        metadata={"category": entry["category"], **meta},
    )
    valid, error_type, _ = score_episode(
        sample, EpisodeOutput(calls=calls, final=calls[-1], info={"steps_per_turn": steps}), False
    )
    return valid, error_type


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gorilla")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--probes", type=int, default=3, help="probe sequences per entry")
    ap.add_argument("--trajectories", type=int, default=2, help="trajectories per entry and mistake kind")
    ap.add_argument("--every", type=int, default=1, help="use every n-th entry")
    ap.add_argument("--record", type=Path)
    ap.add_argument("--record-every", type=int, default=8)
    ap.add_argument("--show", type=int, default=15)
    ap.add_argument("--no-reset", action="store_true", help="measure the effect of BFCL's carry-over")
    ap.add_argument("--builtins", action="store_true", help="also probe Python builtins (BFCL runs them)")
    a = ap.parse_args()
    global RESET
    RESET = not a.no_reset
    if a.builtins:
        cases.PROBE_NAMES += ["print", "len", "sorted"]
    faulthandler.register(signal.SIGUSR1)
    off = load_official(a.gorilla)
    entries = load_entries()[:: a.every]
    sim_diffs: list[str] = []
    steps = seqs = 0
    agree: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    verdicts: collections.Counter[str] = collections.Counter()
    vdiffs: list[str] = []
    records = []
    for n, entry in enumerate(entries):
        rng = random.Random(f"{a.seed}:{entry['id']}")
        for _ in range(a.probes):
            rec, d = compare_sequence(off, entry, rng)
            seqs += 1
            steps += sum(map(len, rec["steps"]))
            sim_diffs += d
            if a.record and n % a.record_every == 0:
                records.append({"kind": "sequence", **rec})
        for kind in MISTAKES:
            for _ in range(a.trajectories):
                turns = trajectory(rng, entry, kind)
                vo = official_verdict(off, entry, turns)
                ve = evalkit_verdict(entry, turns)
                total[kind] += 1
                verdicts[f"{vo[0]}"] += 1
                if vo == ve:
                    agree[kind] += 1
                else:
                    vdiffs.append(f"{entry['id']} {kind}: gorilla {vo} evalkit {ve}")
                if a.record and n % a.record_every == 0:
                    records.append(
                        {"kind": kind, "id": entry["id"], "turns": turns, "valid": vo[0], "error_type": vo[1]}
                    )
        if n % 100 == 99:
            print(f"... {n + 1} entries", file=sys.stderr, flush=True)
    print(f"entries: {len(entries)}")
    print(f"simulations: {seqs} probe sequences, {steps} steps; differences: {len(sim_diffs)}")
    for d in sim_diffs[: a.show]:
        print("  " + d)
    print(
        f"checker: {sum(total.values())} trajectories "
        f"(gorilla valid: {verdicts['True']}, invalid: {verdicts['False']})"
    )
    for kind in MISTAKES:
        print(f"  {kind:15} {agree[kind]:5}/{total[kind]:5}")
    ordinary = [k for k in MISTAKES if k != "probe"]
    print(
        f"  ordinary mistakes: {sum(agree[k] for k in ordinary)}/{sum(total[k] for k in ordinary)}; "
        f"with probes: {agree['probe']}/{total['probe']}; all: {sum(agree.values())}/{sum(total.values())}"
    )
    for d in vdiffs[: a.show]:
        print("  " + d)
    if a.record:
        with gzip.open(a.record, "wt", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")
        print(f"recorded {len(records)} rows to {a.record}")


if __name__ == "__main__":
    main()
