"""Checkpoints shared by the torch_int4 tests, written once per session."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from int4_checkpoints import SPECS, write_checkpoint


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """checkpoint(variant) -> model directory: a SPECS name, or "tiny:<variant>" (evalkit.tinymodel)."""
    made: dict[str, Path] = {}

    def get(variant: str) -> Path:
        if variant not in made:
            if variant.startswith("tiny:"):
                from evalkit.tinymodel import ensure_tiny_model

                made[variant] = ensure_tiny_model(variant.removeprefix("tiny:"))
            else:
                made[variant] = write_checkpoint(tmp_path_factory.mktemp(variant), SPECS[variant])
        return made[variant]

    return get


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Run these tests on one intra-op thread, restoring the setting afterwards.

    The tiny models' matmuls are far too small to gain from threads, and when another
    process shares the 2 CPU cores, OpenMP's spinning workers made the suite up to
    six times slower (measured: 45 s vs 7 s for one numerics test).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
