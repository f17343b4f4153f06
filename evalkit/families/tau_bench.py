"""tau-bench (v1) airline and retail: an agent with tools talks to a simulated user.

The agent's system prompt is the domain policy (wiki.md) alone and its tools are the
domain's function schemas, sent through the chat template's `tools=`; the model calls
them with `<tool_call>{"name": …, "arguments": {…}}</tool_call>` blocks (parsed by
evalkit.toolcalls). As in tau-bench's ToolCallingAgent (@59a200c): only the first call
of a turn runs, a turn without a call is a message to the user, the episode ends when
the user says ###STOP###, the agent transfers to a human, or after 30 agent steps (then
the reward stays 0). The user is another model (requests with role="user", answered by
the run's "user" runner), prompted with tau-bench's user-simulator instruction.

Every tool call with its observation and database diff, every user turn and the reward
parts are kept in the episode's info, so a failure can be read.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.benchmarks.tau_bench.env import (
    TERMINATE_TOOLS,
    TauEnv,
    load_db,
    load_wiki,
    parse_task,
    reward,
    tool_schemas,
)
from evalkit.chat import split_completion
from evalkit.data import Row
from evalkit.errors import UsageError
from evalkit.families import ScoreContext
from evalkit.families.base import BuildContext, Solver
from evalkit.families.defaults import inline_sample as inline_sample
from evalkit.families.defaults import output_from_response as output_from_response
from evalkit.families.defaults import verdict_row as verdict_row
from evalkit.metrics import aggregate as default_aggregate
from evalkit.prompts import render_prompt
from evalkit.records import ChatRequest, Completion, Message, Sample, SamplingParams, Verdict
from evalkit.registry import REPO_ROOT
from evalkit.run_records import FamilyMetrics, SampleRecord
from evalkit.solvers import Episode, EpisodeOutput
from evalkit.specs import TaskSpec
from evalkit.toolcalls import parse_tool_call_blocks

MAX_STEPS = 30
STOP = "###STOP###"
DATA_ENV = "EVALKIT_TAU_DATA"


def data_dir(spec: TaskSpec) -> Path:
    """Where the domain databases live: $EVALKIT_TAU_DATA, else the spec's extra.data_dir."""
    raw = os.environ.get(DATA_ENV) or spec.extra.get("data_dir")
    if not raw:
        raise UsageError(f"task {spec.name}: set {DATA_ENV} to the tau_bench data folder")
    path = Path(raw)
    path = path if path.is_absolute() else (REPO_ROOT / path).resolve()
    if not (path / spec.extra["domain"] / "wiki.md").is_file():
        raise UsageError(f"task {spec.name}: no {spec.extra['domain']}/wiki.md under {path} (set {DATA_ENV})")
    return path


def build_sample(row: Row, spec: TaskSpec, ctx: BuildContext) -> Sample:
    where = ctx.where
    task = parse_task(row.fields, where, row.index + 1)
    domain = str(spec.extra["domain"])
    root = data_dir(spec)
    user_system = render_prompt(spec.prompt["user_simulator"], instruction=task.instruction)
    return Sample(
        id=row.id,
        messages=[{"role": "system", "content": load_wiki(root, domain)}],
        target=[{"name": a.name, "kwargs": a.kwargs} for a in task.actions],
        tools=tool_schemas(domain),
        metadata={"subject": domain, "task": task, "domain": domain, "user_system": user_system},
    )


def _first_call(text: str) -> dict[str, Any] | None:
    for v in parse_tool_call_blocks(text).values:
        if isinstance(v, dict) and isinstance(v.get("name"), str):
            args = v.get("arguments", {})
            return {"name": v["name"], "arguments": args if isinstance(args, dict) else {}}
    return None


def _content_before_calls(text: str) -> str:
    return text.split("<tool_call>", 1)[0].strip()


@dataclass(frozen=True)
class AgentSettings:
    """What the agent loop takes from the spec: the domain's data, the simulated user's opening
    line and sampling, and the step limit."""

    root: Path
    domain: str
    user_opening: str
    user_params: SamplingParams
    max_steps: int


def agent_settings(spec: TaskSpec) -> AgentSettings:
    up = dict(spec.extra.get("user_sim") or {})
    return AgentSettings(
        root=data_dir(spec),
        domain=str(spec.extra["domain"]),
        user_opening=str(spec.prompt.get("user_opening", "Hi! How can I help you today?")),
        user_params=SamplingParams(
            temperature=float(up.get("temperature", 1.0)),
            top_p=float(up.get("top_p", 1.0)),
            max_new_tokens=int(up.get("max_new_tokens", 1024)),
        ),
        max_steps=int(spec.extra.get("max_steps", MAX_STEPS)),
    )


