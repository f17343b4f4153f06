"""What a card run is asked to do (`evalkit card` options, `make card` variables)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from evalkit.cards.card import Card
from evalkit.pipeline import DEFAULT_RESULTS
from evalkit.registry import REPO_ROOT

DEFAULT_CARDS_OUT = REPO_ROOT / "results" / "cards"


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", Path(s).name or s).strip("-")[:40] or "model"


@dataclass
class CardOptions:
    runner: str = "torch-int4"
    model: str | None = None
    limit: int | None = None
    n: int | None = None  # repeats for every cell (default: the card's protocol)
    max_new_tokens: int | None = None
    modes: tuple[str, ...] = ()  # empty: all the card's modes
    benchmarks: tuple[str, ...] = ()  # empty: every row
    data: str | None = None  # as `evalkit run --data`; default per task
    judge: str | None = None
    judge_model: str | None = None
    user_sim: str | None = None
    user_sim_model: str | None = None
    skip_missing: bool = False
    gate: str | None = None
    seed: int = 1234
    gpus: int | None = None  # engines of the model runner, one per GPU (None: every visible GPU)
    dp: str = "auto"  # where those engines live: threads, processes, auto (evalkit.runners.data_parallel)
    runner_args: dict[str, str] = field(default_factory=dict)
    results_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("EVALKIT_RESULTS", DEFAULT_RESULTS))
    )
    cards_dir: Path = DEFAULT_CARDS_OUT
    id: str | None = None  # results/cards/<id>/ (default: card, model, runner, LIMIT, N)
    progress: bool = True

    def card_id(self, card: Card, model: str, profile: str) -> str:
        if self.id:
            return self.id
        parts = [card.id, _slug(model), profile]
        if self.limit:
            parts.append(f"limit{self.limit}")
        if self.n:
            parts.append(f"n{self.n}")
        if self.max_new_tokens:
            parts.append(f"max{self.max_new_tokens}")
        if self.data:
            parts.append(_slug(self.data))
        return "-".join(parts)
