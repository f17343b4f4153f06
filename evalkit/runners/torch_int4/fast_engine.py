"""Continuous batching over ``FastExaone4``: the GPU engine of the int4 runner.

Every sequence owns a KV slot from its first prompt token to its last generated one. Each
iteration of the loop
1. admits waiting requests into free slots,
2. runs one prefill pass over up to ``prefill_tokens`` prompt tokens of the admitted
   sequences (long prompts go in chunks over several iterations),
3. runs one decode step for every sequence already generating (a CUDA graph per batch
   bucket on a GPU), samples, and lets finished sequences leave at once.
So a long prompt never stalls the rows that are decoding for longer than one chunk, and a
finished row's slot is refilled at the next iteration.

Memory is planned up front: the cache for ``max_batch_size`` sequences of ``max_seq_len``
tokens is allocated once (sliding layers hold only the window), and an engine that cannot
fit it refuses to start, saying what would fit.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from evalkit.errors import UsageError
from evalkit.records import SamplingParams
from evalkit.runners.torch_int4.engine import Decode, GenerationRequest, GenerationResult, stop_text
from evalkit.runners.torch_int4.fast_model import FastExaone4, SlotCache
from evalkit.runners.torch_int4.sampling import apply_presence_penalty, draw, make_generator, token_probs

GRAPH_BUCKETS = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
# Kept free beside the KV cache for activations, the dequant scratch and graph pools.
DEFAULT_RESERVE_BYTES = 6 * 1024**3


class MemoryPlanError(UsageError):
    """The requested batch and sequence length do not fit in the device's memory."""


def plan_kv_cache(
    model: FastExaone4, max_batch_size: int, max_seq_len: int, free_bytes: int, reserve_bytes: int
) -> int:
    """Bytes the cache needs; raises ``MemoryPlanError`` naming what fits when it does not."""
    cfg, dtype = model.cfg, model.dtype
    need = SlotCache.bytes_needed(cfg, max_batch_size, max_seq_len, dtype)
    room = free_bytes - reserve_bytes
    if need <= room:
        return need
    fit_batch = max_batch_size
    while fit_batch > 0 and SlotCache.bytes_needed(cfg, fit_batch, max_seq_len, dtype) > room:
        fit_batch -= 1
    fit_len = max_seq_len
    while fit_len > 0 and SlotCache.bytes_needed(cfg, max_batch_size, fit_len, dtype) > room:
        fit_len = fit_len * 7 // 8
    gib = 1024**3
    raise MemoryPlanError(
        f"KV cache for {max_batch_size} sequences of {max_seq_len:,} tokens needs {need / gib:.1f} GiB, "
        f"but only {max(room, 0) / gib:.1f} GiB are free after the weights and a "
        f"{reserve_bytes / gib:.0f} GiB reserve; at {max_seq_len:,} tokens {fit_batch} sequences fit, "
        f"at batch {max_batch_size} about "
        f"{fit_len:,} tokens fit (lower max_batch_size or max_seq_len)"
    )


class SlotSampler:
    """Sampling state per slot (parameters, seeded generator, tokens generated so far).

    Same semantics as ``BatchSampler``: each request draws one uniform number per sampled
    token from its own generator, so its stream never depends on its neighbours.
    """

    def __init__(self, slots: int, vocab_size: int, device: torch.device):
        self.greedy = [True] * slots
        self.temperature = torch.ones(slots, device=device)
        self.top_k = torch.zeros(slots, dtype=torch.long, device=device)
        self.top_p = torch.ones(slots, device=device)
        self.presence = torch.zeros(slots, device=device)
        self.generators: list[torch.Generator | None] = [None] * slots
        self.seen = torch.zeros((slots, vocab_size), dtype=torch.bool, device=device)

    def assign(self, slot: int, params: SamplingParams) -> None:
        self.greedy[slot] = params.greedy
        self.temperature[slot] = params.temperature if not params.greedy else 1.0
        self.top_k[slot] = params.top_k
        self.top_p[slot] = params.top_p
        self.presence[slot] = params.presence_penalty
        self.generators[slot] = make_generator(params.seed)
        self.seen[slot] = False

    def __call__(self, logits: torch.Tensor, slots: Sequence[int]) -> list[int]:
        idx = torch.tensor(list(slots), dtype=torch.long, device=logits.device)
        logits = apply_presence_penalty(logits, self.seen[idx], self.presence[idx])
        tokens = logits.argmax(dim=-1)
        rows = [j for j, s in enumerate(slots) if not self.greedy[s]]
        if rows:
            r = torch.tensor(rows, device=logits.device)
            sl = idx[r]
            probs = token_probs(logits[r], self.temperature[sl], self.top_k[sl], self.top_p[sl])
            uniforms = []
            for j in rows:
                gen = self.generators[slots[j]]
                assert gen is not None
                uniforms.append(torch.rand((), generator=gen, dtype=torch.float64))
            tokens[r] = draw(probs, torch.stack(uniforms))
        self.seen[idx, tokens] = True
        out: list[int] = tokens.tolist()
        return out


