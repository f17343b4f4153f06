"""Solvers: how one (sample, repeat) becomes model calls.

A solver is a generator function `solver(sample, params, enable_thinking, repeat)`: it
yields `ChatRequest`s, receives each `Completion` back, and returns an `EpisodeOutput`.
Single-turn tasks yield once; multi-turn and agent tasks yield per turn (with the model's
earlier answers and tool results in the history), and a judge is one more yielded
request. The scheduler runs many episodes at once and batches their pending requests.
Each family chooses the solver of its tasks (`solver(spec, roles)`, evalkit.families.base);
`generate` is the default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from evalkit.records import ChatRequest, Completion, Message, Sample, SamplingParams

Episode = Generator[ChatRequest, Completion, "EpisodeOutput"]


@dataclass
class EpisodeOutput:
    """All calls an episode made, and the completion that is scored."""

    calls: list[Completion]
    final: Completion
    transcript: list[Message] = field(default_factory=list)
    # What the solver decided that scoring needs and the record keeps (e.g. an option
    # permutation drawn for this repeat).
    info: dict[str, Any] = field(default_factory=dict)


def generate(sample: Sample, params: SamplingParams, enable_thinking: bool, repeat: int = 0) -> Episode:
    """One call: the sample's messages as they are.

    A sample whose protocol fixes its own output length (RULER, LongBench) carries it as
    `metadata["max_new_tokens"]`; the call gets the smaller of that and the run's budget.
    """
    cap = sample.metadata.get("max_new_tokens")
    if cap is not None and int(cap) < params.max_new_tokens:
        params = dataclasses.replace(params, max_new_tokens=int(cap))
    completion = yield ChatRequest(
        messages=list(sample.messages), params=params, enable_thinking=enable_thinking, tools=sample.tools
    )
    return EpisodeOutput(calls=[completion], final=completion)
