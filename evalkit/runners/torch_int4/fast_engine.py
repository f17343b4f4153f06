"""Continuous batching over ``FastExaone4`` with a paged KV cache: the GPU engine of the int4 runner.

Memory follows actual lengths: at start the engine sizes a pool of equal KV blocks from a
memory fraction (``plan_cache``; see ``paged_cache`` for the layout) and reports it. Each
iteration of the loop
1. admits waiting requests (in ``admission_order``: repeats of one prompt together, long
   outputs first) while the pool holds their prompts, taking the blocks of any prefix another
   sequence has computed (prompt sharing);
2. runs one prefill pass over up to ``prefill_tokens`` prompt tokens of the admitted
   sequences (long prompts go in chunks over several iterations);
3. runs one decode step for every sequence already generating (a CUDA graph per batch
   bucket on a GPU, up to 512 rows), samples, and lets finished sequences leave at once.
While nothing waits to be admitted and no prompt is being prefilled, decode steps are
pipelined: step N+1 is launched with step N's tokens still on the device (its inputs come
from the sampler's output there), and only then does the host read step N's tokens, append
them and retire finished sequences, so the GPU does not wait for the engine's Python. A
sequence that stops at step N on EOS or a stop string has then already been given a row in
step N+1: that token is computed and discarded (``EngineStats.discarded``); sequences that
reach their token budget at step N are known in advance and left out.
When a sequence needs a block and none is free, the latest-admitted sequence is preempted:
its blocks are released and it waits at the head of the queue; when re-admitted, its prompt
and the tokens it had generated are prefilled again (recompute) and it goes on from its last
token. Its tokens, its random generator and its presence-penalty state travel with it, so
what it generates does not depend on preemption, nor on its neighbours or admission order.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from evalkit.errors import UsageError
from evalkit.records import SamplingParams
from evalkit.runners.torch_int4.engine import Decode, GenerationRequest, GenerationResult, stop_text
from evalkit.runners.torch_int4.engine_api import PromptLogits
from evalkit.runners.torch_int4.fast_model import FastExaone4
from evalkit.runners.torch_int4.kernels.attention import max_group_members
from evalkit.runners.torch_int4.paged_cache import (
    DEFAULT_BLOCK_SIZE,
    BlockPool,
    CacheLayout,
    CachePlan,
    PagedKVCache,
    prefix_hashes,
)
from evalkit.runners.torch_int4.prefix_groups import PrefixGroups, find_groups, shared_prefix_views, to_device
from evalkit.runners.torch_int4.sampling import UniformStream, sample_rows
from evalkit.runners.torch_int4.slot_sampler import SlotSampler
from evalkit.runners.torch_int4.transfer import Download, upload

log = logging.getLogger(__name__)

GRAPH_BUCKETS = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 160, 192, 224, 256, 320, 384, 448, 512)
# Kept free beside the KV cache for activations, the dequant scratch and graph pools.
DEFAULT_RESERVE_BYTES = 6 * 1024**3
DEFAULT_MEMORY_FRACTION = 0.9
# Tokens of growth the admission check reserves for every running sequence (see ``_admit``).
ADMIT_HORIZON = 1024
# Groups of rows with a shared prefix a decode step's attention takes at most (per bucket:
# at most half its rows; see ``prefix_groups``).
MAX_PREFIX_GROUPS = 64
# Rows in shared-prefix groups from which a decode step reads the prefixes once per group; only
# graphs of buckets this large carry the path. Measured on an H200 (2026-12-03, 32B heads, one
# layer): 256 rows in 16 groups, 512 shared keys of 576: 67.9 us against 114.8 row by row (whose
# reads of shared blocks L2 already serves in part), of 1,024: 193.3 against 227.5; the W2
# decode step at 256 rows 47.0 -> 44.3 ms. But 64 rows in 4 groups, 512 of 1,024: 79.5 against
# 62.6 (32 work items read the prefixes while the row-by-row kernel runs 1,536 programs), and W2
# at scale 0.25 (64 rows at most) took 139.2 s against 133.9 without the path; a graph carrying
# the path costs about 4 us a layer even when no row is grouped.
SHARED_PREFIX_MIN_ROWS = 128


class MemoryPlanError(UsageError):
    """The cache cannot hold even one sequence of the longest length asked for."""


def plan_cache(
    model: FastExaone4,
    *,
    max_seqs: int,
    max_seq_len: int,
    prefill_tokens: int,
    block_size: int = DEFAULT_BLOCK_SIZE,
    memory_fraction: float = DEFAULT_MEMORY_FRACTION,
    reserve_bytes: int = DEFAULT_RESERVE_BYTES,
    total_bytes: int | None = None,
    used_bytes: int = 0,
    cache_blocks: int | None = None,
) -> CachePlan:
    """Size the block pool: `cache_blocks` if given, else what ``memory_fraction`` of the
    device's `total_bytes` leaves after what is in use (weights) and `reserve_bytes`.

    Raises ``MemoryPlanError`` when one sequence of `max_seq_len` tokens (plus a prefill chunk
    in flight) would not fit, saying how long a sequence does fit."""
    layout = CacheLayout.build(model.cfg, max_seq_len, model.dtype, block_size)
    if cache_blocks is None:
        if total_bytes is None:
            raise ValueError("plan_cache needs total_bytes or cache_blocks")
        room = int(memory_fraction * total_bytes) - used_bytes - reserve_bytes
        cache_blocks = max(0, room // layout.bytes_per_block)
    sliding = sum(layout.group_sliding)
    need = layout.blocks_for(max_seq_len) + sliding * -(-prefill_tokens // block_size)
    if cache_blocks < need:
        fit = 0
        while fit < max_seq_len and layout.blocks_for(fit + 1024) + need - layout.blocks_for(max_seq_len) <= (
            cache_blocks
        ):
            fit += 1024
        gib = 1024**3
        raise MemoryPlanError(
            f"one sequence of {max_seq_len:,} tokens needs {need * layout.bytes_per_block / gib:.1f} GiB "
            f"of KV cache, but memory_fraction {memory_fraction} leaves "
            f"{cache_blocks * layout.bytes_per_block / gib:.1f} GiB after the weights and a "
            f"{reserve_bytes / gib:.0f} GiB reserve; about {fit:,} tokens fit "
            "(raise memory_fraction or lower max_seq_len)"
        )
    return CachePlan(layout, cache_blocks, cache_blocks * layout.bytes_per_block, max_seqs, max_seq_len)


def admission_order(requests: Sequence[GenerationRequest]) -> list[int]:
    """Indices in the order the engine admits them: the repeats of one prompt together (their
    prompt is computed once), groups with the longest outputs first (they bound the run's
    length), the original order within a group and among equals."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, r in enumerate(requests):
        groups.setdefault(tuple(r.prompt_ids), []).append(i)
    ranked = sorted(groups.values(), key=lambda g: (-max(requests[i].params.max_new_tokens for i in g), g[0]))
    return [i for g in ranked for i in g]


