"""kernels.top_p (the GPU's sort-free top-p and draw) in Triton's interpreter against the
definition: ``token_probs`` (one stable sort of the row) followed by ``draw``."""

from __future__ import annotations

import pytest
import torch

from evalkit.records import SamplingParams
from evalkit.runners.torch_int4 import sampling
from evalkit.runners.torch_int4.kernels.top_p import top_p_draw
from evalkit.runners.torch_int4.sampling import UniformStream, draw, token_probs

BLOCK = 128  # several blocks per row at these small vocabularies


def definition(logits: torch.Tensor, t: torch.Tensor, p: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    return draw(token_probs(logits, t, torch.zeros(len(p), dtype=torch.long), p), u)


def grid(n: int) -> torch.Tensor:
    return (torch.arange(n, dtype=torch.float64) + 0.5) / n


def test_draws_equal_the_definition_over_spreads_temperatures_and_p() -> None:
    """bf16-rounded logits (ties, as a bf16 head gives), p from 0 (only the top token) to 1 (off)."""
    g = torch.Generator().manual_seed(1)
    rows = [torch.randn(700, generator=g) * s for s in (0.05, 0.5, 2.0, 8.0, 2.0, 0.5, 3.0, 1.0)]
    logits = torch.stack(rows).bfloat16().float()
    t = torch.tensor([0.6, 0.6, 0.6, 0.6, 1.0, 1.3, 0.3, 0.6])
    p = torch.tensor([0.95, 0.95, 0.95, 0.95, 0.5, 1.0, 0.0, 0.999])
    for u in (
        torch.rand(8, generator=g, dtype=torch.float64),
        torch.full((8,), 0.999999, dtype=torch.float64),
    ):
        assert top_p_draw(logits, t, p, u, block=BLOCK).tolist() == definition(logits, t, p, u).tolist()


def test_ties_at_the_threshold_keep_the_lowest_ids_first() -> None:
    """Five values, each tied 40 times: p cuts inside a tied group, and every uniform of a fine
    grid draws what the definition draws (so the kept tokens are the same ones)."""
    values = torch.tensor([3.0, 2.0, 1.0, 0.0, -1.0]).repeat_interleave(40)
    perm = torch.randperm(200, generator=torch.Generator().manual_seed(2))
    row = values[perm]
    n = 24
    for p in (0.3, 0.62, 0.9):
        logits, t, pp = row.expand(n, 200), torch.ones(n), torch.full((n,), p)
        got = top_p_draw(logits, t, pp, grid(n), block=64)
        want = definition(logits, t, pp, grid(n))
        assert got.tolist() == want.tolist()
        kept = (
            token_probs(row[None], torch.ones(1), torch.zeros(1, dtype=torch.long), torch.tensor([p]))[0] > 0
        )
        assert set(got.tolist()) <= set(kept.nonzero().flatten().tolist())
        assert len(set(got.tolist())) > 10  # the grid reaches across the kept tokens


def test_masked_tokens_and_a_row_shorter_than_a_block() -> None:
    """-inf logits (never drawn) and a vocabulary that ends inside a block."""
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(4, 301, generator=g)
    logits[:, ::3] = float("-inf")
    t, p = torch.full((4,), 0.7), torch.tensor([0.9, 1.0, 0.2, 0.999])
    for u in grid(16):
        uu = torch.full((4,), float(u), dtype=torch.float64)
        got = top_p_draw(logits, t, p, uu, block=BLOCK)
        assert got.tolist() == definition(logits, t, p, uu).tolist()
        assert all(tok % 3 != 0 for tok in got.tolist())


def test_a_row_does_not_depend_on_its_neighbours() -> None:
    g = torch.Generator().manual_seed(4)
    logits = torch.randn(5, 500, generator=g) * 2
    t, p, u = torch.full((5,), 0.6), torch.full((5,), 0.95), torch.rand(5, generator=g, dtype=torch.float64)
    together = top_p_draw(logits, t, p, u, block=BLOCK)
    alone = [int(top_p_draw(logits[i : i + 1], t[:1], p[:1], u[i : i + 1], block=BLOCK)) for i in range(5)]
    assert together.tolist() == alone


@pytest.fixture
def kernel_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the samplers take the kernel (interpreted) on a CPU, as they do on a GPU."""
    monkeypatch.setattr(sampling, "threshold_kernel_applies", lambda device: True)


def _steps(vocab: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    return [(torch.randn(3, vocab, generator=g) * s).bfloat16().float() for s in (0.01, 4.0, 1.0)]


PARAMS = [
    SamplingParams(temperature=0.6, top_p=0.95, seed=1, presence_penalty=0.5),
    SamplingParams(temperature=1.0, top_k=20, seed=2),  # top-k: token_probs
    SamplingParams(temperature=0.0),
]


def _slot_run(rows: list[int], vocab: int) -> list[list[int]]:
    from evalkit.runners.torch_int4.slot_sampler import SlotSampler

    sampler = SlotSampler(3, vocab, torch.device("cpu"))
    for r in rows:
        sampler.assign(r, PARAMS[r], UniformStream(PARAMS[r].seed), [])
    return [sampler(s[rows], rows) for s in _steps(vocab)]


def test_samplers_with_the_kernel_draw_what_the_definition_draws(
    kernel_on_cpu: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mixed batches (a top-p row on the kernel, a top-k row on token_probs, a greedy row):
    the same tokens as without the kernel, alone or with neighbours, in both samplers."""
    vocab = 600
    with_kernel = _slot_run([0, 1, 2], vocab)
    assert [m[:1] for m in with_kernel] == _slot_run([0], vocab)  # all rows on the kernel
    assert [m[:2] for m in with_kernel] == _slot_run([0, 1], vocab)  # no greedy row
    batch = sampling.BatchSampler(PARAMS, vocab, torch.device("cpu"))
    assert [batch(s).tolist() for s in _steps(vocab)] == with_kernel
    monkeypatch.setattr(sampling, "threshold_kernel_applies", lambda device: False)
    assert _slot_run([0, 1, 2], vocab) == with_kernel


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # numpy's -inf - -inf in the interpreter
def test_garbage_rows_end_with_a_token_in_range() -> None:
    """Model output is untrusted: a row with NaN, a row of -inf, a row of huge values: the search
    ends (no endless loop) and every row gets a token id inside the vocabulary."""
    logits = torch.randn(3, 300, generator=torch.Generator().manual_seed(5))
    logits[0, 17] = float("nan")
    logits[1] = float("-inf")
    logits[2] = logits[2] * 3e38
    t, p = torch.ones(3), torch.full((3,), 0.9)
    got = top_p_draw(logits, t, p, torch.full((3,), 0.5, dtype=torch.float64), block=BLOCK)
    assert all(0 <= tok < 300 for tok in got.tolist())
