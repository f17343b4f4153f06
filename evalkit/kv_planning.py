"""How many long sequences fit at once: batch size planned from the KV-cache memory a runner
reports (`Runner.kv_bytes_per_token` x tokens against `Runner.kv_cache_budget_bytes`).

The scheduler asks a `KVPlanner` per role: `admit` sizes each pending request (rendered
prompt tokens + max_new_tokens) and refuses one that cannot fit even alone, unless the
task's protocol cuts prompts (then it is cut that way, and recorded); `split` groups a
round's requests into generate() calls whose KV cache fits the budget.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from evalkit.errors import UsageError
from evalkit.longctx.truncation import middle_truncate_request
from evalkit.records import ChatRequest
from evalkit.runners.base import Runner

Counter = Callable[[str], int]  # tokens of a rendered prompt
Render = Callable[[ChatRequest], "str | None"]
# The task protocol's cut: the request with a prompt of at most `max_prompt_tokens` rendered
# tokens, or None when it cannot be cut that short.
Cut = Callable[[ChatRequest, int], "ChatRequest | None"]


@dataclass(frozen=True)
class KVShape:
    """What sizes a model's KV cache: the one formula every runner, engine and benchmark uses.

    One token takes keys and values (2) x `num_kv_heads` x `head_dim` elements of `dtype_bytes`
    in each layer. Of the `num_layers`, `sliding_layers` attend over the last `sliding_window`
    tokens only (docs/exaone4-architecture.md#layer-types), so an engine that drops what the
    window has left behind holds ``sequence_bytes(T)`` for a sequence of T tokens; an engine
    that keeps every token in every layer holds ``bytes_per_token() x T``, the upper bound.
    """

    num_layers: int
    num_kv_heads: int
    head_dim: int
    dtype_bytes: int
    sliding_layers: int = 0
    sliding_window: int | None = None

    @classmethod
    def from_hf_config(cls, config: Mapping[str, Any], dtype_bytes: int) -> KVShape:
        """From a config.json dict (HF names; a ``text_config`` inside wins). Raises KeyError,
        TypeError or ValueError when the fields are missing or malformed. Sliding layers are not
        counted here (callers that need them build the shape from the model's layer types)."""
        cfg = config.get("text_config", config)
        heads = int(cfg["num_attention_heads"])
        return cls(
            num_layers=int(cfg["num_hidden_layers"]),
            num_kv_heads=int(cfg.get("num_key_value_heads") or heads),
            head_dim=int(cfg.get("head_dim") or cfg["hidden_size"] // heads),
            dtype_bytes=dtype_bytes,
        )

    def layer_token_bytes(self) -> int:
        """Keys and values of one token in one layer."""
        return 2 * self.num_kv_heads * self.head_dim * self.dtype_bytes

    def bytes_per_token(self) -> int:
        """Keys and values of one token in every layer, sliding ones counted in full (an upper
        bound for an engine that keeps only the window): the unit of ``Runner.kv_bytes_per_token``."""
        return self.layer_token_bytes() * self.num_layers

    def sequence_bytes(self, tokens: float) -> float:
        """KV(T): the cache one sequence of `tokens` tokens holds when sliding layers keep only
        their window, ``layer_token_bytes x (global layers x T + sliding layers x min(T, window))``."""
        window = tokens if self.sliding_window is None else min(tokens, self.sliding_window)
        full = self.num_layers - self.sliding_layers
        return self.layer_token_bytes() * (full * tokens + self.sliding_layers * window)


def plan_batch_size(
    kv_bytes_per_token: int | None, tokens_per_sequence: int, free_bytes: int, cap: int
) -> int:
    """Sequences of `tokens_per_sequence` (prompt + new tokens) whose KV cache fits in
    `free_bytes`; at least 1 (one sequence always runs, or fails with the device's own error),
    at most `cap`. Unknown KV size: `cap`."""
    if not kv_bytes_per_token or tokens_per_sequence <= 0:
        return cap
    return max(1, min(cap, free_bytes // (kv_bytes_per_token * tokens_per_sequence)))


@dataclass(frozen=True)
class Admitted:
    """A request as it will be sent: possibly cut by the protocol, with its sequence length."""

    request: ChatRequest
    prompt: str | None
    prompt_tokens: int
    tokens: int  # prompt + max_new_tokens: what its KV cache holds at most


@dataclass
class KVPlanner:
    """Plans generate() calls of one runner from its KV bytes per token and KV-cache budget.

    Cost model: a call of n requests takes n x (its longest sequence) x bytes per token, as
    in an engine that pads a batch to its longest row (a paged engine needs no more), so
    the plan is safe for both.
    """

    kv_bytes_per_token: int
    budget_bytes: int
    count_tokens: Counter
    render: Render
    max_context: int | None = None
    cut: Cut | None = None
    cut_rule: str = ""  # how the protocol cuts, for messages and the record
    calls: list[int] = field(default_factory=list)  # requests per generate() call
    longest: int = 0
    cuts: list[dict[str, object]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.kv_bytes_per_token <= 0 or self.budget_bytes <= 0:
            raise ValueError("KVPlanner needs positive bytes per token and budget")

    @property
    def max_sequence_tokens(self) -> int:
        """The longest sequence (prompt + new tokens) that fits: memory, then context."""
        fit = self.budget_bytes // self.kv_bytes_per_token
        return min(fit, self.max_context) if self.max_context else fit

    def admit(self, request: ChatRequest, prompt: str | None, who: str) -> Admitted:
        """Size `request`; cut it the protocol's way or refuse it (naming `who` and the sizes)
        when prompt + max_new_tokens exceed `max_sequence_tokens`."""
        new = request.params.max_new_tokens
        if prompt is None:  # the server renders: nothing to count here
            return Admitted(request, None, 0, new)
        n = self.count_tokens(prompt)
        limit = self.max_sequence_tokens
        if n + new <= limit:
            return self._note(Admitted(request, prompt, n, n + new))
        cut = self.cut(request, limit - new) if self.cut is not None and limit > new else None
        if cut is None:
            raise UsageError(self._refusal(who, n, new))
        cut_prompt = self.render(cut)
        m = self.count_tokens(cut_prompt) if cut_prompt is not None else 0
        self.cuts.append({"item": who, "prompt_tokens_before": n, "prompt_tokens_after": m})
        print(
            f"evalkit: {who}: prompt cut from {n} to {m} tokens ({self.cut_rule}) to fit "
            f"{limit} tokens of KV cache / context",
            file=sys.stderr,
        )
        return self._note(Admitted(cut, cut_prompt, m, m + new))

    def _note(self, a: Admitted) -> Admitted:
        self.longest = max(self.longest, a.tokens)
        return a

    def _refusal(self, who: str, prompt_tokens: int, new: int) -> str:
        seq = prompt_tokens + new
        need, room = seq * self.kv_bytes_per_token, self.budget_bytes // self.kv_bytes_per_token
        why = [
            f"{who}: {prompt_tokens} prompt tokens + {new} new tokens = {seq} tokens, whose KV cache "
            f"takes {need:,} bytes ({self.kv_bytes_per_token:,} bytes/token) against the runner's "
            f"KV-cache budget of {self.budget_bytes:,} bytes ({room:,} tokens)"
        ]
        if self.max_context:
            why.append(f"the model's context is {self.max_context:,} tokens")
        return (
            "; ".join(why) + "; it does not fit even alone, and this task's protocol does not cut "
            "prompts, so it is refused rather than cut: free GPU memory, use a shorter length, or a "
            "runner with more memory"
        )

    def split(self, tokens: Sequence[int]) -> list[list[int]]:
        """Indices of consecutive requests grouped into calls whose KV cache fits the budget."""
        groups: list[list[int]] = []
        current: list[int] = []
        widest = 0
        for i, t in enumerate(tokens):
            w = max(widest, t)
            if current and (len(current) + 1) * w * self.kv_bytes_per_token > self.budget_bytes:
                groups.append(current)
                current, w = [], t
            current.append(i)
            widest = w
        if current:
            groups.append(current)
        self.calls.extend(len(g) for g in groups)
        return groups

    def record(self) -> dict[str, object]:
        """What the plan was, for run.json / metrics.json."""
        return {
            "kv_bytes_per_token": self.kv_bytes_per_token,
            "kv_cache_budget_bytes": self.budget_bytes,
            "max_context": self.max_context,
            "max_sequence_tokens": self.max_sequence_tokens,
            "longest_sequence_tokens": self.longest,
            # Requests per call that fit at the longest sequence seen (the planned batch size).
            "planned_batch_size": (
                self.budget_bytes // (self.kv_bytes_per_token * self.longest) if self.longest else None
            ),
            "generate_calls": len(self.calls),
            "requests_planned": sum(self.calls),
            "largest_call": max(self.calls, default=0),
            "smallest_call": min(self.calls, default=0),
            "cut_rule": self.cut_rule or None,
            "prompts_cut": self.cuts,
        }


def planner_for(
    runner: Runner, tokenizer: Callable[[], Any], *, cuts_prompts: bool = False
) -> KVPlanner | None:
    """A planner for `runner` when it reports both its KV bytes per token and its KV-cache
    budget; None (no planning beyond the runner's own batching) when either is unknown.

    `tokenizer()` gives the model's HF tokenizer (loaded only when planning); prompts are
    counted in it as the local runners encode them. `cuts_prompts`: the task's protocol
    middle-truncates its prompt (LongBench's rule), so a request too long for the plan is cut
    that way instead of refused.
    """
    per_token, budget = runner.kv_bytes_per_token(), runner.kv_cache_budget_bytes()
    if not per_token or not budget or per_token <= 0 or budget <= 0:
        return None
    tok = tokenizer()

    def count(text: str) -> int:
        return len(tok(text, add_special_tokens=False)["input_ids"])

    def cut(request: ChatRequest, max_prompt_tokens: int) -> ChatRequest | None:
        return middle_truncate_request(tok, request, max_prompt_tokens, render=runner.render, count=count)

    return KVPlanner(
        kv_bytes_per_token=int(per_token),
        budget_bytes=int(budget),
        count_tokens=count,
        render=runner.render,
        max_context=runner.max_context(),
        cut=cut if cuts_prompts else None,
        cut_rule="middle truncation of the user turn, LongBench's rule" if cuts_prompts else "",
    )