@dataclass
class EngineStats:
    """Counters of one ``generate`` call (benchmarks and tests read them)."""

    prompt_tokens: int = 0  # prompt tokens requested
    prefill_computed: int = 0  # tokens run through prefill (recomputed ones included)
    prefix_hit_tokens: int = 0  # prompt tokens taken from shared blocks
    prefill_seconds: float = 0.0  # wall time of the prefill passes (device time with ``sync_prefill``)
    # (tokens, chunks, seconds) of each prefill pass, timed as prefill_seconds
    prefill_passes: list[tuple[int, int, float]] = field(default_factory=list)
    preemptions: int = 0
    peak_running: int = 0
    decode_steps: int = 0
    pipelined_steps: int = 0  # decode steps launched before the previous step's tokens were read
    discarded: int = 0  # tokens of pipelined steps for sequences that had stopped the step before
    # decode rows whose attention read a prefix shared with other rows once per group, and the
    # prefix keys (per layer) those steps did not read again
    shared_prefix_rows: int = 0
    shared_prefix_keys_saved: int = 0
    # (forward, sampling, bookkeeping, rows) of each decode step when ``profile`` is on; bookkeeping:
    # the step's block checks, inputs and finishing rows, and the admission pass before it
    step_times: list[tuple[float, float, float, int]] = field(default_factory=list)


@dataclass
class _Seq:
    index: int
    request: GenerationRequest
    ids: list[int]  # prompt + generated
    stream: UniformStream  # its uniform numbers (one per sampled token)
    generated: list[int] = field(default_factory=list)
    row: int = -1
    admitted: int = -1
    blocks: list[list[int]] = field(default_factory=list)  # per group, per logical block (-1: released)
    computed: int = 0  # tokens whose keys/values are in the cache
    released: int = 0  # sliding blocks below this logical index are released
    ready: int = 0  # full blocks marked computed in the prefix registry
    hashes: list[int] = field(default_factory=list)
    done: bool = False  # finished (its result yielded); a pipelined step may still hold its row

    @property
    def target(self) -> int:
        """Tokens to prefill: the prompt, or (resumed) everything but the last token."""
        return len(self.ids) - 1 if self.generated else len(self.ids)


@dataclass
class _Graph:
    graph: torch.cuda.CUDAGraph
    buffer: torch.Tensor  # int32: the inputs, then (shared-prefix path) the groups
    inputs: torch.Tensor  # int32 [3, bucket] in buffer: tokens, positions, table rows
    logits: torch.Tensor
    shared: torch.Tensor | None  # the rest of buffer: its SharedPrefix (``PrefixGroups.flat``)
    max_groups: int


