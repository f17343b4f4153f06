"""Prompt templates from task specs, rendered with Jinja2 (undefined variables are errors)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jinja2

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)


@lru_cache(maxsize=64)
def _compile(template: str) -> jinja2.Template:
    return _ENV.from_string(template)


def render_prompt(template: str, **variables: Any) -> str:
    return _compile(template).render(**variables).strip()
