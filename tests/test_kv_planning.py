"""Batch size planned from the KV-cache memory a runner reports, on the real run path: the
scheduler hands a runner at most the planned number of requests per generate() call, results
are those of an unplanned run, a prompt that cannot fit alone is refused (or cut, where the
task's protocol cuts prompts), and the plan is recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from evalkit.chat import render_chat
from evalkit.errors import UsageError
from evalkit.kv_planning import KVPlanner, planner_for
from evalkit.longctx.tokens import load_tokenizer
from evalkit.pipeline import RunConfig, run_eval
from evalkit.records import ChatRequest, Completion, Sample, SamplingParams
from evalkit.runners.base import Runner
from evalkit.scheduler import EpisodeKey, run_episodes
from evalkit.solvers import EpisodeOutput, generate
from evalkit.store import SampleStore
from tests.fakes import ScriptedRunner

KV = 1000  # bytes per token of the fake runner


def answer(req: ChatRequest) -> str:
    """A deterministic answer that depends on the whole prompt and the request's seed."""
    content = str(req.messages[-1]["content"])
    return f"<think>\n\n</think>\n\n{len(content)} {content[-12:]!r} {req.params.seed}"


class BudgetRunner(ScriptedRunner):
    """A scripted runner that renders with the tiny model's chat template, reports a KV-cache
    budget, and records how many requests each generate() call got."""

    def __init__(self, budget_tokens: int | None, kv: int = KV, context: int | None = None):
        super().__init__(answer)
        self.tok = load_tokenizer("tiny")
        self.budget_tokens, self.kv, self.context = budget_tokens, kv, context
        self.call_sizes: list[int] = []
        self.prompts: list[str] = []
        self.sent: list[ChatRequest] = []  # in the order handed over (`calls` is reversed)

    def render(self, request: ChatRequest) -> str:
        return render_chat(self.tok, request)

    def generate(self, requests: Sequence[ChatRequest]) -> Iterator[tuple[int, Completion]]:
        self.call_sizes.append(len(requests))
        self.prompts += [self.render(r) for r in requests]
        self.sent += requests
        yield from super().generate(requests)

    def kv_bytes_per_token(self) -> int:
        return self.kv

    def kv_cache_budget_bytes(self) -> int | None:
        return None if self.budget_tokens is None else self.budget_tokens * self.kv

    def max_context(self) -> int | None:
        return self.context


def tokens(runner: BudgetRunner, prompt: str) -> int:
    return len(runner.tok(prompt, add_special_tokens=False)["input_ids"])


def samples(k: int) -> list[Sample]:
    return [
        Sample(id=f"s{i}", messages=[{"role": "user", "content": "word " * (40 + 7 * i)}], target="")
        for i in range(k)
    ]


def schedule(tmp_path: Path, runner: Runner, planner: KVPlanner | None, repeats: int = 2) -> dict:
    params = SamplingParams(max_new_tokens=16)
    eps = [(EpisodeKey(s.id, r), generate(s, params, False, r)) for s in samples(7) for r in range(repeats)]
    done: dict[EpisodeKey, EpisodeOutput] = {}
    with SampleStore(tmp_path / f"g{id(runner)}.jsonl", "run") as store:
        run_episodes(
            eps,
            runner,
            store,
            run_seed=3,
            on_done=lambda k, o, c: done.__setitem__(k, o),
            planners={"model": planner} if planner else None,
        )
    return {k: o.final.text for k, o in done.items()}


