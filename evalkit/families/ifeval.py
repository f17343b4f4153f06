"""IFEval: one prompt with verifiable instructions; the response is checked by program.

A sample's verdict is prompt-level strict (every instruction followed, checked on the
answer as written); its details keep the per-instruction strict and loose verdicts, from
which `aggregate` computes IFEval's four figures. Reasoning (text up to `</think>`) is
removed before checking; a reasoning-mode response that never closes its think block has
no answer and follows nothing.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from evalkit.benchmarks.ifeval import ArgError, Dialect, Instruction, check_response, parse_instructions
from evalkit.benchmarks.ifeval.figures import FIGURES, Figure, Scored, ifeval_figures
from evalkit.chat import split_completion
from evalkit.data import Row
from evalkit.errors import DataError
from evalkit.families.base import BuildContext
from evalkit.families.defaults import inline_sample as inline_sample
from evalkit.families.defaults import output_from_response as output_from_response
from evalkit.families.defaults import solver as solver
from evalkit.metrics import aggregate as default_aggregate
from evalkit.prompts import render_prompt
from evalkit.records import Message, Sample, Verdict
from evalkit.run_records import Cell, DataTable, FamilyMetrics, PercentSE, SampleRecord, ValueSE
from evalkit.specs import TaskSpec

if TYPE_CHECKING:
    from evalkit.families import ScoreContext
    from evalkit.solvers import EpisodeOutput

FIGURE_TITLES = {
    "prompt_level_strict": "prompt-level strict",
    "inst_level_strict": "instruction-level strict",
    "prompt_level_loose": "prompt-level loose",
    "inst_level_loose": "instruction-level loose",
}


def _list_field(row: Row, name: str, where: str) -> list[Any]:
    v: Any = row.fields.get(name)
    if hasattr(v, "tolist"):  # numpy arrays from parquet
        v = v.tolist()
    if isinstance(v, str):  # CSV copies keep lists as JSON text
        try:
            v = json.loads(v)
        except json.JSONDecodeError as e:
            raise DataError(where, row.index + 1, name, f"not a JSON list ({e.msg})") from e
    if not isinstance(v, list):
        raise DataError(where, row.index + 1, name, f"expected a list, got {type(v).__name__}")
    return v


def instructions_of(row: Row, ids_field: str, kwargs_field: str, where: str) -> list[Instruction]:
    """Parse one row's instruction list; a bad entry names the row and the kwargs field."""
    ids = _list_field(row, ids_field, where)
    kwargs = _list_field(row, kwargs_field, where)
    kwargs = [json.loads(k) if isinstance(k, str) else k for k in kwargs]
    try:
        return parse_instructions(ids, kwargs)
    except ArgError as e:
        field = e.field if e.field.startswith("instruction_id_list") else f"{kwargs_field}{e.field[6:]}"
        raise DataError(where, row.index + 1, field, str(e).split(": ", 1)[-1]) from e


def build_sample(row: Row, spec: TaskSpec, ctx: BuildContext) -> Sample:
    """The prompt as the only user message; the instructions (validated) as the target."""
    where = ctx.where
    f = spec.data.fields
    prompt = row.fields.get(f.get("question", "prompt"))
    if not isinstance(prompt, str) or not prompt.strip():
        raise DataError(where, row.index + 1, f.get("question", "prompt"), "missing or empty prompt")
    ids_field = f.get("instruction_id_list", "instruction_id_list")
    kwargs_field = f.get("kwargs", "kwargs")
    instructions = instructions_of(row, ids_field, kwargs_field, where)
    template = str(spec.prompt["template"])
    # The usual template is the prompt itself: send it verbatim (rendering would strip it).
    content = prompt if template.strip() == "{{ prompt }}" else render_prompt(template, prompt=prompt)
    messages: list[Message] = [{"role": "user", "content": content}]
    return Sample(
        id=row.id,
        messages=messages,
        target={
            "instruction_id_list": [i.id for i in instructions],
            "kwargs": [i.args for i in instructions],
        },
        metadata={"instructions": instructions},
    )


