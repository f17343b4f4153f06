"""The simulated APIs of BFCL's multi-turn categories, by class name, with their function docs."""

from __future__ import annotations

import importlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from evalkit.benchmarks.bfcl.multi_turn.shared import SharedDefaults

_DOCS = Path(__file__).resolve().parent.parent / "func_doc"

# class name -> (module in this package, its function-doc file)
CLASSES: dict[str, tuple[str, str]] = {
    "GorillaFileSystem": ("file_system", "gorilla_file_system.json"),
    "MathAPI": ("math_api", "math_api.json"),
    "MessageAPI": ("message_api", "message_api.json"),
    "TwitterAPI": ("posting_api", "posting_api.json"),
    "TicketAPI": ("ticket_api", "ticket_api.json"),
    "TradingBot": ("trading_bot", "trading_bot.json"),
    "TravelAPI": ("travel_booking", "travel_booking.json"),
    "VehicleControlAPI": ("vehicle_control", "vehicle_control.json"),
}
STATELESS = frozenset({"MathAPI"})  # loads no scenario
SHARING = frozenset({"TwitterAPI", "TravelAPI"})  # take the entry's SharedDefaults


def new_instance(class_name: str, shared: SharedDefaults | None = None) -> Any:
    module, _ = CLASSES[class_name]
    cls = getattr(importlib.import_module(f"{__name__}.{module}"), class_name)
    return cls(shared) if class_name in SHARING else cls()


@cache
def _docs(class_name: str) -> tuple[str, ...]:
    path = _DOCS / CLASSES[class_name][1]
    return tuple(line for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def function_docs(class_name: str) -> list[dict[str, object]]:
    """The class's function docs (fresh copies)."""
    return [json.loads(line) for line in _docs(class_name)]