def test_scheduler_hands_at_most_the_planned_number_per_call(tmp_path: Path) -> None:
    plain = BudgetRunner(None)
    unplanned = schedule(tmp_path, plain, None)
    assert plain.call_sizes == [14]

    runner = BudgetRunner(0)
    longest = max(tokens(runner, p) for p in plain.prompts) + 16
    runner.budget_tokens = 3 * longest  # three of the longest sequences fit
    planner = planner_for(runner, lambda: runner.tok)
    assert planner is not None
    planned = schedule(tmp_path, runner, planner)

    assert planned == unplanned  # same completions, same seeds: only the grouping changed
    # Shorter prompts come first, so the first call takes four of them; then three at a time.
    assert runner.call_sizes == [4, 3, 3, 3, 1]
    # Every call fits: its size x its longest sequence x bytes per token <= the budget.
    at = 0
    for n in runner.call_sizes:
        widest = max(tokens(runner, p) + 16 for p in runner.prompts[at : at + n])
        assert n * widest * KV <= runner.budget_tokens * KV
        at += n
    rec = planner.record()
    assert rec["kv_bytes_per_token"] == KV and rec["kv_cache_budget_bytes"] == 3 * longest * KV
    assert rec["longest_sequence_tokens"] == longest and rec["planned_batch_size"] == 3
    assert rec["generate_calls"] == len(runner.call_sizes) and rec["requests_planned"] == 14


def test_a_prompt_that_cannot_fit_alone_is_refused_with_item_and_sizes(tmp_path: Path) -> None:
    runner = BudgetRunner(60)
    planner = planner_for(runner, lambda: runner.tok)
    with pytest.raises(UsageError) as e:
        schedule(tmp_path, runner, planner)
    msg = str(e.value)
    assert "item 's0' (repeat 0, call 0)" in msg
    assert "+ 16 new tokens" in msg and f"{KV:,} bytes/token" in msg and f"{60 * KV:,} bytes" in msg
    assert "refused rather than cut" in msg
    assert runner.call_sizes == []  # nothing was generated


def test_the_context_limits_the_plan_too(tmp_path: Path) -> None:
    runner = BudgetRunner(10**6, context=50)
    with pytest.raises(UsageError, match="the model's context is 50 tokens"):
        schedule(tmp_path, runner, planner_for(runner, lambda: runner.tok))


def test_unknown_budget_means_no_plan() -> None:
    runner = BudgetRunner(None)
    assert planner_for(runner, lambda: pytest.fail("no tokenizer needed without a plan")) is None
    assert ScriptedRunner(answer).kv_cache_budget_bytes() is None  # the base default


def test_split_uses_the_longest_row_of_each_call() -> None:
    p = KVPlanner(kv_bytes_per_token=2, budget_bytes=2 * 100, count_tokens=len, render=lambda r: "")
    assert p.split([10, 10, 10, 40, 10, 50, 50, 10]) == [[0, 1, 2], [3, 4], [5, 6], [7]]
    # [10, 10, 10, 40] costs 4 x 40 = 160 > 100 tokens; [50, 50, 10] 3 x 50 = 150.
    assert p.calls == [3, 2, 2, 1]


def test_pipeline_records_the_plan_and_matches_an_unplanned_run(tmp_path: Path) -> None:
    cfg = dict(task="ruler", limit=4, progress=False)
    plain = BudgetRunner(None)
    a = run_eval(RunConfig(**cfg, results_dir=tmp_path / "a"), runner=plain)  # type: ignore[arg-type]
    assert a.metrics["kv_plan"] is None and plain.call_sizes == [4]

    runner = BudgetRunner(2 * 4096)  # two 4K RULER sequences at a time
    b = run_eval(RunConfig(**cfg, results_dir=tmp_path / "b"), runner=runner)  # type: ignore[arg-type]
    assert runner.call_sizes == [2, 2]
    plan = b.metrics["kv_plan"]
    assert plan["planned_batch_size"] == 2 and plan["kv_bytes_per_token"] == KV
    assert plan["kv_cache_budget_bytes"] == 2 * 4096 * KV and 3900 < plan["longest_sequence_tokens"] <= 4096
    run_json = json.loads((b.run_dir / "run.json").read_text())
    assert run_json["kv_plan"]["kv_cache_budget_bytes"] == 2 * 4096 * KV

    def rows(res: Any) -> list[tuple[str, str]]:
        lines = (res.run_dir / "samples.jsonl").read_text().splitlines()
        return [(r["id"], r["raw"]) for r in map(json.loads, lines)]

    assert rows(a) == rows(b)