@dataclass
class _Seq:
    index: int
    request: GenerationRequest
    slot: int = -1
    prompt_done: int = 0
    generated: list[int] = field(default_factory=list)


@dataclass
class _Graph:
    graph: torch.cuda.CUDAGraph
    inputs: torch.Tensor  # int32 [3, bucket]: tokens, positions, slots
    logits: torch.Tensor


class FastEngine:
    """Generation with continuous batching on ``FastExaone4`` (see the module docstring)."""

    def __init__(
        self,
        model: FastExaone4,
        *,
        decode: Decode,
        eos_ids: Sequence[int] | None = None,
        max_batch_size: int = 64,
        max_seq_len: int = 8192,
        prefill_tokens: int = 8192,
        cuda_graphs: bool | None = None,
        reserve_bytes: int = DEFAULT_RESERVE_BYTES,
    ):
        if max_batch_size < 1 or max_seq_len < 2 or prefill_tokens < 1:
            raise UsageError("max_batch_size, max_seq_len and prefill_tokens must be positive")
        self.model = model
        self.decode_text = decode
        self.eos_ids = frozenset(model.cfg.eos_token_ids if eos_ids is None else eos_ids)
        self.max_batch_size, self.max_seq_len, self.prefill_tokens = (
            max_batch_size,
            max_seq_len,
            prefill_tokens,
        )
        dev = model.device
        if dev.type == "cuda":
            free = torch.cuda.mem_get_info(dev)[0]
            plan_kv_cache(model, max_batch_size, max_seq_len, free, reserve_bytes)
        self.cache = SlotCache(model.cfg, max_batch_size, max_seq_len, model.dtype, dev)
        self.sampler = SlotSampler(max_batch_size, model.cfg.vocab_size, dev)
        self.cuda_graphs = (
            (dev.type == "cuda" and model.triton_kernels) if cuda_graphs is None else cuda_graphs
        )
        self._graphs: dict[int, _Graph] = {}
        self._buckets = [b for b in GRAPH_BUCKETS if b < max_batch_size] + [max_batch_size]
        self._pool: Any = None
        # When a list: (seconds, rows) of every decode step, sampling included (benchmarks).
        self.step_log: list[tuple[float, int]] | None = None

    def warmup(self) -> None:
        """Compile every kernel and capture the decode graph of every batch bucket up to
        ``max_batch_size`` now, so that no request pays for it (vLLM does the same at start)."""
        with torch.inference_mode():
            scratch = self.cache.scratch_slot
            # both prefill paths: the GEMM (few rows) and dequantize + cuBLAS (>= 256 rows)
            for n in sorted({min(8, self.max_seq_len), min(300, self.max_seq_len)}):
                self.model.prefill([(torch.zeros(n, dtype=torch.long), scratch, 0)], self.cache)
            for bucket in self._buckets:
                if self.cuda_graphs:
                    if bucket not in self._graphs:
                        self._capture(bucket)
                else:
                    self.decode_logits([0] * bucket, [0] * bucket, [scratch] * bucket)

    # ----------------------------------------------------------------- the loop

    def generate(self, requests: Sequence[GenerationRequest]) -> Iterator[tuple[int, GenerationResult]]:
        """Yield (index into `requests`, result) for every request, in the order they finish."""
        waiting: deque[_Seq] = deque()
        for i, request in enumerate(requests):
            n = len(request.prompt_ids)
            if n == 0:
                raise ValueError(f"request {i} has an empty prompt")
            if n + request.params.max_new_tokens > self.max_seq_len:
                raise UsageError(
                    f"request {i}: prompt of {n:,} tokens + {request.params.max_new_tokens:,} new tokens "
                    f"exceeds the engine's max_seq_len of {self.max_seq_len:,}"
                )
            waiting.append(_Seq(i, request))
        for seq in [s for s in waiting if s.request.params.max_new_tokens <= 0]:
            yield seq.index, GenerationResult([], "", "length")
        waiting = deque(s for s in waiting if s.request.params.max_new_tokens > 0)
        free = list(range(self.max_batch_size - 1, -1, -1))
        prefilling: list[_Seq] = []
        decoding: list[_Seq] = []
        with torch.inference_mode():
            while waiting or prefilling or decoding:
                while waiting and free:
                    seq = waiting.popleft()
                    seq.slot = free.pop()
                    self.sampler.assign(seq.slot, seq.request.params)
                    prefilling.append(seq)
                if prefilling:
                    started = self._prefill_step(prefilling)
                    for seq in started:
                        prefilling.remove(seq)
                        result = self._finished(seq)
                        if result is None:
                            decoding.append(seq)
                        else:
                            free.append(seq.slot)
                            yield seq.index, result
                if decoding:
                    tokens = self._decode_step(decoding)
                    still: list[_Seq] = []
                    for seq, token in zip(decoding, tokens, strict=True):
                        seq.generated.append(token)
                        result = self._finished(seq)
                        if result is None:
                            still.append(seq)
                        else:
                            free.append(seq.slot)
                            yield seq.index, result
                    decoding = still

    def _prefill_step(self, prefilling: list[_Seq]) -> list[_Seq]:
        """One prefill pass over up to ``prefill_tokens`` prompt tokens; the sequences whose
        prompt is now complete, each with its first token sampled."""
        budget = self.prefill_tokens
        chunks: list[tuple[torch.Tensor, int, int]] = []
        members: list[_Seq] = []
        for seq in prefilling:
            if budget <= 0:
                break
            ids = seq.request.prompt_ids
            n = min(len(ids) - seq.prompt_done, budget)
            part = torch.tensor(list(ids[seq.prompt_done : seq.prompt_done + n]), dtype=torch.long)
            chunks.append((part, seq.slot, seq.prompt_done))
            members.append(seq)
            seq.prompt_done += n
            budget -= n
        logits = self.model.prefill(chunks, self.cache)
        done = [j for j, seq in enumerate(members) if seq.prompt_done == len(seq.request.prompt_ids)]
        if not done:
            return []
        rows = torch.tensor(done, device=logits.device)
        tokens = self.sampler(logits.index_select(0, rows), [members[j].slot for j in done])
        for j, token in zip(done, tokens, strict=True):
            members[j].generated.append(token)
        return [members[j] for j in done]

    def _decode_step(self, decoding: list[_Seq]) -> list[int]:
        start = time.perf_counter()
        tokens = [s.generated[-1] for s in decoding]
        positions = [len(s.request.prompt_ids) + len(s.generated) - 1 for s in decoding]
        slots = [s.slot for s in decoding]
        logits = self.decode_logits(tokens, positions, slots)
        chosen = self.sampler(logits, slots)  # returns host ints: the step is over on the device
        if self.step_log is not None:
            self.step_log.append((time.perf_counter() - start, len(decoding)))
        return chosen

    def decode_logits(self, tokens: list[int], positions: list[int], slots: list[int]) -> torch.Tensor:
        """Logits [B, V] of one decode step (through a CUDA graph when enabled)."""
        dev = self.model.device
        b = len(tokens)
        if not self.cuda_graphs:
            t = torch.tensor([tokens, positions, slots], dtype=torch.int32).to(dev)
            return self.model.decode(t[0].long(), t[1], t[2], self.cache)
        bucket = next(x for x in self._buckets if x >= b)
        g = self._graphs.get(bucket) or self._capture(bucket)
        pad = bucket - b
        host = torch.tensor(
            [tokens + [0] * pad, positions + [0] * pad, slots + [self.cache.scratch_slot] * pad],
            dtype=torch.int32,
        )
        g.inputs.copy_(host, non_blocking=False)
        g.graph.replay()
        return g.logits[:b]

    def _capture(self, bucket: int) -> _Graph:
        dev = self.model.device
        inputs = torch.zeros((3, bucket), dtype=torch.int32, device=dev)
        inputs[2].fill_(self.cache.scratch_slot)

        def step() -> torch.Tensor:
            return self.model.decode(inputs[0].long(), inputs[1], inputs[2], self.cache)

        side = torch.cuda.Stream(dev)
        side.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(side):
            for _ in range(2):  # compiles the kernels and settles the allocator outside capture
                step()
        torch.cuda.current_stream(dev).wait_stream(side)
        if self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self._pool):
            logits = step()
        captured = _Graph(graph, inputs, logits)
        self._graphs[bucket] = captured
        return captured

    def _finished(self, seq: _Seq) -> GenerationResult | None:
        params, ids = seq.request.params, seq.generated
        if ids[-1] in self.eos_ids:
            return GenerationResult(list(ids), self.decode_text(ids[:-1]), "stop")
        if params.stop:
            text = stop_text(self.decode_text, ids, params.stop)
            if text is not None:
                return GenerationResult(list(ids), text, "stop")
        if len(ids) >= params.max_new_tokens:
            return GenerationResult(list(ids), self.decode_text(ids), "length")
        return None
