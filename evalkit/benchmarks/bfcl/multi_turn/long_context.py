"""BFCL's long-context filler data (long_context.json; see long_context.SOURCE.txt)."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from types import EllipsisType
from typing import Any, TypedDict, cast

_PATH = Path(__file__).with_name("long_context.json")


class LongContextData(TypedDict):
    """The filler constants, as long_context.json holds them (records stay JSON objects)."""

    AUTOMOBILE_EXTENSION: list[str]
    BOOKING_RECORD_EXTENSION: dict[str, dict[str, object]]
    CAR_STATUS_METADATA_EXTENSION: str
    CREDIT_CARD_EXTENSION: dict[str, dict[str, object]]
    FILES_TAIL_USED: list[str]
    FILE_CONTENT_EXTENSION: str
    INTERMEDIARY_CITIES: list[str]
    LONG_WEATHER_EXTENSION: dict[str, dict[str, object]]
    MA_20_EXTENSION: list[float]
    MA_5_EXTENSION: list[float]
    ORDER_DETAIL_EXTENSION: dict[str, str]
    PARKING_BRAKE_INSTRUCTION: str
    POPULATE_FILE_EXTENSION: list[str]
    TECHNOLOGY_EXTENSION: list[str]
    TRANSACTION_HISTORY_EXTENSION: list[dict[str, object]]
    WATCH_LIST_EXTENSION: list[str | EllipsisType]  # BFCL's list ends with a literal `...`


@lru_cache(maxsize=1)
def _raw() -> LongContextData:
    data = json.loads(_PATH.read_text(encoding="utf-8"))
    # BFCL's watch-list filler ends with a literal `...`, stored as null.
    data["WATCH_LIST_EXTENSION"] = [Ellipsis if x is None else x for x in data["WATCH_LIST_EXTENSION"]]
    return cast(LongContextData, data)  # the file is part of evalkit, checked by its tests


def long_context_data() -> LongContextData:
    """The filler data (shared and read-only: copy before mutating; see `fresh`)."""
    return _raw()


def fresh(name: str) -> Any:
    """A private deep copy of one filler constant, safe to put into a state."""
    constants: Mapping[str, object] = _raw()
    return copy.deepcopy(constants[name])
