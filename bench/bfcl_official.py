"""Gorilla's own BFCL v3 multi-turn code, loaded from a clone for differential checks only.

    from bench.bfcl_official import load_official
    off = load_official("/path/to/gorilla/.git")   # a clone or bare git directory

Nothing here is part of evalkit and nothing of gorilla's is copied into this repository:
the files are extracted with `git archive` into a temporary directory and imported (or, for
two handler functions, compiled) from there.

- API classes, executor and checker: `bfcl_eval/eval_checker/multi_turn_eval/` at
  cd9429ccf3d4d04156affe883c495b3b047e6b64, the commit the BFCL v3 data comes from
  (../shared/data/bfcl_v3/SOURCE.txt);
- the call conversion `convert_to_function_call` (`bfcl_eval/model_handler/utils.py`, same
  commit), and the EXAONE 4.0 handler's `_extract_tool_calls` / `decode_execute`
  (`bfcl_eval/model_handler/local_inference/exaone4_fc.py`, da7f73a8; it imports heavy
  dependencies, so only those two functions are compiled from its source).
"""

from __future__ import annotations

import ast
import copy
import importlib
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATA_COMMIT = "cd9429ccf3d4d04156affe883c495b3b047e6b64"
HANDLER_COMMIT = "da7f73a806b4f0bdc8f5f6641616fc10e271007a"
_PKG = "berkeley-function-call-leaderboard/bfcl_eval"
_MT = f"{_PKG}/eval_checker/multi_turn_eval"
_HANDLER = f"{_PKG}/model_handler/local_inference/exaone4_fc.py"


@dataclass
class Official:
    root: Path
    execute: Any  # multi_turn_utils.execute_multi_turn_func_call
    utils_module: Any
    checker: Any  # multi_turn_checker.multi_turn_checker
    classes: dict[str, type]
    decode_execute: Any  # text -> list of call strings (raises on undecodable output)
    pristine: dict[str, Any]  # the filler objects BFCL's instances share, as loaded


def _extract(git_dir: str, commit: str, paths: list[str], into: Path) -> None:
    with tempfile.TemporaryFile() as tar:
        subprocess.run(
            ["git", f"--git-dir={git_dir}", "archive", commit, *paths],
            stdout=tar,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        tar.seek(0)
        with tarfile.open(fileobj=tar) as t:
            t.extractall(into, filter="data")


def _compile_functions(source: str, names: set[str], namespace: dict[str, Any]) -> None:
    """Compile the named functions (top level or methods of a class) of `source` into namespace."""
    tree = ast.parse(source)
    defs: list[ast.stmt] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name in names:
            node.decorator_list = []
            defs.append(node)
    exec(compile(ast.Module(body=defs, type_ignores=[]), "<gorilla>", "exec"), namespace)


def _git_dir(path: str) -> str:
    p = Path(path)
    return str(p / ".git") if (p / ".git").is_dir() else str(p)


def load_official(gorilla: str) -> Official:
    git_dir = _git_dir(gorilla)
    root = Path(tempfile.mkdtemp(prefix="bfcl_official_"))
    _extract(git_dir, DATA_COMMIT, [_MT, f"{_PKG}/__init__.py", f"{_PKG}/eval_checker/__init__.py"], root)
    _extract(git_dir, DATA_COMMIT, [f"{_PKG}/model_handler/utils.py"], root)
    _extract(git_dir, HANDLER_COMMIT, [_HANDLER], root)
    sys.path.insert(0, str(root / "berkeley-function-call-leaderboard"))
    utils = importlib.import_module("bfcl_eval.eval_checker.multi_turn_eval.multi_turn_utils")
    checker = importlib.import_module("bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker")
    classes = {
        name: getattr(importlib.import_module(mod), name)
        for name, mod in utils.CLASS_FILE_PATH_MAPPING.items()
    }
    ns: dict[str, Any] = {"json": json, "re": re}
    _compile_functions((root / _PKG / "model_handler/utils.py").read_text(), {"convert_to_function_call"}, ns)
    _compile_functions((root / _HANDLER).read_text(), {"_extract_tool_calls", "decode_execute"}, ns)

    class _Handler:
        _extract_tool_calls = staticmethod(ns["_extract_tool_calls"])
        decode_execute = ns["decode_execute"]

    handler = _Handler()

    def decode(text: str) -> list[str]:
        return handler.decode_execute(text, has_tool_call_tag=True)

    lc = importlib.import_module("bfcl_eval.eval_checker.multi_turn_eval.func_source_code.long_context")
    pristine = {k: copy.deepcopy(getattr(lc, k)) for k in _SHARED_FILLER}
    return Official(
        root, utils.execute_multi_turn_func_call, utils, checker.multi_turn_checker, classes, decode, pristine
    )


_SHARED_FILLER = ("CREDIT_CARD_EXTENSION", "BOOKING_RECORD_EXTENSION")


def reset_shared(off: Official) -> None:
    """Undo what earlier runs did to the objects BFCL shares process-wide: the long-context
    TravelAPI filler records and TwitterAPI.post_tweet's default lists. evalkit starts each
    entry from fresh ones (see evalkit/benchmarks/bfcl/multi_turn/shared.py)."""
    lc = sys.modules["bfcl_eval.eval_checker.multi_turn_eval.func_source_code.long_context"]
    for k in _SHARED_FILLER:
        target = getattr(lc, k)
        target.clear()
        target.update(copy.deepcopy(off.pristine[k]))
    for default in off.classes["TwitterAPI"].post_tweet.__defaults__:
        default.clear()


def forget_instances(off: Official, prefix: str) -> None:
    """Drop the executor's cached instances whose names start with `prefix` (it keeps them in globals)."""
    g = vars(off.utils_module)
    for k in [k for k in g if k.startswith(prefix)]:
        del g[k]
