"""Runner profiles: YAML files in runners/ naming a runner class, a model and its settings."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evalkit.errors import DataError, UsageError
from evalkit.registry import import_object, runners_dir
from evalkit.runners.base import Runner
from evalkit.runners.profile_schema import RUNNER_SETTINGS, ProfileSchema
from evalkit.schema import validate


@dataclass(frozen=True)
class RunnerProfile:
    name: str
    runner: str  # lazy "module:Class"
    model: str
    settings: dict[str, Any] = field(default_factory=dict)
    # Caps applied to every request, e.g. max_new_tokens for the tiny CPU model.
    limits: dict[str, Any] = field(default_factory=dict)
    reference_size: str = "32B"  # which model-card table the report compares with
    description: str = ""


def list_profiles() -> list[str]:
    return sorted(p.stem for p in runners_dir().glob("*.yaml"))


def load_profile(name: str) -> RunnerProfile:
    path = Path(name) if name.endswith(".yaml") else runners_dir() / f"{name}.yaml"
    if not path.is_file():
        raise UsageError(f"unknown runner profile {name!r} (known: {', '.join(list_profiles())})")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise DataError(path, None, None, f"invalid YAML: {e}") from e
    if not isinstance(raw, dict):
        raise DataError(path, None, None, "a runner profile must be a mapping")
    validate(ProfileSchema, raw, path)  # types, ranges, unknown keys (evalkit.runners.profile_schema)
    check_settings(str(raw["runner"]), raw.get("settings") or {}, path)
    for key in ("runner", "model"):
        if not raw.get(key):
            raise DataError(path, None, key, "missing required key")
    unknown = set(raw) - {"runner", "model", "settings", "limits", "reference_size", "description"}
    if unknown:
        raise DataError(path, None, sorted(unknown)[0], "unknown key")
    return RunnerProfile(
        name=path.stem,
        runner=raw["runner"],
        model=str(raw["model"]),
        settings=dict(raw.get("settings") or {}),
        limits=dict(raw.get("limits") or {}),
        reference_size=str(raw.get("reference_size", "32B")),
        description=str(raw.get("description", "")),
    )


def check_settings(runner: str, settings: dict[str, Any], where: str | Path) -> None:
    """A DataError naming `settings.<key>` when the runner class's schema refuses a setting."""
    schema = RUNNER_SETTINGS.get(runner)
    if schema is not None:
        validate(schema, settings, where, prefix="settings.")


def make_runner(profile: RunnerProfile, model: str | None = None) -> Runner:
    """Instantiate the profile's runner (importing its backend only now)."""
    check_settings(profile.runner, profile.settings, f"runner profile {profile.name}")
    cls = import_object(profile.runner)
    try:  # a runner class without a schema: its constructor's signature is the schema
        inspect.signature(cls).bind(model or profile.model, **profile.settings)
    except TypeError as e:
        raise UsageError(f"runner profile {profile.name}: settings do not fit {profile.runner}: {e}") from e
    runner = cls(model or profile.model, **profile.settings)
    if not isinstance(runner, Runner):
        raise UsageError(f"{profile.runner} is not an evalkit Runner")
    return runner
