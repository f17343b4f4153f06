"""BFCL v3 (Berkeley Function Calling Leaderboard): tool calls checked by program.

Single-turn categories: the item's functions go to the model through the chat template's
`tools=`, the `<tool_call>` blocks of its answer are decoded and checked against the
accepted answers by BFCL's rules (evalkit.benchmarks.bfcl.ast_check), or for (ir)relevance only
whether it called anything. Multi-turn categories run the model against executable
simulations of BFCL's APIs (evalkit.benchmarks.bfcl.multi_turn) and compare end states and
results with those of the ground-truth calls. The run's figure is the leaderboard's
overall (evalkit.benchmarks.bfcl.board); every category is reported.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from evalkit.benchmarks.bfcl.board import CATEGORIES, LIVE, MULTI_TURN, NON_LIVE, CategoryScore, board
from evalkit.benchmarks.bfcl.schema import tools_for_prompt
from evalkit.benchmarks.bfcl.single import RELEVANCE_CATEGORIES, score_single_turn
from evalkit.data import Row
from evalkit.errors import DataError
from evalkit.families.base import BuildContext, Solver
from evalkit.families.defaults import inline_sample as inline_sample
from evalkit.metrics import aggregate as default_aggregate
from evalkit.records import ChatRequest, Completion, Message, Sample, SamplingParams, Verdict
from evalkit.run_records import Cell, FamilyMetrics, Percent, SampleRecord
from evalkit.solvers import EpisodeOutput
from evalkit.specs import TaskSpec
from evalkit.stats import Z95
from evalkit.wording import plural

if TYPE_CHECKING:
    from evalkit.families import ScoreContext


def _field(row: Row, name: str, where: str) -> Any:
    v: Any = row.fields.get(name)
    if hasattr(v, "tolist"):  # numpy arrays from parquet
        v = v.tolist()
    if isinstance(v, str) and name in (
        "question",
        "function",
        "ground_truth",
        "initial_config",
        "involved_classes",
    ):
        try:  # CSV/parquet copies may keep nested fields as JSON text
            v = json.loads(v)
        except json.JSONDecodeError as e:
            raise DataError(where, row.index + 1, name, f"not valid JSON ({e.msg})") from e
    return v


def _messages(turn: Any, row: Row, where: str, field: str) -> list[Message]:
    if not isinstance(turn, list) or not all(isinstance(m, dict) and "role" in m for m in turn):
        raise DataError(where, row.index + 1, field, "expected a list of {role, content} messages")
    return [{"role": str(m["role"]), "content": str(m.get("content", ""))} for m in turn]


def build_sample(row: Row, spec: TaskSpec, ctx: BuildContext) -> Sample:
    """One BFCL entry: its first turn's messages, its functions as tools, the accepted answers."""
    where = ctx.where
    category = row.fields.get("category")
    if category not in CATEGORIES:
        raise DataError(where, row.index + 1, "category", f"not a BFCL v3 category: {category!r}")
    question = _field(row, "question", where)
    if not isinstance(question, list) or not question:
        raise DataError(where, row.index + 1, "question", "expected a non-empty list of turns")
    answers = _field(row, "ground_truth", where)
    if category in MULTI_TURN:
        from evalkit.benchmarks.bfcl.multi_turn.episode import multi_turn_metadata

        try:
            meta = multi_turn_metadata(row.fields, question, answers)
        except ValueError as e:
            raise DataError(where, row.index + 1, "initial_config", str(e)) from e
        return Sample(
            id=row.id,
            messages=_messages(question[0], row, where, "question[0]"),
            target=answers,
            tools=meta["tools"][0],
            metadata={"category": category, "subject": category, **meta},
        )
    functions = _field(row, "function", where)
    if not isinstance(functions, list) or not all(isinstance(f, dict) and "name" in f for f in functions):
        raise DataError(where, row.index + 1, "function", "expected a list of function docs with names")
    if category not in RELEVANCE_CATEGORIES and not isinstance(answers, list):
        raise DataError(where, row.index + 1, "ground_truth", "missing (the possible_answer entry)")
    return Sample(
        id=row.id,
        messages=_messages(question[0], row, where, "question[0]"),
        target=answers,
        tools=tools_for_prompt(functions, category) if functions else None,
        metadata={"category": category, "subject": category, "functions": functions},
    )


def solve(
    sample: Sample, params: SamplingParams, enable_thinking: bool, repeat: int = 0
) -> Generator[ChatRequest, Completion, EpisodeOutput]:
    """Single-turn: one call. Multi-turn: the model works each user turn with the simulated APIs."""
    if sample.metadata["category"] in MULTI_TURN:
        from evalkit.benchmarks.bfcl.multi_turn.episode import run_episode

        out: EpisodeOutput = yield from run_episode(sample, params, enable_thinking)
        return out
    completion = yield ChatRequest(
        messages=list(sample.messages), params=params, enable_thinking=enable_thinking, tools=sample.tools
    )
    return EpisodeOutput(calls=[completion], final=completion)


def solver(spec: TaskSpec, roles: frozenset[str]) -> Solver:
    """Every category through `solve` (single-turn: one call; multi-turn: the simulated APIs)."""
    return solve


