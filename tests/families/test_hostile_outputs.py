"""Every task family survives hostile model output with a verdict and a reason (issue 16, item 4).

Seeded fuzzing: each family's own solver is driven with outputs from tests/families/hostile.py
(deep nesting, huge numbers, lone surrogates, multi-MB texts, control characters, wrapped
in boxed answers, `Answer:` lines, tool calls of the task's own tools, code fences and think
blocks), for multi-turn families on every turn. Each verdict must be well formed, its record
must survive the JSONL writer with surrogates kept (escaped, read back unchanged), and the
family's aggregate and `evalkit score` row must accept it. `make test` runs a few hundred
outputs per family; `make check-data` larger and deeper ones.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass

import pytest

from evalkit.data import load_rows
from evalkit.families import BuildContext, ScoreContext, load_family
from evalkit.jsonl import dumps_line
from evalkit.pipeline import _record as run_record
from evalkit.records import Completion, Sample, SamplingParams, Verdict
from evalkit.registry import get_task
from evalkit.solvers import EpisodeOutput
from tests.families.hostile import hostile_outputs


def utf16_joined(text: str) -> str:
    """`text` with each high+low surrogate pair joined into the character it encodes: JSON
    escapes are UTF-16, so "\\ud83d\\ude00" reads back as one character, as in any decoder."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


@dataclass(frozen=True)
class Case:
    task: str  # a task of the family, with a bundled sample
    n: int  # hostile outputs in `make test`
    multi_mb: int  # of which several megabytes long
    never_right: bool  # the gold answer cannot be in a hostile output
    rows: int = 60  # dataset rows built into samples (long-context rows are costly to build)


# Multi-MB outputs join `make test` where they cost under a second (chrF, ROUGE and the
# hardened choice extractor take seconds per multi-MB text: those run under check-data).
CASES = {
    "math": Case("aime2025", 200, 1, True),
    "multiple_choice": Case("kmmlu_pro", 300, 0, False),
    "multiple_choice-official": Case("mmlu_pro", 300, 1, False),
    "multiple_choice-simple_evals": Case("mmmlu_es", 300, 1, False),
    "bfcl": Case("bfcl_v3", 500, 1, False),  # (ir)relevance: no usable call is the right answer
    "ifeval": Case("ifeval", 300, 1, False),  # garbage may follow an instruction by accident
    "multi_if": Case("multi_if_en", 100, 0, False),  # three turns each
    "translation": Case("wmt24pp_es", 200, 0, True),
    "livecodebench": Case("livecodebench_v6", 150, 1, True),  # fenced code runs in the sandbox
    "longbench": Case("longbench_v1", 300, 0, False, rows=6),
    "ko_longbench": Case("ko_longbench", 300, 0, False, rows=6),
    "helmet": Case("helmet", 300, 1, False, rows=6),
    "ruler": Case("ruler", 300, 1, False, rows=6),
    "tau_bench": Case("tau_bench_retail", 100, 1, True),  # up to 30 agent steps each
}


@functools.cache
def _samples(task: str, rows: int) -> list[Sample]:
    """Samples of the first `rows` rows, at most 3 per subject or category unless there are
    fewer than 3 (BFCL: every category of the bundled sample)."""
    spec = get_task(task)
    family = load_family(spec.family)
    build = BuildContext("sample", model="tiny")  # long-context families size prompts in its tokens
    out: list[Sample] = []
    seen: set[object] = set()
    for row in load_rows(spec, "sample", rows).rows:
        s = family.build_sample(row, spec, build)
        kind = s.metadata.get("category") or s.metadata.get("subject")
        if kind in seen and len(out) >= 3:
            continue
        seen.add(kind)
        out.append(s)
    return out


def _tools(samples: list[Sample]) -> list[tuple[str, list[str]]]:
    tools = []
    for s in samples:
        for t in s.tools or []:
            f = t.get("function", t)
            tools.append((f["name"], list((f.get("parameters") or {}).get("properties") or {})))
    return tools


def _episode(solver, sample: Sample, text: str, reasoning: bool) -> EpisodeOutput:
    """The family's solver, every model call answered with `text` (a simulated user stops
    after two turns)."""
    ep = solver(sample, SamplingParams(max_new_tokens=16), reasoning, 0)
    request, user_turns = next(ep), 0
    while True:
        if request.role == "user":
            user_turns += 1
            reply = "###STOP###" if user_turns > 2 else "Please help me."
        else:
            reply = text
        try:
            request = ep.send(Completion(text=reply, finish_reason="stop"))
        except StopIteration as stop:
            out: EpisodeOutput = stop.value
            return out


