"""Java and JavaScript argument values, as BFCL reads them.

In BFCL's java and javascript categories every argument is passed as a *string of source
code* (`"new int[]{1, 2}"`, `"3.5f"`, `"{key: 'v'}"`); the checker turns it into a Python
value according to the parameter's declared Java/JS type before comparing. A string that
does not look like its type stays a string (and then usually fails the type check). These
rules restate BFCL's type converters, including their quirks (noted where they matter).
"""

from __future__ import annotations

import re
from typing import Any

# Declared type -> the Python type a correct value converts to.
JAVA_TYPES: dict[str, type] = {
    "byte": int,
    "short": int,
    "integer": int,
    "float": float,
    "double": float,
    "long": int,
    "boolean": bool,
    "char": str,
    "Array": list,
    "ArrayList": list,
    "Set": set,
    "HashMap": dict,
    "Hashtable": dict,
    "Queue": list,
    "Stack": list,
    "String": str,
    "any": str,
}
JS_TYPES: dict[str, type] = {
    "String": str,
    "integer": int,
    "float": float,
    "Bigint": int,
    "Boolean": bool,
    "dict": dict,
    "array": list,
    "any": str,
}

_INT = re.compile(r"^-?\d+$")
_JAVA_FLOAT = re.compile(r"^-?\d+(\.\d+)?([eE][+-]?\d+)?[fF]$")
_JAVA_DOUBLE = re.compile(r"^-?\d+(\.\d+)?([eE][+-]?\d+)?$")
_JAVA_LONG = re.compile(r"^-?\d+[lL]$")


class UnsupportedType(ValueError):
    """A declared type the converters do not handle (BFCL raises; the call is then invalid)."""


def _int_or_text(text: str) -> Any:
    """int(text); the text itself past Python's 4300-digit limit (never a value any answer
    accepts, so the type check then fails instead of the scorer crashing)."""
    try:
        return int(text)
    except ValueError:
        return text


def _number(text: str) -> Any:
    """int, else float, else the text itself."""
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def java_literal(text: str) -> Any:
    """A Java literal whose type is not declared (collection elements, map values)."""
    if text in ("true", "false"):
        return text == "true"
    if text.startswith('"') and text.endswith('"'):
        return text[1:-1]
    if _JAVA_LONG.match(text):
        return _int_or_text(text[:-1])
    if _JAVA_FLOAT.match(text):
        return float(text[:-1])
    return _number(text)


def _java_elements(parts: list[str], nested: str | None) -> list[Any]:
    out = []
    for part in parts:
        part = part.strip()
        if nested in ("char", "String"):
            out.append(part[1:-1])  # the quotes are dropped, whatever they were
        elif nested:
            out.append(java_value(part, nested))
        else:
            out.append(java_literal(part))
    return out


def _java_arraylist(text: str, nested: str | None) -> Any:
    m = re.search(r"new\s+ArrayList<\w*>\(Arrays\.asList\((.+?)\)\)", text)
    if m:
        return _java_elements(m.group(1).split(","), nested)
    m = re.search(r"new\s+ArrayList<\w*>\(\)\s*\{\{\s*(.+?)\s*\}\}", text, re.DOTALL)
    if m:
        return _java_elements(re.findall(r"add\((.+?)\)", m.group(1)), nested)
    if re.search(r"new\s+ArrayList<\w*>\(\)", text):
        return []
    return text


def _java_array(text: str, nested: str | None) -> Any:
    m = re.search(r"new\s+\w+\[\]\s*\{(.*?)\}", text)
    if not m:
        return text
    parts = [p.strip() for p in m.group(1).split(",") if p.strip()]
    return [java_value(p, nested) if nested else java_literal(p) for p in parts]


def _java_hashmap(text: str) -> Any:
    m = re.search(r"new\s+HashMap<.*?>\s*\(\)\s*\{\s*\{?\s*(.*?)\s*\}?\s*\}", text, re.DOTALL)
    if m:
        body = m.group(1)
        if not body.strip():
            return {}
        return {k: java_literal(v.strip()) for k, v in re.findall(r"put\(\"(.*?)\",\s*(.*?)\)", body)}
    if re.search(r"new\s+HashMap<.*?>\s*\(\)", text):
        return {}
    return text


