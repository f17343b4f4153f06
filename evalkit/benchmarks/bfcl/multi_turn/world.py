"""Running calls against the simulated APIs of one entry, as BFCL's executor does.

A `World` holds one instance per involved class, loaded with the entry's initial
configuration. A call names a method of any involved class (a later class wins a name
clash). BFCL runs a call as Python text: the model's `{name: arguments}` written as
`name(k=repr(v),…)` (its `convert_to_function_call`), the ground truth as given (such as
`cd(folder='document')`), then `eval`ed. evalkit builds the same text and parses it with
`ast` instead, so that what fails there fails here with the same message (a syntax error
for an argument name that is no identifier, `name 'inf' is not defined` for an infinite
number, a missing or unexpected argument), and arguments are fresh values for every call.
Each result becomes the text the model reads: a string as it is, a dict as JSON (or
Python's repr when JSON cannot hold it), anything else through `str`; a failure becomes
"Error during execution: <message>".

Deliberate deviation (security): evalkit never evaluates model output. A name that is no
API method is "name '…' is not defined", even where BFCL's `eval` would find a Python
builtin (`print(...)`) or a global of its executor module (`json.dumps(...)`).
Not reproduced either: before evaluating, BFCL prefixes every `word(` of the text with its
instance's name, inside string arguments too, so a model that writes "ls(" into a file
stores the prefixed text. The prefix holds the model's registry name; no ground-truth
string contains such a pattern, so no verdict of the data depends on it.
"""

from __future__ import annotations

import ast
import copy
import json
from dataclasses import dataclass
from typing import Any

from evalkit.benchmarks.bfcl.multi_turn.apis import STATELESS, new_instance
from evalkit.benchmarks.bfcl.multi_turn.shared import SharedDefaults

# Names BFCL refuses to run even if a class had them.
_BLOCKED = frozenset({"kill", "exit", "quit", "remove", "unlink", "popen", "Popen", "run"})


def result_text(result: Any) -> str:
    if isinstance(result, str):
        return result
    if isinstance(result, dict):
        try:
            return json.dumps(result)
        except (TypeError, ValueError):
            return str(result)
    return str(result)


@dataclass(frozen=True)
class Call:
    name: Any  # a str, except from a model that names its function with another JSON value
    args: tuple[Any, ...]
    kwargs: dict[str, object]
    text: str | None = None  # the call as BFCL's ground truth writes it


def call_text(call: Call) -> str:
    """The Python text BFCL evaluates for a call."""
    if call.text is not None:
        return call.text
    parts = [repr(a) for a in call.args] + [f"{k}={v!r}" for k, v in call.kwargs.items()]
    return f"{call.name}({','.join(parts)})"


def parse_call_string(text: str) -> Call:
    """`f(1, k='v')` -> Call('f', (1,), {'k': 'v'}); literals only. Raises ValueError."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as e:
        raise ValueError(f"not a call: {text!r}") from e
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise ValueError(f"not a call of a plain function name: {text!r}")
    name = node.func.id
    try:
        args = tuple(ast.literal_eval(a) for a in node.args)
        kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg is not None}
    except ValueError as e:
        raise ValueError(f"arguments are not literals: {text!r}") from e
    return Call(name, args, kwargs, text)


def _first_name(node: ast.AST) -> str | None:
    """The first variable Python would look up when evaluating `node` (left to right)."""
    if isinstance(node, ast.Name):
        return node.id
    for child in ast.iter_child_nodes(node):
        found = _first_name(child)
        if found is not None:
            return found
    return None


def _value(node: ast.expr) -> Any:
    """A literal's value; a name in it fails as Python's eval would fail on it."""
    try:
        return ast.literal_eval(node)
    except ValueError:
        name = _first_name(node)
        if name is not None:
            raise NameError(f"name '{name}' is not defined") from None
        raise ValueError("only literal arguments are evaluated") from None


def _blocked_name(text: str) -> str:
    """The name BFCL's guard checks: before the first '(', after the first '.' if any."""
    head = text.split("(")[0]
    return head.split(".")[1] if "." in head else head


class World:
    """The API instances of one entry and the methods they offer."""

    def __init__(
        self,
        initial_config: dict[str, object],
        involved_classes: list[str],
        long_context: bool,
        shared: SharedDefaults | None = None,
    ) -> None:
        """`shared`: what BFCL shares between the instances of an entry (see shared.py); the
        scorer passes one to the model's world and the ground truth's."""
        self.instances: dict[str, object] = {}
        self._methods: dict[str, Any] = {}
        shared = shared or SharedDefaults()
        for class_name in involved_classes:
            obj = new_instance(class_name, shared)
            if class_name not in STATELESS:
                obj._load_scenario(
                    copy.deepcopy(initial_config.get(class_name, {})), long_context=long_context
                )
            self.instances[class_name] = obj
            for attr in dir(obj):
                if not attr.startswith("_") and callable(getattr(obj, attr)):
                    self._methods[attr] = getattr(obj, attr)

    def run(self, call: Call) -> str:
        """Execute one call; the result as the text the model is shown."""
        text = call_text(call)
        try:
            if _blocked_name(text) in _BLOCKED:
                raise Exception(f"Function call {_blocked_name(text)} is not allowed.")
            return result_text(self._evaluate(text))
        except Exception as e:  # the API's own failures are part of what the model sees
            return f"Error during execution: {e}"

    def _evaluate(self, text: str) -> Any:
        # Python's eval strips leading blanks; its syntax errors name the file "<string>".
        node = ast.parse(text.lstrip(" \t"), filename="<string>", mode="eval").body
        if not isinstance(node, ast.Call):
            return _value(node)
        func = node.func
        if isinstance(func, ast.Name):
            method = self._methods.get(func.id)
            if method is None:
                raise NameError(f"name '{func.id}' is not defined")
        elif isinstance(func, ast.Constant):
            raise TypeError(f"'{type(func.value).__name__}' object is not callable")
        else:
            name = _first_name(func)
            raise NameError(f"name '{name}' is not defined" if name else "not a function name")
        args = [_value(a) for a in node.args]
        kwargs = {}
        for k in node.keywords:
            if k.arg is None:
                raise ValueError("only named arguments are evaluated")
            kwargs[k.arg] = _value(k.value)
        return method(*args, **kwargs)

    def run_all(self, calls: list[Call]) -> list[str]:
        return [self.run(c) for c in calls]

    def public_state(self) -> dict[str, dict[str, object]]:
        """Per class, the attributes BFCL compares (those not starting with '_')."""
        return {
            name: {k: v for k, v in vars(obj).items() if not k.startswith("_")}
            for name, obj in self.instances.items()
        }
