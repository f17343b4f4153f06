"""BFCL's AST checker: are the decoded calls one of the accepted answers?

An answer gives, per function, the accepted values of each parameter; `""` among them marks
the parameter optional. The rules restated here are BFCL v3's (`ast_checker.py`):

- simple categories need exactly one call; `multiple` needs one call, of the expected
  function; `parallel*` match calls to answers in any order, greedily in answer order;
- required parameters must be present; a parameter the answer does not list is rejected,
  and so is a missing one that is not optional;
- types are exact (`type(x) == T`: a bool is not an int), except that an int passes for a
  Python float; when the accepted values are of another type than declared (a variable
  name instead of a value) the value is compared as it is;
- strings compare after removing spaces and `,./-_*^`, lower-casing, and `'` -> `"`;
  lists compare element by element the same way; dicts and lists of dicts key by key;
- Java and JavaScript values arrive as source-code strings and are converted by their
  declared type first (evalkit.benchmarks.bfcl.arg_types).

Every failure carries BFCL's `error_type` string so verdicts can be compared one to one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, cast

from evalkit.benchmarks.bfcl.arg_types import JAVA_TYPES, JS_TYPES, UnsupportedType, java_value, js_value

PYTHON_TYPES: dict[str, type] = {
    "string": str,
    "integer": int,
    "float": float,
    "boolean": bool,
    "array": list,
    "tuple": list,
    "dict": dict,
    "any": str,
}
_PY_NESTED = ("array", "tuple")
_CONVERTED_NESTED = ("Array", "ArrayList", "array")


@dataclass(frozen=True)
class Check:
    """The checker's verdict on one output: valid, or why not (BFCL's error_type)."""

    valid: bool
    error_type: str = ""
    error: str = ""


OK = Check(True)


def _fail(error_type: str, error: str) -> Check:
    return Check(False, error_type, error)


def normalize_string(s: str) -> str:
    """BFCL's standardize_string: no spaces or ,./-_*^, lower case, ' -> "."""
    return re.sub(r"[ \,\.\/\-\_\*\^]", "", s).lower().replace("'", '"')


def _answer_type(accepted: list[Any]) -> type | None:
    """The type of the first accepted value that is not the optional marker ""."""
    for a in accepted:
        if a != "":
            return type(a)
    return None


@dataclass(frozen=True)
class _Typed:
    check: Check
    is_variable: bool = False


def _type_check(
    param: str, value: Any, accepted: list[Any], declared: str, want: type, inner: type | None
) -> _Typed:
    ans_type = _answer_type(accepted)
    is_variable = ans_type is not None and ans_type != want
    if type(value) == want:  # noqa: E721 - exact type, as BFCL compares
        if inner is None:
            return _Typed(OK, is_variable)
        for option in accepted:
            ok = True
            if type(option) == list:  # noqa: E721
                elements = cast(list[Any], value)  # a list: its type matched `want`, which has an inner type
                ok = all(_type_check(param, e, option, str(inner), inner, None).check.valid for e in elements)
            if ok:  # an option that is not a list (the "" marker) passes the nested check
                return _Typed(OK, is_variable)
        # The nested check failed. BFCL then falls through to its variable test, which can
        # only relabel the failure: nested when the value has the answers' type, else simple.
        same = ans_type is not None and type(value) is ans_type
        kind = "type_error:nested" if same else "type_error:simple"
        return _Typed(_fail(kind, f"{param!r}: elements are not all {inner.__name__}"), is_variable)
    if ans_type is not None and type(value) == ans_type:  # noqa: E721 - a variable in the answer
        return _Typed(OK, True)
    return _Typed(_fail("type_error:simple", f"{param!r}: expected {declared}, got {type(value).__name__}"))


def _string_check(param: str, value: str, accepted: list[Any]) -> Check:
    options = [normalize_string(a) for a in accepted if type(a) == str]  # noqa: E721
    if normalize_string(value) in options:
        return OK
    return _fail("value_error:string", f"{param!r}: {value!r} not among {accepted}")


def _list_check(param: str, value: list[Any], accepted: list[Any]) -> Check:
    got = [normalize_string(v) if type(v) == str else v for v in value]  # noqa: E721
    options = [[normalize_string(x) if type(x) == str else x for x in opt] for opt in accepted]  # noqa: E721
    if got in options:
        return OK
    return _fail("value_error:list/tuple", f"{param!r}: {value!r} not among {accepted}")


def _dict_check(param: str, value: dict[Any, Any], accepted: list[Any]) -> Check:
    last = _fail("dict_checker:unclear", f"{param!r}: no accepted dict")
    for option in accepted:
        if option == "":
            continue
        bad: Check | None = None
        for key, v in value.items():
            if key not in option:
                bad = _fail("value_error:dict_key", f"unexpected dict key {key!r}")
                break
            nv = normalize_string(v) if type(v) == str else v  # noqa: E721
            opts = [normalize_string(x) if type(x) == str else x for x in option[key]]  # noqa: E721
            if nv not in opts:
                bad = _fail("value_error:dict_value", f"dict value {key!r}: {v!r} not among {opts}")
                break
        if bad is None:
            for key, opts in option.items():
                if key not in value and "" not in opts:
                    bad = _fail("value_error:dict_key", f"missing dict key {key!r}")
                    break
        if bad is None:
            return OK
        last = bad
    return last


