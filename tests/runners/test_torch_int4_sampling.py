"""sampling.py on hand-made logits: penalties, filters, seeded draws."""

from __future__ import annotations

import math

import pytest
import torch

from evalkit.records import SamplingParams
from evalkit.runners.torch_int4.sampling import BatchSampler, apply_presence_penalty, draw, token_probs

CPU = torch.device("cpu")
LOGITS = torch.tensor([[2.0, 1.0, 0.5, 0.0, -1.0]])


def off(n: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """temperature 1, top_k off, top_p off."""
    return torch.ones(n), torch.zeros(n, dtype=torch.long), torch.ones(n)


def test_presence_penalty_subtracts_once_per_generated_token() -> None:
    sampler = BatchSampler([SamplingParams(temperature=1.0, presence_penalty=1.5, seed=0)], 5, CPU)
    # Pretend the request generated token 0 three times and token 3 once.
    for token in (0, 0, 0, 3):
        sampler.seen[0, token] = True
    penalized = apply_presence_penalty(LOGITS, sampler.seen, sampler.presence)
    assert penalized.tolist() == [[0.5, 1.0, 0.5, -1.5, -1.0]]  # once, not three times, for token 0
    probs = token_probs(penalized, *off())
    expected = torch.softmax(torch.tensor([0.5, 1.0, 0.5, -1.5, -1.0]), dim=-1)
    assert torch.allclose(probs[0], expected)
    assert probs[0, 0] < torch.softmax(LOGITS, dim=-1)[0, 0]  # the penalty moved mass away


def test_presence_penalty_counts_generated_tokens_only_and_applies_to_greedy() -> None:
    sampler = BatchSampler([SamplingParams(presence_penalty=1.5)], 5, CPU)  # greedy
    assert sampler(LOGITS.clone()).tolist() == [0]  # nothing generated yet: plain argmax
    assert sampler.seen[0].tolist() == [True, False, False, False, False]
    assert sampler(LOGITS.clone()).tolist() == [1]  # 2.0 - 1.5 < 1.0


def test_temperature_top_k_top_p() -> None:
    t, k, p = off()
    assert torch.allclose(token_probs(LOGITS, t * 0.5, k, p)[0], torch.softmax(LOGITS[0] / 0.5, dim=-1))
    top2 = token_probs(LOGITS, t, torch.tensor([2]), p)[0]
    expected = torch.cat([torch.softmax(torch.tensor([2.0, 1.0]), dim=-1), torch.zeros(3)])
    assert torch.allclose(top2, expected)
    # softmax(LOGITS) = [.55, .20, .12, .07, .03]: top_p 0.7 needs tokens 0 and 1 (0.55 < 0.7 <= 0.75)
    nucleus = token_probs(LOGITS, t, k, torch.tensor([0.7]))[0]
    assert (nucleus > 0).tolist() == [True, True, False, False, False]
    assert math.isclose(float(nucleus.sum()), 1.0, rel_tol=1e-6)
    for tiny_p in (0.01, 0.0):  # the most likely token always survives
        only_first = token_probs(LOGITS, t, k, torch.tensor([tiny_p]))[0]
        assert only_first.tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]


def test_draw_follows_the_distribution() -> None:
    probs = torch.tensor([[0.5, 0.0, 0.3, 0.2]])
    gen = torch.Generator().manual_seed(0)
    n = 20000
    tokens = draw(probs.expand(n, 4), torch.rand(n, generator=gen, dtype=torch.float64))
    counts = torch.bincount(tokens, minlength=4).float()
    assert counts[1] == 0  # zero probability is never drawn
    assert torch.allclose(counts / n, probs[0], atol=0.015)


def test_same_seed_same_tokens_and_batch_independence() -> None:
    gen = torch.Generator().manual_seed(5)
    steps = [torch.randn(3, 50, generator=gen) for _ in range(20)]
    a = SamplingParams(temperature=0.8, top_p=0.9, seed=11)
    b = SamplingParams(temperature=1.2, top_k=10, seed=12)
    c = SamplingParams(temperature=0.0)

    def run(params: list[SamplingParams], rows: list[int]) -> list[list[int]]:
        sampler = BatchSampler(params, 50, CPU)
        return [sampler(s[rows]).tolist() for s in steps]

    together = run([a, b, c], [0, 1, 2])
    assert together == run([a, b, c], [0, 1, 2])  # reproducible
    alone_a = run([a], [0])
    assert [t[0] for t in together] == [t[0] for t in alone_a]  # a's tokens do not depend on b, c
    assert [t[1] for t in together] == [t[0] for t in run([b], [1])]
    assert [t[0] for t in together] != [
        t[0] for t in run([SamplingParams(temperature=0.8, top_p=0.9, seed=99)], [0])
    ]


