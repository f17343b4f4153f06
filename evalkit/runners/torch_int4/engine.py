"""Batched generation over token-id prompts: left-padded prefill, then one decode step per token.

Static batches for now: up to ``max_batch_size`` requests start together, later ones
wait for the next batch. Within a batch a row leaves as soon as it finishes (EOS, a
stop string, or its token budget) and its result is yielded at once; the KV cache and
sampler shrink with it, so finished rows cost no more compute. (Continuous batching
would refill those rows; the per-row cache bookkeeping in ``KVCache`` is what it needs.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from evalkit.records import FinishReason, SamplingParams
from evalkit.runners.torch_int4.engine_api import PromptLogits
from evalkit.runners.torch_int4.kv_cache import KVCache
from evalkit.runners.torch_int4.model import Exaone4LM
from evalkit.runners.torch_int4.sampling import BatchSampler

Decode = Callable[[Sequence[int]], str]
# Prompt tokens per prefill forward. Bounds the attention scores and the boolean mask
# (B x groups x chunk x context) of long prompts; results equal one-shot prefill.
DEFAULT_PREFILL_CHUNK = 2048


@dataclass(frozen=True)
class GenerationRequest:
    """A tokenized prompt and how to continue it."""

    prompt_ids: Sequence[int]
    params: SamplingParams


@dataclass
class GenerationResult:
    """What one request produced.

    `token_ids` are all generated ids, including a final EOS or the tokens of a stop
    string; `text` is the decoded text before the EOS and cut before the stop string.
    """

    token_ids: list[int]
    text: str
    finish_reason: FinishReason


@dataclass
class _Row:
    index: int
    request: GenerationRequest
    generated: list[int] = field(default_factory=list)


class ReferenceEngine:
    """Runs generation for a loaded model: the plain-PyTorch ``Engine`` (see ``engine_api``).

    `decode` turns generated ids (EOS excluded) into the text a caller sees; stop
    strings are matched against that text. `eos_ids` defaults to the model config's.
    `prefill_chunk_size` feeds long prompts in pieces (None = whole prompt at once).
    """

    def __init__(
        self,
        model: Exaone4LM,
        *,
        decode: Decode,
        eos_ids: Sequence[int] | None = None,
        max_batch_size: int = 8,
        pad_id: int = 0,
        prefill_chunk_size: int | None = DEFAULT_PREFILL_CHUNK,
    ):
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        self.model = model
        self.decode = decode
        self.eos_ids = frozenset(model.cfg.eos_token_ids if eos_ids is None else eos_ids)
        self.max_batch_size = max_batch_size
        self.pad_id = pad_id
        self.prefill_chunk_size = prefill_chunk_size

    @property
    def max_seq_len(self) -> int:
        """The model's context: the cache grows as needed up to it."""
        return int(self.model.cfg.max_position_embeddings)

    @property
    def max_seq_len_source(self) -> str | None:
        return None

    def describe(self) -> dict[str, Any]:
        """Nothing: the reference engine's cache keys predate the engine setting, and stored
        reference runs stay valid."""
        return {}

    def kv_cache_budget_bytes(self) -> int | None:
        """On a GPU the free device memory now; on a CPU None (host memory is not planned)."""
        device = self.model.device
        if device.type == "cuda":
            return int(torch.cuda.mem_get_info(device)[0])
        return None

    def prompt_logits(self, ids: Sequence[int], *, hidden_states: bool = False) -> PromptLogits:
        """Logits at every position of `ids` in one forward pass; with `hidden_states`, each
        layer's output, captured by forward hooks so the model itself is untouched."""
        captured: list[torch.Tensor] = []
        hooks = (
            [
                layer.register_forward_hook(lambda _m, _i, out: captured.append(out[0].float()))
                for layer in self.model.model.layers
            ]
            if hidden_states
            else []
        )
        try:
            cache = self.model.new_cache(torch.zeros(1, dtype=torch.long), capacity=len(ids))
            tokens = torch.tensor([list(ids)], device=self.model.device)
            with torch.inference_mode():
                logits = self.model(tokens, cache, all_logits=True)[0]
        finally:
            for h in hooks:
                h.remove()
        return PromptLogits(
            logits=logits,
            hidden_states=captured if hidden_states else None,
            layer_types=[str(t) for t in self.model.cfg.layer_types],
        )

    def close(self) -> None:
        self.model = None  # type: ignore[assignment]

    def generate(self, requests: Sequence[GenerationRequest]) -> Iterator[tuple[int, GenerationResult]]:
        """Yield (index into `requests`, result) for every request, in the order they finish."""
        for i, request in enumerate(requests):
            if not request.prompt_ids:
                raise ValueError(f"request {i} has an empty prompt")
        waiting = [_Row(i, r) for i, r in enumerate(requests)]
        for first in range(0, len(waiting), self.max_batch_size):
            yield from self._run_batch(waiting[first : first + self.max_batch_size])

    @torch.inference_mode()
    def _run_batch(self, rows: list[_Row]) -> Iterator[tuple[int, GenerationResult]]:
        for row in [r for r in rows if r.request.params.max_new_tokens <= 0]:
            yield row.index, GenerationResult([], "", "length")
        rows = [r for r in rows if r.request.params.max_new_tokens > 0]
        if not rows:
            return
        model, device = self.model, self.model.device
        lengths = [len(r.request.prompt_ids) for r in rows]
        width = max(lengths)
        prompt = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        for b, row in enumerate(rows):  # left padding: every row's last prompt token is at slot width-1
            prompt[b, width - lengths[b] :] = torch.tensor(list(row.request.prompt_ids), dtype=torch.long)
        start = torch.tensor([width - n for n in lengths], dtype=torch.long)
        budget = max(r.request.params.max_new_tokens for r in rows)
        cache = model.new_cache(start, capacity=width + min(budget, 1024))  # grows if needed
        sampler = BatchSampler([r.request.params for r in rows], model.cfg.vocab_size, device)

        logits = self._prefill(prompt.to(device), cache)
        while True:
            tokens = sampler(logits).tolist()
            keep: list[int] = []
            for b, (row, token) in enumerate(zip(rows, tokens, strict=True)):
                row.generated.append(token)
                result = self._finished(row)
                if result is None:
                    keep.append(b)
                else:
                    yield row.index, result
            if not keep:
                return
            if len(keep) < len(rows):
                cache.keep_rows(torch.tensor(keep, dtype=torch.long))
                sampler.keep_rows(keep)
                rows = [rows[b] for b in keep]
                tokens = [tokens[b] for b in keep]
            step = torch.tensor(tokens, dtype=torch.long, device=device)[:, None]
            logits = model(step, cache)[:, -1]

    def _prefill(self, prompt: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """Feed the padded prompt (in chunks if configured); logits of its last position [B, V]."""
        chunk = self.prefill_chunk_size or prompt.shape[1]
        logits = torch.empty(0)
        for s in range(0, prompt.shape[1], chunk):
            logits = self.model(prompt[:, s : s + chunk], cache)[:, -1]
        return logits

    def _finished(self, row: _Row) -> GenerationResult | None:
        """The row's result if its last token ended it, else None."""
        params, ids = row.request.params, row.generated
        if ids[-1] in self.eos_ids:
            return GenerationResult(list(ids), self.decode(ids[:-1]), "stop")
        if params.stop:
            text = self._stop_text(ids, params.stop)
            if text is not None:
                return GenerationResult(list(ids), text, "stop")
        if len(ids) >= params.max_new_tokens:
            return GenerationResult(list(ids), self.decode(ids), "length")
        return None

    def _stop_text(self, ids: list[int], stops: Sequence[str]) -> str | None:
        return stop_text(self.decode, ids, stops)


def stop_text(decode: Decode, ids: list[int], stops: Sequence[str]) -> str | None:
    """The text before the first stop string if the newest token completed one, else None.

    Only the tail is decoded each step (enough tokens to span the longest stop string
    even at one byte per token), so checking stays O(1) per token; the full text is
    decoded once, when a stop string shows up.
    """
    tail_tokens = 4 * max(len(s) for s in stops) + 8
    tail = decode(ids[-tail_tokens:])
    if not any(s in tail for s in stops):
        return None
    text = decode(ids)
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
    return text[:cut] if cut >= 0 else None