def _list_of_dicts_check(param: str, value: list[Any], accepted: list[Any]) -> Check:
    last = _fail("list_dict_checker:unclear", f"{param!r}: no accepted list of dicts")
    for option in accepted:
        if len(value) != len(option):
            last = _fail("value_error:list_dict_count", "wrong number of dicts in the list")
            continue
        result = OK
        for item, item_option in zip(value, option, strict=True):
            result = _dict_check(param, item, [item_option])
            if not result.valid:
                break
        if result.valid:
            return OK
        last = result
    return last


_FLOAT_MAX = 2**1024  # float(int) raises OverflowError from here on


def _convert(
    value: Any, declared: str, schema: dict[str, Any], language: str
) -> tuple[Any, type, type | None] | Check:
    """(value as Python, expected Python type, expected element type) or a failed Check."""
    nested: type | None = None
    if language == "java":
        want = JAVA_TYPES[declared]
        if type(value) != str:  # noqa: E721
            return _fail("type_error:java", f"expected a Java source string, got {type(value).__name__}")
        item_type = schema.get("items", {}).get("type") if declared in _CONVERTED_NESTED else None
        if item_type is not None:
            nested = JAVA_TYPES[item_type]
        return java_value(value, declared, item_type), want, nested
    if language == "javascript":
        want = JS_TYPES[declared]
        if type(value) != str:  # noqa: E721
            return _fail("type_error:js", f"expected a JavaScript source string, got {type(value).__name__}")
        item_type = schema.get("items", {}).get("type") if declared in _CONVERTED_NESTED else None
        if item_type is not None:
            nested = JS_TYPES[item_type]
        return js_value(value, declared, item_type), want, nested
    want = PYTHON_TYPES[declared]
    if declared in _PY_NESTED:
        nested = PYTHON_TYPES[schema["items"]["type"]]
    if declared == "float" and type(value) == int and abs(value) < _FLOAT_MAX:  # noqa: E721
        value = float(value)  # Python widens int to float; one past float's range stays an int (wrong type)
    return value, want, nested


def check_call(
    function: dict[str, Any], call: dict[Any, Any], answer: dict[str, Any], language: str
) -> Check:
    """One decoded call `{name: {params}}` against one answer `{name: {param: [accepted]}}`."""
    accepted_params: dict[str, list[Any]] = next(iter(answer.values()))
    name = function["name"]
    if name not in call:
        return _fail("simple_function_checker:wrong_func_name", f"function {name!r} not called")
    params: dict[str, object] = call[name]
    schema = function["parameters"]["properties"]
    for req in function["parameters"].get("required", []):
        if req not in params:
            return _fail("simple_function_checker:missing_required", f"missing required parameter {req!r}")
    for param, value in params.items():
        if param not in schema or param not in accepted_params:
            return _fail("simple_function_checker:unexpected_param", f"unexpected parameter {param!r}")
        declared = schema[param]["type"]
        try:
            converted = _convert(value, declared, schema[param], language)
        except (KeyError, UnsupportedType) as e:  # BFCL itself would stop with an exception here
            return _fail("type_error:unsupported", f"{param!r}: cannot check type {declared!r} ({e})")
        if isinstance(converted, Check):
            return converted
        value, want, inner = converted
        accepted = accepted_params[param]
        typed = _type_check(param, value, accepted, declared, want, inner)
        if not typed.check.valid:
            return typed.check
        if not typed.is_variable:
            if want is dict:
                result = _dict_check(param, value, accepted)
            elif want is list and inner is dict:
                result = _list_of_dicts_check(param, value, accepted)
            elif want is str:
                result = _string_check(param, value, accepted)
            elif want is list:
                result = _list_check(param, value, accepted)
            else:
                result = None
            if result is not None:
                if not result.valid:
                    return result
                continue
        if value not in accepted:
            return _fail("value_error:others", f"{param!r}: {value!r} not among {accepted}")
    for param, accepted in accepted_params.items():
        if param not in params and "" not in accepted:
            return _fail("simple_function_checker:missing_optional", f"parameter {param!r} not given")
    return OK


def _find(functions: list[dict[str, object]], name: str) -> dict[str, object] | None:
    return next((f for f in functions if f["name"] == name), None)


def check_calls(
    functions: list[dict[str, object]],
    calls: list[dict[Any, Any]],
    answers: list[dict[str, object]],
    category: str,
    language: str = "python",
) -> Check:
    """BFCL's verdict on decoded calls for a single-turn AST category (python/java/javascript)."""
    if "parallel" in category:
        if len(calls) != len(answers):
            return _fail("parallel_function_checker_no_order:wrong_count", "wrong number of calls")
        matched: set[int] = set()
        for answer in answers:
            function = _find(functions, next(iter(answer)))
            result = _fail("parallel_function_checker_no_order:cannot_find_match", "no call matches")
            for i, call in enumerate(calls):
                if i in matched:
                    continue
                result = _checked(function, call, answer, language)
                if result.valid:
                    matched.add(i)
                    break
            if not result.valid:
                return _fail("parallel_function_checker_no_order:cannot_find_match", result.error)
        return OK
    if "multiple" in category:
        if len(calls) != len(answers):
            return _fail("multiple_function_checker:wrong_count", "wrong number of calls")
        return _checked(_find(functions, next(iter(answers[0]))), calls[0], answers[0], language)
    if len(calls) != 1:
        return _fail("simple_function_checker:wrong_count", "wrong number of calls")
    return _checked(functions[0], calls[0], answers[0], language)


def _checked(
    function: dict[str, object] | None, call: dict[Any, Any], answer: dict[str, object], language: str
) -> Check:
    if function is None:  # the answer names a function the item does not offer: bad data
        raise ValueError(f"answer function {next(iter(answer))!r} is not among the item's functions")
    return check_call(function, call, answer, language)
