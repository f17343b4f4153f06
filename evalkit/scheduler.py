"""Drives many episodes against one runner, with every call going through the store.

Each round collects the pending request of every live episode, answers those already
in the store at once, and sends the rest to the runner as one batch, or, where a role has a
KV-cache plan (evalkit.kv_planning), as the calls that fit its memory; completions are
stored as they stream back, and the episode they belong to moves on. A call that failed
(finish_reason "error") ends its episode, whose output is then that error, never an answer.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from evalkit.errors import MissingRoleError
from evalkit.fingerprint import hash_obj
from evalkit.kv_planning import KVPlanner
from evalkit.records import ChatRequest, Completion
from evalkit.runners.base import Runner
from evalkit.solvers import Episode, EpisodeOutput
from evalkit.store import SampleStore


@dataclass(frozen=True)
class EpisodeKey:
    sample_id: str
    repeat: int
    # The run the episode belongs to, when one scheduler call drives several runs (their stores
    # and KV plans are looked up by it). It enters no cache key and no seed.
    run: str = ""


def derive_seed(run_seed: int, sample_id: str, repeat: int, call: int) -> int:
    """A per-request seed: same run seed, sample, repeat and call give the same seed."""
    digest = hashlib.sha256(f"{run_seed}|{sample_id}|{repeat}|{call}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1  # 63 bits: fits every RNG we feed


def request_key(
    runner_desc: dict[str, Any], prompt: str | None, req: ChatRequest, ek: EpisodeKey, call: int
) -> str:
    """The cache key of one call: everything that changes what the model returns."""
    rendered: Any = prompt
    if rendered is None:  # the server renders: key on what it is sent
        rendered = {"messages": req.messages, "tools": req.tools, "enable_thinking": req.enable_thinking}
    return hash_obj(
        {
            "runner": runner_desc,
            "prompt": rendered,
            "params": req.params.to_dict(),
            "sample": ek.sample_id,
            "repeat": ek.repeat,
            "call": call,
        }
    )


@dataclass
class _Live:
    key: EpisodeKey
    gen: Episode
    call: int = 0
    request: ChatRequest | None = None
    calls: list[Completion] = dataclasses.field(default_factory=list)


@dataclass
class _Pending:
    live: _Live
    request: ChatRequest
    key: str
    prompt: str | None
    tokens: int  # prompt + max_new_tokens, when planned


# The KV plan of an episode's requests of a role (None: the runner batches on its own).
PlannerOf = Callable[[EpisodeKey, str], "KVPlanner | None"]


def run_episodes(
    episodes: Sequence[tuple[EpisodeKey, Episode]],
    runners: Runner | Mapping[str, Runner],
    store: SampleStore | Mapping[str, SampleStore],
    *,
    run_seed: int | Mapping[str, int],
    on_done: Callable[[EpisodeKey, EpisodeOutput, bool], None],
    planners: Mapping[str, KVPlanner] | PlannerOf | None = None,
    on_call: Callable[[EpisodeKey, str, Completion, bool], None] | None = None,
) -> None:
    """Run every episode to completion. `on_done(key, output, all_cached)` fires per episode,
    `on_call(key, role, completion, cached)` per answered call (progress of multi-turn tasks).

    `runners` maps a request's role ("model", "judge", "user", ...) to the runner that
    answers it; a single runner answers the role "model". `planners` (per role, or a function
    of the episode key and role) size each request that is not in the store, refuse or cut one
    that cannot fit alone, and split a round into calls that fit the runner's KV-cache budget
    (the planners of one role share its runner's budget). Several runs go through one call
    with `store` and `run_seed` given per run (keyed by `EpisodeKey.run`).
    """
    store_of: Callable[[EpisodeKey], SampleStore] = (
        (lambda ek: store) if isinstance(store, SampleStore) else (lambda ek: store[ek.run])
    )
    seed_of: Callable[[EpisodeKey], int] = (
        (lambda ek: run_seed) if isinstance(run_seed, int) else (lambda ek: run_seed[ek.run])
    )
    planner_of: PlannerOf
    if planners is None or isinstance(planners, Mapping):
        by_role_plan: Mapping[str, KVPlanner] = planners or {}
        planner_of = lambda ek, role: by_role_plan.get(role)  # noqa: E731
    else:
        planner_of = planners
    by_role: Mapping[str, Runner] = {"model": runners} if isinstance(runners, Runner) else runners
    descs = {role: r.describe() for role, r in by_role.items()}
    live: list[_Live] = []
    fresh: dict[EpisodeKey, bool] = {}

    def advance(st: _Live, completion: Completion | None) -> None:
        if completion is not None:
            st.calls.append(completion)
        if completion is not None and completion.finish_reason == "error":
            # A failed call is not an answer: the episode stops here and is reported as failed
            # (the store keeps the error but never reuses it, so a rerun retries the call).
            st.gen.close()
            on_done(st.key, EpisodeOutput(calls=st.calls, final=completion), False)
            return
        try:
            req = next(st.gen) if completion is None else st.gen.send(completion)
        except StopIteration as stop:
            on_done(st.key, stop.value, not fresh.get(st.key, False))
            return
        if completion is not None:
            st.call += 1
        if req.role not in by_role:
            raise MissingRoleError(req.role, list(by_role))
        if req.params.seed is None:
            seed = derive_seed(seed_of(st.key), st.key.sample_id, st.key.repeat, st.call)
            req = dataclasses.replace(req, params=dataclasses.replace(req.params, seed=seed))
        st.request = req
        live.append(st)

    for ek, gen in episodes:
        advance(_Live(ek, gen), None)

    while live:
        round_, live[:] = list(live), []
        to_run: dict[str, list[_Pending]] = {}
        for st in round_:
            req = st.request
            assert req is not None
            prompt = by_role[req.role].render(req)
            key = request_key(descs[req.role], prompt, req, st.key, st.call)
            cached = store_of(st.key).get(key)
            tokens = 0
            planner = planner_of(st.key, req.role)
            if cached is None and planner is not None:
                who = f"item {st.key.sample_id!r} (repeat {st.key.repeat}, call {st.call})"
                fitted = planner.admit(req, prompt, who)
                tokens = fitted.tokens
                if fitted.request is not req:  # cut by the task's protocol: a call of its own
                    req, prompt = fitted.request, fitted.prompt
                    key = request_key(descs[req.role], prompt, req, st.key, st.call)
                    cached = store_of(st.key).get(key)
            if cached is not None:
                if on_call is not None:
                    on_call(st.key, req.role, cached, True)
                advance(st, cached)
            else:
                to_run.setdefault(req.role, []).append(_Pending(st, req, key, prompt, tokens))
        for role, pending in to_run.items():
            planner = planner_of(pending[0].live.key, role)
            groups = planner.split([p.tokens for p in pending]) if planner else [list(range(len(pending)))]
            for group in groups:
                _generate(by_role[role], role, [pending[i] for i in group], store_of, fresh, advance, on_call)


def _generate(
    runner: Runner,
    role: str,
    batch: list[_Pending],
    store_of: Callable[[EpisodeKey], SampleStore],
    fresh: dict[EpisodeKey, bool],
    advance: Callable[[_Live, Completion | None], None],
    on_call: Callable[[EpisodeKey, str, Completion, bool], None] | None = None,
) -> None:
    """One generate() call: store each completion as it streams back, then move its episode on."""
    for j, completion in runner.generate([p.request for p in batch]):
        p = batch[j]
        st, req, key, prompt = p.live, p.request, p.key, p.prompt
        fresh[st.key] = True
        store_of(st.key).put(
            key,
            completion,
            sample_id=st.key.sample_id,
            repeat=st.key.repeat,
            call=st.call,
            role=role,
            seed=req.params.seed,
            prompt_sha=hash_obj(prompt) if prompt is not None else None,
        )
        if on_call is not None:
            on_call(st.key, role, completion, False)
        advance(st, completion)
