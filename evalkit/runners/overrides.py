"""`--runner-arg KEY=VALUE` (make: `RUNNER_ARGS="k=v …"`): a profile's settings changed for one run.

Each key must be a keyword of the profile's runner class (e.g. vLLM's `max_model_len`,
`attention_backend`); each value is read as YAML (`true`, `131072`, `0.85`, `null`, `a,b`
stays a string) and checked against the keyword's annotation with pydantic, so a wrong key
or type stops the run before the model loads (exit 2, naming it).
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Iterable
from typing import Any

import yaml

from evalkit.errors import UsageError
from evalkit.registry import import_object
from evalkit.runners.profiles import RunnerProfile
from evalkit.wording import option


def parse_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """'k=v' strings (also several in one string, space-separated) -> {k: raw v}."""
    out: dict[str, str] = {}
    for item in pairs:
        for pair in item.split():
            key, sep, value = pair.partition("=")
            if not sep or not key:
                raise UsageError(f"{option('runner-arg')} expects KEY=VALUE, got {pair!r}")
            out[key.strip().replace("-", "_")] = value
    return out


def runner_keywords(profile: RunnerProfile) -> dict[str, object]:
    """The runner class's keyword settings -> their annotation (Any where it has none)."""
    cls = import_object(profile.runner)
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # an annotation that cannot be evaluated here: the value's type is not checked
        hints = {}
    params = inspect.signature(cls.__init__).parameters
    return {
        name: hints.get(name, Any)
        for name, p in params.items()
        if name not in ("self", "model") and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }


def _convert(key: str, raw: str, annotation: Any, profile: RunnerProfile) -> Any:
    from pydantic import TypeAdapter, ValidationError

    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    if annotation is Any:
        return value
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    for candidate in (value, raw):  # '1e-3' stays a str in YAML; 'abc' for a str is fine either way
        try:
            return adapter.validate_python(candidate, strict=candidate is value and value is not None)
        except ValidationError:
            continue
    want = getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")
    raise UsageError(
        f"{option('runner-arg', f'{key}={raw}')}: {key} of runner profile {profile.name!r} takes {want}, "
        f"got {raw!r}"
    )


def apply_runner_args(
    profile: RunnerProfile, args: dict[str, str]
) -> tuple[RunnerProfile, dict[str, object]]:
    """The profile with `args` merged into its settings, and the typed values applied."""
    if not args:
        return profile, {}
    known = runner_keywords(profile)
    typed: dict[str, object] = {}
    for key, raw in args.items():
        if key not in known:
            raise UsageError(
                f"{option('runner-arg', f'{key}={raw}')}: runner profile {profile.name!r} "
                f"({profile.runner.rsplit(':', 1)[-1]}) has no setting {key!r} "
                f"(it has: {', '.join(sorted(known))})"
            )
        typed[key] = _convert(key, raw, known[key], profile)
    return dataclasses.replace(profile, settings={**profile.settings, **typed}), typed
