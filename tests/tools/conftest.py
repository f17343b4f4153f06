"""What the BFCL multi-turn agreement tests share: the 800 multi-turn entries, and the short hash
under which recorded results and states of gorilla's own code are kept."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from evalkit.data import read_records

ROOT = Path(__file__).resolve().parents[2]
ENTRIES = ROOT / "tasks" / "samples" / "bfcl_v3.full.jsonl.gz"


def short_hash(text: str) -> str:
    """The hash the recordings keep for a result text or a canonical state (bench/bfcl_multi_turn_diff.py)."""
    return hashlib.sha1(text.encode()).hexdigest()[:12]


@pytest.fixture(scope="module")
def entries() -> dict[str, dict[str, Any]]:
    return {str(r["id"]): r for r in read_records(ENTRIES) if str(r["category"]).startswith("multi_turn")}
