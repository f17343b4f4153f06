"""Multi-IF: three-turn conversations, each turn adding instructions that all later turns
must keep following; every turn's answer is checked with the IFEval checkers.

The solver sends turn k with the model's own earlier answers in the history. The earlier
assistant messages carry the model's raw output: EXAONE's chat template keeps only the
part after `</think>` (skip_think), as it does in deployment. A reasoning-mode turn that
never closes its think block has no answer; the history then carries an empty answer.

Figures follow Multi-IF's `metrics.py`: per turn, over the conversations that have that
turn, prompt- and instruction-level accuracy, strict and loose, and their mean ("turn k
overall"); the headline is the mean of the three turn figures (what EXAONE's "Multi-IF
(EN)" row reports is not stated: see the task spec).
"""

from __future__ import annotations

import json
import math
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from evalkit.benchmarks.ifeval import Dialect, Instruction, check_response
from evalkit.benchmarks.ifeval.figures import FIGURES, Figure, Scored, item_sums, jackknife, ratios
from evalkit.chat import split_completion
from evalkit.data import Row
from evalkit.errors import DataError
from evalkit.families.base import BuildContext, Solver
from evalkit.families.defaults import inline_sample as inline_sample
from evalkit.families.ifeval import FIGURE_TITLES, instructions_of
from evalkit.metrics import aggregate as default_aggregate
from evalkit.records import ChatRequest, Completion, Message, Sample, SamplingParams, Verdict
from evalkit.run_records import Cell, FamilyMetrics, PercentSE, SampleRecord, ValueSE
from evalkit.solvers import EpisodeOutput
from evalkit.specs import TaskSpec
from evalkit.stats import Z95

if TYPE_CHECKING:
    from evalkit.families import ScoreContext

TURNS = (1, 2, 3)


def _turn_prompt(row: Row, t: int, where: str) -> str | None:
    raw = row.fields.get(f"turn_{t}_prompt")
    if raw is None or (isinstance(raw, float) and math.isnan(raw)) or raw in ("", "None"):
        return None  # a conversation with fewer turns
    msg = raw
    if isinstance(raw, str):
        try:
            msg = json.loads(raw)
        except json.JSONDecodeError as e:
            raise DataError(where, row.index + 1, f"turn_{t}_prompt", f"not valid JSON ({e.msg})") from e
    if not isinstance(msg, dict) or msg.get("role") != "user" or not isinstance(msg.get("content"), str):
        raise DataError(
            where, row.index + 1, f"turn_{t}_prompt", 'expected {"role": "user", "content": "..."}'
        )
    return str(msg["content"])


def build_sample(row: Row, spec: TaskSpec, ctx: BuildContext) -> Sample:
    """All turns' prompts and (cumulative) instruction lists; the first prompt as the message."""
    where = ctx.where
    turns: list[dict[str, Any]] = []
    for t in TURNS:
        prompt = _turn_prompt(row, t, where)
        if prompt is None:
            break
        ins = instructions_of(row, f"turn_{t}_instruction_id_list", f"turn_{t}_kwargs", where)
        turns.append({"prompt": prompt, "instructions": ins})
    if not turns:
        raise DataError(where, row.index + 1, "turn_1_prompt", "the conversation has no first turn")
    messages: list[Message] = [{"role": "user", "content": turns[0]["prompt"]}]
    return Sample(
        id=row.id,
        messages=messages,
        target=[{"instruction_id_list": [i.id for i in t["instructions"]]} for t in turns],
        metadata={"turns": turns, "subject": str(row.fields.get("language") or "")},
    )


