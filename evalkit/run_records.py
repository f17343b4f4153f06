"""What a run writes, as typed records: samples.jsonl, errors.jsonl and metrics.json.

The files stay plain JSON (these are TypedDicts: a record is the very dict that is written),
and their schema, field by field with who writes and who reads each, is docs/records.md.

- `SampleRecord`: one scored sample, a line of samples.jsonl (`sample_record` builds it).
- `ErrorRecord`: one sample whose model call failed, a line of errors.jsonl.
- `FamilyMetrics`: what a family's `aggregate` returns: the headline figure with the rates
  that qualify it, and the family's own figures (typed below, each optional).
- `RunMetrics`: metrics.json: the family's part, then the run's settings (`RunInfo`).

Stored lines from older evalkit versions read back through `load_sample_record` and
`load_error_record`, which check the fields every reader relies on and name the file, row
and field of one that is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict, cast

from evalkit.errors import DataError
from evalkit.jsonl import iter_jsonl
from evalkit.jsontypes import JSONObject, JSONValue
from evalkit.records import FinishReason, Message, SamplingParamsDict

if TYPE_CHECKING:
    from evalkit.chat import ReasoningSplit
    from evalkit.records import Sample, Verdict
    from evalkit.solvers import EpisodeOutput


# --- samples.jsonl and errors.jsonl -------------------------------------------------------


class SampleRecord(TypedDict):
    """One scored sample: a line of samples.jsonl."""

    id: str
    repeat: int
    subject: str | None
    target: JSONValue
    extracted: JSONValue
    correct: bool
    score: float
    reason: str
    details: dict[str, Any]  # the family's own verdict details (Verdict.details), per family
    raw: str
    reasoning: str | None
    answer: str | None
    unclosed_think: bool
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    messages: list[Message]
    # Written since 2026-11-29 (f404b96, c8404f5): lines of earlier runs lack them.
    truncated: NotRequired[bool]
    n_calls: NotRequired[int]
    transcript: NotRequired[list[Message]]
    info: NotRequired[dict[str, Any]]  # what the solver decided that scoring needs (EpisodeOutput.info)


class ScoredRow(TypedDict):
    """The part of a samples.jsonl line that reports, gates and paired statistics read."""

    id: str | int
    score: float
    repeat: NotRequired[int]


class ErrorRecord(TypedDict):
    """One sample whose model call failed: a line of errors.jsonl."""

    id: str
    repeat: int
    error: str
    n_calls: int  # the failed call included


class ErrorExample(TypedDict):
    id: str
    repeat: int
    error: str


class ErrorSummary(TypedDict):
    """metrics.json's `errors`: how many samples failed of how many, and the first reasons."""

    failed_samples: int
    planned_samples: int
    examples: list[ErrorExample]


def sample_record(
    sample: Sample, repeat: int, out: EpisodeOutput, verdict: Verdict, split: ReasoningSplit
) -> SampleRecord:
    """The samples.jsonl line of one scored episode."""
    c = out.final
    subject = sample.metadata.get("subject")
    return {
        "id": sample.id,
        "repeat": repeat,
        "subject": subject,
        # A family may score against a target that depends on the episode (options shuffled per repeat).
        "target": verdict.details.get("target", sample.target),
        "extracted": verdict.extracted,
        "correct": verdict.correct,
        "score": verdict.score,
        "reason": verdict.reason,
        "details": verdict.details,
        "raw": c.text,
        "reasoning": split.reasoning,
        "answer": split.answer,
        "unclosed_think": split.unclosed_think,
        "finish_reason": c.finish_reason,
        "truncated": any(x.finish_reason == "length" for x in out.calls),
        "prompt_tokens": sum(x.prompt_tokens for x in out.calls),
        "completion_tokens": sum(x.completion_tokens for x in out.calls),
        "n_calls": len(out.calls),
        "messages": sample.messages,
        "transcript": out.transcript,
        "info": out.info,
    }


def error_record(sample_id: str, repeat: int, out: EpisodeOutput) -> ErrorRecord:
    """The errors.jsonl line of an episode whose model call failed."""
    return {
        "id": sample_id,
        "repeat": repeat,
        "error": out.final.error or "the runner gave no reason",
        "n_calls": len(out.calls),
    }


def error_summary(errors: Sequence[ErrorRecord], planned: int) -> ErrorSummary:
    """metrics.json's account of failed samples: how many of how many, and the first reasons."""
    return {
        "failed_samples": len(errors),
        "planned_samples": planned,
        "examples": [{"id": e["id"], "repeat": e["repeat"], "error": e["error"]} for e in errors[:5]],
    }


# --- reading stored lines back ------------------------------------------------------------

_FINISH_REASONS = ("stop", "length", "error")
_NUMBER = (int, float)

