"""The schema of a task spec (tasks/*.yaml): every key a spec may hold, its type and its range.

Family-specific blocks (`scoring`, `extra`, `prompt`) list the keys the families read; a key
no family reads is a typo, reported as unknown instead of silently doing nothing. A family
that reads a new key adds it here. `data.fields` maps dataset columns and stays free-form.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from evalkit.errors import DataError
from evalkit.schema import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, Strict, validate


def _registered_extractor(name: str) -> str:
    from evalkit.scoring.extractors import get_extractor

    get_extractor(name)  # a ValueError listing the registered names
    return name


ExtractorName = Annotated[str, AfterValidator(_registered_extractor)]


class HubSchema(Strict):
    path: str
    split: str
    name: str | None = None
    revision: str | None = None
    gated: bool = False
    configs: list[str] | None = None
    config_field: str | None = None
    config_index_field: str | None = None
    files: list[str] | None = None


class WindowSchema(Strict):
    field: str
    # YAML reads an unquoted 2024-08-01 as a date
    start: str | datetime.date | None = None
    end: str | datetime.date | None = None


class DataSchema(Strict):
    hub: HubSchema | None = None
    id_field: str | list[str] | None = None
    sample: str | None = None
    sample_synthetic: bool = False
    fields: dict[str, Any] | None = None
    local_default: str | None = None
    filter: dict[str, list[Any]] | None = None
    window: WindowSchema | None = None


class ShuffleSchema(Strict):
    seed: NonNegativeInt


class PromptSchema(Strict):
    template: str
    source: str
    system: str | None = None
    answer_prefix: str | None = None
    user_opening: str | None = None
    user_simulator: str | None = None
    shuffle: ShuffleSchema | None = None


class ScoringSchema(Strict):
    # multiple_choice (values checked by the family: evalkit.families.multiple_choice)
    extractor: ExtractorName | None = None
    variant: str | None = None
    strict: bool | None = None
    no_answer: str | None = None
    # math, livecodebench
    answer_format: str | None = None
    choices: bool | None = None
    lang: str | None = None
    timeout_s: PositiveFloat | None = None
    # notes for readers: which metric, matcher or judge the family applies
    metrics: str | None = None
    match: str | None = None
    chrf: str | None = None
    judge: str | None = None


class UserSimSchema(Strict):
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    max_new_tokens: PositiveInt = 1024


class ExtraSchema(Strict):
    # long-context families
    max_input_tokens: PositiveInt | None = None
    answer_max_new_tokens: PositiveInt | None = None
    input_max_length: PositiveInt | None = None
    card_length: PositiveInt | None = None
    max_test_samples: dict[str, PositiveInt] | None = None
    datasets: list[str] | None = None
    pre_cut_tokenizer: str | None = None
    local_reader: str | None = None
    corpus_dir: str | None = None
    seed: NonNegativeInt | None = None
    # tau-bench
    data_dir: str | None = None
    domain: str | None = None
    max_steps: PositiveInt | None = None
    user_sim: UserSimSchema | None = None
    # translation
    judge: dict[str, Any] | None = None
    languages: dict[str, str] | None = None
    # any family: a note shown with the data source
    data_note: str | None = None


class ModeSchema(Strict):
    temperature: float = Field(ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    top_k: NonNegativeInt = 0  # 0: no top-k filter
    presence_penalty: float = Field(0.0, ge=-2, le=2)
    max_new_tokens: PositiveInt = 1024
    n: PositiveInt = 1


class PublishedSchema(Strict):
    benchmark: str | None = None


class TaskSpecSchema(Strict):
    name: str
    title: str | None = None
    family: str
    data: DataSchema
    prompt: PromptSchema
    scoring: ScoringSchema | None = None
    metric: str | None = None
    modes: dict[Literal["reasoning", "non-reasoning"], ModeSchema]
    published: PublishedSchema | None = None
    provenance: str
    extra: ExtraSchema | None = None


# --- short_answer: the scoring block of a task configured only in YAML --------------------
def _answer_pattern(pattern: str) -> str:
    try:
        compiled = re.compile(pattern)
    except re.error as e:
        raise ValueError(f"not a valid regular expression ({e})") from None
    if compiled.groups != 1 and "answer" not in compiled.groupindex:
        raise ValueError(
            f"needs one capture group, the answer (or a group named 'answer'); it has {compiled.groups}"
        )
    return pattern


def _normalizer(name: str) -> str:
    from evalkit.scoring.short_answer import NORMALIZERS

    if name not in NORMALIZERS:
        raise ValueError(f"unknown normaliser {name!r} (known: {', '.join(NORMALIZERS)})")
    return name


AnswerPattern = Annotated[str, AfterValidator(_answer_pattern)]
Normalizer = Annotated[str, AfterValidator(_normalizer)]


class ShortAnswerScoringSchema(Strict):
    """`scoring:` of the short_answer family (docs/short-answer-tasks.md)."""

    match: Literal["exact", "numeric", "math"]
    patterns: Annotated[list[AnswerPattern], Field(min_length=1)] | None = None
    occurrence: Literal["first", "last"] = "last"
    extractor: ExtractorName | None = None
    normalize: list[Normalizer] = Field(default_factory=list)
    lang: Literal["en", "es", "ko"] = "en"
    abs_tol: NonNegativeFloat = 0.0
    rel_tol: NonNegativeFloat = 0.0
    timeout_s: PositiveFloat = 5.0

    def problems(self) -> list[tuple[str, str]]:
        """Keys that do not fit together: (key, problem), for errors naming the key."""
        given = self.model_fields_set
        out: list[tuple[str, str]] = []
        if self.patterns is not None and self.extractor is not None:
            out.append(("extractor", "set scoring.patterns or scoring.extractor, not both"))
        if "occurrence" in given and self.patterns is None:
            out.append(("occurrence", "applies only with scoring.patterns"))
        if self.normalize and self.match == "math":
            out.append(("normalize", "match: math leaves normalising to math-verify; remove it"))
        only: dict[str, tuple[str, ...]] = {"abs_tol": ("numeric",), "rel_tol": ("numeric",)}
        only |= {"timeout_s": ("math",), "lang": ("numeric", "math")}
        for key, modes in only.items():
            if key in given and self.match not in modes:
                out.append((key, f"applies only with match: {' or '.join(modes)}"))
        return out


# family -> the schema of its `scoring:` block, where the family has its own
FAMILY_SCORING: dict[str, type[ShortAnswerScoringSchema]] = {"short_answer": ShortAnswerScoringSchema}


def validate_task_spec(raw: dict[str, Any], path: str | Path) -> None:
    """Check a spec's raw mapping: the whole spec, and the family's own `scoring:` schema."""
    family = raw.get("family")
    own = FAMILY_SCORING.get(family) if isinstance(family, str) else None
    if own is None:
        validate(TaskSpecSchema, raw, path)
        return
    validate(TaskSpecSchema, {**raw, "scoring": None}, path)
    scoring = raw.get("scoring") or {}
    validate(own, scoring, path, prefix="scoring.")
    for key, problem in own.model_validate(scoring).problems()[:1]:
        raise DataError(path, None, f"scoring.{key}", problem)