def multi_turn(
    sample: Sample, params: SamplingParams, enable_thinking: bool, repeat: int = 0
) -> Generator[ChatRequest, Completion, EpisodeOutput]:
    """One request per turn, with the model's earlier answers in the history."""
    history: list[Message] = []
    calls: list[Completion] = []
    for turn in sample.metadata["turns"]:
        history.append({"role": "user", "content": turn["prompt"]})
        c = yield ChatRequest(messages=list(history), params=params, enable_thinking=enable_thinking)
        calls.append(c)
        answered = c.reasoning_content is not None or not enable_thinking or "</think>" in c.text
        # Raw text: the template drops everything up to </think>. With no </think> in reasoning
        # mode there is no answer, and the reasoning must not pass for one.
        history.append({"role": "assistant", "content": c.text if answered else ""})
    return EpisodeOutput(calls=calls, final=calls[-1], transcript=history)


def solver(spec: TaskSpec, roles: frozenset[str]) -> Solver:
    """One request per turn (`multi_turn`)."""
    return multi_turn


def _turn_verdicts(sample: Sample, output: EpisodeOutput, reasoning_mode: bool) -> list[dict[str, Any]]:
    out = []
    for k, turn in enumerate(sample.metadata["turns"]):
        instructions: list[Instruction] = turn["instructions"]
        answer: str | None = None
        if k < len(output.calls):
            c = output.calls[k]
            answer = split_completion(c.text, c.reasoning_content, reasoning_mode=reasoning_mode).answer
        followed = check_response(answer or "", instructions, Dialect.MULTI_IF)
        if answer is None:  # nothing to check: every instruction fails, both ways
            followed = type(followed)(strict=[False] * len(instructions), loose=[False] * len(instructions))
        out.append(
            {
                "turn": k + 1,
                "answered": answer is not None,
                "instruction_id_list": [i.id for i in instructions],
                "inst_level_strict": followed.strict,
                "inst_level_loose": followed.loose,
                "prompt_level_strict": followed.prompt_strict,
                "prompt_level_loose": followed.prompt_loose,
            }
        )
    return out


def score(sample: Sample, output: EpisodeOutput, ctx: ScoreContext) -> Verdict:
    """Per-turn verdicts. The sample's own score is the mean over its turns of the mean of the
    four per-turn measures (instruction-level as this conversation's fraction); the run's
    figures are computed over all conversations by `aggregate`, as Multi-IF does."""
    turns = _turn_verdicts(sample, output, ctx.reasoning_mode)
    per_turn = []
    for t in turns:
        n = len(t["inst_level_strict"])
        per_turn.append(
            (
                t["prompt_level_strict"]
                + t["prompt_level_loose"]
                + sum(t["inst_level_strict"]) / n
                + sum(t["inst_level_loose"]) / n
            )
            / 4
        )
    all_ok = all(t["prompt_level_strict"] for t in turns)
    missing = [str(t["turn"]) for t in turns if not t["answered"]]
    failed = [str(t["turn"]) for t in turns if t["answered"] and not t["prompt_level_strict"]]
    reason = (
        "every turn followed (strict)"
        if all_ok
        else "; ".join(
            x
            for x in (
                f"no answer in turn {', '.join(missing)}" if missing else "",
                f"not followed in turn {', '.join(failed)}" if failed else "",
            )
            if x
        )
    )
    return Verdict(
        extracted=None
        if missing
        else f"{sum(t['prompt_level_strict'] for t in turns)}/{len(turns)} turns strict",
        correct=all_ok,
        reason=reason,
        score=sum(per_turn) / len(per_turn),
        details={"turns": turns},
    )


def verdict_row(v: Verdict) -> dict[str, object]:
    """`evalkit score` rows: per turn, the four IFEval verdicts."""
    return {
        "turns": [
            {
                k: t[k]
                for k in (
                    "turn",
                    "prompt_level_strict",
                    "prompt_level_loose",
                    "inst_level_strict",
                    "inst_level_loose",
                )
            }
            for t in v.details["turns"]
        ]
    }


