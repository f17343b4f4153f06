"""Where tasks, families and runners are found. Importing this module never imports torch.

Tasks are YAML files in tasks/; runners are registered as lazy "module:attribute" strings and
families are modules of evalkit.families (each choosing its solver), imported only when used.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from evalkit.errors import UsageError
from evalkit.specs import TaskSpec, load_spec

REPO_ROOT = Path(__file__).resolve().parent.parent


def tasks_dir() -> Path:
    return Path(os.environ.get("EVALKIT_TASKS_DIR", REPO_ROOT / "tasks"))


def runners_dir() -> Path:
    return Path(os.environ.get("EVALKIT_RUNNERS_DIR", REPO_ROOT / "runners"))


def list_tasks() -> list[str]:
    return sorted(p.stem for p in tasks_dir().glob("*.yaml"))


def get_task(name: str) -> TaskSpec:
    path = tasks_dir() / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(list_tasks()) or "none"
        raise UsageError(f"unknown task {name!r} (known: {known})")
    return load_spec(path)


def import_object(ref: str) -> Any:
    """Import "package.module:attr"."""
    module, _, attr = ref.partition(":")
    try:
        obj: Any = importlib.import_module(module)
    except ImportError as e:
        raise UsageError(f"cannot import {module} ({e})") from e
    for part in attr.split(".") if attr else []:
        obj = getattr(obj, part)
    return obj
