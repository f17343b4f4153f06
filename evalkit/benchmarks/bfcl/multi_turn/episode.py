"""BFCL multi-turn entries: the conversation with the simulated APIs, and its verdict.

Running (as BFCL's function-calling inference loop): each user turn is answered in steps;
a step's `<tool_call>` blocks are executed and their results go back as tool messages,
until the model answers without a usable call. More than 20 steps in one turn ends the
whole entry (force-terminated). In miss_func entries the held-out functions join the
tools at their turn, whose user message is BFCL's "I have updated some more functions you
can choose from. What about now?".

Scoring (as BFCL's multi-turn checker): the model's decoded calls are replayed, turn by
turn, on fresh API instances, and the ground-truth calls on others. After every turn
whose ground truth is not empty, the model must have made a call in that turn, the
public state of every API must equal the ground truth's, and every result the ground
truth got in that turn must be among the results the model got so far.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from evalkit.benchmarks.bfcl.multi_turn.apis import CLASSES, function_docs
from evalkit.benchmarks.bfcl.multi_turn.shared import SharedDefaults
from evalkit.benchmarks.bfcl.multi_turn.world import Call, World, parse_call_string
from evalkit.benchmarks.bfcl.schema import tools_for_prompt
from evalkit.chat import split_completion
from evalkit.errors import DataError
from evalkit.records import ChatRequest, Completion, Message, Sample, SamplingParams
from evalkit.solvers import EpisodeOutput
from evalkit.toolcalls import DecodeError, decode_calls

MAX_STEPS = 20
NEW_FUNCTIONS_PROMPT = "I have updated some more functions you can choose from. What about now?"


def multi_turn_metadata(fields: dict[str, Any], question: list[Any], answers: Any) -> dict[str, Any]:
    """What the solver and scorer need: per-turn messages and tools, the world, the answers."""
    classes = fields.get("involved_classes")
    if not isinstance(classes, list) or not classes or any(c not in CLASSES for c in classes):
        raise ValueError(f"involved_classes must list known API classes, got {classes!r}")
    config = fields.get("initial_config") or {}
    if not isinstance(config, dict):
        raise ValueError("initial_config must be an object")
    if not isinstance(answers, list) or not all(isinstance(t, list) for t in answers):
        raise ValueError("ground_truth must hold a list of calls per turn")
    # One entry (multi_turn_base_154) has a ground-truth turn more than it has user turns; BFCL
    # then always finds it force-terminated, and so does evalkit.
    missed: dict[str, list[str]] = {str(k): list(v) for k, v in (fields.get("missed_function") or {}).items()}
    docs = [d for c in classes for d in function_docs(c)]
    held = {name for names in missed.values() for name in names}
    offered = [d for d in docs if d["name"] not in held]
    turns: list[list[Message]] = []
    tools: list[list[dict[str, object]]] = []
    for i, turn in enumerate(question):
        if str(i) in missed:
            offered = offered + [d for d in docs if d["name"] in missed[str(i)]]
            turns.append([{"role": "user", "content": NEW_FUNCTIONS_PROMPT}])
        else:
            turns.append([{"role": str(m["role"]), "content": str(m.get("content", ""))} for m in turn])
        tools.append(tools_for_prompt(offered, "multi_turn"))
    for t, calls in enumerate(answers):
        for c in calls:
            try:
                parse_call_string(c)
            except ValueError as e:
                raise ValueError(f"ground_truth turn {t}: {e}") from e
    return {
        "turns": turns,
        "tools": tools,
        "initial_config": config,
        "involved_classes": classes,
        "long_context": "long_context" in str(fields.get("category", "")),
    }


def _answer(c: Completion, reasoning_mode: bool) -> str:
    return split_completion(c.text, c.reasoning_content, reasoning_mode=reasoning_mode).answer or ""


def step_calls(text: str) -> list[Call] | None:
    """The calls of one step (None: no usable call, which ends the turn)."""
    try:
        decoded = decode_calls(text, json_string_arguments=True)
    except DecodeError:
        return None
    calls = [Call(name, (), args) for item in decoded for name, args in item.items()]
    return calls or None


def run_episode(
    sample: Sample, params: SamplingParams, enable_thinking: bool
) -> Generator[ChatRequest, Completion, EpisodeOutput]:
    meta = sample.metadata
    world = World(meta["initial_config"], meta["involved_classes"], meta["long_context"])
    history: list[Message] = []
    calls: list[Completion] = []
    steps_per_turn: list[int] = []
    forced = False
    for turn_msgs, tools in zip(meta["turns"], meta["tools"], strict=True):
        history.extend(turn_msgs)
        steps = 0
        while True:
            c = yield ChatRequest(
                messages=list(history), params=params, enable_thinking=enable_thinking, tools=tools
            )
            calls.append(c)
            steps += 1
            made = step_calls(_answer(c, enable_thinking))
            if made is None:
                history.append({"role": "assistant", "content": c.text})
                break
            history.append(
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [{"name": k.name, "arguments": k.kwargs} for k in made],
                }
            )
            for result in world.run_all(made):
                history.append({"role": "tool", "content": result})
            if steps > MAX_STEPS:
                forced = True
                break
        steps_per_turn.append(steps)
        if forced:
            break
    return EpisodeOutput(
        calls=calls,
        final=calls[-1],
        transcript=history,
        info={"steps_per_turn": steps_per_turn, "force_terminated": forced},
    )


def output_from_turn_texts(responses: list[Any], where: str, row: int) -> EpisodeOutput:
    """`evalkit score` rows: `responses` = per turn, the model's output at each step."""
    calls: list[Completion] = []
    steps: list[int] = []
    for t, turn in enumerate(responses):
        if not isinstance(turn, list) or not turn or not all(isinstance(s, str) for s in turn):
            raise DataError(
                where, row, f"responses[{t}]", "expected a non-empty list of strings (one per step)"
            )
        calls.extend(Completion(text=s, finish_reason="stop") for s in turn)
        steps.append(len(turn))
    if not calls:
        raise DataError(where, row, "responses", "no turns")
    return EpisodeOutput(
        calls=calls, final=calls[-1], info={"steps_per_turn": steps, "force_terminated": False}
    )