def output_from_response(rec: dict[str, Any], where: str, row: int) -> EpisodeOutput:
    """`responses`: the model's output per turn, in order (later turns may be left out: unanswered)."""
    rs = rec.get("responses")
    if not isinstance(rs, list) or not rs or not all(isinstance(r, str) for r in rs):
        raise DataError(where, row, "responses", "expected a non-empty list of strings, one per turn")
    if len(rs) > len(TURNS):
        raise DataError(
            where, row, "responses", f"has {len(rs)} entries; Multi-IF has at most {len(TURNS)} turns"
        )
    calls = [Completion(text=r, finish_reason="stop") for r in rs]
    return EpisodeOutput(calls=calls, final=calls[-1])


def turn_figures(records: list[SampleRecord]) -> dict[int, dict[str, Figure]]:
    """Per turn: the four figures over the conversations that have that turn, plus 'overall'."""
    out: dict[int, dict[str, Figure]] = {}
    for t in TURNS:
        scored = [
            Scored(r["id"], d["inst_level_strict"], d["inst_level_loose"])
            for r in records
            for d in r["details"]["turns"]
            if d["turn"] == t
        ]
        if not scored:
            continue
        sums = item_sums(scored)
        figs = {name: jackknife(sums, lambda v, name=name: ratios(v)[name]) for name in FIGURES}  # type: ignore[misc]
        figs["overall"] = jackknife(sums, lambda v: sum(ratios(v).values()) / 4)
        out[t] = figs
    return out


def _headline(records: list[SampleRecord], turns: list[int]) -> Figure:
    """Mean over turns of each turn's overall, with a jackknife over conversations."""
    per_item: dict[str, list[float]] = {}
    for r in records:
        vec = per_item.setdefault(r["id"], [0.0] * (6 * len(TURNS)))
        for d in r["details"]["turns"]:
            base = 6 * (d["turn"] - 1)
            vec[base] += 1
            vec[base + 1] += all(d["inst_level_strict"])
            vec[base + 2] += all(d["inst_level_loose"])
            vec[base + 3] += len(d["inst_level_strict"])
            vec[base + 4] += sum(d["inst_level_strict"])
            vec[base + 5] += sum(d["inst_level_loose"])

    def stat(v: Any) -> float:
        return sum(sum(ratios(v[6 * (t - 1) : 6 * t]).values()) / 4 for t in turns) / len(turns)

    return jackknife(per_item, stat)


def aggregate(records: list[SampleRecord], n_repeats: int, spec: TaskSpec) -> FamilyMetrics:
    out = default_aggregate(records, n_repeats=n_repeats, breakdown_field=None)
    figs = turn_figures(records)
    head = _headline(records, sorted(figs))
    out["metric"] = "mean over turns of the per-turn overall (mean of prompt/instruction × strict/loose)"
    out["value"], out["se"] = head.value, head.se
    out["ci95"] = [head.value - Z95 * head.se, head.value + Z95 * head.se]
    figures: dict[str, dict[str, ValueSE]] = {
        f"turn_{t}": {k: {"value": f.value, "se": f.se} for k, f in fs.items()} for t, fs in figs.items()
    }
    out["figures"] = figures
    titles = {**FIGURE_TITLES, "overall": "turn overall (mean of the four)"}
    rows: list[list[Cell]] = [
        [titles[k], *(PercentSE(figs[t][k].value, figs[t][k].se) if t in figs else "—" for t in TURNS)]
        for k in (*FIGURES, "overall")
    ]
    counts: list[Cell] = [
        "conversations with this turn",
        *(
            str(len({r["id"] for r in records if any(d["turn"] == t for d in r["details"]["turns"])}))
            for t in TURNS
        ),
    ]
    out["tables"] = [
        {
            "title": "Multi-IF figures per turn",
            "columns": ["figure", "turn 1", "turn 2", "turn 3"],
            "rows": [*rows, counts],
            "note": "As facebookresearch/Multi-IF metrics.py: each turn over the conversations that have it; "
            "instruction lists are cumulative. Standard errors: delete-one-conversation jackknife.",
        }
    ]
    return out
