"""Re-record tests/data/bfcl/multi_turn_cases.jsonl.gz with gorilla's own code at cd9429cc.

    TZ=UTC python bench/bfcl_rerecord_cases.py GORILLA_GIT_DIR

Keeps every row's call sequence (`steps`) and replaces what was recorded from other BFCL
versions (nvidia-bfcl 26.3, bfcl-eval 2026.3.23) with what the code of the BFCL v3 data's
commit gives: per turn the result hashes and the state hash, and the checker's verdict
(see tests/data/bfcl/SOURCE.md).
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bfcl_mt_cases import call_text, load_entries
from bench.bfcl_multi_turn_diff import OfficialRun, h, official_verdict
from bench.bfcl_official import load_official, reset_shared
from evalkit.benchmarks.bfcl.multi_turn.state import canonical, canonical_state

CASES = Path(__file__).resolve().parent.parent / "tests" / "data" / "bfcl" / "multi_turn_cases.jsonl.gz"


def main() -> None:
    off = load_official(sys.argv[1])
    entries = {e["id"]: e for e in load_entries()}
    with gzip.open(CASES, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    changed = 0
    for row in rows:
        entry = entries[row["id"]]
        reset_shared(off)
        run = OfficialRun(off, entry)
        run.step("")  # no call: creates the instances, so a turn without calls has a state
        results, states = [], []
        for turn in row["steps"]:
            hashes = []
            for step in turn:
                got = run.step("\n".join(call_text(c["name"], c["args"]) for c in step))
                hashes += [h(r) for r in got or []]
            results.append(hashes)
            states.append(h(json.dumps(canonical(canonical_state(run.instances)), sort_keys=True)))
        run.close()
        turns = [
            ["\n".join(call_text(c["name"], c["args"]) for c in s) for s in turn] for turn in row["steps"]
        ]
        reset_shared(off)
        valid, error_type = official_verdict(off, entry, turns)
        new = {
            **row,
            "result_hashes": results,
            "state_hashes": states,
            "valid": valid,
            "error_type": error_type,
        }
        changed += new != row
        row.update(new)
    with gzip.open(CASES, "wt", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    print(f"{len(rows)} rows, {changed} changed")


if __name__ == "__main__":
    main()
