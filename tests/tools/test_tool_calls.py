"""Parsing EXAONE's <tool_call> blocks, BFCL's checker rules on small hand-made cases, and
Java/JavaScript argument conversion."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evalkit.benchmarks.bfcl.arg_types import java_value, js_value
from evalkit.benchmarks.bfcl.ast_check import check_calls, normalize_string
from evalkit.toolcalls import DecodeError, decode_calls, is_empty_call_list, parse_tool_call_blocks


def test_blocks_are_parsed_in_order_with_whitespace_and_prose_around() -> None:
    text = (
        'Sure.\n<tool_call>\n{"name": "a", "arguments": {"x": 1}}\n</tool_call>\n'
        '<tool_call>{"name": "b", "arguments": {}}</tool_call>'
    )
    assert decode_calls(text) == [{"a": {"x": 1}}, {"b": {}}]


def test_trailing_text_after_the_object_is_forgiven_and_broken_blocks_skipped() -> None:
    text = (
        '<tool_call>{"name": "a", "arguments": {"x": 1}} trailing</tool_call>'
        '<tool_call>{"name": oops}</tool_call>'
    )
    parsed = parse_tool_call_blocks(text)
    assert parsed.values == [{"name": "a", "arguments": {"x": 1}}] and parsed.skipped == 1
    assert decode_calls(text) == [{"a": {"x": 1}}]


@pytest.mark.parametrize(
    "text",
    [
        '<tool_call>["a", 1]</tool_call>',  # not an object
        '<tool_call>{"name": "a"}</tool_call>',  # no arguments
        '<tool_call>{"name": "a", "arguments": "{\\"x\\": 1}"}</tool_call>',  # arguments as a string
        '<tool_call>{"name": ["a"], "arguments": {}}</tool_call>',  # unhashable name
    ],
)
def test_malformed_calls_make_the_output_undecodable(text: str) -> None:
    with pytest.raises(DecodeError):
        decode_calls(text)


def test_json_string_arguments_only_where_bfcl_json_loads_them() -> None:
    """BFCL's executable conversion (multi-turn) json.loads a string `arguments`; AST decoding does not."""
    text = '<tool_call>{"name": "cd", "arguments": "{\\"folder\\": \\"x\\"}"}</tool_call>'
    with pytest.raises(DecodeError):
        decode_calls(text)
    assert decode_calls(text, json_string_arguments=True) == [{"cd": {"folder": "x"}}]
    for bad in ('"{\\"folder\\": "', '"[1]"', '"5"'):
        with pytest.raises(DecodeError):
            block = f'<tool_call>{{"name": "cd", "arguments": {bad}}}</tool_call>'
            decode_calls(block, json_string_arguments=True)


def test_no_block_is_no_call() -> None:
    assert decode_calls("I can't do that.") == [] and is_empty_call_list([])


@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes_the_parser(text: str) -> None:
    try:
        calls = decode_calls(text)
    except DecodeError:
        return
    assert isinstance(calls, list)


@given(st.text(alphabet='<>/{}[]":,tool_call namex1 ', max_size=200))
def test_tag_soup_never_crashes_the_parser(text: str) -> None:
    with contextlib.suppress(DecodeError):
        decode_calls(text)


FN = {
    "name": "book",
    "parameters": {
        "type": "dict",
        "properties": {
            "city": {"type": "string"},
            "nights": {"type": "integer"},
            "price": {"type": "float"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "late": {"type": "boolean"},
        },
        "required": ["city"],
    },
}
ANSWER = [
    {
        "book": {
            "city": ["New York", "NYC"],
            "nights": [2, ""],
            "price": [100.0, ""],
            "tags": [["a b"], ""],
            "late": [""],
        }
    }
]


@pytest.mark.parametrize(
    ("call", "valid", "error_type"),
    [
        ({"city": "new york"}, True, ""),  # case and spaces are normalised
        ({"city": "N.Y.C"}, True, ""),  # punctuation too
        ({"city": "Boston"}, False, "value_error:string"),
        ({"nights": 2}, False, "simple_function_checker:missing_required"),
        ({"city": "NYC", "nights": 2.0}, False, "type_error:simple"),  # a float is not an integer
        ({"city": "NYC", "nights": True}, False, "type_error:simple"),  # nor is a bool
        ({"city": "NYC", "price": 100}, True, ""),  # an int passes for a float
        ({"city": "NYC", "tags": ["A-B"]}, True, ""),
        ({"city": "NYC", "tags": ["a", "b"]}, False, "value_error:list/tuple"),
        # The optional marker "" lets BFCL's nested type check pass; the value check fails instead.
        ({"city": "NYC", "tags": [1]}, False, "value_error:list/tuple"),
        ({"city": "NYC", "late": False}, False, "value_error:others"),  # only "" accepted: must be left out
        ({"city": "NYC", "pets": 1}, False, "simple_function_checker:unexpected_param"),
    ],
)
def test_simple_checker_rules(call: dict, valid: bool, error_type: str) -> None:
    c = check_calls([FN], [{"book": call}], ANSWER, "simple")
    assert (c.valid, c.error_type) == (valid, error_type)


def test_nested_type_error_when_the_list_is_required() -> None:
    answer = [{"book": {"city": ["NYC"], "tags": [["a"]]}}]
    c = check_calls([FN], [{"book": {"city": "NYC", "tags": [1]}}], answer, "simple")
    assert (c.valid, c.error_type) == (False, "type_error:nested")


def test_parallel_calls_match_in_any_order_but_multiple_needs_the_expected_function() -> None:
    other = {
        "name": "cancel",
        "parameters": {"type": "dict", "properties": {"id": {"type": "integer"}}, "required": ["id"]},
    }
    answers = [{"book": {"city": ["NYC"]}}, {"cancel": {"id": [3]}}]
    calls = [{"cancel": {"id": 3}}, {"book": {"city": "nyc"}}]
    assert check_calls([FN, other], calls, answers, "parallel_multiple").valid
    assert not check_calls([FN, other], calls[:1], answers, "parallel_multiple").valid
    one = check_calls([FN, other], [{"cancel": {"id": 3}}], [{"book": {"city": ["NYC"]}}], "multiple")
    assert one.error_type == "simple_function_checker:wrong_func_name"


def test_normalize_string() -> None:
    assert normalize_string("April 1, 2024") == normalize_string("april 1 2024") == "april12024"
    assert normalize_string("it's") == 'it"s'


def test_java_and_javascript_values() -> None:
    assert java_value("42", "integer") == 42 and java_value("42L", "long") == 42
    assert java_value("2.5f", "float") == 2.5 and java_value("2.5", "float") == "2.5"
    assert java_value("new int[]{1, 2}", "Array", "integer") == [1, 2]
    assert java_value('new ArrayList<>(Arrays.asList("a", "b"))', "ArrayList", "String") == ["a", "b"]
    assert java_value('new HashMap<String, Object>() {{ put("k", 1); }}', "HashMap") == {"k": 1}
    assert java_value("'c'", "char") == "'c'"  # BFCL's char rule never strips the quotes
    assert js_value("'abc'", "String") == "abc" and js_value("10n", "Bigint") == 10
    assert js_value("[1, 2]", "array", "integer") == [1, 2]
    assert js_value("{a: 'x', b: 2}", "dict") == {"a": "x", "b": 2}
    assert js_value("[[1, 2], [3]]", "array") == [[1, 2], [3]]
