"""The embedded default model: a tiny EXAONE 4.0 checkpoint the project builds itself.

It has the real architecture (``Exaone4ForCausalLM``), the real GPTQ checkpoint layout
(variants ``gptq`` and ``gptq-actorder``; also ``bf16`` and ``fp32``), a real byte-level
BPE tokenizer and the real EXAONE 4.0 chat template, and random weights: it makes every
command of the harness work on a CPU without downloads, and its scores are meaningless.

Public API: :func:`ensure_tiny_model` (cached build), :func:`build_tiny_model` (build into
a directory), :data:`VARIANTS`, :data:`BUILD_VERSION`; the GPTQ packing helpers live in
:mod:`evalkit.tinymodel.gptq_pack`.
"""

from evalkit.tinymodel.build import BUILD_VERSION, build_tiny_model, ensure_tiny_model, tiny_model_dir
from evalkit.tinymodel.checkpoint import VARIANTS
from evalkit.tinymodel.gptq_pack import GPTQTensors, dequantize, pack_cols, pack_rows, quantize_rtn

__all__ = [
    "BUILD_VERSION",
    "VARIANTS",
    "GPTQTensors",
    "build_tiny_model",
    "dequantize",
    "ensure_tiny_model",
    "pack_cols",
    "pack_rows",
    "quantize_rtn",
    "tiny_model_dir",
]