def java_value(text: str, declared: str, nested: str | None = None) -> Any:
    """The Python value of a Java argument string of the declared type."""
    if declared in ("byte", "short", "integer"):
        return _int_or_text(text) if _INT.match(text) else text
    if declared == "float":
        return float(text[:-1]) if _JAVA_FLOAT.match(text) else text
    if declared == "double":
        return float(text) if _JAVA_DOUBLE.match(text) else text
    if declared == "long":
        return _int_or_text(text[:-1]) if _JAVA_LONG.match(text) else text
    if declared == "boolean":
        return text == "true" if text in ("true", "false") else text
    if declared in ("char", "String", "any"):
        # BFCL's char pattern can never match, so a char stays the text as written.
        return text
    if declared == "ArrayList":
        return _java_arraylist(text, nested)
    if declared == "Array":
        return _java_array(text, nested)
    if declared == "HashMap":
        return _java_hashmap(text)
    raise UnsupportedType(f"Java type {declared} is not supported")


def js_literal(text: str) -> Any:
    """A JavaScript literal whose type is not declared."""
    text = text.strip()
    if text in ("true", "false"):
        return text == "true"
    if (text.startswith('"') and text.endswith('"')) or (text.startswith("'") and text.endswith("'")):
        return text[1:-1]
    return _number(text)


_JS_2D = re.compile(r"\[\s*\[.*?\]\s*(,\s*\[.*?\]\s*)*\]|\bnew\s+Array\(\s*\[.*?\]\s*(,\s*\[.*?\]\s*)*\)")
_JS_1D = re.compile(r"\[(.*?)\]|\bnew\s+Array\((.*?)\)")
_JS_PAIR = re.compile(r"([^:]+):\s*(.*?)(?:,\s*(?=[^,]+:)|$)")


def _js_array(code: str, nested: str | None) -> Any:
    m2 = _JS_2D.match(code)
    if m2:
        rows = []
        for i, inner in enumerate(re.findall(r"\[(.*?)\]", m2.group(0))):
            inner = inner.strip()
            if i == 0 and inner.startswith("["):
                inner = inner[1:]
            rows.append([js_literal(e.strip()) for e in inner.split(",")])
        return rows
    m = _JS_1D.match(code)
    if not m:
        return code
    body = m.group(1) if m.group(1) is not None else m.group(2)
    parts = body.strip().split(",") if body is not None and body.strip() else []
    if not nested:
        return [js_literal(p.strip()) for p in parts]
    out = []
    for p in parts:
        p = p.strip()
        # Quoted elements get "String" as their own nested type, as in BFCL.
        out.append(js_value(p, nested, "String" if p.startswith(("'", '"')) else None))
    return out


def _js_dict(code: str) -> Any:
    if code == "{}":
        return {}
    m = re.match(r"\{(.*?)\}", code)
    if not m:
        return code
    out: dict[str, object] = {}
    for key, value in _JS_PAIR.findall(m.group(1)):
        key = key.strip().strip("'\"")
        value = value.strip()
        if value.startswith("[") and value.endswith("]"):
            out[key] = _js_collection(value, "array", None)
        elif value.startswith("{") and value.endswith("}"):
            out[key] = _js_collection(value, "dict", None)
        else:
            out[key] = js_literal(value.strip("'\""))
    return out


def _js_collection(code: str, kind: str, nested: str | None) -> Any:
    code = code.strip()
    try:
        return _js_array(code, nested) if kind == "array" else _js_dict(code)
    except Exception:  # BFCL falls back to the text on any parsing failure
        return code


def js_value(text: str, declared: str, nested: str | None = None) -> Any:
    """The Python value of a JavaScript argument string of the declared type."""
    if declared == "String":
        quoted = (text.startswith('"') and text.endswith('"')) or (
            text.startswith("'") and text.endswith("'")
        )
        return text[1:-1] if quoted else text
    if declared == "integer":
        return _int_or_text(text) if _INT.match(text) else text
    if declared == "float":
        return float(text) if re.match(r"^-?\d+(\.\d+)?$", text) else text
    if declared == "Bigint":
        return _int_or_text(text[:-1]) if re.match(r"^-?\d+n$", text) else text
    if declared == "Boolean":
        return text == "true" if text in ("true", "false") else text
    if declared in ("dict", "array"):
        return _js_collection(text, declared, nested)
    if declared == "any":
        return text
    raise UnsupportedType(f"JavaScript type {declared} is not supported")
