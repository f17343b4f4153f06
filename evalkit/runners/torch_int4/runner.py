"""``TorchInt4Runner``: the evalkit Runner on top of the in-house PyTorch int4 engine."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch

from evalkit.errors import UsageError
from evalkit.fingerprint import fingerprint_dir
from evalkit.models import is_tiny, resolve_model
from evalkit.records import ChatRequest, Completion
from evalkit.runners.base import Runner, TokenLogits
from evalkit.runners.codec import ChatCodec
from evalkit.runners.torch_int4.engine import GenerationRequest
from evalkit.runners.torch_int4.engine_api import Engine, EngineSettings, build_engine, engine_kind
from evalkit.runners.torch_int4.kv_cache import kv_shape
from evalkit.runners.torch_int4.loader import load_model, resolve_device, resolve_dtype


class TorchInt4Runner(Runner):
    """Runs an EXAONE 4 checkpoint (GPTQ int4 or unquantized) with the in-house PyTorch engine.

    `model` is anything ``evalkit.models.resolve_model`` takes (an embedded tiny model,
    a directory, a hub id). ``device="auto"`` picks CUDA when present; ``dtype="auto"``
    is float32 on CPU and bfloat16 on GPU. `cache_dequantized` (default: on for CPU)
    keeps a dense copy of every int4 weight instead of dequantizing on each call.

    ``engine="auto"`` is the fast path on a GPU (Triton kernels, a paged KV cache sized at
    load from ``memory_fraction`` of the GPU, up to ``max_batch_size`` sequences at once of
    up to ``max_seq_len`` tokens (default: the model's context), prompt sharing, CUDA graphs)
    and the plain-PyTorch reference engine on a CPU; ``"fast"`` or ``"reference"`` force one
    (the fast path on a CPU runs the kernels' torch twins).
    """

    name = "torch_int4"

    def __init__(
        self,
        model: str = "tiny",
        *,
        device: str = "auto",
        dtype: str = "auto",
        max_batch_size: int = 8,
        cache_dequantized: bool | None = None,
        engine: str = "auto",
        max_seq_len: int | None = None,
        prefill_tokens: int = 8192,
        memory_fraction: float = 0.9,
        cache_blocks: int | None = None,
    ):
        self.model_name = model
        self.model_dir = resolve_model(model)
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.engine_kind = engine_kind(engine, self.device)
        if cache_dequantized is None:  # the fast engine dequantizes in its kernels
            cache_dequantized = self.device.type == "cpu" and self.engine_kind == "reference"
        self.codec = ChatCodec(self.model_dir)
        self.tokenizer: Any = self.codec.tokenizer
        self.lm = load_model(
            self.model_dir, device=self.device, dtype=self.dtype, cache_dequantized=cache_dequantized
        )
        self.cfg = self.lm.cfg
        eos = list(self.cfg.eos_token_ids)
        if self.tokenizer.eos_token_id is not None:
            eos.append(self.tokenizer.eos_token_id)
        self.engine: Engine = build_engine(
            self.engine_kind,
            self.lm,
            decode=self.decode,
            eos_ids=eos,
            pad_id=self.cfg.pad_token_id if self.cfg.pad_token_id is not None else 0,
            settings=EngineSettings(
                max_batch_size=max_batch_size,
                max_seq_len=max_seq_len,
                prefill_tokens=prefill_tokens,
                memory_fraction=memory_fraction,
                cache_blocks=cache_blocks,
            ),
        )
        self._fingerprint: str | None = None

    def describe(self) -> dict[str, Any]:
        """Model fingerprint and the settings that change outputs (the engine's among them)."""
        if self._fingerprint is None:  # hashing a large checkpoint is slow; once per runner
            self._fingerprint = fingerprint_dir(self.model_dir)
        return {
            "runner": "torch_int4",
            "model_fingerprint": self._fingerprint,
            "model": self.model_name,
            "dtype": str(self.dtype).removeprefix("torch."),
            "device_type": self.device.type,
            **self.engine.describe(),
        }

    @property
    def is_placeholder_model(self) -> bool:
        return is_tiny(self.model_name)

    def max_context(self) -> int:
        """The checkpoint's max_position_embeddings, or the fast engine's planned sequence length."""
        return int(min(self.cfg.max_position_embeddings, self.engine.max_seq_len))

    def kv_bytes_per_token(self) -> int:
        """Keys and values of every layer, in the cache dtype: an upper bound for the fast engine,
        whose sliding layers keep only the window."""
        return kv_shape(self.cfg, self.dtype).bytes_per_token()

    def kv_cache_budget_bytes(self) -> int | None:
        """In ``kv_bytes_per_token`` units. Fast engine: the bytes of its block pool, sized at
        load (its sliding layers keep only the window, so long sequences take fewer bytes than
        this unit says; the engine queues what does not fit). Reference engine on a GPU: free
        device memory. On a CPU: None (host memory is not planned)."""
        return self.engine.kv_cache_budget_bytes()

    def render(self, request: ChatRequest) -> str:
        """The prompt exactly as the model's own chat template renders it."""
        return self.codec.render(request)

    def encode(self, text: str) -> list[int]:
        """Token ids of a rendered prompt; the template already holds every special token."""
        return self.codec.encode(text)

    def decode(self, ids: Sequence[int]) -> str:
        """Text of generated ids with special tokens dropped but think/tool-call markers kept."""
        return self.codec.decode(ids)

    def generate(self, requests: Sequence[ChatRequest]) -> Iterator[tuple[int, Completion]]:
        """Generate every request in batches; yield (index, Completion) as each finishes."""
        prompts = [self.encode(self.render(r)) for r in requests]
        for ids, r in zip(prompts, requests, strict=True):  # refuse, never cut, an over-long prompt
            if len(ids) + r.params.max_new_tokens > self.max_context():
                raise UsageError(
                    f"prompt of {len(ids)} tokens + {r.params.max_new_tokens} new tokens exceeds "
                    f"{self.model_name}'s context of {self.max_context()} tokens"
                    + (f" ({source})" if (source := self.engine.max_seq_len_source) else "")
                )
        batch = [GenerationRequest(ids, r.params) for ids, r in zip(prompts, requests, strict=True)]
        for i, result in self.engine.generate(batch):
            yield (
                i,
                Completion(
                    text=result.text,
                    finish_reason=result.finish_reason,
                    prompt_tokens=len(prompts[i]),
                    completion_tokens=len(result.token_ids),
                    token_ids=result.token_ids,
                ),
            )

    def next_token_logits(
        self, request: ChatRequest, continuation: str, *, hidden_states: bool = False
    ) -> TokenLogits:
        """Float32 logits at every position of the rendered prompt + `continuation`, in one
        forward pass of the same model code that generates; optionally each layer's output
        (captured by forward hooks, so the model itself is untouched)."""
        prompt = self.encode(self.render(request))
        ids = prompt + self.encode(continuation)
        out = self.engine.prompt_logits(ids, hidden_states=hidden_states)
        return TokenLogits(
            token_ids=ids,
            prompt_len=len(prompt),
            logits=out.logits,
            hidden_states=out.hidden_states,
            layer_types=out.layer_types,
        )

    def close(self) -> None:
        """Free the weights (and GPU memory) now rather than at garbage collection."""
        self.engine.close()
        self.lm = None  # type: ignore[assignment]
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
