"""The schema of a runner profile (runners/*.yaml) and of each runner class's settings.

A profile's `settings` become keyword arguments of its runner class, so they are checked
against that class's schema here, before anything is imported or loaded: `concurrency: 0`
would wait forever, `max_retries: -1` would never send a request. A runner class without a
schema (one of your own, "module:Class") gets its settings checked by its constructor.
tests/runners/test_profile_schema.py keeps each schema's keys equal to its constructor's.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from evalkit.schema import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, Strict


class TorchInt4Settings(Strict):
    device: str = "auto"
    dtype: str = "auto"
    max_batch_size: PositiveInt = 8
    cache_dequantized: bool | None = None
    engine: Literal["auto", "fast", "reference"] = "auto"
    max_seq_len: PositiveInt | None = None
    prefill_tokens: PositiveInt = 8192
    memory_fraction: float = Field(0.9, gt=0, le=1)  # of the GPU's memory, for weights and KV cache
    cache_blocks: PositiveInt | None = None


class OpenAISettings(Strict):
    endpoints: list[str] | str = Field(default_factory=list)
    api_key_env: str | None = None
    concurrency: PositiveInt = 32
    timeout: PositiveFloat = 600.0
    max_retries: NonNegativeInt = 8
    backoff_base: NonNegativeFloat = 0.5
    backoff_max: NonNegativeFloat = 30.0
    retry_after_max: NonNegativeFloat = 120.0  # a server's Retry-After is honoured up to this
    extra_body: dict[str, Any] | None = None
    model_fingerprint: str | None = None


class TransformersSettings(Strict):
    device: str = "auto"
    dtype: str = "auto"


class VLLMSettings(Strict):
    tensor_parallel_size: PositiveInt = 1
    pipeline_parallel_size: PositiveInt = 1
    max_model_len: PositiveInt | None = None
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    enable_prefix_caching: bool = True
    dtype: str = "auto"
    quantization: str | None = None
    attention_backend: str | None = None
    max_num_seqs: PositiveInt | None = None
    enforce_eager: bool = False
    seed: NonNegativeInt = 0


# The runner classes evalkit ships, by the "module:Class" a profile names.
RUNNER_SETTINGS: dict[str, type[Strict]] = {
    "evalkit.runners.torch_int4.runner:TorchInt4Runner": TorchInt4Settings,
    "evalkit.runners.openai_api:OpenAIRunner": OpenAISettings,
    "evalkit.runners.hf_transformers:TransformersRunner": TransformersSettings,
    "evalkit.runners.vllm_runner:VLLMRunner": VLLMSettings,
}


class LimitsSchema(Strict):
    # A cap on every request's new tokens (e.g. the tiny CPU model); --max-new-tokens overrides it.
    max_new_tokens: PositiveInt | None = None


class ProfileSchema(Strict):
    runner: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")  # a lazy "module:Class"
    model: str
    settings: dict[str, Any] | None = None
    limits: LimitsSchema | None = None
    reference_size: str | None = None
    description: str | None = None
