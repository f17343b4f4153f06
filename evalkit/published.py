"""The model card's published figures, as data (results/published/*.yaml), validated on load."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from evalkit.errors import DataError
from evalkit.registry import REPO_ROOT

PUBLISHED_DIR = REPO_ROOT / "results" / "published"
BENCHMARKS = (
    "MMLU-Redux",
    "MMLU-Pro",
    "GPQA-Diamond",
    "AIME 2025",
    "HMMT Feb 2025",
    "LiveCodeBench v5",
    "LiveCodeBench v6",
    "IFEval",
    "Multi-IF (EN)",
    "BFCL-v3",
    "Tau-bench (Airline)",
    "Tau-bench (Retail)",
    "KMMLU-Pro",
    "KMMLU-Redux",
    "KSM",
    "MMMLU (ES)",
    "MATH500 (ES)",
    "HELMET",
    "RULER",
    "LongBench v1",
    "Ko-LongBench",
    "WMT24++ (ES)",
)
MODES = ("reasoning", "non-reasoning")


@dataclass(frozen=True)
class PublishedFigure:
    benchmark: str
    system: str
    system_size: str
    model_size: str  # which table: "32B" or "1.2B"
    mode: str
    value: float | None  # None: N/A on the card
    is_subject: bool  # True for the EXAONE 4.0 column of its table
    table: str
    source: str


def _load_file(path: Path) -> list[PublishedFigure]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or not isinstance(raw.get("tables"), list):
        raise DataError(path, None, "tables", "expected a mapping with a list of tables")
    source = str(raw.get("source") or "")
    if not source:
        raise DataError(path, None, "source", "every published file must name its source")
    figures: list[PublishedFigure] = []
    for ti, t in enumerate(raw["tables"], 1):
        where = f"table {ti}"
        for key in ("table", "model_size", "mode", "systems", "rows"):
            if key not in t:
                raise DataError(path, where, key, "missing")
        if t["mode"] not in MODES:
            raise DataError(path, where, "mode", f"must be one of {MODES}")
        systems = t["systems"]
        if not systems or not str(systems[0]["name"]).startswith("EXAONE 4.0"):
            raise DataError(path, where, "systems", "the first system must be the EXAONE 4.0 model")
        seen: set[str] = set()
        for ri, row in enumerate(t["rows"], 1):
            rwhere = f"{where} row {ri}"
            bench = row.get("benchmark")
            if bench not in BENCHMARKS:
                raise DataError(path, rwhere, "benchmark", f"unknown benchmark {bench!r}")
            if bench in seen:
                raise DataError(path, rwhere, "benchmark", f"{bench} appears twice")
            seen.add(bench)
            values = row.get("values")
            if not isinstance(values, list) or len(values) != len(systems):
                raise DataError(path, rwhere, "values", f"needs {len(systems)} values, one per system")
            for si, (sys, v) in enumerate(zip(systems, values, strict=True)):
                if v is not None and (not isinstance(v, int | float) or not 0 <= v <= 100):
                    raise DataError(path, rwhere, "values", f"{v!r} is not a percentage or null")
                figures.append(
                    PublishedFigure(
                        benchmark=bench,
                        system=str(sys["name"]),
                        system_size=str(sys["size"]),
                        model_size=str(t["model_size"]),
                        mode=t["mode"],
                        value=None if v is None else float(v),
                        is_subject=si == 0,
                        table=str(t["table"]),
                        source=source,
                    )
                )
    return figures


@lru_cache(maxsize=4)
def load_published(directory: Path = PUBLISHED_DIR) -> tuple[PublishedFigure, ...]:
    """Every published figure in `directory` (all tables, peers included)."""
    out: list[PublishedFigure] = []
    for path in sorted(directory.glob("*.yaml")):
        out.extend(_load_file(path))
    return tuple(out)


def lookup(benchmark: str, mode: str, model_size: str = "32B") -> list[PublishedFigure]:
    """The row of one table: the EXAONE figure first, then its peers."""
    return [
        f
        for f in load_published()
        if f.benchmark == benchmark and f.mode == mode and f.model_size == model_size
    ]
