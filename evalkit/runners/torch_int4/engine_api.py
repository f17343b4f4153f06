"""The ``Engine`` protocol: what ``TorchInt4Runner`` needs from a generation engine, and the one
function that picks the engine for a run.

Two engines implement it: ``engine.ReferenceEngine`` (plain PyTorch, static batches, the twin
every fast path is checked against) and ``fast_engine.FastEngine`` (Triton kernels or their
torch twins, a paged KV cache, continuous batching). The runner holds one engine, chosen once
at load by ``build_engine``; nothing else in the runner asks which one it has.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import torch

from evalkit.errors import UsageError

if TYPE_CHECKING:
    from evalkit.runners.torch_int4.engine import Decode, GenerationRequest, GenerationResult
    from evalkit.runners.torch_int4.model import Exaone4LM

ENGINE_KINDS = ("auto", "fast", "reference")


@dataclass
class PromptLogits:
    """Float32 logits [len(ids), vocab] at every position of one sequence (teacher forcing),
    with each decoder layer's output when asked for and the engine can capture it."""

    logits: torch.Tensor
    hidden_states: list[torch.Tensor] | None = None
    layer_types: list[str] | None = None


class Engine(Protocol):
    """A generation engine over one loaded EXAONE 4 model."""

    eos_ids: frozenset[int]

    @property
    def max_seq_len(self) -> int:
        """The longest sequence (prompt + new tokens) the engine runs."""
        ...

    @property
    def max_seq_len_source(self) -> str | None:
        """What sets ``max_seq_len`` when it is a setting rather than the model's context (for
        the refusal of an over-long prompt), else None."""
        ...

    def generate(self, requests: Sequence[GenerationRequest]) -> Iterator[tuple[int, GenerationResult]]:
        """Yield (index into `requests`, result) for every request, in the order they finish."""
        ...

    def prompt_logits(self, ids: Sequence[int], *, hidden_states: bool = False) -> PromptLogits:
        """Teacher-forced logits over `ids` through the same model code that generates; raises
        ``UsageError`` when asked for hidden states it cannot capture."""
        ...

    def kv_cache_budget_bytes(self) -> int | None:
        """Bytes the engine can give to the KV cache of one ``generate`` call (see
        ``Runner.kv_cache_budget_bytes``), or None when not planned."""
        ...

    def describe(self) -> dict[str, Any]:
        """Settings of the engine that change outputs, merged into the runner's ``describe()``
        (and so into every cache key): empty for the reference engine, whose keys predate the
        fast one."""
        ...

    def close(self) -> None:
        """Drop the model and the cache so that their memory can be freed."""
        ...


@dataclass(frozen=True)
class EngineSettings:
    """The runner's engine settings (see ``TorchInt4Runner``)."""

    max_batch_size: int = 8
    max_seq_len: int | None = None  # fast engine; default: the model's context
    prefill_tokens: int = 8192
    memory_fraction: float = 0.9
    cache_blocks: int | None = None


def engine_kind(requested: str, device: torch.device) -> str:
    """``"fast"`` or ``"reference"``: `requested`, or for ``"auto"`` the fast engine on a GPU and
    the reference engine on a CPU."""
    if requested not in ENGINE_KINDS:
        raise UsageError(f"engine {requested!r} is not one of {', '.join(ENGINE_KINDS)}")
    if requested == "auto":
        return "fast" if device.type == "cuda" else "reference"
    return requested


def build_engine(
    kind: str,
    lm: Exaone4LM,
    *,
    decode: Decode,
    eos_ids: Sequence[int],
    pad_id: int,
    settings: EngineSettings,
) -> Engine:
    """The engine of `kind` (``engine_kind``'s answer) over the loaded model `lm`. The fast
    engine takes the weights over from `lm` and, on a GPU, compiles its kernels and captures its
    decode graphs now, so that no request pays for it."""
    if kind == "reference":
        from evalkit.runners.torch_int4.engine import ReferenceEngine

        return ReferenceEngine(
            lm, decode=decode, eos_ids=eos_ids, max_batch_size=settings.max_batch_size, pad_id=pad_id
        )
    # The fast path needs Triton on a GPU: imported only when chosen.
    from evalkit.runners.torch_int4.fast_engine import FastEngine
    from evalkit.runners.torch_int4.fast_model import FastExaone4

    context = lm.cfg.max_position_embeddings
    fast = FastEngine(
        FastExaone4.from_reference(lm),
        decode=decode,
        eos_ids=eos_ids,
        max_batch_size=settings.max_batch_size,
        max_seq_len=min(settings.max_seq_len or context, context),
        prefill_tokens=settings.prefill_tokens,
        memory_fraction=settings.memory_fraction,
        cache_blocks=settings.cache_blocks,
    )
    if fast.model.device.type == "cuda":
        fast.warmup()
    return fast
