"""The hooks a family does not specialise: it re-exports these by name, e.g.
`from evalkit.families.defaults import aggregate, inline_sample, solver`."""

from __future__ import annotations

from typing import Any

from evalkit.errors import DataError
from evalkit.families.base import Solver
from evalkit.metrics import aggregate as _aggregate
from evalkit.records import Completion, Sample, Verdict
from evalkit.run_records import FamilyMetrics, SampleRecord
from evalkit.solvers import EpisodeOutput, generate
from evalkit.specs import TaskSpec


def solver(spec: TaskSpec, roles: frozenset[str]) -> Solver:
    """One call with the sample's messages (evalkit.solvers.generate)."""
    return generate


def aggregate(records: list[SampleRecord], n_repeats: int, spec: TaskSpec) -> FamilyMetrics:
    return _aggregate(records, n_repeats=n_repeats)


def verdict_row(v: Verdict) -> dict[str, Any]:
    return {"extracted": v.extracted, "correct": v.correct, "reason": v.reason}


def output_from_response(rec: dict[str, Any], where: str, row: int) -> EpisodeOutput:
    if not isinstance(rec.get("response"), str):
        raise DataError(where, row, "response", "missing or not a string")
    c = Completion(text=rec["response"], finish_reason="stop")
    return EpisodeOutput(calls=[c], final=c)


def inline_sample(rec: dict[str, Any], spec: TaskSpec, where: str, row: int) -> Sample | None:
    return None
