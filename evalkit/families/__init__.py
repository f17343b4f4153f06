"""Task families: how a kind of benchmark turns rows into samples, samples into model calls, and
outputs into verdicts.

A family is a module of this package that defines (or re-exports from
`evalkit.families.defaults`) every hook of `evalkit.families.base.FamilyModule`:

    build_sample(row: Row, spec: TaskSpec, ctx: BuildContext) -> Sample
    solver(spec: TaskSpec, roles: frozenset[str]) -> Solver
        # Solver: (sample, params, enable_thinking, repeat) -> Episode (evalkit.solvers)
    score(sample: Sample, output: EpisodeOutput, ctx: ScoreContext) -> Verdict
    aggregate(records: list[SampleRecord], n_repeats: int, spec: TaskSpec) -> FamilyMetrics
        # the family's part of metrics.json (evalkit.run_records; docs/records.md)
    verdict_row(verdict: Verdict) -> dict          # the fields `evalkit score` prints per row
    output_from_response(rec: dict, where: str, row: int) -> EpisodeOutput    # for `evalkit score`
    inline_sample(rec: dict, spec: TaskSpec, where: str, row: int) -> Sample | None
        # for `evalkit score`: a sample from a response row itself (e.g. one carrying its own
        # `gold`), or None to look the row's id up in the dataset as usual

`BuildContext` carries what building needs besides the row (the data file named in errors, the
evaluated model whose tokenizer sizes long prompts); `solver` closes over the spec, and `roles`
are the roles the run has runners for (a judge call is made only with "judge" among them).
The YAML spec names its family; `load_family` imports the module when it is first used. A new
family module is added to the `TYPE_CHECKING` block below, so that mypy checks its hooks.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from evalkit.data import Row
from evalkit.errors import UsageError
from evalkit.families.base import BuildContext, FamilyModule, ScoreContext, Solver
from evalkit.records import Sample, Verdict
from evalkit.run_records import FamilyMetrics, SampleRecord
from evalkit.solvers import EpisodeOutput
from evalkit.specs import TaskSpec

__all__ = ["BuildContext", "Family", "FamilyModule", "ScoreContext", "Solver", "list_families", "load_family"]

_FAMILY_DIR = Path(__file__).parent
# Modules of this package that are not families.
_NOT_FAMILIES = {"base", "defaults"}
HOOKS = (
    "build_sample",
    "solver",
    "score",
    "aggregate",
    "verdict_row",
    "output_from_response",
    "inline_sample",
)

if TYPE_CHECKING:  # mypy checks each family module against the interface (nothing imported at run time)
    from evalkit.families import (
        bfcl,
        helmet,
        ifeval,
        ko_longbench,
        livecodebench,
        longbench,
        math,
        multi_if,
        multiple_choice,
        ruler,
        short_answer,
        tau_bench,
        translation,
    )

    _bfcl: FamilyModule = bfcl
    _helmet: FamilyModule = helmet
    _ifeval: FamilyModule = ifeval
    _ko_longbench: FamilyModule = ko_longbench
    _livecodebench: FamilyModule = livecodebench
    _longbench: FamilyModule = longbench
    _math: FamilyModule = math
    _multi_if: FamilyModule = multi_if
    _multiple_choice: FamilyModule = multiple_choice
    _ruler: FamilyModule = ruler
    _short_answer: FamilyModule = short_answer
    _tau_bench: FamilyModule = tau_bench
    _translation: FamilyModule = translation


def list_families() -> list[str]:
    """Every family: one module per family in this package, imported only when used."""
    return sorted(
        p.stem for p in _FAMILY_DIR.glob("*.py") if not p.stem.startswith("_") and p.stem not in _NOT_FAMILIES
    )


@dataclass(frozen=True)
class Family:
    """A loaded family: its name and its module, whose hooks these methods call."""

    name: str
    module: FamilyModule

    def build_sample(self, row: Row, spec: TaskSpec, ctx: BuildContext) -> Sample:
        return self.module.build_sample(row, spec, ctx)

    def solver(self, spec: TaskSpec, roles: frozenset[str]) -> Solver:
        return self.module.solver(spec, roles)

    def score(self, sample: Sample, output: EpisodeOutput, ctx: ScoreContext) -> Verdict:
        return self.module.score(sample, output, ctx)

    def aggregate(self, records: list[SampleRecord], n_repeats: int, spec: TaskSpec) -> FamilyMetrics:
        return self.module.aggregate(records, n_repeats, spec)

    def verdict_row(self, v: Verdict) -> dict[str, Any]:
        return self.module.verdict_row(v)

    def output_from_response(self, rec: dict[str, Any], where: str, row: int) -> EpisodeOutput:
        return self.module.output_from_response(rec, where, row)

    def inline_sample(self, rec: dict[str, Any], spec: TaskSpec, where: str, row: int) -> Sample | None:
        return self.module.inline_sample(rec, spec, where, row)


def load_family(name: str) -> Family:
    if name not in list_families():
        raise UsageError(f"unknown task family {name!r} (known: {', '.join(list_families())})")
    module = importlib.import_module(f"evalkit.families.{name}")
    missing = [h for h in HOOKS if not callable(getattr(module, h, None))]
    if missing:  # mypy checks the modules it is told of; a new one is checked here too
        raise UsageError(
            f"family module evalkit.families.{name} lacks {', '.join(missing)} "
            "(define it, or re-export it from evalkit.families.defaults)"
        )
    return Family(name, cast(FamilyModule, module))