def score(sample: Sample, output: EpisodeOutput, ctx: ScoreContext) -> Verdict:
    category = sample.metadata["category"]
    if category in MULTI_TURN:
        from evalkit.benchmarks.bfcl.multi_turn.episode import score_episode

        valid, error_type, detail = score_episode(sample, output, ctx.reasoning_mode)
        return Verdict(
            extracted=detail.get("calls"),
            correct=valid,
            reason="valid" if valid else error_type,
            score=1.0 if valid else 0.0,
            details={"valid": valid, "error_type": error_type, "category": category, **detail},
        )
    c = output.final
    answer = ctx.split(c).answer
    note = "" if answer is not None else " (reasoning never closed: no answer, so no call)"
    check, decoded = score_single_turn(category, sample.metadata["functions"], answer or "", sample.target)
    return Verdict(
        extracted=decoded,
        correct=check.valid,
        reason=("valid" if check.valid else f"{check.error_type}: {check.error}") + note,
        score=1.0 if check.valid else 0.0,
        details={"valid": check.valid, "error_type": check.error_type, "category": category},
    )


def verdict_row(v: Verdict) -> dict[str, object]:
    """`evalkit score` rows: BFCL's verdict and error type."""
    return {"valid": v.details["valid"], "error_type": v.details["error_type"]}


def output_from_response(rec: dict[str, Any], where: str, row: int) -> EpisodeOutput:
    """A single-turn row has `response` (the model's text). A multi-turn row has `responses`:
    per user turn, the model's outputs step by step (tool results are recomputed by replay)."""
    if isinstance(rec.get("responses"), list):
        from evalkit.benchmarks.bfcl.multi_turn.episode import output_from_turn_texts

        return output_from_turn_texts(rec["responses"], where, row)
    if not isinstance(rec.get("response"), str):
        raise DataError(where, row, "response", "missing or not a string (multi-turn rows use 'responses')")
    c = Completion(text=rec["response"], finish_reason="stop")
    return EpisodeOutput(calls=[c], final=c)


def _category_scores(records: list[SampleRecord]) -> dict[str, CategoryScore]:
    by: dict[str, list[float]] = defaultdict(list)
    per_item: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in records:
        per_item[(r["details"]["category"], r["id"])].append(r["score"])
    for (cat, _), s in per_item.items():
        by[cat].append(sum(s) / len(s))  # repeats of an item average first
    return {c: CategoryScore(sum(v), len(v)) for c, v in by.items()}


def _overall_se(records: list[SampleRecord], value: float | None) -> float:
    """Delete-one-item jackknife of the leaderboard overall."""
    if value is None:
        return math.nan
    items: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in records:
        items[(r["details"]["category"], r["id"])].append(r["score"])
    means = {k: sum(v) / len(v) for k, v in items.items()}
    totals = _category_scores(records)
    loo = []
    for (cat, _), m in means.items():
        t = dict(totals)
        t[cat] = CategoryScore(t[cat].correct - m, t[cat].total - 1)
        o = board(t)["overall"]
        if o is not None:
            loo.append(o)
    n = len(loo)
    if n < 2:
        return math.nan
    mean = sum(loo) / n
    return math.sqrt((n - 1) / n * sum((x - mean) ** 2 for x in loo))


def aggregate(records: list[SampleRecord], n_repeats: int, spec: TaskSpec) -> FamilyMetrics:
    """The leaderboard overall when every category ran; else the plain accuracy, labelled so."""
    out = default_aggregate(records, n_repeats=n_repeats, breakdown_field="subject")
    out["breakdown"]["field"] = "category"
    cats = _category_scores(records)
    parts = board(cats)
    if parts["overall"] is not None:
        out["metric"] = "BFCL v3 overall (leaderboard formula)"
        out["value"] = parts["overall"]
        out["se"] = _overall_se(records, parts["overall"])
        out["ci95"] = [out["value"] - Z95 * out["se"], out["value"] + Z95 * out["se"]]
    else:
        missing = [c for c in CATEGORIES if c not in cats]
        out["metric"] = f"accuracy over the {plural(len(cats), 'category')} run (not the leaderboard overall)"
        out["bfcl_missing_categories"] = missing
    out["bfcl"] = {
        "parts": parts,
        "categories": {c: {"correct": s.correct, "total": s.total} for c, s in cats.items()},
    }
    rows: list[list[Cell]] = []
    for group, members in (("non-live", NON_LIVE), ("live", LIVE), ("multi-turn", MULTI_TURN)):
        for c in members:
            s = cats.get(c)
            rows.append([group, c, s.total if s else 0, Percent(s.accuracy) if s else "not run"])
    summary: list[list[Cell]] = [
        ["summary", name, "", Percent(v) if v is not None else "incomplete"]
        for name, v in (
            ("non-live (simple = mean of python/java/javascript)", parts["non_live"]),
            ("live (pooled)", parts["live"]),
            ("multi-turn", parts["multi_turn"]),
            ("overall", parts["overall"]),
        )
    ]
    out["tables"] = [
        {
            "title": "BFCL v3 categories",
            "columns": ["group", "category", "items", "accuracy"],
            "rows": rows + summary,
            "note": "Overall = unweighted mean of non-live, live and multi-turn, as the BFCL v3 leaderboard "
            "computes it (gorilla cd9429c). A group with a category not run is incomplete.",
        }
    ]
    return out
