"""BFCL function docs -> the `tools=` list given to the chat template.

BFCL writes its function docs in its own dialect (`"type": "dict"`, `"float"`, `"tuple"`,
Java and JavaScript type names). What the model sees follows BFCL's handling of
function-calling models: a language hint appended to each description ("Note that the
provided function is in Python 3 syntax."), Java/JS parameters turned into strings with
their type stated in the description, then the OpenAI tool format with JSON-schema types
(dict -> object, float -> number with format float, tuple -> array, any -> string). Function
names keep their dots: the tools are rendered into the prompt, not sent to an API that
forbids them. The checker always uses the original docs.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from evalkit.benchmarks.bfcl.single import language_of

TO_JSON_SCHEMA = {
    "integer": "integer",
    "number": "number",
    "float": "number",
    "string": "string",
    "boolean": "boolean",
    "bool": "boolean",
    "array": "array",
    "list": "array",
    "dict": "object",
    "object": "object",
    "tuple": "array",
    "any": "string",
    "byte": "integer",
    "short": "integer",
    "long": "integer",
    "double": "number",
    "char": "string",
    "ArrayList": "array",
    "Array": "array",
    "HashMap": "object",
    "Hashtable": "object",
    "Queue": "array",
    "Stack": "array",
    "Any": "string",
    "String": "string",
    "Bigint": "integer",
}
_HINTS = {
    "python": " Note that the provided function is in Python 3 syntax.",
    "java": " Note that the provided function is in Java 8 SDK syntax.",
    "javascript": " Note that the provided function is in JavaScript syntax.",
}
_LANG_NAME = {"java": "Java", "javascript": "JavaScript"}


def _as_source_strings(properties: dict[str, Any], language: str) -> None:
    """Java/JS parameters are passed as source-code strings; say what each one holds."""
    lang = _LANG_NAME[language]
    for p in properties.values():
        p.setdefault("description", "")
        if p["type"] == "any":
            p["description"] += (
                f" This parameter can be of any type of {lang} object in string representation."
            )
        else:
            p["description"] += f" This is {lang} {p['type']} type parameter in string representation."
        if p["type"] in (("ArrayList", "Array") if language == "java" else ("array",)) and "items" in p:
            p["description"] += (
                f" The list elements are of type {p['items']['type']}; they are not in string representation."
            )
            del p["items"]
        if language == "javascript" and p["type"] == "dict" and "properties" in p:
            p["description"] += (
                " The dictionary entries have the following schema; they are not in string representation. "
                + json.dumps(p["properties"])
            )
            del p["properties"]
        p["type"] = "string"


def _json_schema(properties: dict[str, Any]) -> dict[str, object]:
    for p in properties.values():
        t = p.get("type", "string")
        if t == "float":
            p["format"] = "float"
            p["description"] = p.get("description", "") + " This is a float type value."
        p["type"] = TO_JSON_SCHEMA.get(t, "string")
        if p["type"] in ("array", "object"):
            if isinstance(p.get("properties"), dict):
                _json_schema(p["properties"])
            elif isinstance(p.get("items"), dict):
                _json_schema({"_": p["items"]})
    return properties


def tools_for_prompt(functions: list[dict[str, Any]], category: str) -> list[dict[str, Any]]:
    """The OpenAI-format tools for one item's functions (the input list is not modified)."""
    language = language_of(category)
    tools = []
    for fn in copy.deepcopy(functions):
        fn["description"] = fn.get("description", "") + _HINTS[language]
        params = fn.setdefault("parameters", {"type": "dict", "properties": {}})
        props = params.setdefault("properties", {})
        if language != "python":
            _as_source_strings(props, language)
        params["type"] = "object"
        _json_schema(props)
        tools.append({"type": "function", "function": fn})
    return tools
