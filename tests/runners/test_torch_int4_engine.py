"""engine.py: batching with left padding, finish reasons, stop strings, streaming order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import torch

from evalkit.records import SamplingParams
from evalkit.runners.torch_int4.engine import GenerationRequest, GenerationResult, ReferenceEngine
from evalkit.runners.torch_int4.loader import load_model
from evalkit.runners.torch_int4.model import Exaone4LM

LENGTHS = [3, 70, 17, 100, 45]  # two longer than the 64-token window


def letters(ids: Sequence[int]) -> str:
    """A stand-in detokenizer: one letter per id, so stop strings are easy to place."""
    return "".join(chr(ord("a") + i % 26) for i in ids)


@pytest.fixture(scope="module")
def model(checkpoint: Callable[[str], Path]) -> Exaone4LM:
    return load_model(checkpoint("gptq"), device=torch.device("cpu"))


def prompts(n: int = len(LENGTHS)) -> list[list[int]]:
    gen = torch.Generator().manual_seed(42)
    return [torch.randint(0, 256, (length,), generator=gen).tolist() for length in LENGTHS[:n]]


def run(model: Exaone4LM, requests: list[GenerationRequest], **kw: object) -> dict[int, GenerationResult]:
    engine = ReferenceEngine(model, decode=letters, eos_ids=(), **kw)  # type: ignore[arg-type]
    return dict(engine.generate(requests))


def test_batched_greedy_equals_each_prompt_alone(model: Exaone4LM) -> None:
    budgets = [12, 30, 5, 20, 30]  # rows leave the batch at different steps
    requests = [
        GenerationRequest(p, SamplingParams(max_new_tokens=n))
        for p, n in zip(prompts(), budgets, strict=True)
    ]
    alone = {i: run(model, [r])[0] for i, r in enumerate(requests)}
    batched = run(model, requests, max_batch_size=3)  # 3 + 2: the last two wait for a second batch
    chunked = run(model, requests, max_batch_size=5, prefill_chunk_size=16)
    for i in range(len(requests)):
        assert batched[i].token_ids == alone[i].token_ids, i
        assert chunked[i].token_ids == alone[i].token_ids, i
        assert len(batched[i].token_ids) == budgets[i]
        assert batched[i].finish_reason == "length"


def test_seeded_sampling_is_reproducible_and_batch_independent(model: Exaone4LM) -> None:
    """Each request draws from its own generator, so its tokens do not depend on its batch-mates.

    Batch composition changes logits only by float rounding (~1e-7), which moves a draw
    only if its uniform number falls that close to a CDF boundary; exact equality is
    therefore what the design gives in practice, and what we assert.
    """
    params = [
        SamplingParams(temperature=0.9, top_p=0.95, top_k=50, presence_penalty=0.5, max_new_tokens=16, seed=s)
        for s in range(4)
    ]
    requests = [GenerationRequest(p, sp) for p, sp in zip(prompts(4), params, strict=True)]
    first = run(model, requests)
    assert {i: r.token_ids for i, r in first.items()} == {
        i: r.token_ids for i, r in run(model, requests).items()
    }
    for i in (0, 3):
        assert run(model, [requests[i]])[0].token_ids == first[i].token_ids
    reseeded = GenerationRequest(
        requests[0].prompt_ids, SamplingParams(temperature=0.9, max_new_tokens=16, seed=99)
    )
    assert run(model, [reseeded])[0].token_ids != first[0].token_ids


def test_eos_stops_with_reason_stop_and_is_not_in_the_text(model: Exaone4LM) -> None:
    request = GenerationRequest(prompts(1)[0], SamplingParams(max_new_tokens=30))
    free = run(model, [request])[0].token_ids
    eos = free[6]
    cut = free.index(eos)
    engine = ReferenceEngine(model, decode=letters, eos_ids=(eos,))
    [(_, result)] = engine.generate([request])
    assert result.finish_reason == "stop"
    assert result.token_ids == free[: cut + 1]  # the EOS token is reported...
    assert result.text == letters(free[:cut])  # ...but not decoded into the text


def test_eos_ids_default_to_the_config(model: Exaone4LM) -> None:
    assert ReferenceEngine(model, decode=letters).eos_ids == frozenset(model.cfg.eos_token_ids)


def test_stop_string_cuts_text_and_reports_stop(model: Exaone4LM) -> None:
    request = GenerationRequest(prompts(1)[0], SamplingParams(max_new_tokens=40))
    free = run(model, [request])[0]
    stop = free.text[20:23]
    first = free.text.find(stop)
    stopped = run(
        model, [GenerationRequest(request.prompt_ids, SamplingParams(max_new_tokens=40, stop=("zzzz", stop)))]
    )[0]
    assert stopped.finish_reason == "stop"
    assert stopped.text == free.text[:first]
    assert len(stopped.token_ids) == first + len(stop)  # generation ended on the token completing it
    assert stopped.token_ids == free.token_ids[: len(stopped.token_ids)]


def test_length_limit_and_zero_budget(model: Exaone4LM) -> None:
    p = prompts(1)[0]
    results = run(
        model,
        [
            GenerationRequest(p, SamplingParams(max_new_tokens=7)),
            GenerationRequest(p, SamplingParams(max_new_tokens=0)),
        ],
    )
    assert results[0].finish_reason == "length" and len(results[0].token_ids) == 7
    assert results[0].text == letters(results[0].token_ids)
    assert results[1] == GenerationResult([], "", "length")


def test_results_stream_in_finishing_order(model: Exaone4LM) -> None:
    p = prompts(3)
    requests = [
        GenerationRequest(p[0], SamplingParams(max_new_tokens=9)),
        GenerationRequest(p[1], SamplingParams(max_new_tokens=2)),
        GenerationRequest(p[2], SamplingParams(max_new_tokens=5)),
    ]
    engine = ReferenceEngine(model, decode=letters, eos_ids=())
    assert [i for i, _ in engine.generate(requests)] == [1, 2, 0]


def test_empty_prompt_is_rejected(model: Exaone4LM) -> None:
    with pytest.raises(ValueError, match="empty prompt"):
        list(ReferenceEngine(model, decode=letters).generate([GenerationRequest([], SamplingParams())]))
