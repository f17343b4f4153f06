"""Next-token choice for a batch: greedy, or seeded sampling with OpenAI/vLLM semantics.

Order of operations per row (as vLLM): presence penalty on the raw logits, then greedy
argmax, or temperature -> top-k -> top-p -> draw. Each request owns a CPU
``torch.Generator`` seeded from ``SamplingParams.seed`` and draws one uniform number per
sampled token from it, so a request's random stream never depends on which other
requests share its batch, nor on the device the logits live on.

On a GPU, sampled rows without a top-k filter (reasoning mode's temperature + top-p) take one
kernel that finds the top-p threshold without sorting and draws (``kernels.top_p``); rows
with a top-k filter, and every row on a CPU, take ``token_probs`` and ``draw``. Which rows
take the kernel is known from their parameters alone: nothing waits for the GPU to decide.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from evalkit.records import SamplingParams
from evalkit.runners.torch_int4.transfer import upload


def apply_presence_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: torch.Tensor) -> torch.Tensor:
    """Subtract ``penalty[b]`` once from every logit whose token row b has generated already.

    `seen` [B, V] bool marks tokens present in the request's *generated* tokens (not its
    prompt); how often a token occurred does not matter (that would be frequency_penalty).
    """
    return logits - penalty[:, None] * seen.to(logits.dtype)


# Candidates taken per row before the exact top-k/top-p filter (rows it cannot settle are sorted).
PREFILTER = 256


def token_probs(
    logits: torch.Tensor, temperature: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor
) -> torch.Tensor:
    """The sampling distribution [B, V] after temperature, top-k (0 = off) and top-p (1 = off).

    top-k keeps every token tied with the k-th largest logit; top-p keeps the smallest
    prefix of the distribution sorted by logit (ties: lower token id first) whose mass reaches
    p (always at least one token). A large vocabulary is not sorted whole: each row's top
    ``PREFILTER`` candidates settle it whenever everything the filters keep lies strictly above
    the smallest candidate (then no token outside them can be kept or tie); the other rows, and
    rows with no filter at all (plain softmax), take the full path.
    """
    logits = logits / temperature[:, None]
    vocab = logits.shape[-1]
    if vocab <= 2 * PREFILTER:
        return _sorted_probs(logits, top_k, top_p)
    probs, exact = _candidate_probs(logits, top_k, top_p)
    plain = ((top_k <= 0) | (top_k >= vocab)) & (top_p >= 1.0)
    rest = ~exact & ~plain
    # One wait for both counts; a class that takes every row is computed in place, without the
    # gather and masked write of its rows (a flat distribution sends every row to the sort).
    n_plain, n_rest = (int(c) for c in torch.stack([plain.sum(), rest.sum()]).tolist())
    rows = logits.shape[0]
    if n_plain == rows:
        return logits.softmax(dim=-1)
    if n_rest == rows:
        return _sorted_probs(logits, top_k, top_p)
    if n_plain:
        probs[plain] = logits[plain].softmax(dim=-1)
    if n_rest:
        probs[rest] = _sorted_probs(logits[rest], top_k[rest], top_p[rest])
    return probs


def _sorted_probs(logits: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor) -> torch.Tensor:
    """The definition: one stable sort of the whole row."""
    vocab = logits.shape[-1]
    sorted_logits, order = logits.sort(dim=-1, descending=True, stable=True)
    k = torch.where(top_k > 0, top_k, vocab).clamp(max=vocab)
    kth = sorted_logits.gather(1, (k - 1)[:, None])
    sorted_logits = sorted_logits.masked_fill(sorted_logits < kth, float("-inf"))
    sorted_probs = sorted_logits.softmax(dim=-1)
    mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs
    # Rows with top_p >= 1 skip the filter: rounding in the cumsum must not drop tail tokens.
    drop = (mass_before >= top_p[:, None]) & (top_p[:, None] < 1.0)
    drop[:, 0] = False  # the most likely token always stays, even for top_p <= 0
    sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
    filtered = torch.full_like(logits, float("-inf")).scatter(1, order, sorted_logits)
    return filtered.softmax(dim=-1)


def _candidate_probs(
    logits: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(probabilities [B, V], exact [B]): the filters applied to each row's top candidates."""
    vocab = logits.shape[-1]
    vals, idx = logits.topk(PREFILTER, dim=-1)
    idx, perm = idx.sort(dim=-1)  # the stable order: logit descending, then token id ascending
    vals, perm = vals.gather(1, perm).sort(dim=-1, descending=True, stable=True)
    idx = idx.gather(1, perm)
    floor = vals[:, -1]
    k = torch.where(top_k > 0, top_k, vocab).clamp(max=vocab)
    k_on = k <= PREFILTER
    kth = vals.gather(1, (k.clamp(max=PREFILTER) - 1)[:, None])
    keep = (vals >= kth) | ~k_on[:, None]
    masked = vals.masked_fill(~keep, float("-inf"))
    # top-p's mass is relative to what top-k kept: the candidates, or (top-k off) the whole row
    lse = torch.where(k_on[:, None], masked.logsumexp(-1, keepdim=True), logits.logsumexp(-1, keepdim=True))
    p = (masked - lse).exp()
    mass_before = p.cumsum(dim=-1) - p
    drop = (mass_before >= top_p[:, None]) & (top_p[:, None] < 1.0)
    drop[:, 0] = False
    keep &= ~drop
    smallest_kept = vals.masked_fill(~keep, float("inf")).min(dim=-1).values
    exact = (smallest_kept > floor) & (~k_on | (kth[:, 0] > floor))
    final = vals.masked_fill(~keep, float("-inf")).softmax(dim=-1)
    return torch.zeros_like(logits).scatter(1, idx, final), exact


