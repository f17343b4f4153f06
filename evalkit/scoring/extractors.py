"""Answer extractors, registered by name: what a spec's `scoring.extractor` may name.

An extractor reads a model's answer text (reasoning already removed) and returns an
`Extraction`: the answer it found, or None with the reason nothing was found. It never raises
on model output. Modules that define extractors register them with the decorator:

    @register_extractor("simple_evals", letters=True)
    def extract_simple_evals(text: str | None, opts: ExtractOptions = ExtractOptions()) -> Extraction:
        ...

`letters=True` marks an extractor that returns an option letter (A-J), the only kind the
multiple-choice family accepts; the short-answer family accepts every extractor.

`get_extractor(name)` imports the modules listed in `_PROVIDERS` first, so a new extractor
in a new module means one decorator and one line there. An unknown name is a ValueError
listing the known ones; `check_extractor` turns that into a DataError naming the spec file
and its `scoring.extractor` key (both task families call it when a spec is loaded).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from evalkit.errors import DataError


@dataclass(frozen=True)
class Extraction:
    value: str | None  # the answer found (a letter, for letter extractors), or None
    reason: str  # how it was found, or why nothing was


@dataclass(frozen=True)
class ExtractOptions:
    """What a spec and an item tell an extractor besides the text (each reads what it needs)."""

    options: Sequence[str] = ()  # multiple choice: the options' texts in the order shown
    strict: bool = False  # only explicit answer statements count (see each extractor)
    variant: str = "local"  # MMLU-Pro's official extraction: which script's chain


class Extractor(Protocol):
    def __call__(self, text: str | None, opts: ExtractOptions, /) -> Extraction: ...


@dataclass(frozen=True)
class RegisteredExtractor:
    name: str
    fn: Extractor
    letters: bool  # returns an option letter A-J
    doc: str  # the first line of its docstring

    def __call__(self, text: str | None, opts: ExtractOptions | None = None) -> Extraction:
        return self.fn(text, opts or ExtractOptions())


# Modules whose import registers extractors (imported on the first look-up).
_PROVIDERS = (
    "evalkit.scoring.choice",
    "evalkit.scoring.simple_evals",
    "evalkit.scoring.mmlu_pro_official",
    "evalkit.scoring.answer_extractors",
)
_REGISTRY: dict[str, RegisteredExtractor] = {}
_loaded = False


def register_extractor(name: str, *, letters: bool = False) -> Callable[[Extractor], Extractor]:
    """Register the decorated function under `name` (a second function under one name is an error)."""

    def add(fn: Extractor) -> Extractor:
        known = _REGISTRY.get(name)
        if known is not None and known.fn is not fn:
            raise ValueError(f"extractor {name!r} is registered twice")
        doc = ((fn.__doc__ or "").strip().splitlines() or [""])[0]
        _REGISTRY[name] = RegisteredExtractor(name, fn, letters, doc)
        return fn

    return add


def _load() -> None:
    global _loaded
    if not _loaded:
        for module in _PROVIDERS:
            importlib.import_module(module)
        _loaded = True


def extractor_names(*, letters: bool | None = None) -> list[str]:
    """Registered names, sorted; `letters=True` only letter extractors."""
    _load()
    return sorted(n for n, e in _REGISTRY.items() if letters is None or e.letters == letters)


def get_extractor(name: str, *, letters: bool | None = None) -> RegisteredExtractor:
    """The extractor registered as `name`; a ValueError listing the known names otherwise."""
    _load()
    found = _REGISTRY.get(name)
    if found is None or (letters and not found.letters):
        kind = "letter extractor" if letters else "extractor"
        known = ", ".join(extractor_names(letters=True if letters else None))
        raise ValueError(f"unknown {kind} {name!r} (known: {known})")
    return found


def check_extractor(name: str, spec_path: Path | str, *, letters: bool | None = None) -> RegisteredExtractor:
    """`get_extractor` for a spec: an unknown name is a DataError on `scoring.extractor`."""
    try:
        return get_extractor(name, letters=letters)
    except ValueError as e:
        raise DataError(spec_path, None, "scoring.extractor", str(e)) from None
