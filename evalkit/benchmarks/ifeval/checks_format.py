"""Checks on layout: placeholders, postscripts, bullets, highlights, sections, JSON, titles,
fixed answers, two responses, repeating the prompt, endings and quotation.

Same `prepare` / `test` shape as checks_text; the rules are IFEval's, restated here.
"""

from __future__ import annotations

import json
import re
from typing import Any

from evalkit.benchmarks.ifeval.args import get_int, get_str
from evalkit.benchmarks.ifeval.dialect import Dialect

Args = dict[str, Any]


# detectable_content:number_placeholders — at least n [bracketed] placeholders.
def prep_placeholders(kw: Args) -> Args:
    return {"num_placeholders": get_int(kw, "num_placeholders")}


def test_placeholders(value: str, a: Args, d: Dialect) -> bool:
    return len(re.findall(r"\[.*?\]", value)) >= a["num_placeholders"]


# detectable_content:postscript — a line (case-insensitive) starting with the marker.
def prep_postscript(kw: Args) -> Args:
    return {"postscript_marker": get_str(kw, "postscript_marker").strip()}


def test_postscript(value: str, a: Args, d: Dialect) -> bool:
    marker = a["postscript_marker"]
    if marker == "P.P.S":
        pattern = r"\s*p\.\s?p\.\s?s.*$"
    elif marker == "P.S.":
        pattern = r"\s*p\.\s?s\..*$"
    else:  # other markers are used as a (lower-cased) regex, as in the reference
        pattern = r"\s*" + marker.lower() + r".*$"
    return bool(re.findall(pattern, value.lower(), flags=re.MULTILINE))


# detectable_format:number_bullet_lists — exactly n lines starting with "* " or "-".
def prep_bullets(kw: Args) -> Args:
    return {"num_bullets": get_int(kw, "num_bullets")}


def test_bullets(value: str, a: Args, d: Dialect) -> bool:
    stars = re.findall(r"^\s*\*[^\*].*$", value, flags=re.MULTILINE)
    dashes = re.findall(r"^\s*-.*$", value, flags=re.MULTILINE)
    return len(stars) + len(dashes) == a["num_bullets"]


# detectable_format:constrained_response — contains one of the three fixed answers.
CONSTRAINED_ANSWERS = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


def prep_none(kw: Args) -> Args:
    return {}


def test_constrained(value: str, a: Args, d: Dialect) -> bool:
    value = value.strip()
    return any(ans in value for ans in CONSTRAINED_ANSWERS)


# detectable_format:number_highlighted_sections — at least n non-empty *spans* (or **spans**).
def prep_highlights(kw: Args) -> Args:
    return {"num_highlights": get_int(kw, "num_highlights")}


def test_highlights(value: str, a: Args, d: Dialect) -> bool:
    single = [h for h in re.findall(r"\*[^\n\*]*\*", value) if h.strip("*").strip()]
    double = [
        h for h in re.findall(r"\*\*[^\n\*]*\*\*", value) if h.removeprefix("**").removesuffix("**").strip()
    ]
    # A **bold** span matches both patterns and so counts twice, as in the reference.
    return len(single) + len(double) >= a["num_highlights"]


# detectable_format:multiple_sections — at least n "<splitter> <number>" section headers.
def prep_sections(kw: Args) -> Args:
    return {
        "section_spliter": get_str(kw, "section_spliter").strip(),
        "num_sections": get_int(kw, "num_sections"),
    }


def test_sections(value: str, a: Args, d: Dialect) -> bool:
    parts = re.split(r"\s?" + a["section_spliter"] + r"\s?\d+\s?", value)
    return len(parts) - 1 >= a["num_sections"]


# detectable_format:json_format — the whole response parses as JSON (a ``` fence is allowed).
def test_json(value: str, a: Args, d: Dialect) -> bool:
    body = value.strip()
    for prefix in ("```json", "```Json", "```JSON", "```"):
        body = body.removeprefix(prefix)
    body = body.removesuffix("```").strip()
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


# detectable_format:title — a non-empty <<title>> on one line.
def test_title(value: str, a: Args, d: Dialect) -> bool:
    return any(t.lstrip("<").rstrip(">").strip() for t in re.findall(r"<<[^\n]+>>", value))


# combination:two_responses — exactly two different responses separated by ******.
def test_two_responses(value: str, a: Args, d: Dialect) -> bool:
    parts = value.split("******")
    kept = []
    for i, part in enumerate(parts):
        if part.strip():
            kept.append(part)
        elif i not in (0, len(parts) - 1):
            return False
    return len(kept) == 2 and kept[0].strip() != kept[1].strip()


# combination:repeat_prompt — starts (case-insensitively) with the request, repeated.
def prep_repeat(kw: Args) -> Args:
    return {"prompt_to_repeat": get_str(kw, "prompt_to_repeat")}


def test_repeat(value: str, a: Args, d: Dialect) -> bool:
    return value.strip().lower().startswith(a["prompt_to_repeat"].strip().lower())


# startend:end_checker — ends with the phrase (case-insensitive, outer double quotes ignored).
def prep_end(kw: Args) -> Args:
    return {"end_phrase": get_str(kw, "end_phrase").strip()}


def test_end(value: str, a: Args, d: Dialect) -> bool:
    return value.strip().strip('"').lower().endswith(a["end_phrase"].strip().lower())


# startend:quotation — the whole response is wrapped in double quotes.
_QUOTE_PAIRS_MULTI_IF = (('"', '"'), ("“", "”"), ("「", "」"))


def test_quotation(value: str, a: Args, d: Dialect) -> bool:
    value = value.strip()
    if len(value) <= 1:
        return False
    pairs = _QUOTE_PAIRS_MULTI_IF if d is Dialect.MULTI_IF else _QUOTE_PAIRS_MULTI_IF[:1]
    return any(value[0] == o and value[-1] == c for o, c in pairs)
