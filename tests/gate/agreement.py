"""A solver that gives a random-weight model non-trivial, controllable accuracy (tests only).

The tiny model's greedy text is gibberish, but it is a deterministic function of its
weights: this solver maps the generated text to an option letter through a hash. With the
targets set to the letters the unperturbed model picks, a run scores its agreement with
that model: 100 % for the model itself, about 25 % (chance) for one whose outputs all
changed, and in between for a lightly perturbed copy. So a quantization-like perturbation
produces a real, measurable accuracy drop for the gate to judge.
"""

from __future__ import annotations

import hashlib

from evalkit.records import ChatRequest, Completion, Sample, SamplingParams
from evalkit.scoring.choice import LETTERS
from evalkit.solvers import Episode, EpisodeOutput


def letter_of(text: str, n_options: int) -> str:
    return LETTERS[int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16) % n_options]


def answer_by_text_hash(
    sample: Sample, params: SamplingParams, enable_thinking: bool, repeat: int = 0
) -> Episode:
    completion = yield ChatRequest(
        messages=list(sample.messages), params=params, enable_thinking=enable_thinking
    )
    letter = letter_of(completion.text, int(sample.metadata["n_options"]))
    final = Completion(
        text=f"Answer: {letter}",
        finish_reason=completion.finish_reason,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
    )
    return EpisodeOutput(calls=[completion], final=final, info={"generated": completion.text})
