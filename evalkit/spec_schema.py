"""The schema of a task spec (tasks/*.yaml): every key a spec may hold, its type and its range.

Family-specific blocks (`scoring`, `extra`, `prompt`) list the keys the families read; a key
no family reads is a typo, reported as unknown instead of silently doing nothing. A family
that reads a new key adds it here. `data.fields` maps dataset columns and stays free-form.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from evalkit.schema import NonNegativeInt, PositiveFloat, PositiveInt, Strict


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

