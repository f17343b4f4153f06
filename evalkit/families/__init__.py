"""Task families: how a kind of benchmark turns rows into samples and outputs into verdicts.

A family is a module with two required functions and a few optional hooks:

    build_sample(row: Row, spec: TaskSpec, where: str) -> Sample
    score(sample: Sample, output: EpisodeOutput, ctx: ScoreContext) -> Verdict
    # optional
    aggregate(records: list[dict], n_repeats: int, spec: TaskSpec) -> dict   # metrics of a run
    verdict_row(verdict: Verdict) -> dict          # the fields `evalkit score` prints per row
    output_from_response(rec: dict, where: str, row: int) -> EpisodeOutput    # for `evalkit score`
    inline_sample(rec: dict, spec: TaskSpec, where: str, row: int) -> Sample | None
        # for `evalkit score`: a sample from a response row itself (e.g. one carrying its own
        # `gold`), or None to look the row's id up in the dataset as usual

The YAML spec names its family (a module of this package); `load_family` fills in the defaults.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from evalkit.chat import ReasoningSplit, split_completion
from evalkit.data import Row
from evalkit.errors import DataError, UsageError
from evalkit.metrics import aggregate as default_aggregate
from evalkit.records import Completion, Sample, Verdict
from evalkit.solvers import EpisodeOutput
from evalkit.specs import TaskSpec

_FAMILY_DIR = Path(__file__).parent


def list_families() -> list[str]:
    """Every family: one module per family in this package, imported only when used."""
    return sorted(p.stem for p in _FAMILY_DIR.glob("*.py") if not p.stem.startswith("_"))


@dataclass(frozen=True)
class ScoreContext:
    spec: TaskSpec
    reasoning_mode: bool

    def split(self, completion: Completion) -> ReasoningSplit:
        """Reasoning and answer of a completion, split the way every family must split it."""
        return split_completion(
            completion.text, completion.reasoning_content, reasoning_mode=self.reasoning_mode
        )


def default_verdict_row(v: Verdict) -> dict[str, Any]:
    return {"extracted": v.extracted, "correct": v.correct, "reason": v.reason}


def default_output_from_response(rec: dict[str, Any], where: str, row: int) -> EpisodeOutput:
    if not isinstance(rec.get("response"), str):
        raise DataError(where, row, "response", "missing or not a string")
    c = Completion(text=rec["response"], finish_reason="stop")
    return EpisodeOutput(calls=[c], final=c)


@dataclass(frozen=True)
class Family:
    name: str
    module: ModuleType

    def build_sample(self, row: Row, spec: TaskSpec, where: str) -> Sample:
        sample: Sample = self.module.build_sample(row, spec, where)
        return sample

    def score(self, sample: Sample, output: EpisodeOutput, ctx: ScoreContext) -> Verdict:
        verdict: Verdict = self.module.score(sample, output, ctx)
        return verdict

    def aggregate(self, records: list[dict[str, Any]], n_repeats: int, spec: TaskSpec) -> dict[str, Any]:
        hook = getattr(self.module, "aggregate", None)
        if hook is None:
            return default_aggregate(records, n_repeats=n_repeats)
        result: dict[str, Any] = hook(records, n_repeats, spec)
        return result

    def verdict_row(self, v: Verdict) -> dict[str, Any]:
        hook = getattr(self.module, "verdict_row", default_verdict_row)
        row: dict[str, Any] = hook(v)
        return row

    def output_from_response(self, rec: dict[str, Any], where: str, row: int) -> EpisodeOutput:
        hook = getattr(self.module, "output_from_response", default_output_from_response)
        out: EpisodeOutput = hook(rec, where, row)
        return out

    def inline_sample(self, rec: dict[str, Any], spec: TaskSpec, where: str, row: int) -> Sample | None:
        hook = getattr(self.module, "inline_sample", None)
        if hook is None:
            return None
        sample: Sample | None = hook(rec, spec, where, row)
        return sample


def load_family(name: str) -> Family:
    if name not in list_families():
        raise UsageError(f"unknown task family {name!r} (known: {', '.join(list_families())})")
    return Family(name, importlib.import_module(f"evalkit.families.{name}"))
