"""Random probe sequences and mistake trajectories give BFCL's own results, states and verdicts.

tests/data/bfcl/multi_turn_probes.jsonl.gz was recorded by bench/bfcl_multi_turn_diff.py
(`--record`, every 8th of the 800 multi-turn entries) from gorilla's own decoder, executor,
API classes and multi_turn_checker at cd9429cc, the BFCL v3 data's commit (see
tests/data/bfcl/SOURCE.md). Rows of kind `sequence` are probe sequences: per turn, steps of
`<tool_call>` texts calling any documented method of the entry's APIs with arguments from
the ground truth, the initial config, earlier results or edge values (`.`/`./x` paths,
wrong tokens, floats for ints, wrong types, JSON-string arguments, missing or extra
arguments), kept with the hash of every result text and of every API's state after each
turn. The other rows are trajectories (ground truth with a call dropped, wrong, added,
swapped, duplicated, an early stop, an empty turn, probes mixed in) with BFCL's verdict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evalkit.benchmarks.bfcl.multi_turn.episode import multi_turn_metadata, score_episode, step_calls
from evalkit.benchmarks.bfcl.multi_turn.state import canonical_state
from evalkit.benchmarks.bfcl.multi_turn.world import World
from evalkit.data import read_records
from evalkit.records import Completion, Sample
from evalkit.solvers import EpisodeOutput
from tests.tools.conftest import short_hash as _h

ROOT = Path(__file__).resolve().parents[2]
PROBES = ROOT / "tests" / "data" / "bfcl" / "multi_turn_probes.jsonl.gz"


def _rows() -> list[dict[str, Any]]:
    return read_records(PROBES)  # type: ignore[return-value]  # rows recorded by bench/bfcl_multi_turn_diff.py


def _sequence_diffs(row: dict[str, Any], e: dict[str, Any]) -> list[str]:
    world = World(e["initial_config"], e["involved_classes"], "long_context" in e["category"])
    diffs = []
    for t, turn in enumerate(row["steps"]):
        for s, text in enumerate(turn):
            calls = step_calls(text)
            got = None if calls is None else [_h(r) for r in world.run_all(calls)]
            if got != row["result_hashes"][t][s]:
                diffs.append(f"{row['id']} turn {t} step {s}: results differ: {text[:200]}")
        want = row["state_hashes"][t]
        if want is not None and _h(json.dumps(canonical_state(world.instances), sort_keys=True)) != want:
            diffs.append(f"{row['id']} turn {t}: state differs")
    return diffs


def _verdict(row: dict[str, Any], e: dict[str, Any]) -> tuple[bool, str]:
    meta = multi_turn_metadata(e, e["question"], e["ground_truth"])
    texts: list[str] = []
    steps = []
    for turn in row["turns"]:
        texts += [*turn, "Done."]
        steps.append(len(turn) + 1)
    calls = [Completion(text=t, finish_reason="stop") for t in texts]
    sample = Sample(
        id=e["id"], messages=[], target=e["ground_truth"], metadata={"category": e["category"], **meta}
    )
    valid, error_type, _ = score_episode(
        sample,
        EpisodeOutput(calls=calls, final=calls[-1], info={"steps_per_turn": steps}),
        reasoning_mode=False,
    )
    return valid, error_type


def _check(rows: list[dict[str, Any]], entries: dict[str, dict[str, Any]]) -> list[str]:
    diffs = []
    for row in rows:
        e = entries[row["id"]]
        if row["kind"] == "sequence":
            diffs += _sequence_diffs(row, e)
        elif _verdict(row, e) != (row["valid"], row["error_type"]):
            diffs.append(f"{row['id']} {row['kind']}: BFCL {row['valid']} {row['error_type']}")
    return diffs


def test_recorded_probes_cover_every_api_and_both_verdicts(entries: dict[str, dict[str, Any]]) -> None:
    rows = _rows()
    seqs = [r for r in rows if r["kind"] == "sequence"]
    classes = {c for r in seqs for c in entries[r["id"]]["involved_classes"]}
    assert len(classes) == 8 and len({r["id"] for r in seqs}) == 100
    assert sum(len(s) for r in seqs for s in r["steps"]) > 1500
    trajectories = [r for r in rows if r["kind"] != "sequence"]
    assert {r["valid"] for r in trajectories} == {True, False}
    assert len({r["error_type"] for r in trajectories}) >= 4


def test_probes_agree_with_bfcl_on_a_subset(entries: dict[str, dict[str, Any]]) -> None:
    assert _check(_rows()[::12], entries) == []


@pytest.mark.slow
def test_probes_agree_with_bfcl_on_all_rows(entries: dict[str, dict[str, Any]]) -> None:
    assert _check(_rows(), entries) == []
