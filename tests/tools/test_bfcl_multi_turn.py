"""The multi-turn API simulations and checker agree with BFCL's own, call for call.

tests/data/bfcl/multi_turn_cases.jsonl.gz holds 3,721 call sequences over the 800 multi-turn
entries (the ground truth, and perturbed copies: a call dropped, duplicated, reordered,
with a wrong, missing or extra argument, an unknown function, a foreign API call, a turn
left empty), replayed by BFCL's classes and checked by BFCL's multi_turn_checker (see
tests/data/bfcl/SOURCE.md). For each sequence it keeps a hash of every call's result
text, a hash of every API's public state after each turn, and BFCL's verdict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evalkit.benchmarks.bfcl.multi_turn.episode import multi_turn_metadata, score_episode
from evalkit.benchmarks.bfcl.multi_turn.state import canonical, canonical_state
from evalkit.benchmarks.bfcl.multi_turn.world import Call, World, parse_call_string
from evalkit.data import read_records
from evalkit.records import Completion, Sample
from evalkit.solvers import EpisodeOutput
from tests.tools.conftest import short_hash as _h

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "data" / "bfcl" / "multi_turn_cases.jsonl.gz"


def _cases() -> list[dict[str, Any]]:
    return read_records(CASES)  # type: ignore[return-value]  # rows recorded by bench/bfcl_multi_turn_diff.py


def _check(rows: list[dict[str, Any]], entries: dict[str, dict[str, Any]]) -> list[str]:
    diffs: list[str] = []
    for row in rows:
        e = entries[row["id"]]
        meta = multi_turn_metadata(e, e["question"], e["ground_truth"])
        world = World(meta["initial_config"], meta["involved_classes"], meta["long_context"])
        for t, turn in enumerate(row["steps"]):
            results = [
                _h(r) for step in turn for r in world.run_all([Call(c["name"], (), c["args"]) for c in step])
            ]
            if results != row["result_hashes"][t]:
                diffs.append(f"{row['id']} {row['kind']} turn {t}: results differ")
                break
            state = canonical_state(world.instances)
            if _h(json.dumps(canonical(state), sort_keys=True)) != row["state_hashes"][t]:
                diffs.append(f"{row['id']} {row['kind']} turn {t}: state differs")
                break
        # The verdict, from model text: each step's calls as <tool_call> blocks, then a plain answer.
        calls, steps = [], []
        for turn in row["steps"]:
            texts = [
                "\n".join(
                    f"<tool_call>{json.dumps({'name': c['name'], 'arguments': c['args']})}</tool_call>"
                    for c in s
                )
                for s in turn
            ] + ["Done."]
            calls += [Completion(text=x, finish_reason="stop") for x in texts]
            steps.append(len(texts))
        sample = Sample(
            id=row["id"],
            messages=[],
            target=e["ground_truth"],
            metadata={"category": row["category"], **meta},
        )
        out = EpisodeOutput(calls=calls, final=calls[-1], info={"steps_per_turn": steps})
        valid, error_type, _ = score_episode(sample, out, reasoning_mode=False)
        if (valid, error_type) != (row["valid"], row["error_type"]):
            diffs.append(
                f"{row['id']} {row['kind']}: evalkit {valid} {error_type}, "
                f"BFCL {row['valid']} {row['error_type']}"
            )
    return diffs


def test_cases_cover_every_entry_and_both_verdicts() -> None:
    rows = _cases()
    assert len(rows) == 3721 and len({r["id"] for r in rows}) == 800
    assert (
        sum(r["kind"] == "gt" and r["valid"] for r in rows) == 800
    )  # the ground truth passes BFCL's own check
    assert {r["error_type"] for r in rows} == {
        "",
        "multi_turn:instance_state_mismatch",
        "multi_turn:empty_turn_model_response",
        "multi_turn:execution_response_mismatch",
    }


def test_simulations_and_checker_agree_on_a_subset(entries: dict[str, dict[str, Any]]) -> None:
    rows = _cases()[::15]
    assert len({r["category"] for r in rows}) == 4
    assert _check(rows, entries) == []


@pytest.mark.slow
def test_simulations_and_checker_agree_on_all_3721_sequences(entries: dict[str, dict[str, Any]]) -> None:
    assert _check(_cases(), entries) == []


def test_ground_truth_strings_are_parsed_not_evaluated() -> None:
    c = parse_call_string("sort('final_report.pdf')")
    assert (c.name, c.args, c.kwargs) == ("sort", ("final_report.pdf",), {})
    assert c.text == "sort('final_report.pdf')"  # run as written, as BFCL runs it
    assert parse_call_string("mv(source='a', destination='b')").kwargs == {"source": "a", "destination": "b"}
    for bad in ("__import__('os').system('x')", "ls(a=open('f'))", "not a call"):
        with pytest.raises(ValueError):
            parse_call_string(bad)


def test_unknown_and_blocked_functions_and_bad_arguments_are_errors_not_crashes(
    entries: dict[str, dict[str, Any]],
) -> None:
    e = entries["multi_turn_base_0"]
    w = World(e["initial_config"], e["involved_classes"], False)
    assert w.run(Call("print", (), {"x": 1})) == "Error during execution: name 'print' is not defined"
    assert w.run(Call("run", (), {})).startswith("Error during execution: Function call run is not allowed")
    assert "missing 1 required positional argument: 'folder'" in w.run(Call("cd", (), {}))
    assert "unexpected keyword argument 'nope'" in w.run(Call("ls", (), {"nope": 1}))
    assert w.run(Call("pwd", (), {})) == '{"current_working_directory": "/workspace"}'


def test_arguments_are_copied_so_the_api_cannot_change_the_callers_values(
    entries: dict[str, dict[str, Any]],
) -> None:
    e = next(x for x in entries.values() if "TwitterAPI" in x["involved_classes"])
    w = World(e["initial_config"], ["TwitterAPI"], False)
    w.run(
        Call(
            "authenticate_twitter",
            (),
            {"username": w.instances["TwitterAPI"].username, "password": w.instances["TwitterAPI"].password},
        )
    )
    mentions = ["@a"]
    tweet = json.loads(w.run(Call("post_tweet", (), {"content": "hi", "mentions": mentions})))
    w.run(Call("mention", (), {"tweet_id": tweet["id"], "mentioned_usernames": ["@b"]}))
    assert mentions == ["@a"] and w.instances["TwitterAPI"].tweets[tweet["id"]]["mentions"] == ["@a", "@b"]
