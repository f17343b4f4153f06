"""Each class of difference found against BFCL's own code (issue 21) behaves as BFCL's does.

tests/data/bfcl/multi_turn_differences.json holds gorilla's own results, states and verdicts
for these cases (gorilla cd9429cc, the BFCL v3 data's commit; recorded by
bench/bfcl_record_differences.py, its `source` field says exactly from what). The cases:
TravelAPI wrong tokens lowering `token_expires_in` (and `None - 1` before any login),
GorillaFileSystem `.` path segments, VehicleControlAPI float casts and assign-before-fail,
TravelAPI `compute_exchange_rate` left unconverted, TwitterAPI's shared default mention
list, the long-context TravelAPI's shared filler cards, JSON-string `arguments`, and the
call judged as the Python text BFCL evaluates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evalkit.benchmarks.bfcl.multi_turn.episode import multi_turn_metadata, score_episode, step_calls
from evalkit.benchmarks.bfcl.multi_turn.shared import SharedDefaults
from evalkit.benchmarks.bfcl.multi_turn.state import canonical
from evalkit.benchmarks.bfcl.multi_turn.world import World
from evalkit.records import Completion, Sample
from evalkit.solvers import EpisodeOutput

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = json.loads((ROOT / "tests" / "data" / "bfcl" / "multi_turn_differences.json").read_text())


def _worlds(entry: dict[str, Any], override: dict[str, Any]) -> dict[str, World]:
    config = {**entry["initial_config"], **override}
    shared = SharedDefaults()  # as the scorer gives the model's and the ground truth's worlds
    lc = "long_context" in entry["category"]
    return {side: World(config, entry["involved_classes"], lc, shared) for side in ("model", "truth")}


@pytest.mark.parametrize("case", FIXTURE["simulations"], ids=lambda c: c["name"])
def test_simulation_matches_bfcl(case: dict[str, Any], entries: dict[str, dict[str, Any]]) -> None:
    worlds = _worlds(entries[case["id"]], case["config_override"])
    results = []
    for side, text in case["steps"]:
        calls = step_calls(text)
        results.append(None if calls is None else worlds[side].run_all(calls))
    assert results == case["results"]
    for side, classes in case["state"].items():
        for cls, attrs in classes.items():
            obj = worlds[side].instances[cls]
            assert {a: canonical(getattr(obj, a)) for a in attrs} == attrs, (side, cls)


@pytest.mark.parametrize("case", FIXTURE["verdicts"], ids=lambda c: c["name"])
def test_verdict_matches_bfcl(case: dict[str, Any], entries: dict[str, dict[str, Any]]) -> None:
    e = entries[case["id"]]
    meta = multi_turn_metadata(e, e["question"], e["ground_truth"])
    texts: list[str] = []
    steps = []
    for turn in case["turns"]:
        texts += [*turn, "Done."]
        steps.append(len(turn) + 1)
    calls = [Completion(text=t, finish_reason="stop") for t in texts]
    sample = Sample(
        id=e["id"], messages=[], target=e["ground_truth"], metadata={"category": e["category"], **meta}
    )
    out = EpisodeOutput(calls=calls, final=calls[-1], info={"steps_per_turn": steps})
    valid, error_type, _ = score_episode(sample, out, reasoning_mode=False)
    assert (valid, error_type) == (case["valid"], case["error_type"])


def test_the_recorded_cases_show_what_they_claim() -> None:
    """Guards against a re-recording that silently stops exercising a difference."""
    sims = {c["name"]: c for c in FIXTURE["simulations"]}
    assert sims["travel_wrong_token_costs_a_use"]["state"]["model"]["TravelAPI"]["token_expires_in"] == 3598
    assert "'NoneType' and 'int'" in sims["travel_wrong_token_before_login"]["results"][0][0]
    assert sims["fs_dot_segments"]["results"][0] == ['{"current_working_directory": "document"}']
    assert '"currentSpeed": 60.0' in sims["vehicle_cruise_control_floats"]["results"][3][0]
    assert (
        sims["vehicle_climate_assigns_before_failing"]["state"]["model"]["VehicleControlAPI"]["acTemperature"]
        == "72"
    )
    assert sims["travel_exchange_rate_unconverted"]["results"][0] == ['{"exchanged_value": 13643}']
    assert '"mentions": ["@x"]' in sims["twitter_shared_default_mentions"]["results"][-1][0]
    assert sims["long_context_travel_shared_filler_cards"]["results"][1] == ['{"card_balance": 4950.0}']
    assert sims["json_string_arguments"]["results"][1] is None
    verdicts = {c["name"]: (c["valid"], c["error_type"]) for c in FIXTURE["verdicts"]}
    assert verdicts == {
        "travel_retry_with_wrong_token": (False, "multi_turn:instance_state_mismatch"),
        "twitter_mention_on_default_list": (False, "multi_turn:execution_response_mismatch"),
        "long_context_filler_card_charge": (True, ""),
        "ground_truth_as_json_strings": (True, ""),
    }
