"""evalkit's IFEval checkers agree with the reference checkers, verdict for verdict.

The reference verdicts were made with google-research's instruction_following_eval (and
lm-eval 0.4.13 as a cross-check) on real GPT-4 responses; see tests/data/ifeval/SOURCE.md.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from evalkit.benchmarks.ifeval import check_response, parse_instructions
from evalkit.benchmarks.ifeval.figures import Scored, ifeval_figures

DATA = Path(__file__).resolve().parent.parent / "data" / "ifeval"
IFEVAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "ifeval" / "input_data.jsonl"
# The reference draws a random letter for these (non-letter) letter_frequency arguments.
RANDOM_IN_REFERENCE = {(1122, "keywords:letter_frequency"), (1129, "keywords:letter_frequency")}


def _items() -> dict[int, dict[str, Any]]:
    if not IFEVAL.is_file():
        pytest.skip(f"{IFEVAL} not present (../shared/data beside the checkout)")
    return {r["key"]: r for r in map(json.loads, IFEVAL.read_text(encoding="utf-8").splitlines())}


def _cases(name: str) -> list[dict[str, Any]]:
    with gzip.open(DATA / name, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _disagreements(cases: list[dict[str, Any]]) -> tuple[int, list[str]]:
    items = _items()
    checked, diffs = 0, []
    for c in cases:
        item = items[c["key"]]
        ins = parse_instructions(item["instruction_id_list"], item["kwargs"])
        got = check_response(c["response"], ins)
        for i, iid in enumerate(item["instruction_id_list"]):
            if (c["key"], iid) in RANDOM_IN_REFERENCE:
                continue
            checked += 1
            for kind, mine, ref in (
                ("strict", got.strict[i], c["inst_level_strict"][i]),
                ("loose", got.loose[i], c["inst_level_loose"][i]),
            ):
                if mine != ref:
                    diffs.append(
                        f"key {c['key']} {iid} {kind}: evalkit {mine}, reference {ref} ({c['source']})"
                    )
    return checked, diffs


def test_real_gpt4_responses_agree_instruction_for_instruction() -> None:
    cases = _cases("gpt4_responses.jsonl.gz")
    assert len(cases) == 541 and len({c["key"] for c in cases}) == 541
    checked, diffs = _disagreements(cases)
    assert checked == 834 - 2  # every instruction of every prompt, less the two random ones
    assert diffs == []


def test_the_four_figures_match_the_reference_figures() -> None:
    cases = _cases("gpt4_responses.jsonl.gz")
    items = _items()
    mine, ref = [], []
    for c in cases:
        item = items[c["key"]]
        got = check_response(c["response"], parse_instructions(item["instruction_id_list"], item["kwargs"]))
        keep = [(c["key"], iid) not in RANDOM_IN_REFERENCE for iid in item["instruction_id_list"]]
        mine.append(
            Scored(
                str(c["key"]),
                [v for v, k in zip(got.strict, keep, strict=True) if k],
                [v for v, k in zip(got.loose, keep, strict=True) if k],
            )
        )
        ref.append(
            Scored(
                str(c["key"]),
                [v for v, k in zip(c["inst_level_strict"], keep, strict=True) if k],
                [v for v, k in zip(c["inst_level_loose"], keep, strict=True) if k],
            )
        )
    a, b = ifeval_figures(mine), ifeval_figures(ref)
    assert {k: f.value for k, f in a.items()} == {k: f.value for k, f in b.items()}
    # GPT-4 (Nov 2023) follows most but not all instructions: the figures are not degenerate.
    assert (
        0.7 < a["prompt_level_strict"].value < a["prompt_level_loose"].value < a["inst_level_loose"].value < 1
    )


@pytest.mark.slow
def test_constructed_edge_variants_agree() -> None:
    cases = _cases("constructed_responses.jsonl.gz")
    assert len(cases) == 1623
    checked, diffs = _disagreements(cases)
    assert checked > 2400
    assert diffs == []
