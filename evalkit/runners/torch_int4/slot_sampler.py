"""Sampling state per block-table row of the fast engine (``SlotSampler``).

Same semantics as ``BatchSampler``: each request draws one uniform number per sampled token
from its own generator (``UniformStream``), so its stream never depends on its neighbours, nor
on preemption (the stream travels with the request, not with the row).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from evalkit.records import SamplingParams
from evalkit.runners.torch_int4.sampling import (
    UniformStream,
    apply_presence_penalty,
    sample_rows,
    without_top_k,
)
from evalkit.runners.torch_int4.transfer import upload


class SlotSampler:
    """Parameters, uniform stream and generated-token set of the request in each row."""

    def __init__(self, rows: int, vocab_size: int, device: torch.device):
        self.greedy = [True] * rows
        self.penalised = [False] * rows
        self.no_top_k = [True] * rows
        self.vocab_size = vocab_size
        self.temperature = torch.ones(rows, device=device)
        self.top_k = torch.zeros(rows, dtype=torch.long, device=device)
        self.top_p = torch.ones(rows, device=device)
        self.presence = torch.zeros(rows, device=device)
        self.streams: list[UniformStream | None] = [None] * rows
        self.seen = torch.zeros((rows, vocab_size), dtype=torch.bool, device=device)
        # the value of seen's scatter, on the device: `seen[idx, tokens] = True` would copy a host
        # scalar from pageable memory, which waits for the stream (the whole step's forward)
        self._true = torch.ones((), dtype=torch.bool, device=device)

    def assign(
        self, row: int, params: SamplingParams, stream: UniformStream, generated: Sequence[int]
    ) -> None:
        """Row `row` now serves a request that has generated `generated` so far."""
        self.greedy[row] = params.greedy
        self.penalised[row] = params.presence_penalty != 0
        self.no_top_k[row] = without_top_k(params, self.vocab_size)
        self.temperature[row] = params.temperature if not params.greedy else 1.0
        self.top_k[row] = params.top_k
        self.top_p[row] = params.top_p
        self.presence[row] = params.presence_penalty
        self.streams[row] = stream
        self.seen[row] = False
        if generated:
            at = upload(list(generated), torch.long, self.seen.device)
            self.seen[row].index_put_((at,), self._true)

    def __call__(self, logits: torch.Tensor, rows: Sequence[int]) -> list[int]:
        """One token per row of `logits` [len(rows), V]; host ints (the step is over)."""
        out: list[int] = self.sample(logits, rows).tolist()
        return out

    def sample(self, logits: torch.Tensor, rows: Sequence[int]) -> torch.Tensor:
        """One token per row of `logits` [len(rows), V], as a tensor on the logits' device.

        Greedy rows, and sampled rows without top-k on a GPU, queue their work without waiting
        for the GPU (inputs go through pinned memory, see ``transfer``); rows with top-k wait
        where ``token_probs`` decides which rows need the full sort. The uniform numbers are
        drawn on the host first, while the GPU may still be computing `logits`."""
        dev = logits.device
        sampled = [j for j, r in enumerate(rows) if not self.greedy[r]]
        streams = [self.streams[rows[j]] for j in sampled]
        uniforms = torch.tensor([st.next() for st in streams if st is not None], dtype=torch.float64)
        assert len(uniforms) == len(sampled), "a sampled row without a request's stream"
        idx = upload(list(rows), torch.long, dev)
        if any(self.penalised[r] for r in rows):
            logits = apply_presence_penalty(logits, self.seen[idx], self.presence[idx])
        no_top_k = [self.no_top_k[rows[j]] for j in sampled]
        if sampled and len(sampled) == len(rows):  # no greedy row: no argmax, gather or scatter
            t, k, p = self.temperature[idx], self.top_k[idx], self.top_p[idx]
            tokens = sample_rows(logits, t, k, p, uniforms, no_top_k)
        else:
            tokens = logits.argmax(dim=-1)
            if sampled:
                at = upload(sampled, torch.long, dev)
                sl = idx[at]
                t, k, p = self.temperature[sl], self.top_k[sl], self.top_p[sl]
                tokens[at] = sample_rows(logits[at], t, k, p, uniforms, no_top_k)
        self.seen.index_put_((idx, tokens), self._true)
        return tokens