def _remove_all(needed: list[str], have: list[str]) -> list[str]:
    """The items of `needed` not found in `have`, each found item used once."""
    pool = list(have)
    missing = []
    for item in needed:
        if item in pool:
            pool.remove(item)
        else:
            missing.append(item)
    return missing


def score_episode(
    sample: Sample, output: EpisodeOutput, reasoning_mode: bool
) -> tuple[bool, str, dict[str, object]]:
    """(valid, BFCL error_type, details) for one multi-turn episode."""
    meta = sample.metadata
    answers: list[list[str]] = sample.target
    steps: list[int] = output.info.get("steps_per_turn") or []
    decoded: list[list[list[Call]]] = []
    k = 0
    for n in steps:
        turn_steps = []
        for c in output.calls[k : k + n]:
            step = step_calls(_answer(c, reasoning_mode))
            if step:
                turn_steps.append(step)
        decoded.append(turn_steps)
        k += n
    shown = [[[f"{c.name}({c.kwargs})" for c in step] for step in turn] for turn in decoded]
    if len(decoded) != len(answers):
        return False, "multi_turn:force_terminated", {"calls": shown, "turns_done": len(decoded)}
    shared = SharedDefaults()  # BFCL's two instances share some objects (see shared.py)
    model = World(meta["initial_config"], meta["involved_classes"], meta["long_context"], shared)
    truth = World(meta["initial_config"], meta["involved_classes"], meta["long_context"], shared)
    model_results: list[str] = []
    for t, (turn_steps, gt) in enumerate(zip(decoded, answers, strict=True)):
        for step in turn_steps:
            model_results.extend(model.run_all(step))
        gt_results = truth.run_all([parse_call_string(s) for s in gt])
        if not gt:
            continue  # a turn that needs no call (missing function or parameter) is not checked
        if not turn_steps:
            return False, "multi_turn:empty_turn_model_response", {"calls": shown, "turn": t}
        ms, ts = model.public_state(), truth.public_state()
        for cls, state in ts.items():
            diff = sorted(a for a in state if ms[cls].get(a) != state[a])
            if diff:
                return (
                    False,
                    "multi_turn:instance_state_mismatch",
                    {"calls": shown, "turn": t, "class": cls, "attributes": diff},
                )
        missing = _remove_all(gt_results, model_results)
        if missing:
            return (
                False,
                "multi_turn:execution_response_mismatch",
                {"calls": shown, "turn": t, "missing": missing[:5]},
            )
    return True, "", {"calls": shown}
