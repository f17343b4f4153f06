"""The family interface: every family module provides every hook, and mypy is told to check it."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import evalkit.families as families
from evalkit.errors import UsageError
from evalkit.families import HOOKS, BuildContext, list_families, load_family
from evalkit.families.base import FamilyModule


def test_the_hooks_listed_are_the_protocols():
    protocol = {n for n, v in vars(FamilyModule).items() if inspect.isfunction(v) and not n.startswith("_")}
    assert protocol == set(HOOKS)


@pytest.mark.parametrize("name", list_families())
def test_every_family_provides_every_hook(name):
    module = load_family(name).module
    for hook in HOOKS:
        assert callable(getattr(module, hook)), (name, hook)


def test_mypy_is_told_to_check_every_family_module():
    """The TYPE_CHECKING block of evalkit.families assigns each family module to a FamilyModule."""
    tree = ast.parse(Path(families.__file__).read_text(encoding="utf-8"))
    checked = {
        node.value.id
        for node in ast.walk(tree)
        if isinstance(node, ast.AnnAssign)
        and isinstance(node.value, ast.Name)
        and ast.unparse(node.annotation) == "FamilyModule"
    }
    assert checked == set(list_families())


def test_a_module_missing_a_hook_is_refused_by_name(monkeypatch):
    import evalkit.families.ifeval as ifeval

    monkeypatch.delattr(ifeval, "inline_sample")
    with pytest.raises(UsageError, match=r"lacks inline_sample .*evalkit\.families\.defaults"):
        load_family("ifeval")


def test_a_tokenizer_needs_a_model_named():
    with pytest.raises(UsageError, match="task ruler sizes its prompts"):
        BuildContext("x.jsonl").tokenizer("ruler")
    assert BuildContext("x.jsonl").tokenizer_if_any("helmet") is None
    seen = []
    ctx = BuildContext("x.jsonl", model="m", tokenizers=lambda m: seen.append(m) or "tok")
    assert ctx.tokenizer("ruler") == "tok" and seen == ["m"]