def test_ruler_prompt_over_the_budget_is_refused_not_cut(tmp_path: Path) -> None:
    runner = BudgetRunner(2048)
    with pytest.raises(
        UsageError, match=r"item 'niah_single_1/4096/0' \(repeat 0, call 0\): \d+ prompt tokens"
    ):
        run_eval(RunConfig(task="ruler", limit=1, progress=False, results_dir=tmp_path), runner=runner)
    assert runner.call_sizes == []


def test_longbench_prompt_over_the_budget_is_middle_truncated_and_recorded(tmp_path: Path) -> None:
    plain = BudgetRunner(None)
    run_eval(
        RunConfig(task="longbench_v1", limit=2, progress=False, results_dir=tmp_path / "a"), runner=plain
    )
    full = [tokens(plain, p) for p in plain.prompts]
    new = [r.params.max_new_tokens for r in plain.sent]
    runner = BudgetRunner(min(f + n for f, n in zip(full, new, strict=True)) - 40)  # every prompt loses some
    res = run_eval(
        RunConfig(task="longbench_v1", limit=2, progress=False, results_dir=tmp_path / "b"), runner=runner
    )
    plan = res.metrics["kv_plan"]
    assert len(plan["prompts_cut"]) == 2 and "middle truncation" in plan["cut_rule"]
    for cut, before, n, prompt, sent in zip(
        plan["prompts_cut"], full, new, plain.prompts, runner.prompts, strict=True
    ):
        assert cut["prompt_tokens_before"] == before
        after = tokens(runner, sent)
        assert after == cut["prompt_tokens_after"] < before and after + n <= runner.budget_tokens
        head, tail = prompt[:200], prompt[-200:]  # both ends (instructions, question) survive
        assert sent.startswith(head) and sent.endswith(tail) and len(sent) < len(prompt)


def test_hf_runner_reports_kv_size_and_no_budget_on_cpu() -> None:
    from evalkit.runners.hf_transformers import TransformersRunner

    r = TransformersRunner("tiny-fp32", device="cpu")
    cfg = r.model.config
    assert r.kv_bytes_per_token() == 2 * cfg.num_hidden_layers * cfg.num_key_value_heads * cfg.head_dim * 4
    assert r.kv_cache_budget_bytes() is None and r.max_context() == cfg.max_position_embeddings


def test_vllm_runner_budget_from_its_cache_config() -> None:
    from evalkit.models import resolve_model
    from evalkit.runners.vllm_runner import VLLMRunner

    r = VLLMRunner.__new__(VLLMRunner)  # no vLLM here: only what the KV figures read
    r.model_dir = Path(resolve_model("tiny"))
    r.settings = {"dtype": "float16", "max_model_len": 2048}
    cache = SimpleNamespace(num_gpu_blocks=100, block_size=16, cache_dtype="auto")
    config = SimpleNamespace(cache_config=cache, model_config=SimpleNamespace(max_model_len=1024))
    r.llm = SimpleNamespace(llm_engine=SimpleNamespace(vllm_config=config))
    c = json.loads((r.model_dir / "config.json").read_text())
    per = 2 * c["num_hidden_layers"] * c["num_key_value_heads"] * c["head_dim"] * 2
    assert r.kv_bytes_per_token() == per
    assert r.kv_cache_budget_bytes() == 100 * 16 * per and r.max_context() == 1024
    cache.cache_dtype = "fp8"
    assert r.kv_bytes_per_token() == per // 2
    cache.kv_cache_size_tokens = 1234  # newer vLLM reports the token capacity itself
    assert r.kv_cache_budget_bytes() == 1234 * (per // 2)
    del cache.kv_cache_size_tokens
    cache.num_gpu_blocks = None  # not (yet) known to this process
    assert r.kv_cache_budget_bytes() is None
    r.llm = SimpleNamespace()  # no engine access at all
    assert r.kv_cache_budget_bytes() is None and r.max_context() == 2048