def test_keep_rows_keeps_state() -> None:
    params = [SamplingParams(temperature=1.0, seed=s, presence_penalty=float(s)) for s in range(3)]
    sampler = BatchSampler(params, 5, CPU)
    sampler.seen[2, 4] = True
    sampler.keep_rows([2, 0])
    assert sampler.presence.tolist() == [2.0, 0.0]
    assert sampler.seen[:, 4].tolist() == [True, False]
    assert len(sampler.streams) == 2


@pytest.mark.parametrize("temperature", [0.0, -1.0])
def test_non_positive_temperature_is_greedy(temperature: float) -> None:
    sampler = BatchSampler([SamplingParams(temperature=temperature, seed=3)], 5, CPU)
    assert sampler(LOGITS.clone()).tolist() == [0]


def test_candidate_prefilter_equals_the_full_sort() -> None:
    """A 5,000-token vocabulary (above 2 x PREFILTER): rows the candidates settle, rows with ties
    at the cut, rows whose top-p reaches past the candidates (full sort), plain softmax rows."""
    from evalkit.runners.torch_int4.sampling import _sorted_probs

    g = torch.Generator().manual_seed(4)
    logits = torch.randn(6, 5000, generator=g) * 4
    logits[1, :300] = 30.0  # 300 tokens tied at the top: top-k 5 keeps all of them
    logits[2] = torch.randn(5000, generator=g) * 0.01  # flat: top-p 0.9 needs most of the vocabulary
    temperature = torch.tensor([0.6, 1.0, 1.0, 0.7, 1.3, 1.0])
    top_k = torch.tensor([0, 5, 0, 40, 0, 0])
    top_p = torch.tensor([0.95, 1.0, 0.9, 0.5, 1.0, 0.3])
    got = token_probs(logits, temperature, top_k, top_p)
    want = _sorted_probs(logits / temperature[:, None], top_k, top_p)
    assert torch.equal(got > 0, want > 0)  # the same tokens kept
    assert torch.allclose(got, want, atol=1e-6)
    assert int((got[1] > 0).sum()) == 300 and int((got[2] > 0).sum()) > 4000


def test_a_class_that_takes_every_row_is_computed_in_place_with_the_same_result() -> None:
    """Every row flat (all go to the full sort) or every row unfiltered (plain softmax): the
    whole-batch paths give what the definition gives."""
    from evalkit.runners.torch_int4.sampling import _sorted_probs

    g = torch.Generator().manual_seed(6)
    flat = torch.randn(4, 3000, generator=g) * 0.01
    t, k, p = torch.full((4,), 0.6), torch.zeros(4, dtype=torch.long), torch.full((4,), 0.95)
    got = token_probs(flat, t, k, p)
    assert torch.equal(got, _sorted_probs(flat / 0.6, k, p))
    assert int((got > 0).sum(1).min()) > 2000  # the candidates could not settle any row
    peaked = torch.randn(4, 3000, generator=g) * 4
    plain = token_probs(peaked, *off(4))
    assert torch.equal(plain, peaked.softmax(dim=-1))


def test_slot_sampler_gives_a_request_the_same_tokens_with_or_without_a_greedy_neighbour() -> None:
    """The slot sampler's all-sampled batch (no argmax, gather or scatter) and its mixed batch
    draw the same tokens for the same requests, over a vocabulary large enough for the
    candidate prefilter and with rows that need the full sort."""
    from evalkit.runners.torch_int4.sampling import UniformStream
    from evalkit.runners.torch_int4.slot_sampler import SlotSampler

    vocab = 2000
    g = torch.Generator().manual_seed(7)
    steps = [torch.randn(3, vocab, generator=g) * s for s in (0.01, 4.0, 0.01, 8.0, 1.0)]
    params = [
        SamplingParams(temperature=0.6, top_p=0.95, seed=1, presence_penalty=0.5),
        SamplingParams(temperature=1.0, top_k=20, seed=2),
        SamplingParams(temperature=0.0),
    ]

    def run(rows: list[int]) -> list[list[int]]:
        sampler = SlotSampler(3, vocab, CPU)
        for r in rows:
            sampler.assign(r, params[r], UniformStream(params[r].seed), [])
        return [sampler(s[rows], rows) for s in steps]

    mixed = run([0, 1, 2])
    sampled_only = run([0, 1])
    assert [m[:2] for m in mixed] == sampled_only
    assert [m[2] for m in mixed] == [int(s[2].argmax()) for s in steps]


def test_a_uniform_stream_gives_the_numbers_of_one_generator_call_per_token() -> None:
    """Drawn in chunks, the same numbers in the same order as one call per sampled token (the
    stream semantics every seeded request relies on), across several chunk boundaries."""
    from evalkit.runners.torch_int4.sampling import UniformStream, make_generator

    stream, gen = UniformStream(11), make_generator(11)
    n = 3 * UniformStream.CHUNK + 5
    assert [stream.next() for _ in range(n)] == [
        float(torch.rand((), generator=gen, dtype=torch.float64)) for _ in range(n)
    ]
    assert UniformStream(12).next() != UniformStream(11).next()
