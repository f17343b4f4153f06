"""The ifeval family: samples from real rows, reasoning removed before checking, bad data
named precisely, `evalkit score` rows, and the checks' documented edge behaviour."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from evalkit.benchmarks.ifeval import (
    INSTRUCTION_IDS,
    Dialect,
    check_response,
    loose_variants,
    parse_instructions,
)
from evalkit.benchmarks.ifeval.text import count_sentences, word_tokens
from evalkit.data import Row, load_rows
from evalkit.errors import DataError
from evalkit.families import BuildContext, ScoreContext, load_family
from evalkit.records import Completion
from evalkit.registry import get_task
from evalkit.scoring.responses import score_responses
from evalkit.solvers import EpisodeOutput

SPEC = get_task("ifeval")
FAMILY = load_family("ifeval")


def _out(text: str) -> EpisodeOutput:
    c = Completion(text=text, finish_reason="stop")
    return EpisodeOutput(calls=[c], final=c)


def _row(ids: list[str], kwargs: list[dict], prompt: str = "Write something.") -> Row:
    return Row(
        id="7", index=6, fields={"key": 7, "prompt": prompt, "instruction_id_list": ids, "kwargs": kwargs}
    )


def test_bundled_sample_is_real_and_covers_all_25_instruction_types() -> None:
    loaded = load_rows(SPEC, "sample")
    samples = [FAMILY.build_sample(r, SPEC, BuildContext(loaded.path)) for r in loaded.rows]
    assert len(samples) == 20 and not loaded.synthetic
    covered = {i for s in samples for i in s.target["instruction_id_list"]}
    assert covered == set(INSTRUCTION_IDS) and len(INSTRUCTION_IDS) == 25
    assert samples[0].messages == [{"role": "user", "content": loaded.rows[0].fields["prompt"]}]


def test_reasoning_is_removed_before_checking() -> None:
    s = FAMILY.build_sample(_row(["punctuation:no_comma"], [{}]), SPEC, BuildContext("x.jsonl"))
    text = "Well, first, let me think, carefully.</think>\n\nNo commas here at all."
    v = FAMILY.score(s, _out(text), ScoreContext(SPEC, reasoning_mode=True))
    assert v.correct and v.details["inst_level_strict"] == [True]
    # The same text with its reasoning left in would fail.
    assert not check_response(text, s.metadata["instructions"]).strict[0]


def test_unclosed_think_block_has_no_answer_and_follows_nothing() -> None:
    s = FAMILY.build_sample(_row(["punctuation:no_comma"], [{}]), SPEC, BuildContext("x.jsonl"))
    v = FAMILY.score(s, _out("still thinking without commas"), ScoreContext(SPEC, reasoning_mode=True))
    assert not v.correct and v.extracted is None and "no answer" in v.reason
    assert v.details["inst_level_loose"] == [False]


def test_bad_rows_name_file_row_and_field() -> None:
    with pytest.raises(DataError) as e:
        FAMILY.build_sample(
            _row(["length_constraints:number_words"], [{"relation": "at least"}]),
            SPEC,
            BuildContext("f.jsonl"),
        )
    assert (e.value.path, e.value.row, e.value.field) == ("f.jsonl", 7, "kwargs[0].num_words")
    with pytest.raises(DataError) as e:
        FAMILY.build_sample(_row(["detectable_format:sparkles"], [{}]), SPEC, BuildContext("f.jsonl"))
    assert e.value.field == "instruction_id_list[0]" and "unknown instruction" in str(e.value)
    with pytest.raises(DataError) as e:
        FAMILY.build_sample(
            _row(["keywords:frequency"], [{"keyword": "x", "frequency": 2, "relation": "about"}]),
            SPEC,
            BuildContext("f.jsonl"),
        )
    assert e.value.field == "kwargs[0].relation"


def test_hf_layout_with_none_filled_kwargs_is_accepted() -> None:
    # The HF copy stores every kwarg column on every row, unset ones as None.
    kw = {"num_words": 3, "relation": "less than", "keyword": None, "num_highlights": None}
    s = FAMILY.build_sample(_row(["length_constraints:number_words"], [kw]), SPEC, BuildContext("hf"))
    assert FAMILY.score(s, _out("Two words"), ScoreContext(SPEC, False)).correct


def test_malformed_model_output_scores_zero_without_raising() -> None:
    s = FAMILY.build_sample(
        _row(
            ["detectable_format:json_format", "detectable_format:number_highlighted_sections"],
            [{}, {"num_highlights": 2}],
        ),
        SPEC,
        BuildContext("x"),
    )
    for text in ["", "   ", "```json\n{broken", "\x00\x01*", "*" * 10_000]:
        v = FAMILY.score(s, _out(text), ScoreContext(SPEC, False))
        assert v.score == 0.0 and not v.correct


def test_checks_use_nltk_tokenization_and_punkt_sentences() -> None:
    # Treebank tokenization splits contractions: DON'T -> DO + N'T, both all-caps.
    assert word_tokens("I DON'T KNOW.") == ["I", "DO", "N'T", "KNOW", "."]
    ins = parse_instructions(
        ["change_case:capital_word_frequency"], [{"capital_frequency": 4, "capital_relation": "at least"}]
    )
    assert check_response("I DON'T KNOW.", ins).strict == [True]
    # Punkt knows "Dr." and "U.S." are abbreviations.
    assert count_sentences("Dr. Smith went to the U.S. last year. He liked it.") == 2


def test_language_detection_is_deterministic() -> None:
    ins = parse_instructions(["language:response_language"], [{"language": "ko"}])
    korean = "안녕하세요. 오늘은 날씨가 좋네요. 산책을 가고 싶어요."
    assert all(check_response(korean, ins).strict == [True] for _ in range(5))
    borderline = "OK ok fine sure"
    first = check_response(borderline, ins, Dialect.IFEVAL).strict
    assert all(check_response(borderline, ins).strict == first for _ in range(5))


def test_loose_variants_drop_first_and_last_lines_and_asterisks() -> None:
    v = loose_variants("Sure!\n**Body** text\nBye")
    assert v[0] == "Sure!\n**Body** text\nBye" and v[1] == "Sure!\nBody text\nBye"
    assert v[2:5] == ["**Body** text\nBye", "Sure!\n**Body** text", "**Body** text"]
    assert v[5:] == ["Body text\nBye", "Sure!\nBody text", "Body text"]


def test_letter_frequency_counts_the_character_asked_for() -> None:
    # IFEval key 1122 asks for at least 4 "#"; the reference would draw a random letter.
    ins = parse_instructions(
        ["keywords:letter_frequency"], [{"letter": "#", "let_frequency": 4, "let_relation": "at least"}]
    )
    assert check_response("#a #b #c #d", ins).strict == [True]
    assert check_response("#a #b #c", ins).strict == [False]


def test_evalkit_score_writes_the_reference_row_shape(tmp_path: Path) -> None:
    rows = [
        {"id": 1051, "repeat": 0, "response": "dear friend, please go and vote. it matters."},
        {"id": 1051, "repeat": 1, "response": "Dear Friend, Vote!"},
    ]
    p = tmp_path / "responses.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = io.StringIO()
    summary = score_responses("ifeval", p, data="sample", mode="non-reasoning", out=out)
    got = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [set(g) for g in got] == [
        {"id", "repeat", "prompt_level_strict", "prompt_level_loose", "inst_level_strict", "inst_level_loose"}
    ] * 2
    assert got[0]["inst_level_strict"] == [True] and got[1]["inst_level_strict"] == [False]
    assert "2 responses" in summary


def test_aggregate_reports_all_four_figures() -> None:
    s = FAMILY.build_sample(
        _row(["punctuation:no_comma", "startend:quotation"], [{}, {}]), SPEC, BuildContext("x")
    )
    ctx = ScoreContext(SPEC, False)
    records = []
    for i, text in enumerate(['"no commas"', "no commas", '"a, b"', '*"quoted*"']):
        v = FAMILY.score(s, _out(text), ctx)
        records.append(
            {
                "id": str(i),
                "score": v.score,
                "extracted": v.extracted,
                "details": v.details,
                "finish_reason": "stop",
                "prompt_tokens": 1,
                "completion_tokens": 1,
            }
        )
    m = FAMILY.aggregate(records, 1, SPEC)
    f = m["figures"]
    assert m["value"] == f["prompt_level_strict"]["value"] == 0.25  # only the first
    assert f["inst_level_strict"]["value"] == 5 / 8
    assert f["prompt_level_loose"]["value"] == 0.5  # the last passes once its * are removed
    assert [t["title"] for t in m["tables"]] == ["IFEval figures"]
