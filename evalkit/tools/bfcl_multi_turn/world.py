"""Running calls against the simulated APIs of one entry, as BFCL's executor does.

A `World` holds one instance per involved class, loaded with the entry's initial
configuration. A call names a method of any involved class (a later class wins a name
clash) and passes keyword arguments (model calls) or Python literals (BFCL's ground-truth
strings such as `cd(folder='document')`, parsed with `ast`, never evaluated). Each result
becomes the text the model reads: a string as it is, a dict as JSON (or Python's repr when
JSON cannot hold it), anything else through `str`; a failure becomes
"Error during execution: <message>". Unlike BFCL, which `eval`s the call text, evalkit
never evaluates model output: a name that is no API method is an error, even a Python builtin.
"""

from __future__ import annotations

import ast
import copy
import json
from dataclasses import dataclass
from typing import Any

from evalkit.tools.bfcl_multi_turn.apis import STATELESS, new_instance

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
    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


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
    return Call(name, args, kwargs)


class World:
    """The API instances of one entry and the methods they offer."""

    def __init__(
        self, initial_config: dict[str, Any], involved_classes: list[str], long_context: bool
    ) -> None:
        self.instances: dict[str, Any] = {}
        self._methods: dict[str, Any] = {}
        for class_name in involved_classes:
            obj = new_instance(class_name)
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
        short = call.name.split(".")[-1]
        try:
            if short in _BLOCKED:
                raise PermissionError(f"Function call {short} is not allowed.")
            method = self._methods.get(call.name)
            if method is None:
                raise NameError(f"name '{call.name.split('.')[0]}' is not defined")
            # Fresh copies, as BFCL's eval of the call text makes: an API may keep and later
            # change what it is given (a tweet's mention list), which must not reach the caller.
            args, kwargs = copy.deepcopy(call.args), copy.deepcopy(call.kwargs)
            return result_text(method(*args, **kwargs))
        except Exception as e:  # the API's own failures are part of what the model sees
            return f"Error during execution: {e}"

    def run_all(self, calls: list[Call]) -> list[str]:
        return [self.run(c) for c in calls]

    def public_state(self) -> dict[str, dict[str, Any]]:
        """Per class, the attributes BFCL compares (those not starting with '_')."""
        return {
            name: {k: v for k, v in vars(obj).items() if not k.startswith("_")}
            for name, obj in self.instances.items()
        }
