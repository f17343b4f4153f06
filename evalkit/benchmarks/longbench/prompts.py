"""LongBench's per-task prompt templates and output lengths (config/*.json, see SOURCE.txt)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

_HERE = Path(__file__).parent


@lru_cache(maxsize=1)
def prompts() -> dict[str, str]:
    data: dict[str, str] = json.loads((_HERE / "dataset2prompt.json").read_text(encoding="utf-8"))
    return data


@lru_cache(maxsize=1)
def max_new_tokens() -> dict[str, int]:
    data: dict[str, int] = json.loads((_HERE / "dataset2maxlen.json").read_text(encoding="utf-8"))
    return data
