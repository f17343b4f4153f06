"""The family interface: what every family module provides, and what its hooks receive.

A family is a module of `evalkit.families`; `FamilyModule` lists its hooks, and mypy checks
every family module against it (the `TYPE_CHECKING` block of `evalkit.families`). Hooks a
family does not specialise are re-exported from `evalkit.families.defaults`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from evalkit.chat import ReasoningSplit, split_completion
from evalkit.data import Row
from evalkit.errors import UsageError
from evalkit.records import Completion, Sample, SamplingParams, Verdict
from evalkit.run_records import FamilyMetrics, SampleRecord
from evalkit.solvers import Episode, EpisodeOutput
from evalkit.specs import TaskSpec


@dataclass(frozen=True)
class BuildContext:
    """What building a sample may need besides its row and the spec.

    `where` names the data file in errors. `model` is the evaluated model, whose tokenizer
    sizes long-context prompts (RULER, LongBench truncation, HELMET's input budget); None when
    samples are built without one (`evalkit score`, unit tests). `tokenizers` loads a model's
    tokenizer; the default (`evalkit.longctx.tokens.load_tokenizer`) caches it per model, so a
    run loads it once however many samples it builds.
    """

    where: str
    model: str | None = None
    tokenizers: Callable[[str], Any] | None = field(default=None, compare=False, repr=False)

    def tokenizer(self, task: str) -> Any:
        """The evaluated model's tokenizer; a clear error when the context names no model."""
        if self.model is None:
            raise UsageError(
                f"task {task} sizes its prompts with the evaluated model's tokenizer, but no model "
                "was named for building its samples (run it through `evalkit run`)"
            )
        if self.tokenizers is not None:
            return self.tokenizers(self.model)
        from evalkit.longctx.tokens import load_tokenizer

        return load_tokenizer(self.model)

    def tokenizer_if_any(self, task: str) -> Any | None:
        """The evaluated model's tokenizer, or None when the context names no model."""
        return self.tokenizer(task) if self.model is not None else None


@dataclass(frozen=True)
class ScoreContext:
    spec: TaskSpec
    reasoning_mode: bool

    def split(self, completion: Completion) -> ReasoningSplit:
        """Reasoning and answer of a completion, split the way every family must split it."""
        return split_completion(
            completion.text, completion.reasoning_content, reasoning_mode=self.reasoning_mode
        )


class Solver(Protocol):
    """One (sample, repeat) as model calls: a generator that yields `ChatRequest`s, receives each
    `Completion`, and returns the `EpisodeOutput` (see evalkit.solvers)."""

    def __call__(
        self, sample: Sample, params: SamplingParams, enable_thinking: bool, repeat: int, /
    ) -> Episode: ...


class FamilyModule(Protocol):
    """Every hook of a family module (parameters are positional: names may differ)."""

    def build_sample(self, row: Row, spec: TaskSpec, ctx: BuildContext, /) -> Sample:
        """One dataset row as a sample; bad rows raise DataError naming ctx.where and the row."""
        ...

    def solver(self, spec: TaskSpec, roles: frozenset[str], /) -> Solver:
        """The solver of the task's episodes; `roles` are those the run has runners for (a judge
        call is made only when "judge" is among them)."""
        ...

    def score(self, sample: Sample, output: EpisodeOutput, ctx: ScoreContext, /) -> Verdict: ...

    def aggregate(self, records: list[SampleRecord], n_repeats: int, spec: TaskSpec, /) -> FamilyMetrics:
        """The run's metrics from its per-sample records."""
        ...

    def verdict_row(self, verdict: Verdict, /) -> dict[str, Any]:
        """The fields `evalkit score` prints per row."""
        ...

    def output_from_response(self, rec: dict[str, Any], where: str, row: int, /) -> EpisodeOutput:
        """An `evalkit score` response row as the episode output it stands for."""
        ...

    def inline_sample(self, rec: dict[str, Any], spec: TaskSpec, where: str, row: int, /) -> Sample | None:
        """For `evalkit score`: a sample from a response row itself (e.g. one carrying its own
        `gold`), or None to look the row's id up in the dataset as usual."""
        ...
