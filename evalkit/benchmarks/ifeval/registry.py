"""The 25 IFEval instruction types, by id, with the check each one runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from evalkit.benchmarks.ifeval import checks_format as fmt
from evalkit.benchmarks.ifeval import checks_text as txt
from evalkit.benchmarks.ifeval.dialect import Dialect

Args = dict[str, object]


@dataclass(frozen=True)
class CheckType:
    prepare: Callable[[Args], Args]
    test: Callable[[str, Args, Dialect], bool]
    arg_names: frozenset[str]


def _t(prepare: Callable[[Args], Args], test: Callable[[str, Args, Dialect], bool], *names: str) -> CheckType:
    return CheckType(prepare, test, frozenset(names))


CHECKS: dict[str, CheckType] = {
    "keywords:existence": _t(txt.prep_existence, txt.test_existence, "keywords"),
    "keywords:frequency": _t(txt.prep_frequency, txt.test_frequency, "keyword", "frequency", "relation"),
    "keywords:forbidden_words": _t(txt.prep_forbidden, txt.test_forbidden, "forbidden_words"),
    "keywords:letter_frequency": _t(
        txt.prep_letter, txt.test_letter, "letter", "let_frequency", "let_relation"
    ),
    "language:response_language": _t(txt.prep_language, txt.test_language, "language"),
    "length_constraints:number_sentences": _t(
        txt.prep_sentences, txt.test_sentences, "num_sentences", "relation"
    ),
    "length_constraints:number_paragraphs": _t(txt.prep_paragraphs, txt.test_paragraphs, "num_paragraphs"),
    "length_constraints:number_words": _t(txt.prep_words, txt.test_words, "num_words", "relation"),
    "length_constraints:nth_paragraph_first_word": _t(
        txt.prep_nth_paragraph, txt.test_nth_paragraph, "num_paragraphs", "nth_paragraph", "first_word"
    ),
    "detectable_content:number_placeholders": _t(
        fmt.prep_placeholders, fmt.test_placeholders, "num_placeholders"
    ),
    "detectable_content:postscript": _t(fmt.prep_postscript, fmt.test_postscript, "postscript_marker"),
    "detectable_format:number_bullet_lists": _t(fmt.prep_bullets, fmt.test_bullets, "num_bullets"),
    "detectable_format:constrained_response": _t(fmt.prep_none, fmt.test_constrained),
    "detectable_format:number_highlighted_sections": _t(
        fmt.prep_highlights, fmt.test_highlights, "num_highlights"
    ),
    "detectable_format:multiple_sections": _t(
        fmt.prep_sections, fmt.test_sections, "section_spliter", "num_sections"
    ),
    "detectable_format:json_format": _t(fmt.prep_none, fmt.test_json),
    "detectable_format:title": _t(fmt.prep_none, fmt.test_title),
    "combination:two_responses": _t(fmt.prep_none, fmt.test_two_responses),
    "combination:repeat_prompt": _t(fmt.prep_repeat, fmt.test_repeat, "prompt_to_repeat"),
    "startend:end_checker": _t(fmt.prep_end, fmt.test_end, "end_phrase"),
    "startend:quotation": _t(fmt.prep_none, fmt.test_quotation),
    "change_case:capital_word_frequency": _t(
        txt.prep_capital_words, txt.test_capital_words, "capital_frequency", "capital_relation"
    ),
    "change_case:english_capital": _t(txt.prep_none, txt.test_english_capital),
    "change_case:english_lowercase": _t(txt.prep_none, txt.test_english_lowercase),
    "punctuation:no_comma": _t(txt.prep_none, txt.test_no_comma),
}
