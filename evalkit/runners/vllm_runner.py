"""The vLLM runner (in-process `vllm.LLM`), for GPTQ checkpoints on one or many GPUs.

Prompts are rendered by evalkit's own chat-template path and sent as token ids, and the
generated ids are decoded by evalkit, so raw texts are comparable with every other runner;
reasoning and tool calls are parsed by evalkit itself, never by vLLM's parsers.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from evalkit.errors import UsageError
from evalkit.fingerprint import fingerprint_dir
from evalkit.kv_planning import KVShape
from evalkit.models import is_tiny, resolve_model
from evalkit.records import ChatRequest, Completion, FinishReason, SamplingParams
from evalkit.runners.base import Runner
from evalkit.runners.codec import ChatCodec

INSTALL_HINT = "pip install 'evalkit[vllm]' (vLLM needs a CUDA GPU and a matching torch build)"


def import_vllm() -> Any:
    """Import vLLM or fail at once with the install command."""
    try:
        import vllm
    except ImportError as e:
        raise UsageError(f"the vllm runner needs vLLM, which is not installed ({e}); {INSTALL_HINT}") from e
    return vllm


def to_vllm_params(vllm: Any, p: SamplingParams) -> Any:
    """evalkit SamplingParams -> vllm.SamplingParams, one to one (n=1: repeats are separate requests)."""
    return vllm.SamplingParams(
        n=1,
        temperature=p.temperature,
        top_p=p.top_p,
        top_k=p.top_k if p.top_k > 0 else 0,  # 0 disables top-k in vLLM >= 0.10 (-1 in older releases)
        presence_penalty=p.presence_penalty,
        max_tokens=p.max_new_tokens,
        stop=list(p.stop) or None,
        seed=p.seed,
        skip_special_tokens=False,  # evalkit decodes the ids itself
        detokenize=True,
    )


def _dtype_bytes(dtype: Any) -> int | None:
    """Bytes per element of a dtype name ("bfloat16", "fp8", torch.float16, ...); None for
    "auto" or unknown names."""
    name = str(dtype or "").removeprefix("torch.").lower()
    if name in ("float32", "fp32", "float"):
        return 4
    if name in ("bfloat16", "float16", "half", "fp16", "bf16"):
        return 2
    if name.startswith(("fp8", "float8", "int8")):
        return 1
    return None


class VLLMRunner(Runner):
    """`vllm.LLM` with the settings that matter for GPTQ EXAONE 4 checkpoints.

    The quantization method is read from the checkpoint's config (vLLM upgrades
    `gptq` to `gptq_marlin` and picks Machete or Marlin kernels itself); do not force
    `quantization="gptq"`, which selects the slow legacy kernel.
    """

    name = "vllm"

    def __init__(
        self,
        model: str,
        *,
        tensor_parallel_size: int = 1,
        pipeline_parallel_size: int = 1,
        max_model_len: int | None = None,
        gpu_memory_utilization: float = 0.9,
        enable_prefix_caching: bool = True,
        dtype: str = "auto",
        quantization: str | None = None,
        attention_backend: str | None = None,
        max_num_seqs: int | None = None,
        enforce_eager: bool = False,
        seed: int = 0,
    ):
        vllm = import_vllm()
        self._vllm = vllm
        self.model_name = model
        self.model_dir = Path(resolve_model(model))
        self.codec = ChatCodec(self.model_dir)
        config = json.loads((self.model_dir / "config.json").read_text())
        self.quant_method = (config.get("quantization_config") or {}).get("quant_method")
        kwargs: dict[str, Any] = {
            "model": str(self.model_dir),
            "tensor_parallel_size": tensor_parallel_size,
            "pipeline_parallel_size": pipeline_parallel_size,
            "gpu_memory_utilization": gpu_memory_utilization,
            "enable_prefix_caching": enable_prefix_caching,
            "dtype": dtype,
            "enforce_eager": enforce_eager,
            "seed": seed,
        }
        for key, value in (
            ("max_model_len", max_model_len),
            ("quantization", quantization),
            ("attention_backend", attention_backend),
            ("max_num_seqs", max_num_seqs),
        ):
            if value is not None:
                kwargs[key] = value
        self.settings = {k: v for k, v in kwargs.items() if k != "model"}
        self.llm = vllm.LLM(**kwargs)
        self._fingerprint: str | None = None

    def describe(self) -> dict[str, Any]:
        if self._fingerprint is None:
            self._fingerprint = fingerprint_dir(self.model_dir)
        return {
            "runner": "vllm",
            "vllm_version": getattr(self._vllm, "__version__", "?"),
            "model": self.model_name,
            "model_fingerprint": self._fingerprint,
            "quant_method": self.quant_method,
            # Settings that change numerics; memory and scheduling knobs do not enter the key.
            "dtype": self.settings["dtype"],
            "tensor_parallel_size": self.settings["tensor_parallel_size"],
            "pipeline_parallel_size": self.settings["pipeline_parallel_size"],
            "quantization": self.settings.get("quantization"),
        }

    @property
    def is_placeholder_model(self) -> bool:
        return is_tiny(self.model_name)

    def render(self, request: ChatRequest) -> str:
        return self.codec.render(request)

    def max_context(self) -> int | None:
        model_config = getattr(self._engine_config(), "model_config", None)
        n = getattr(model_config, "max_model_len", None) or self.settings.get("max_model_len")
        return int(n) if n else None

    def kv_bytes_per_token(self) -> int | None:
        """Keys and values of every layer, in the KV-cache dtype (the model's unless
        kv_cache_dtype says otherwise), from the checkpoint's config.json."""
        config = json.loads((self.model_dir / "config.json").read_text())
        cfg = config.get("text_config", config)
        width = _dtype_bytes(getattr(self._engine_config("cache_config"), "cache_dtype", None))
        if width is None:  # "auto": the model's dtype
            width = _dtype_bytes(self.settings.get("dtype")) or _dtype_bytes(cfg.get("torch_dtype")) or 2
        try:
            return KVShape.from_hf_config(config, width).bytes_per_token()
        except (KeyError, TypeError, ValueError):
            return None

    def kv_cache_budget_bytes(self) -> int | None:
        """The KV cache vLLM allocated, as tokens x `kv_bytes_per_token()`: tokens from its cache
        config (`kv_cache_size_tokens` where this release reports it, which counts sliding-window
        layers right; else num_gpu_blocks x block_size); None when the engine exposes neither."""
        cache = self._engine_config("cache_config")
        tokens = getattr(cache, "kv_cache_size_tokens", None)
        if not isinstance(tokens, int) or tokens <= 0:
            blocks, size = getattr(cache, "num_gpu_blocks", None), getattr(cache, "block_size", None)
            tokens = int(blocks) * int(size) if isinstance(blocks, int) and isinstance(size, int) else 0
        per_token = self.kv_bytes_per_token()
        if tokens <= 0 or not per_token:
            return None
        return tokens * per_token

    def _engine_config(self, name: str = "") -> Any:
        """vLLM's VllmConfig (or one of its parts, e.g. "cache_config"), wherever this vLLM
        release keeps it on the engine; None when it cannot be found."""
        engine = getattr(self.llm, "llm_engine", None)
        config = getattr(engine, "vllm_config", None)
        if not name:
            return config
        return getattr(config, name, None) or getattr(engine, name, None)

    def _completion(self, out: Any, n_prompt: int) -> Completion:
        seq = out.outputs[0]
        ids = list(seq.token_ids)
        if seq.finish_reason not in ("stop", "length"):  # "abort" (or unfinished): no answer
            return Completion(
                text="",
                finish_reason="error",
                prompt_tokens=n_prompt,
                completion_tokens=len(ids),
                error=f"vLLM finished the request with {seq.finish_reason!r}",
            )
        finish: FinishReason = "length" if seq.finish_reason == "length" else "stop"
        text = self.codec.decode(ids)
        if finish == "stop" and seq.stop_reason is not None and isinstance(seq.stop_reason, str):
            text = text.split(seq.stop_reason)[0]  # vLLM stopped on a stop string: cut before it
        return Completion(
            text=text,
            finish_reason=finish,
            prompt_tokens=n_prompt,
            completion_tokens=len(ids),
            token_ids=ids,
        )

    def generate(self, requests: Sequence[ChatRequest]) -> Iterator[tuple[int, Completion]]:
        """Add every request to vLLM's engine, step it, and yield each request as it finishes."""
        vllm = self._vllm
        prompts = [self.codec.encode(self.render(r)) for r in requests]
        token_prompts = [{"prompt_token_ids": ids} for ids in prompts]
        params = [to_vllm_params(vllm, r.params) for r in requests]
        engine = getattr(self.llm, "llm_engine", None)
        if engine is None or not hasattr(engine, "add_request"):  # no engine access: one blocking call
            outs = self.llm.generate(token_prompts, params, use_tqdm=False)
            for i, out in enumerate(outs):
                yield i, self._completion(out, len(prompts[i]))
            return
        final_only = getattr(getattr(vllm, "sampling_params", None), "RequestOutputKind", None)
        index: dict[str, int] = {}
        tag = uuid.uuid4().hex[:8]
        for i, (prompt, p) in enumerate(zip(token_prompts, params, strict=True)):
            if final_only is not None:
                p.output_kind = final_only.FINAL_ONLY  # one output per request, when it is done
            rid = f"evalkit-{tag}-{i}"
            index[rid] = i
            returned = engine.add_request(rid, prompt, p)
            if isinstance(returned, str):  # newer vLLM may return an internal id as well
                index[returned] = i
        pending = set(range(len(requests)))
        while pending and engine.has_unfinished_requests():
            for out in engine.step():
                i = index.get(out.request_id, -1)
                if out.finished and i in pending:
                    pending.discard(i)
                    yield i, self._completion(out, len(prompts[i]))
        if pending:
            raise RuntimeError(f"vLLM finished without outputs for {len(pending)} request(s)")

    def close(self) -> None:
        self.llm = None