# field -> the JSON types it may hold (bool is an int in Python: checked apart below)
_SAMPLE_TYPES: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "repeat": (int,),
    "subject": (str, type(None)),
    "correct": (bool,),
    "score": _NUMBER,
    "reason": (str,),
    "details": (dict,),
    "raw": (str,),
    "reasoning": (str, type(None)),
    "answer": (str, type(None)),
    "unclosed_think": (bool,),
    "finish_reason": (str,),
    "prompt_tokens": (int,),
    "completion_tokens": (int,),
    "messages": (list,),
}
_SAMPLE_OPTIONAL_TYPES: dict[str, tuple[type, ...]] = {
    "truncated": (bool,),
    "n_calls": (int,),
    "transcript": (list,),
    "info": (dict,),
}
_ERROR_TYPES: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "repeat": (int,),
    "error": (str,),
    "n_calls": (int,),
}


def _check(
    row: JSONObject, types: dict[str, tuple[type, ...]], where: str | Path, n: int, required: bool
) -> None:
    for key, allowed in types.items():
        if key not in row:
            if required:
                raise DataError(where, n, key, "missing")
            continue
        v = row[key]
        is_bool = isinstance(v, bool)
        if not isinstance(v, allowed) or (is_bool and bool not in allowed):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in allowed)
            raise DataError(where, n, key, f"expected {names}, got {v!r:.80}")


def load_sample_record(row: JSONObject, where: str | Path, n: int) -> SampleRecord:
    """A stored samples.jsonl line as a `SampleRecord`, its fields checked (target and
    extracted are any JSON value; lines from before 2026-11-29 may lack the four later fields)."""
    _check(row, _SAMPLE_TYPES, where, n, required=True)
    _check(row, _SAMPLE_OPTIONAL_TYPES, where, n, required=False)
    for key in ("target", "extracted"):
        if key not in row:
            raise DataError(where, n, key, "missing")
    if row["finish_reason"] not in _FINISH_REASONS:
        raise DataError(where, n, "finish_reason", f"expected one of {', '.join(_FINISH_REASONS)}")
    return cast(SampleRecord, row)  # every field checked above


def load_error_record(row: JSONObject, where: str | Path, n: int) -> ErrorRecord:
    """A stored errors.jsonl line as an `ErrorRecord`, its fields checked."""
    _check(row, _ERROR_TYPES, where, n, required=True)
    return cast(ErrorRecord, row)  # every field checked above


def read_sample_records(path: Path) -> list[SampleRecord]:
    """Every line of a samples.jsonl as a checked `SampleRecord`."""
    return [load_sample_record(row, path, n) for n, row in iter_jsonl(path)]


def read_error_records(path: Path) -> list[ErrorRecord]:
    """Every line of an errors.jsonl as a checked `ErrorRecord` (none when the file is absent)."""
    return [load_error_record(row, path, n) for n, row in iter_jsonl(path)] if path.is_file() else []


# --- metrics.json -------------------------------------------------------------------------


class Tokens(TypedDict):
    prompt_mean: float
    completion_mean: float
    completion_max: int
    completion_total: int


class GroupFigure(TypedDict):
    """One group of a breakdown: its mean score, SE, 95 % interval and items."""

    value: float
    se: float
    ci95: NotRequired[list[float]]  # absent where no interval is defined (IFEval's per-instruction rates)
    n_items: int


class Breakdown(TypedDict):
    field: str  # what the groups are (subject, category, instruction, ...)
    groups: dict[str, GroupFigure]


class ValueSE(TypedDict):
    """A figure with its standard error."""

    value: float
    se: float


class EstimateFigure(TypedDict):
    """A named estimate over items (maj@n, pass@k of math tasks)."""

    metric: str
    value: float
    se: float
    ci95: list[float]
    n_items: int


class AnswerCheck(TypedDict):
    """Where final answers were found and how their equivalence checks went (math tasks)."""

    found_in: dict[str, int]
    timeouts: int
    failed: int
    time_limit_s: float
    mean_check_s: float


class Extraction(TypedDict):
    """How multiple-choice answers were extracted."""

    extractor: str
    variant: str | None
    strict: bool
    no_answer: str


class BfclCount(TypedDict):
    correct: float  # items right, an item's repeats averaged
    total: int


class BfclFigures(TypedDict):
    parts: dict[str, float | None]  # non_live, live, multi_turn, overall (None: a category not run)
    categories: dict[str, BfclCount]


class HelmetJudge(TypedDict):
    items_judged: int
    unusable_replies: int
    card_judge: str
    protocol: str


class JudgeProtocol(TypedDict):
    """The translation judge the spec names (any field None where the spec leaves it out)."""

    name: str | None
    scale: str | None
    card_judge: str | None
    template: str | None


@dataclass(frozen=True)
class Percent:
    """A rate in [0, 1] that a table shows in percent (None or NaN: not available)."""

    value: float | None


@dataclass(frozen=True)
class PercentSE:
    """A rate in [0, 1] with its standard error, shown in percent as "value ± SE"."""

    value: float
    se: float


# A table cell as a family gives it: text, a count, or a figure that reporting formats.
Cell = str | int | Percent | PercentSE


class DataTable(TypedDict):
    """A family's own table, as data: `evalkit.reporting.format.report_table` renders it."""

    title: str
    columns: list[str]
    rows: list[list[Cell]]
    note: str


class ReportTable(TypedDict):
    """A family's own table in metrics.json, its cells rendered (report.md prints them)."""

    title: str
    columns: list[str]
    rows: list[list[str | int]]
    note: str


