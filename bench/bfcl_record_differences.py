"""Record gorilla's own outputs for the BFCL multi-turn difference cases (issue 21).

    TZ=UTC python bench/bfcl_record_differences.py GORILLA_GIT_DIR \
        [--out tests/data/bfcl/multi_turn_differences.json]

Each case runs call texts, as the model would write them, through gorilla's decoder and
executor at cd9429cc (bench/bfcl_official.py) and keeps every result text and the final
public state of the named attributes; verdict cases run a whole trajectory through its
checker. tests/tools/test_bfcl_multi_turn_differences.py replays them through evalkit.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bfcl_mt_cases import call_text, gt_call_texts, load_entries
from bench.bfcl_multi_turn_diff import OfficialRun, official_verdict
from bench.bfcl_official import DATA_COMMIT, HANDLER_COMMIT, load_official, reset_shared
from evalkit.benchmarks.bfcl.multi_turn.state import canonical

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "bfcl" / "multi_turn_differences.json"
FILLER_CARD, FILLER_BOOKING = "1234567812345678", "booking_901"
START_CAR = [
    call_text("lockDoors", {"unlock": False, "door": ["driver", "passenger", "rear_left", "rear_right"]}),
    call_text("pressBrakePedal", {"pedalPosition": 1.0}),
    call_text("startEngine", {"ignitionMode": "START"}),
]

# (name, what it shows, entry id, [(side, step text)], {class: [attributes to record]})
# side "model" / "truth": two instances of the same entry (BFCL shares some objects between them).
SIM_CASES: list[tuple[str, str, str, list[tuple[str, str]], dict[str, list[str]]]] = [
    (
        "travel_wrong_token_costs_a_use",
        "each wrong token lowers token_expires_in; at 0 the right one fails too",
        "multi_turn_base_150",
        [("model", call_text("set_budget_limit", {"access_token": "wrong", "budget_limit": 100.0}))] * 2
        + [("model", call_text("set_budget_limit", {"access_token": "abc123token", "budget_limit": 100.0}))],
        {"TravelAPI": ["token_expires_in", "budget_limit"]},
    ),
    (
        "travel_wrong_token_before_login",
        "no token yet: the decrement itself fails on None - 1",
        "multi_turn_base_183",
        [
            ("model", call_text("get_credit_card_balance", {"access_token": "x", "card_id": "card_2023"})),
            ("model", call_text("travel_get_login_status", {})),
        ],
        {"TravelAPI": ["token_expires_in"]},
    ),
    (
        "fs_dot_segments",
        "'.' path segments stay in place: ./X, X/./Y, ./ and . all resolve",
        "multi_turn_base_0",
        [
            ("model", call_text("cd", {"folder": "./document"})),
            ("model", call_text("pwd", {})),
            ("model", call_text("cd", {"folder": ".."})),
            ("model", call_text("cd", {"folder": "./"})),
            ("model", call_text("cd", {"folder": "document/."})),
            ("model", call_text("pwd", {})),
            ("model", call_text("cd", {"folder": "./nope"})),
        ],
        {"GorillaFileSystem": []},
    ),
    (
        "vehicle_cruise_control_floats",
        "speed and distance become floats before anything else",
        "multi_turn_base_50",
        [("model", t) for t in START_CAR]
        + [
            (
                "model",
                call_text("setCruiseControl", {"speed": 60, "activate": True, "distanceToNextVehicle": 100}),
            ),
            (
                "model",
                call_text("setCruiseControl", {"speed": 62, "activate": True, "distanceToNextVehicle": 50}),
            ),
            (
                "model",
                call_text(
                    "setCruiseControl", {"speed": "fast", "activate": False, "distanceToNextVehicle": 5}
                ),
            ),
        ],
        {"VehicleControlAPI": ["distanceToNextVehicle", "cruiseStatus"]},
    ),
    (
        "vehicle_climate_assigns_before_failing",
        "a string temperature in fahrenheit fails after it is stored",
        "multi_turn_base_50",
        [("model", call_text("adjustClimateControl", {"temperature": "72", "unit": "fahrenheit"}))],
        {"VehicleControlAPI": ["acTemperature", "fanSpeed", "acMode"]},
    ),
    (
        "travel_exchange_rate_unconverted",
        "value * rate is not converted to float (integers stay integers)",
        "multi_turn_base_150",
        [
            (
                "model",
                call_text(
                    "compute_exchange_rate", {"base_currency": "USD", "target_currency": "RMB", "value": 1949}
                ),
            ),
            (
                "model",
                call_text(
                    "compute_exchange_rate", {"base_currency": "USD", "target_currency": "JPY", "value": 2.5}
                ),
            ),
            (
                "model",
                call_text(
                    "compute_exchange_rate", {"base_currency": "RMB", "target_currency": "USD", "value": 100}
                ),
            ),
        ],
        {},
    ),
    (
        "twitter_shared_default_mentions",
        "tweets posted without mentions share one list, across instances",
        "multi_turn_base_183",
        [
            ("model", call_text("authenticate_twitter", {"username": "john", "password": "john1234"})),
            ("truth", call_text("authenticate_twitter", {"username": "john", "password": "john1234"})),
            ("model", call_text("post_tweet", {"content": "a"})),
            ("model", call_text("post_tweet", {"content": "b", "mentions": []})),
            ("model", call_text("mention", {"tweet_id": 10, "mentioned_usernames": ["@x"]})),
            ("truth", call_text("post_tweet", {"content": "c", "tags": ["#t"]})),
            ("truth", call_text("get_tweet", {"tweet_id": 10})),
        ],
        {"TwitterAPI": ["tweets"]},
    ),
    (
        "long_context_travel_shared_filler_cards",
        "a charge to a filler card shows in the other instance",
        "multi_turn_long_context_150",
        [
            (
                "model",
                call_text(
                    "purchase_insurance",
                    {
                        "access_token": "abc123token",
                        "insurance_type": "comprehensive",
                        "booking_id": FILLER_BOOKING,
                        "insurance_cost": 50.0,
                        "card_id": FILLER_CARD,
                    },
                ),
            ),
            (
                "truth",
                call_text("get_credit_card_balance", {"access_token": "abc123token", "card_id": FILLER_CARD}),
            ),
        ],
        {"TravelAPI": ["credit_card_list"]},
    ),
    (
        "json_string_arguments",
        "arguments given as a JSON string are json.loads-ed; other strings fail the step",
        "multi_turn_base_0",
        [
            ("model", call_text("cd", {"folder": "document"}, as_string=True)),
            ("model", '<tool_call>{"name": "ls", "arguments": "{\\"a\\": true"}</tool_call>'),
            ("model", '<tool_call>{"name": "ls", "arguments": "[1]"}</tool_call>'),
            ("model", call_text("ls", {"a": True}, as_string=True)),
        ],
        {"GorillaFileSystem": []},
    ),
    (
        "call_text_is_python",
        "the call is judged as the Python text BFCL builds: names, inf, keywords",
        "multi_turn_base_0",
        [
            ("model", '<tool_call>{"name": "echo", "arguments": {"content": Infinity}}</tool_call>'),
            ("model", call_text("echo", {"class": "x", "content": "y"})),
            ("model", call_text("echo", {"content": "y", "file name": "z"})),
            ("model", call_text("ls.x", {})),
            ("model", call_text("run", {})),
            ("model", call_text(5, {})),
            ("model", call_text("nonexistent_function", {"a": 1})),
        ],
        {},
    ),
]


# Cases run on an entry's initial config with some classes replaced (no entry of the data
# lacks a travel token, so the "no token yet" path needs a TravelAPI loaded from {}).
CONFIG_OVERRIDES = {"travel_wrong_token_before_login": {"TravelAPI": {}}}


def _gt_steps(entry: dict[str, Any], upto: int) -> list[list[str]]:
    return [["\n".join(gt_call_texts(entry, t))] if entry["ground_truth"][t] else [] for t in range(upto)]


def verdict_cases(entries: dict[str, dict[str, Any]]) -> list[tuple[str, str, str, list[list[str]]]]:
    """(name, what it shows, entry id, per turn the model's step texts)."""
    e150, lc150, e183 = (
        entries["multi_turn_base_150"],
        entries["multi_turn_long_context_150"],
        entries["multi_turn_base_183"],
    )
    wrong_then_right = _gt_steps(e150, 2)
    wrong_then_right[1] = [
        call_text("set_budget_limit", {"access_token": "wrong", "budget_limit": 22000.0}),
        *wrong_then_right[1],
    ]
    tweet = _gt_steps(e183, 6)
    tweet[5] = [*tweet[5], call_text("mention", {"tweet_id": 10, "mentioned_usernames": ["@x"]})]
    filler = _gt_steps(lc150, 2)
    filler[1] = [
        call_text(
            "purchase_insurance",
            {
                "access_token": "abc123token",
                "insurance_type": "comprehensive",
                "booking_id": FILLER_BOOKING,
                "insurance_cost": 50.0,
                "card_id": FILLER_CARD,
            },
        ),
        *filler[1],
    ]
    as_strings = [["\n".join(gt_call_texts(e150, t, as_string=True))] for t in range(2)]
    return [
        (
            "travel_retry_with_wrong_token",
            "a wrong token first costs a token use: state mismatch",
            e150["id"],
            wrong_then_right,
        ),
        ("twitter_mention_on_default_list", "mentions reach the ground truth's tweet too", e183["id"], tweet),
        (
            "long_context_filler_card_charge",
            "the ground truth's filler card is charged too",
            lc150["id"],
            filler,
        ),
        ("ground_truth_as_json_strings", "JSON-string arguments are calls", e150["id"], as_strings),
    ]


def record_sim(
    off: Any, entry: dict[str, Any], steps: list[tuple[str, str]], attrs: dict[str, list[str]]
) -> dict[str, Any]:
    reset_shared(off)
    runs = {"model": OfficialRun(off, entry), "truth": OfficialRun(off, entry)}
    results = [runs[side].step(text) for side, text in steps]
    state = {}
    for side, run in runs.items():
        inst = run.instances or {}
        state[side] = {
            cls: {
                a: canonical(getattr(inst[cls], a))
                for a in (names or [k for k in vars(inst[cls]) if not k.startswith("_")])
            }
            for cls, names in attrs.items()
            if cls in inst
        }
        run.close()
    return {"results": results, "state": state}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gorilla")
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    off = load_official(a.gorilla)
    entries = {e["id"]: e for e in load_entries()}
    sims = []
    for name, what, eid, steps, attrs in SIM_CASES:
        entry = dict(entries[eid])
        override = CONFIG_OVERRIDES.get(name, {})
        entry["initial_config"] = {**entry["initial_config"], **override}
        sims.append(
            {
                "name": name,
                "what": what,
                "id": eid,
                "config_override": override,
                "steps": steps,
                **record_sim(off, entry, steps, attrs),
            }
        )
    verdicts = []
    for name, what, eid, turns in verdict_cases(entries):
        reset_shared(off)
        valid, error_type = official_verdict(off, entries[eid], turns)
        verdicts.append(
            {"name": name, "what": what, "id": eid, "turns": turns, "valid": valid, "error_type": error_type}
        )
    source = (
        f"github.com/ShishirPatil/gorilla {DATA_COMMIT}, berkeley-function-call-leaderboard/bfcl_eval/"
        "eval_checker/multi_turn_eval/ (API classes, executor, multi_turn_checker) and "
        "model_handler/utils.py (convert_to_function_call); "
        f"EXAONE 4.0 handler decode_execute from {HANDLER_COMMIT}; "
        "recorded by bench/bfcl_record_differences.py with TZ=UTC"
    )
    a.out.write_text(
        json.dumps({"source": source, "simulations": sims, "verdicts": verdicts}, indent=1) + "\n"
    )
    for v in verdicts:
        print(v["name"], v["valid"], v["error_type"])
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
