"""The in-house PyTorch int4 runner for EXAONE 4 GPTQ (and unquantized) checkpoints.

Layout, one concern per module:

- ``config``: config.json -> typed ``Exaone4Config`` (layer types, RoPE, EOS ids).
- ``checkpoint``: safetensors files (single or sharded) -> tensors by name.
- ``gptq``: the GPTQ format: quantization_config, validation, unpack/dequant, ``QuantLinear``.
- ``loader``: builds the model from a checkpoint directory (quantized or not).
- ``model``: the EXAONE 4 forward pass, gpt-fast style.
- ``kv_cache``: per-layer key/value tensors for a left-padded batch.
- ``sampling``: greedy and seeded sampling (temperature, top-k, top-p, presence penalty).
- ``engine_api``: the ``Engine`` protocol the runner holds, and ``build_engine``, which picks one.
- ``engine``: ``ReferenceEngine``, batched prefill + decode with EOS, stop strings and length limits.
- ``fast_model``, ``fast_engine``, ``paged_cache``, ``slot_sampler``, ``kernels/``: the GPU path
  (Triton kernels, paged KV cache, prompt sharing, continuous batching, CUDA graphs).
- ``runner``: ``TorchInt4Runner``, the evalkit ``Runner`` built from all of the above.

Importing this package does not import torch: the registry names the runner as the
lazy string ``"evalkit.runners.torch_int4.runner:TorchInt4Runner"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evalkit.runners.torch_int4.runner import TorchInt4Runner

__all__ = ["TorchInt4Runner"]


def __getattr__(name: str) -> Any:
    # Lazy re-export so `from evalkit.runners.torch_int4 import TorchInt4Runner` works
    # without making a plain `import evalkit.runners.torch_int4` pay for torch.
    if name == "TorchInt4Runner":
        from evalkit.runners.torch_int4.runner import TorchInt4Runner

        return TorchInt4Runner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
