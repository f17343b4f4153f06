"""Fixtures: every tiny-model variant built once per session into a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.tinymodel import VARIANTS, build_tiny_model

# The reference copy of the chat template, present in a full checkout (not in CI artefacts).
SHARED_TEMPLATE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "exaone4_chat_template.jinja"


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {v: build_tiny_model(root / v, v) for v in VARIANTS}