def answer_text(text: str, reasoning_content: str | None, reasoning_mode: bool) -> str | None:
    """The answer part of a completion (reasoning removed), None when there is none."""
    return split_completion(text, reasoning_content, reasoning_mode=reasoning_mode).answer


def score(sample: Sample, output: EpisodeOutput, ctx: ScoreContext) -> Verdict:
    """Check every instruction strictly and loosely on the answer."""
    instructions: list[Instruction] = sample.metadata["instructions"]
    c = output.final
    answer = answer_text(c.text, c.reasoning_content, ctx.reasoning_mode)
    if answer is None:
        followed = check_response("", instructions)  # nothing followed, both ways
        reason = "reasoning not closed with </think>: no answer"
    else:
        followed = check_response(answer, instructions, Dialect.IFEVAL)
        missed = [i.id for i, ok in zip(instructions, followed.strict, strict=True) if not ok]
        reason = "all instructions followed" if not missed else "not followed (strict): " + ", ".join(missed)
    ok = followed.prompt_strict
    return Verdict(
        extracted=None if answer is None else f"{sum(followed.strict)}/{len(instructions)} strict",
        correct=ok,
        reason=reason,
        score=1.0 if ok else 0.0,
        details={
            "instruction_id_list": [i.id for i in instructions],
            "prompt_level_strict": followed.prompt_strict,
            "prompt_level_loose": followed.prompt_loose,
            "inst_level_strict": followed.strict,
            "inst_level_loose": followed.loose,
        },
    )


def verdict_row(v: Verdict) -> dict[str, object]:
    """`evalkit score` rows: the four verdicts IFEval's reference writes per response."""
    d = v.details
    return {
        k: d[k]
        for k in ("prompt_level_strict", "prompt_level_loose", "inst_level_strict", "inst_level_loose")
    }


def _scored(records: list[SampleRecord]) -> list[Scored]:
    return [
        Scored(r["id"], r["details"]["inst_level_strict"], r["details"]["inst_level_loose"]) for r in records
    ]


def figures_table(figs: dict[str, Figure], title: str, note: str = "") -> DataTable:
    rows: list[list[Cell]] = [[FIGURE_TITLES[k], PercentSE(figs[k].value, figs[k].se)] for k in FIGURES]
    return {"title": title, "columns": ["figure", "value ± SE"], "rows": rows, "note": note}


def aggregate(records: list[SampleRecord], n_repeats: int, spec: TaskSpec) -> FamilyMetrics:
    """Headline: prompt-level strict accuracy (the figure the model card's IFEval row most
    likely reports); all four figures, and per-instruction strict accuracy, alongside."""
    out = default_aggregate(records, n_repeats=n_repeats, breakdown_field=None)
    figs = ifeval_figures(_scored(records))
    out["metric"] = "prompt-level strict accuracy" + (f" [avg-of-{n_repeats}]" if n_repeats > 1 else "")
    figures: dict[str, ValueSE] = {k: {"value": f.value, "se": f.se} for k, f in figs.items()}
    out["figures"] = figures
    by_type: dict[str, list[bool]] = {}
    for r in records:
        for iid, ok in zip(
            r["details"]["instruction_id_list"], r["details"]["inst_level_strict"], strict=True
        ):
            by_type.setdefault(iid, []).append(ok)
    out["breakdown"] = {
        "field": "instruction",
        "groups": {
            k: {"value": sum(v) / len(v), "se": float("nan"), "n_items": len(v)}
            for k, v in sorted(by_type.items())
        },
    }
    out["tables"] = [
        figures_table(
            figs,
            "IFEval figures",
            "Instruction-level figures pool all instructions of all responses; standard errors are "
            "delete-one-item jackknife estimates.",
        )
    ]
    return out