def _fuzz(name: str, case: Case, seed: int, n: int, multi_mb: int, big: bool) -> None:
    spec = get_task(case.task)
    family = load_family(spec.family)
    solver = family.solver(spec, frozenset({"model"}))  # no judge: the scores stay the model's
    samples = _samples(case.task, case.rows)
    outputs = hostile_outputs(seed, n, n_multi_mb=multi_mb, big=big, tools=_tools(samples))
    records = []
    for i, text in enumerate(outputs):
        sample = samples[i % len(samples)]
        reasoning = i % 2 == 1 and "reasoning" in spec.modes
        ctx = ScoreContext(spec=spec, reasoning_mode=reasoning)
        out = _episode(solver, sample, text, reasoning)
        v = family.score(sample, out, ctx)
        where = f"{name} output {i} (seed {seed}): {text[:60]!r}"
        assert isinstance(v, Verdict) and isinstance(v.correct, bool), where
        assert isinstance(v.reason, str) and v.reason, where
        assert math.isfinite(v.score) and 0.0 <= v.score <= 1.0, where
        if case.never_right:
            assert not v.correct, where
        record = run_record(sample, 0, out, family, ctx)  # what samples.jsonl holds
        line = dumps_line(record)
        line.encode("utf-8")  # no lone surrogate reaches the file
        assert json.loads(line)["raw"] == utf16_joined(out.final.text), where  # ... and none is lost
        family.verdict_row(v)
        records.append(record)
    family.aggregate(records, 1, spec)


@pytest.mark.parametrize("name", sorted(CASES))
def test_family_survives_hostile_outputs(name):
    case = CASES[name]
    _fuzz(name, case, seed=16, n=case.n, multi_mb=case.multi_mb, big=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_family_survives_many_deep_hostile_outputs(name):
    """Nesting up to 100,000 deep, numbers up to 50,000 digits, several multi-MB outputs."""
    case = CASES[name]
    _fuzz(name, case, seed=1616, n=3 * case.n, multi_mb=3, big=True)


# --- the crash classes found by the fuzzing, one test each ------------------------------------


def _call(name: str, args: str) -> str:
    return f'<tool_call>{{"name": "{name}", "arguments": {args}}}</tool_call>'


def _doc(ptype: str) -> list[dict]:
    props = {"x": {"type": ptype, "description": "a value"}}
    return [
        {
            "name": "f",
            "description": "",
            "parameters": {"type": "dict", "properties": props, "required": ["x"]},
        }
    ]


@pytest.mark.parametrize(
    ("category", "ptype", "args"),
    [
        ("simple", "integer", '{"x": ' + "[" * 100_000 + "]" * 100_000 + "}"),  # RecursionError in json
        ("simple", "integer", '{"x": ' + "[" * 150 + "]" * 150 + "}"),  # parses, too deep to walk
        ("simple", "integer", '{"x": ' + "9" * 5_000 + "}"),  # ValueError: 4300-digit limit
        ("simple", "float", '{"x": ' + "9" * 400 + "}"),  # OverflowError: int to float
        ("java", "long", '{"x": "' + "9" * 5_000 + 'L"}'),  # ValueError in the Java converter
        ("java", "integer", '{"x": "' + "9" * 5_000 + '"}'),
        ("javascript", "Bigint", '{"x": "' + "9" * 5_000 + 'n"}'),
    ],
)
def test_bfcl_hostile_arguments_are_wrong_answers(category, ptype, args):
    from evalkit.benchmarks.bfcl.single import score_single_turn

    check, _ = score_single_turn(category, _doc(ptype), _call("f", args), [{"f": {"x": [1]}}])
    assert not check.valid and check.error_type


def test_tau_bench_calculator_refuses_powers_instead_of_hanging():
    from evalkit.benchmarks.tau_bench.common import ToolError, calculate

    assert calculate({}, "(2 + 3) * 4 / 8") == "2.5"
    for expression in ("9**9**9**9", "9 ** 9 ** 9", "(" * 100_000 + "1" + ")" * 100_000, "9" * 5_000):
        with pytest.raises(ToolError):
            calculate({}, expression)


def test_bfcl_math_api_refuses_unbounded_work():
    from evalkit.benchmarks.bfcl.multi_turn.apis.math_api import MathAPI

    api = MathAPI()
    assert api.power(2, 10) == {"result": 1024} and api.power(2, -2) == {"result": 0.25}
    assert "error" in api.power(9, 10**100)
    assert "error" in api.logarithm(10, 2, 10**9) and "error" in api.square_root(2, 10**9)