@dataclass
class _Step:
    """A decode step launched on the device: its sequences (in row order of the batch), the
    sampled tokens there, their copy to the host, and the times of the step log."""

    seqs: list[_Seq]
    logits: torch.Tensor | None = None  # [len(seqs), V] until sampled
    tokens: torch.Tensor | None = None  # [len(seqs)] on the device, once sampled
    download: Download | None = None
    t0: float = 0.0  # the step's start (before its block checks)
    t1: float = 0.0  # its forward launched
    t2: float = 0.0  # its forward done (``profile``) or its sampling queued


class FastEngine:
    """Generation with continuous batching on ``FastExaone4`` (see the module docstring).

    `max_batch_size`: sequences at once (the largest decode batch); `max_seq_len`: the longest
    sequence (prompt + output) admitted. The pool holds `cache_blocks` blocks, or what
    `memory_fraction` of the GPU leaves (on a CPU: `max_batch_size` sequences of `max_seq_len`).
    `admit_horizon`: tokens of growth reserved per sequence at admission (0: admit on what is
    free now and rely on preemption). `pipeline`: launch each steady-state decode step before
    reading the previous one's tokens (see the module docstring); results do not change.
    """

    def __init__(
        self,
        model: FastExaone4,
        *,
        decode: Decode,
        eos_ids: Sequence[int] | None = None,
        max_batch_size: int = 256,
        max_seq_len: int = 8192,
        prefill_tokens: int = 8192,
        cuda_graphs: bool | None = None,
        memory_fraction: float = DEFAULT_MEMORY_FRACTION,
        reserve_bytes: int = DEFAULT_RESERVE_BYTES,
        block_size: int = DEFAULT_BLOCK_SIZE,
        cache_blocks: int | None = None,
        prefix_sharing: bool = True,
        admit_horizon: int = ADMIT_HORIZON,
        pipeline: bool = True,
        shared_prefix_attention: bool = True,
        shared_prefix_min_rows: int = SHARED_PREFIX_MIN_ROWS,
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
        self.prefix_sharing, self.admit_horizon, self.pipeline = prefix_sharing, admit_horizon, pipeline
        # decode attention reads a prefix that rows share once per group (kernels.attention)
        self.shared_prefix_attention = shared_prefix_attention and prefix_sharing
        self.shared_prefix_min_rows = max(2, shared_prefix_min_rows)
        cfg = model.cfg
        self._max_members = max_group_members(cfg.num_heads, cfg.num_kv_heads)
        self._groups_key: tuple[tuple[int, int], ...] | None = None
        self._groups_found: PrefixGroups | None = None
        dev = model.device
        if dev.type == "cuda":
            # Blocks the caching allocator holds but nothing uses (the unfused weights that
            # FastExaone4.from_reference freed: about 8 GiB after loading the 32B checkpoint)
            # count as used in mem_get_info: give them back before sizing the pool.
            torch.cuda.empty_cache()
            free, total = torch.cuda.mem_get_info(dev)
            plan = plan_cache(
                model, max_seqs=max_batch_size, max_seq_len=max_seq_len, prefill_tokens=prefill_tokens,
                block_size=block_size, memory_fraction=memory_fraction, reserve_bytes=reserve_bytes,
                total_bytes=total, used_bytes=total - free, cache_blocks=cache_blocks,
            )  # fmt: skip
        else:
            # CPU: room for max_batch_size sequences of max_seq_len tokens, plus a chunk in flight
            layout = CacheLayout.build(model.cfg, max_seq_len, model.dtype, block_size)
            chunk = sum(layout.group_sliding) * -(-prefill_tokens // block_size)
            plan = plan_cache(
                model, max_seqs=max_batch_size, max_seq_len=max_seq_len, prefill_tokens=prefill_tokens,
                block_size=block_size,
                cache_blocks=cache_blocks or max_batch_size * layout.blocks_for(max_seq_len) + chunk,
            )  # fmt: skip
        self.plan = plan
        log.info("fast engine: %s", plan.summary())
        self.cache = PagedKVCache(model.cfg, plan.layout, plan.num_blocks, max_batch_size, model.dtype, dev)
        self.pool = BlockPool(plan.num_blocks)
        self.sampler = SlotSampler(max_batch_size, model.cfg.vocab_size, dev)
        self.cuda_graphs = (
            (dev.type == "cuda" and model.triton_kernels) if cuda_graphs is None else cuda_graphs
        )
        self._graphs: dict[int, _Graph] = {}
        self._buckets = [b for b in GRAPH_BUCKETS if b < max_batch_size] + [max_batch_size]
        self._pool: Any = None
        self._admitted = 0
        self._admit_s = 0.0
        self._admit_stalled = False  # the last admission pass stopped for blocks; none freed since
        self._rows = list(range(max_batch_size - 1, -1, -1))  # free block-table rows
        self.stats = EngineStats()
        # Synchronise each decode step to split its time (benchmarks); it turns pipelining off.
        self.profile = False
        # Synchronise after each prefill pass, so that stats.prefill_seconds is its device time
        # (benchmarks; ``profile`` does it too).
        self.sync_prefill = False
        # When a list, per decode step (benchmarks): (its start on the perf_counter clock, seconds
        # from its start to its tokens on the host, sampling included, rows). The time from one
        # step's start to the next one's is the whole loop's: bookkeeping, admission and prefill
        # checks included.
        self.step_log: list[tuple[float, float, int]] | None = None

    # ----------------------------------------------------------------- the Engine protocol

    @property
    def max_seq_len_source(self) -> str | None:
        return "the fast engine's max_seq_len setting"

    def describe(self) -> dict[str, Any]:
        """Same model, other kernels (rounding differs): a separate cache key from the reference
        engine's. "fast-paged": the paged cache's prefill attention rounds differently from the
        11-29 slot engine, whose stored runs must not be reused as if they came from this one."""
        return {"engine": "fast-paged"}

    def kv_cache_budget_bytes(self) -> int:
        """The bytes of the block pool sized at start (``plan.cache_bytes``)."""
        return self.plan.cache_bytes

    def close(self) -> None:
        """Drop the model, the cache and the captured graphs."""
        self.model = None  # type: ignore[assignment]
        self.cache = None  # type: ignore[assignment]
        self._graphs.clear()

    def warmup(self) -> None:
        """Compile every kernel and capture the decode graph of every batch bucket up to
        ``max_batch_size`` now, so that no request pays for it (vLLM does the same at start).
        Everything runs in the scratch row and block."""
        scratch = self.cache.scratch_row
        with torch.inference_mode():
            # both prefill paths: the GEMM (few rows) and dequantize + cuBLAS (DEQUANT_MATMUL_ROWS on)
            for n in sorted({min(8, self.max_seq_len), min(300, self.max_seq_len)}):
                self.model.prefill([(torch.zeros(n, dtype=torch.long), scratch, 0)], self.cache)
            # a sampled row without top-k, through the sampler's own dispatch (on a GPU: its
            # top-p kernel, built now)
            logits = torch.zeros(1, self.model.cfg.vocab_size, device=self.model.device)
            one = torch.ones(1, device=self.model.device)
            no_k = torch.zeros(1, dtype=torch.long, device=self.model.device)
            sample_rows(logits, one, no_k, one * 0.5, torch.zeros(1, dtype=torch.float64), [True])
            for bucket in self._buckets:
                if self.cuda_graphs:
                    if bucket not in self._graphs:
                        self._capture(bucket)
                else:
                    self.decode_logits([0] * bucket, [0] * bucket, [scratch] * bucket)

    # ----------------------------------------------------------------- the loop

    def generate(self, requests: Sequence[GenerationRequest]) -> Iterator[tuple[int, GenerationResult]]:
        """Yield (index into `requests`, result) for every request, in the order they finish."""
        for i, request in enumerate(requests):
            n = len(request.prompt_ids)
            if n == 0:
                raise ValueError(f"request {i} has an empty prompt")
            if n + request.params.max_new_tokens > self.max_seq_len:
                raise UsageError(
                    f"request {i}: prompt of {n:,} tokens + {request.params.max_new_tokens:,} new tokens "
                    f"exceeds the engine's max_seq_len of {self.max_seq_len:,}"
                )
        self.stats = EngineStats()
        waiting: deque[_Seq] = deque()
        for i in admission_order(requests):
            r = requests[i]
            if r.params.max_new_tokens <= 0:
                yield i, GenerationResult([], "", "length")
                continue
            self.stats.prompt_tokens += len(r.prompt_ids)
            waiting.append(_Seq(i, r, list(r.prompt_ids), UniformStream(r.params.seed)))
        running: list[_Seq] = []
        pending: _Step | None = None  # launched and sampled, its tokens not read yet
        started = time.perf_counter()
        with torch.inference_mode():
            while waiting or running or pending is not None:
                if pending is not None:
                    nxt = self._continue(pending, waiting, running)
                    yield from self._resolve(pending, running)
                    if nxt is not None:
                        self._sample(nxt)
                    pending = nxt
                    continue
                t = time.perf_counter()
                self._admit(waiting, running)
                self._admit_s = time.perf_counter() - t  # counted as the next decode step's bookkeeping
                if not running:
                    raise RuntimeError(
                        "the KV cache cannot hold the next waiting sequence"
                    )  # plan_cache prevents it
                yield from self._prefill_step(waiting, running)
                pending = self._launch(waiting, running)
        st = self.stats
        log.info(
            "fast engine: %d requests in %.2f s: %d decode steps (%d pipelined, %d rows read a shared "
            "prefix once per group), prefill %d of %d prompt tokens computed in %.2f s (%d passes), "
            "%d preemptions, peak %d sequences",
            len(requests), time.perf_counter() - started, st.decode_steps, st.pipelined_steps,
            st.shared_prefix_rows, st.prefill_computed, st.prompt_tokens, st.prefill_seconds,
            len(st.prefill_passes), st.preemptions, st.peak_running,
        )  # fmt: skip

    # ----------------------------------------------------------------- blocks

    def _groups(self) -> int:
        return self.plan.layout.groups

    def _prefix_hit(self, seq: _Seq, inflight: set[int]) -> tuple[int, bool]:
        """(full blocks another sequence has computed for this prompt, whether the next one is
        being computed by a sequence still prefilling (`inflight`): then waiting for it beats
        computing it twice)."""
        if not self.prefix_sharing:
            return 0, False
        lay, pool = self.plan.layout, self.pool
        full = (seq.target - 1) // lay.block_size
        if not seq.hashes or len(seq.hashes) < full:
            seq.hashes = prefix_hashes(seq.ids, lay.block_size, full)
        glob = [g for g, s in enumerate(lay.group_sliding) if not s]
        slid = [g for g, s in enumerate(lay.group_sliding) if s]
        k = 0
        while k < full:
            blocks = [pool.lookup(seq.hashes[k], g) for g in glob]
            if any(b < 0 or b not in pool.ready for b in blocks):
                break
            k += 1
        if k < full and seq.hashes[k] in inflight:
            return k, True
        window = self.model.cfg.sliding_window or 0
        while k > 0 and slid:
            first = max(0, k * lay.block_size - window + 1) // lay.block_size
            live = [pool.lookup(seq.hashes[j], g) for j in range(first, k) for g in slid]
            if all(b >= 0 and b in pool.ready for b in live):
                break
            k -= 1
        return k, False

    def _take_shared(self, seq: _Seq, k: int) -> None:
        lay, pool = self.plan.layout, self.pool
        window = self.model.cfg.sliding_window or 0
        first = max(0, k * lay.block_size - window + 1) // lay.block_size
        for j in range(k):
            for g, sliding in enumerate(lay.group_sliding):
                b = -1
                if not sliding or j >= first:
                    b = pool.lookup(seq.hashes[j], g)
                    pool.share(b)
                    self.cache.set_entry(g, seq.row, j, b)
                seq.blocks[g].append(b)
        seq.computed = k * lay.block_size
        seq.ready = k
        seq.released = first if any(lay.group_sliding) else 0
        self.stats.prefix_hit_tokens += k * lay.block_size

    def _ensure(self, seq: _Seq, end: int) -> bool:
        """Give `seq` a block for every position below `end`; False when the pool runs dry."""
        lay, pool = self.plan.layout, self.pool
        n = -(-end // lay.block_size)
        need = sum(max(0, n - len(b)) for b in seq.blocks)
        if need > pool.available:
            return False
        for g in range(lay.groups):
            blocks = seq.blocks[g]
            while len(blocks) < n:
                j = len(blocks)
                b = pool.take()
                blocks.append(b)
                self.cache.set_entry(g, seq.row, j, b)
                if j < len(seq.hashes):
                    pool.register(seq.hashes[j], g, lay.groups, b)
        return True

    def _release_window(self, seq: _Seq) -> None:
        """Release sliding blocks no token from position ``seq.computed`` on can see."""
        lay, window = self.plan.layout, self.model.cfg.sliding_window
        if window is None or not any(lay.group_sliding):
            return
        upto = max(0, seq.computed - window + 1) // lay.block_size
        if upto <= seq.released:
            return
        for j in range(seq.released, upto):
            for g, sliding in enumerate(lay.group_sliding):
                if sliding and seq.blocks[g][j] >= 0:
                    self.pool.release(seq.blocks[g][j])
                    seq.blocks[g][j] = -1
        seq.released = max(seq.released, upto)

    def _mark_ready(self, seq: _Seq) -> None:
        """Registered full blocks below ``seq.computed`` now hold their keys/values."""
        lay, pool = self.plan.layout, self.pool
        upto = min(seq.computed // lay.block_size, len(seq.hashes))
        for j in range(seq.ready, upto):
            for g in range(lay.groups):
                b = seq.blocks[g][j]
                if b >= 0 and pool.hash_of.get(b) == seq.hashes[j]:
                    pool.ready.add(b)
        seq.ready = max(seq.ready, upto)

    def _free(self, seq: _Seq) -> None:
        self._admit_stalled = False
        for blocks in seq.blocks:
            for b in blocks:
                if b >= 0:
                    self.pool.release(b)
        seq.blocks = []
        self._rows.append(seq.row)
        seq.row = -1

    # ----------------------------------------------------------------- scheduling

    def _projected(self, seq: _Seq, tokens: int) -> int:
        """Blocks `seq` will hold ``admit_horizon`` tokens from now (its budget allowing), at
        `tokens` tokens so far."""
        left = seq.request.params.max_new_tokens - len(seq.generated)
        return self.plan.layout.blocks_for(tokens + min(left, self.admit_horizon))

    def _admit(self, waiting: deque[_Seq], running: list[_Seq]) -> None:
        """Admit waiting sequences while the blocks the running ones and they will hold over
        the next ``admit_horizon`` tokens fit in the pool (fewer preemptions than admitting on
        what is free now), skipping those whose prompt another sequence is computing."""
        self.stats.peak_running = max(self.stats.peak_running, len(running))
        if not waiting or not self._rows:
            return  # nothing to admit: skip the projections (a decode step's bookkeeping)
        lay = self.plan.layout
        self._admit_stalled = False
        prefilling = [s for s in running if s.computed < s.target]
        inflight = {h for s in prefilling for h in s.hashes[s.ready :]}
        projected = sum(self._projected(s, max(s.target, len(s.ids))) for s in running)
        i = 0
        while i < len(waiting) and self._rows:
            seq = waiting[i]
            k, pending = self._prefix_hit(seq, inflight)
            if pending:
                i += 1
                continue
            need = self._projected(seq, seq.target) - lay.blocks_for(k * lay.block_size)
            if (running and projected + need > self.plan.num_blocks) or need > self.pool.available:
                self._admit_stalled = True  # retried once a sequence gives blocks back
                break
            projected += need
            del waiting[i]
            seq.row = self._rows.pop()
            seq.admitted = self._admitted
            self._admitted += 1
            seq.blocks = [[] for _ in range(lay.groups)]
            seq.computed = seq.released = seq.ready = 0
            self.sampler.assign(seq.row, seq.request.params, seq.stream, seq.generated)
            self._take_shared(seq, k)
            inflight.update(seq.hashes[seq.ready :])
            running.append(seq)
        self.stats.peak_running = max(self.stats.peak_running, len(running))

    def _preempt(self, waiting: deque[_Seq], running: list[_Seq]) -> _Seq:
        """Release the latest-admitted sequence's blocks; it waits at the head of the queue."""
        victim = max(running, key=lambda s: s.admitted)
        running.remove(victim)
        self._free(victim)
        victim.computed = victim.released = victim.ready = 0
        waiting.appendleft(victim)
        self.stats.preemptions += 1
        return victim

    def _prefill_step(
        self, waiting: deque[_Seq], running: list[_Seq]
    ) -> Iterator[tuple[int, GenerationResult]]:
        """One prefill pass over up to ``prefill_tokens`` prompt tokens; sequences whose prompt
        is now complete get their first token (a resumed one goes on from its last)."""
        budget = self.prefill_tokens
        members: list[tuple[_Seq, int]] = []
        for seq in sorted((s for s in running if s.computed < s.target), key=lambda s: s.admitted):
            if budget <= 0:
                break
            if seq.row < 0:
                continue  # preempted for an earlier sequence's chunk
            n = min(seq.target - seq.computed, budget)
            while not self._ensure(seq, seq.computed + n):
                if self._preempt(waiting, running) is seq:
                    break
            if seq.row >= 0:
                members.append((seq, n))
                budget -= n
        members = [(s, n) for s, n in members if s.row >= 0]
        if not members:
            return
        chunks = [
            (torch.tensor(s.ids[s.computed : s.computed + n], dtype=torch.long), s.row, s.computed)
            for s, n in members
        ]
        synced = (self.profile or self.sync_prefill) and self.model.device.type == "cuda"
        if synced:
            torch.cuda.synchronize()  # the decode steps queued before are not the pass's time
        t0 = time.perf_counter()
        self.cache.flush()
        logits = self.model.prefill(chunks, self.cache)
        if synced:
            torch.cuda.synchronize()
        seconds, computed = time.perf_counter() - t0, sum(n for _, n in members)
        self.stats.prefill_seconds += seconds
        self.stats.prefill_passes.append((computed, len(members), seconds))
        self.stats.prefill_computed += computed
        first: list[tuple[int, _Seq]] = []
        for j, (seq, n) in enumerate(members):
            seq.computed += n
            self._mark_ready(seq)
            self._release_window(seq)
            if seq.computed == seq.target and not seq.generated:
                first.append((j, seq))
        if not first:
            return
        rows = torch.tensor([j for j, _ in first], device=logits.device)
        tokens = self.sampler(logits.index_select(0, rows), [s.row for _, s in first])
        for (_, seq), token in zip(first, tokens, strict=True):
            yield from self._append(seq, token, running)

    def _launch(self, waiting: deque[_Seq], running: list[_Seq]) -> _Step | None:
        """Give every decoding sequence a block for its next token (preempting when the pool
        runs dry), launch the step and sample it; None when no sequence is decoding."""
        t0 = time.perf_counter()
        bs = self.plan.layout.block_size
        for seq in sorted(running, key=lambda s: s.admitted):
            if seq.row < 0 or seq.computed < seq.target or len(seq.ids) <= len(seq.blocks[0]) * bs:
                continue  # (every group's list has one entry per logical block)
            while not self._ensure(seq, len(seq.ids)):
                if self._preempt(waiting, running) is seq:
                    break
        decoding = [s for s in running if s.row >= 0 and s.computed >= s.target]
        if not decoding:
            return None
        step = _Step(decoding, t0=t0)
        self.cache.flush()
        step.t1 = time.perf_counter()
        positions = [len(s.ids) - 1 for s in decoding]
        logits = self.decode_logits(
            [s.ids[-1] for s in decoding],
            positions,
            [s.row for s in decoding],
            groups=self._prefix_groups(decoding, positions),
        )
        self._sample(step, logits)
        return step

    def _steady(self, waiting: deque[_Seq], running: list[_Seq]) -> bool:
        """Whether the next loop iteration would only decode: nothing to admit (no one waits,
        no row is free, or the last admission found too few blocks and none came back since)
        and no prompt being prefilled."""
        if not self.pipeline or self.profile:
            return False
        if waiting and self._rows and not self._admit_stalled:
            return False
        return all(s.computed >= s.target for s in running if s.row >= 0)

    def _max_groups(self, rows: int) -> int:
        """Shared-prefix groups a decode step of `rows` rows takes at most."""
        return min(MAX_PREFIX_GROUPS, max(1, rows // 2))

    def _prefix_groups(self, seqs: list[_Seq], positions: list[int]) -> PrefixGroups | None:
        """The step's rows that share their first blocks (``prefix_groups.find_groups``), or
        None (also when fewer than ``shared_prefix_min_rows`` rows are grouped). Found again only
        when the batch's sequences or their released blocks change: a sequence's shared blocks
        stay while it runs, and its position only grows."""
        if not self.shared_prefix_attention or len(seqs) < self.shared_prefix_min_rows:
            return None
        key = tuple((s.admitted, s.released) for s in seqs)
        if key != self._groups_key:
            lay = self.plan.layout
            bucket = next(x for x in self._buckets if x >= len(seqs))
            self._groups_key = key
            self._groups_found = find_groups(
                [s.blocks for s in seqs], [s.row for s in seqs], positions, lay.group_sliding, self.pool.refs,
                block_size=lay.block_size, max_members=self._max_members, max_groups=self._max_groups(bucket),
            )  # fmt: skip
            found = self._groups_found
            if found is not None and len(found.members) < self.shared_prefix_min_rows:
                self._groups_found = None  # too few grouped rows to gain (SHARED_PREFIX_MIN_ROWS)
        found = self._groups_found
        if found is not None:
            self.stats.shared_prefix_rows += len(found.members)
            self.stats.shared_prefix_keys_saved += sum((n - 1) * glob for _, _, n, glob, _ in found.groups)
        return found

    def _continue(self, prev: _Step, waiting: deque[_Seq], running: list[_Seq]) -> _Step | None:
        """Launch the step after `prev` before `prev`'s tokens are read (see the module
        docstring): its inputs are `prev`'s sampled tokens, gathered on the device. None (the
        loop then reads `prev` and goes on unpipelined) when the loop must admit or prefill,
        or the pool cannot give every sequence a block without preempting."""
        if not self._steady(waiting, running):
            return None
        t0 = time.perf_counter()
        keep = [
            j
            for j, s in enumerate(prev.seqs)
            if not s.done and len(s.generated) + 1 < s.request.params.max_new_tokens
        ]
        if not keep:
            return None
        seqs = [prev.seqs[j] for j in keep]
        # The host has not appended prev's tokens: a sequence's next input sits at position
        # len(ids), and its cache must reach len(ids) + 1.
        bs = self.plan.layout.block_size
        for s in seqs:  # (every group's list has one entry per logical block)
            if len(s.ids) + 1 > len(s.blocks[0]) * bs and not self._ensure(s, len(s.ids) + 1):
                return None
        assert prev.tokens is not None
        tokens = prev.tokens
        if len(keep) < len(prev.seqs):
            tokens = tokens.index_select(0, upload(keep, torch.long, tokens.device))
        step = _Step(seqs, t0=t0)
        self.cache.flush()
        step.t1 = time.perf_counter()
        positions = [len(s.ids) for s in seqs]
        step.logits = self.decode_logits(
            tokens, positions, [s.row for s in seqs], groups=self._prefix_groups(seqs, positions)
        )
        self.stats.pipelined_steps += 1
        return step

    def _sample(self, step: _Step, logits: torch.Tensor | None = None) -> None:
        """Queue the sampling of `step` and the copy of its tokens to the host."""
        if logits is None:
            logits, step.logits = step.logits, None
        assert logits is not None
        if self.profile and logits.is_cuda:
            torch.cuda.synchronize()
        step.t2 = time.perf_counter()
        step.tokens = self.sampler.sample(logits, [s.row for s in step.seqs])
        step.download = Download(step.tokens)

    def _resolve(self, step: _Step, running: list[_Seq]) -> Iterator[tuple[int, GenerationResult]]:
        """Read `step`'s tokens, append them and retire the sequences that finished; tokens of
        sequences that had already finished are discarded."""
        assert step.download is not None
        chosen = step.download.tolist()  # waits for this step only, not for a later one
        t3 = time.perf_counter()
        for seq, token in zip(step.seqs, chosen, strict=True):
            if seq.done:
                self.stats.discarded += 1
                continue
            seq.computed = len(seq.ids)
            self._release_window(seq)
            yield from self._append(seq, token, running)
        t4 = time.perf_counter()
        self.stats.decode_steps += 1
        if self.profile:
            book = (step.t1 - step.t0) + (t4 - t3) + self._admit_s
            self.stats.step_times.append((step.t2 - step.t1, t3 - step.t2, book, len(step.seqs)))
        if self.step_log is not None:
            self.step_log.append((step.t0, t3 - step.t0, len(step.seqs)))

    def _append(self, seq: _Seq, token: int, running: list[_Seq]) -> Iterator[tuple[int, GenerationResult]]:
        seq.generated.append(token)
        seq.ids.append(token)
        result = self._finished(seq)
        if result is not None:
            seq.done = True
            running.remove(seq)
            self._free(seq)
            yield seq.index, result

    # ----------------------------------------------------------------- forward passes

    def prompt_logits(self, ids: Sequence[int], *, hidden_states: bool = False) -> PromptLogits:
        """Float32 logits [len(ids), V] of every position of one prompt (scoring), through the
        same prefill as generation, in blocks borrowed from the idle pool. Hidden states are
        not captured here (the reference engine captures them)."""
        if hidden_states:
            raise UsageError("hidden states come from the reference engine: run with engine=reference")
        if len(ids) > self.max_seq_len:
            raise UsageError(f"{len(ids)} tokens exceed the fast engine's max_seq_len {self.max_seq_len}")
        seq = _Seq(
            -1, GenerationRequest(list(ids), SamplingParams(temperature=0.0)), list(ids), UniformStream(0)
        )
        seq.row, seq.blocks = self._rows.pop(), [[] for _ in range(self._groups())]
        if not self._ensure(seq, len(ids)):
            raise UsageError(f"{len(ids)} tokens do not fit in the fast engine's KV cache")
        try:
            self.cache.flush()
            with torch.inference_mode():
                logits = self.model.prefill(
                    [(torch.tensor(list(ids)), seq.row, 0)], self.cache, all_logits=True
                )
            return PromptLogits(logits)
        finally:
            self._free(seq)

    def decode_logits(
        self,
        tokens: list[int] | torch.Tensor,
        positions: list[int],
        rows: list[int],
        *,
        groups: PrefixGroups | None = None,
    ) -> torch.Tensor:
        """Logits [B, V] of one decode step (through a CUDA graph when enabled). `tokens` may be
        a tensor on the device (a pipelined step's inputs: the last step's samples); `groups`:
        rows whose first blocks are shared (their attention reads them once per group). The
        host lists go through pinned memory, so nothing here waits for the GPU."""
        dev = self.model.device
        b = len(tokens)
        if not self.cuda_graphs:
            t = upload(
                [[0] * b if isinstance(tokens, torch.Tensor) else tokens, positions, rows], torch.int32, dev
            )
            ids = tokens.to(dev).long() if isinstance(tokens, torch.Tensor) else t[0].long()
            shared = to_device(groups, self._max_members, dev) if groups is not None else None
            return self.model.decode(ids, t[1], t[2], self.cache, shared)
        bucket = next(x for x in self._buckets if x >= b)
        g = self._graphs.get(bucket) or self._capture(bucket)
        pad = bucket - b
        host = [0] * bucket if isinstance(tokens, torch.Tensor) else tokens + [0] * pad
        host += positions + [0] * pad
        host += rows + [self.cache.scratch_row] * pad
        if g.shared is not None:
            host += groups.flat(g.max_groups, bucket) if groups is not None else [0] * g.shared.numel()
        upload(host, torch.int32, dev, out=g.buffer)
        if isinstance(tokens, torch.Tensor):
            g.inputs[0, :b].copy_(tokens)
        g.graph.replay()
        return g.logits[:b]

    def _capture(self, bucket: int) -> _Graph:
        dev = self.model.device
        max_groups = self._max_groups(bucket)
        with_shared = self.shared_prefix_attention and bucket >= self.shared_prefix_min_rows
        shared_len = 1 + 5 * max_groups + 3 * bucket if with_shared else 0
        buffer = torch.zeros(3 * bucket + shared_len, dtype=torch.int32, device=dev)
        inputs = buffer[: 3 * bucket].view(3, bucket)
        inputs[2].fill_(self.cache.scratch_row)
        flat = shared = None
        if shared_len:
            flat = buffer[3 * bucket :]
            shared = shared_prefix_views(flat, max_groups, bucket, self._max_members)

        def step() -> torch.Tensor:
            return self.model.decode(inputs[0].long(), inputs[1], inputs[2], self.cache, shared)

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
        captured = _Graph(graph, buffer, inputs, logits, flat, max_groups)
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