def draw(probs: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF draw: for each row the first token whose cumulative mass exceeds u * total.

    Float64 keeps the cumulative sum over a 100k vocabulary from drifting; tokens of
    zero probability are never chosen (their CDF step is empty).
    """
    cdf = probs.double().cumsum(dim=-1)
    target = uniforms.to(device=cdf.device, dtype=torch.float64)[:, None] * cdf[:, -1:]
    index = torch.searchsorted(cdf, target, right=True).squeeze(1)
    return index.clamp(max=probs.shape[-1] - 1)


def threshold_kernel_applies(device: torch.device) -> bool:
    """Whether sampled rows without top-k take ``kernels.top_p`` here (on a GPU)."""
    return device.type == "cuda"


def without_top_k(params: SamplingParams, vocab_size: int) -> bool:
    """A sampled row the top-p kernel can take: no top-k filter (off, or the whole vocabulary)."""
    return params.top_k <= 0 or params.top_k >= vocab_size


def sample_rows(
    logits: torch.Tensor,
    temperature: torch.Tensor,
    top_k: torch.Tensor,
    top_p: torch.Tensor,
    uniforms: torch.Tensor,
    no_top_k: Sequence[bool],
) -> torch.Tensor:
    """One drawn token per row of `logits` [B, V] (every row sampled), from host ``uniforms``
    [B] (float64) and the host flags ``no_top_k`` [B] (see ``without_top_k``)."""
    dev = logits.device
    fast = [i for i, f in enumerate(no_top_k) if f] if threshold_kernel_applies(dev) else []
    if not fast:
        return draw(token_probs(logits, temperature, top_k, top_p), upload(uniforms, torch.float64, dev))
    from evalkit.runners.torch_int4.kernels.top_p import top_p_draw  # Triton: GPU path only

    if len(fast) == len(no_top_k):
        return top_p_draw(logits, temperature, top_p, uniforms)
    rest = [i for i, f in enumerate(no_top_k) if not f]
    tokens = torch.empty(len(no_top_k), dtype=torch.long, device=dev)
    at, other = upload(fast, torch.long, dev), upload(rest, torch.long, dev)
    tokens[at] = top_p_draw(logits[at], temperature[at], top_p[at], uniforms[fast])
    probs = token_probs(logits[other], temperature[other], top_k[other], top_p[other])
    tokens[other] = draw(probs, upload(uniforms[rest], torch.float64, dev))
    return tokens


def make_generator(seed: int | None) -> torch.Generator:
    """A CPU generator for one request; an unseeded request gets fresh OS entropy."""
    g = torch.Generator(device="cpu")
    if seed is None:
        g.seed()
    else:
        g.manual_seed(seed)
    return g


class UniformStream:
    """One request's uniform numbers in [0, 1), one per sampled token, from its own CPU generator
    (``make_generator(seed)``), drawn ``CHUNK`` at a time. torch fills a CPU tensor from the
    generator one number after the other, so these are the numbers, in the same order, that one
    generator call per token gives (tested); a step's host work per sampled row is a list read
    instead of a generator call (256 rows: 0.45-0.65 ms of calls, 0.03 ms of reads, on this
    project's CPU)."""

    CHUNK = 64

    def __init__(self, seed: int | None):
        self.generator = make_generator(seed)
        self._buffer: list[float] = []
        self._at = 0

    def next(self) -> float:
        """The next number of the stream."""
        if self._at == len(self._buffer):
            self._buffer = torch.rand(self.CHUNK, generator=self.generator, dtype=torch.float64).tolist()
            self._at = 0
        value = self._buffer[self._at]
        self._at += 1
        return value


class BatchSampler:
    """Sampling state of the rows of one batch: parameters, uniform streams, generated-token sets."""

    def __init__(self, params: Sequence[SamplingParams], vocab_size: int, device: torch.device):
        def column(values: list[float] | list[int], dtype: torch.dtype) -> torch.Tensor:
            return torch.tensor(values, dtype=dtype, device=device)

        self.greedy = [p.greedy for p in params]
        self.no_top_k = [without_top_k(p, vocab_size) for p in params]
        self.temperature = column([p.temperature if not p.greedy else 1.0 for p in params], torch.float32)
        self.top_k = column([p.top_k for p in params], torch.long)
        self.top_p = column([p.top_p for p in params], torch.float32)
        self.presence = column([p.presence_penalty for p in params], torch.float32)
        self.streams = [UniformStream(p.seed) for p in params]
        self.seen = torch.zeros((len(params), vocab_size), dtype=torch.bool, device=device)
        self._true = torch.ones((), dtype=torch.bool, device=device)  # (see SlotSampler)

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        """Choose one token per row from float32 `logits` [B, V]; returns [B] on the logits' device."""
        logits = apply_presence_penalty(logits, self.seen, self.presence)
        tokens = logits.argmax(dim=-1)
        rows = [i for i, greedy in enumerate(self.greedy) if not greedy]
        if rows:
            idx = torch.tensor(rows, device=logits.device)
            uniforms = torch.tensor([self.streams[i].next() for i in rows], dtype=torch.float64)
            t, k, p = self.temperature[idx], self.top_k[idx], self.top_p[idx]
            tokens[idx] = sample_rows(logits[idx], t, k, p, uniforms, [self.no_top_k[i] for i in rows])
        at = torch.arange(tokens.shape[0], device=tokens.device)
        self.seen.index_put_((at, tokens), self._true)
        return tokens

    def keep_rows(self, rows: Sequence[int]) -> None:
        """Keep the state of `rows` only, in that order (rows that left the batch are dropped)."""
        idx = torch.tensor(list(rows), dtype=torch.long, device=self.seen.device)
        self.greedy = [self.greedy[i] for i in rows]
        self.no_top_k = [self.no_top_k[i] for i in rows]
        self.streams = [self.streams[i] for i in rows]
        self.temperature, self.top_k = self.temperature[idx], self.top_k[idx]
        self.top_p, self.presence = self.top_p[idx], self.presence[idx]
        self.seen = self.seen[idx]