class Headline(TypedDict):
    """The figure every family reports, and the rates a reader needs to trust it."""

    metric: str  # how the value was computed, e.g. pass@1[avg-of-4]
    value: float
    se: float
    ci95: list[float]  # [low, high]
    n_items: int
    n_samples: int
    n_repeats: int
    no_answer_rate: float
    truncation_rate: float
    unclosed_think_rate: float
    tokens: Tokens


# The families' own figures, each written by the families named (keys such as "maj@n" are no
# Python names, hence this form).
_FamilyFigures = TypedDict(
    "_FamilyFigures",
    {
        "breakdown": Breakdown,  # default: by subject, when the task has subjects
        "breakdowns": dict[str, Breakdown],  # multiple_choice: further groupings (MMLU-Pro by source)
        "extraction": Extraction,  # multiple_choice
        "maj@n": EstimateFigure,  # math, with repeats
        "pass@k": dict[str, EstimateFigure],  # math, with repeats; keyed by k
        "answer_check": AnswerCheck,  # math
        "data_note": str,  # math: the spec's note on a stand-in data set
        "figures": dict[str, ValueSE] | dict[str, dict[str, ValueSE]],  # ifeval; multi_if per turn
        "bfcl": BfclFigures,  # bfcl
        "bfcl_missing_categories": list[str],  # bfcl, when not every category ran
        "categories": dict[str, float],  # helmet, longbench, ko_longbench: category means
        "category_status": dict[str, str],  # helmet: how each category was scored
        "not_scored": dict[str, str],  # helmet: categories not scored, and why
        "judge": HelmetJudge,  # helmet
        "context_cut_rate": float,  # helmet
        "protocol_differences": list[str],  # helmet
        "middle_truncated_rate": float,  # longbench, ko_longbench
        "reproducible": bool,  # ko_longbench
        "note": str,  # ko_longbench
        "lengths": list[int],  # ruler: the context lengths run
        "pass_at_k": dict[str, ValueSE],  # livecodebench; keyed "pass@k"
        "sandbox_isolation": list[str],  # livecodebench
        "pass_hat_k": dict[str, float],  # tau_bench; keyed "pass^k"
        "chrf_corpus": float,  # translation
        "judge_mean": float,  # translation, when every record was judged
        "judge_coverage": float,  # translation, otherwise
        "judge_protocol": JudgeProtocol,  # translation
    },
    total=False,
)


class FamilyMetrics(Headline, _FamilyFigures):
    """What a family's `aggregate` returns: the headline and its own figures. Its tables are
    data; metrics.json holds them rendered by `evalkit.reporting`."""

    tables: NotRequired[list[DataTable]]


class RunInfo(TypedDict):
    """The run's part of metrics.json, written by the pipeline after the family's figures.
    The NotRequired keys are absent in runs written before 2026-11-29 (aux_runners, order_seed,
    kv_plan) or 2026-12-02 (incomplete, errors, runner_args): readers `.get` them."""

    incomplete: NotRequired[bool]
    errors: NotRequired[ErrorSummary]
    task: str
    title: str
    benchmark: str | None
    mode: str  # reasoning or non-reasoning
    model: str
    runner_profile: str
    runner: dict[str, object]  # the runner's describe(): settings that change results
    runner_args: NotRequired[dict[str, object]]  # typed values of --runner-arg overrides
    aux_runners: NotRequired[dict[str, dict[str, object]]]
    placeholder_model: bool
    reference_size: str
    data_source: str
    synthetic_data: bool
    params: SamplingParamsDict
    max_new_tokens_capped_by_profile: bool
    seed: int
    order_seed: NotRequired[int | None]
    run_id: str
    wall_time_s: float
    generation_time_s: float
    calls_reused_from_store: int
    kv_plan: NotRequired[dict[str, object] | None]
    prompt_source: str
    evalkit_version: str
    finished: str  # UTC, ISO 8601


class RunMetrics(Headline, _FamilyFigures, RunInfo):
    """metrics.json: the family's figures, then the run's settings."""

    tables: NotRequired[list[ReportTable]]


# What report.md reads without a fallback: a stored metrics.json must have these.
REPORT_KEYS = (
    *Headline.__annotations__,
    "title",
    "mode",
    "model",
    "runner_profile",
    "runner",
    "data_source",
    "params",
    "seed",
    "wall_time_s",
    "generation_time_s",
    "calls_reused_from_store",
    "evalkit_version",
    "run_id",
    "finished",
)


def load_run_metrics(path: Path) -> RunMetrics:
    """A stored metrics.json as `RunMetrics`: a JSON object with every key report.md reads
    without a fallback (`REPORT_KEYS`; a missing one is a DataError naming it). Other keys are
    read with `.get`: runs of older versions lack some of them."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(path, None, None, f"not JSON ({e.msg})") from e
    if not isinstance(raw, dict):
        raise DataError(path, None, None, "expected a JSON object")
    for key in REPORT_KEYS:
        if key not in raw:
            raise DataError(path, None, key, "missing")
    return cast(RunMetrics, raw)  # keys checked above; values as the pipeline wrote them