def solver(spec: TaskSpec, roles: frozenset[str]) -> Solver:
    """The agent loop with the spec's settings (`agent`)."""
    settings = agent_settings(spec)

    def solve(sample: Sample, params: SamplingParams, enable_thinking: bool, repeat: int = 0) -> Episode:
        return agent(sample, params, enable_thinking, settings)

    return solve


def agent(sample: Sample, params: SamplingParams, enable_thinking: bool, settings: AgentSettings) -> Episode:
    """tau-bench's tool-calling agent loop against a simulated user (see the module docstring)."""
    md = sample.metadata
    root, domain = settings.root, settings.domain
    env = TauEnv(domain, load_db(root, domain))
    user_params = settings.user_params
    # The simulator sees the conversation mirrored: the agent speaks as "user", it answers as "assistant".
    user_msgs: list[Message] = [
        {"role": "system", "content": md["user_system"]},
        {"role": "user", "content": settings.user_opening},
    ]
    calls: list[Completion] = []
    user_turns: list[str] = []
    said: list[str] = []

    def ask_user() -> Episode:
        c = yield ChatRequest(messages=list(user_msgs), params=user_params, role="user")
        calls.append(c)
        text = c.text.strip()
        user_msgs.append({"role": "assistant", "content": text})
        user_turns.append(text)
        return EpisodeOutput(calls=[c], final=c)

    yield from ask_user()
    msgs: list[Message] = [*sample.messages, {"role": "user", "content": user_turns[-1]}]
    final: Completion | None = None
    end = "max steps"
    for _ in range(settings.max_steps):
        c = yield ChatRequest(
            messages=list(msgs), params=params, enable_thinking=enable_thinking, tools=sample.tools
        )
        calls.append(c)
        final = c
        answer = split_completion(c.text, c.reasoning_content, reasoning_mode=enable_thinking).answer or ""
        call = _first_call(answer)
        if call is not None:
            obs = env.step(call["name"], call["arguments"])
            msgs.append(
                {
                    "role": "assistant",
                    "content": _content_before_calls(answer),
                    "tool_calls": [{"type": "function", "function": call}],
                }
            )
            msgs.append({"role": "tool", "content": obs})
            if call["name"] in TERMINATE_TOOLS:
                end = "transfer to human"
                break
            continue
        said.append(answer)
        msgs.append({"role": "assistant", "content": answer})
        user_msgs.append({"role": "user", "content": answer})
        yield from ask_user()
        if STOP in user_turns[-1]:
            end = "user stop"
            break
        msgs.append({"role": "user", "content": user_turns[-1]})
    assert final is not None
    r = reward(root, domain, md["task"], env.data, said) if end != "max steps" else None
    return EpisodeOutput(
        calls=calls,
        final=final,
        transcript=msgs,
        info={
            "end": end,
            "reward": r.reward if r else 0.0,
            "r_actions": r.r_actions if r else False,
            "outputs": r.outputs if r else {},
            "tool_calls": env.calls,
            "user_turns": user_turns,
            "agent_messages": said,
        },
    )


def score(sample: Sample, output: EpisodeOutput, ctx: ScoreContext) -> Verdict:
    info = output.info
    if "reward" not in info:
        return Verdict(None, False, "no episode information (not produced by the tau-bench agent solver)")
    ok = info["reward"] >= 1.0
    if ok:
        reason = f"reward 1 ({info['end']})"
    elif info["end"] == "max steps":
        reason = f"no end within {int(ctx.spec.extra.get('max_steps', MAX_STEPS))} steps"
    elif not info["r_actions"]:
        reason = f"final database differs from the gold replay ({info['end']})"
    else:
        missing = [o for o, found in info["outputs"].items() if not found]
        reason = f"required outputs missing: {missing}"
    names = [c["name"] for c in info["tool_calls"]]
    return Verdict(
        extracted=json.dumps(names), correct=ok, reason=reason, score=float(ok), details=dict(info)
    )


def aggregate(records: list[SampleRecord], n_repeats: int, spec: TaskSpec) -> FamilyMetrics:
    """pass^1 (mean reward) with its SE, plus tau-bench's pass^k = mean over tasks of C(c,k)/C(n,k)."""
    from math import comb

    out = default_aggregate(records, n_repeats=n_repeats)
    out["metric"] = f"pass^1[avg-of-{n_repeats}]" if n_repeats > 1 else "pass^1"
    by_task: dict[str, int] = {}
    for r in records:
        by_task[r["id"]] = by_task.get(r["id"], 0) + int(bool(r["correct"]))
    if by_task:
        out["pass_hat_k"] = {
            f"pass^{k}": sum(comb(c, k) / comb(n_repeats, k) for c in by_task.values()) / len(by_task)
            for k in range(1, n_repeats + 1)
        }
    return out
