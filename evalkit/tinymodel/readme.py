"""The README.md written into every tiny model directory."""

from __future__ import annotations

from evalkit.tinymodel.config import ARCH, GROUP_SIZE

_VARIANT_TEXT = {
    "gptq": (
        'GPTQ v1 layout (`checkpoint_format: "gptq"`), 4-bit, symmetric, group size '
        f"{GROUP_SIZE}, `desc_act: false`: every linear inside the decoder layers is stored as "
        "`qweight` int32 [K/8, N], `qzeros` int32 [K/128, N/8] (all words 0x77777777: v1 stores "
        "zero - 1 = 7), `scales` float16 [K/128, N] and `g_idx` int32 [K] (= k // 128). The "
        "embedding, the norms and `lm_head` stay bfloat16 (`lm_head: false`)."
    ),
    "gptq-actorder": (
        "GPTQ v1 layout as the `gptq` variant, but `desc_act: true`: the input channels are "
        "grouped in a permuted order (descending squared weight-column norm, a stand-in for the "
        "Hessian diagonal, one order shared by the linears that read the same input), so "
        "`g_idx` is non-monotone; `qweight` rows stay in the original channel order, as "
        "AutoGPTQ writes them."
    ),
    "bf16": "Unquantized bfloat16 weights.",
    "fp32": (
        "Unquantized float32 weights. They hold the same values as the bf16 variant "
        "(the weights are drawn, then rounded to bfloat16), so this is an exact-weights "
        "float32 reference for it."
    ),
}


def readme_text(variant: str, build_version: int, vocab_size: int, n_tokens: int, seed: int) -> str:
    """The model card: what the model is, that its scores mean nothing, and how it was built."""
    a = ARCH
    return f"""# tiny-exaone4-{variant} (evalkit embedded model, build v{build_version})

**This is not a language model you can evaluate.** It is a tiny checkpoint with the
EXAONE 4.0 architecture and **random weights**, built by evalkit so that every command of
the harness runs on a CPU without downloads. Any score obtained with it is meaningless.
It almost never emits `[|endofturn|]` or `</think>`: expect generations to run to their
token budget (truncated, and in reasoning mode without an answer).

## What it is

- Architecture: `Exaone4ForCausalLM` (transformers), hidden {a.hidden_size}, intermediate
  {a.intermediate_size}, {a.num_hidden_layers} layers ({", ".join(a.layer_types)}),
  {a.num_attention_heads} query heads / {a.num_key_value_heads} KV heads of dim {a.head_dim},
  QK RMSNorm, post-attention and post-feedforward RMSNorm, RoPE (llama3 scaling, theta
  {a.rope_theta:g}, factor 16, original 8192) on sliding layers only, untied `lm_head`.
  Sliding window {a.sliding_window} (the real model: 4096), so short prompts cross it.
- Weights: {variant}. {_VARIANT_TEXT[variant]}
- Quantization, where present, is round-to-nearest (RTN) into the GPTQ layout, not a
  Hessian-based GPTQ pass: the layout is real, the rounding is the simplest one.
- Tokenizer: byte-level BPE, {n_tokens} tokens (embedding rows: {vocab_size}), trained
  with `tokenizers` on a small bundled Korean/English/Spanish corpus
  (`evalkit/tinymodel/corpus/`). Special tokens: `[PAD]`=0, `[BOS]`=1, `[|endofturn|]`=2
  (EOS), `[UNK]`=3, then the role tags, `<think>`/`</think>` and the tool tags as single
  tokens. The chat template is the EXAONE 4.0 template, verbatim.

## How it was built

`evalkit.tinymodel.build_tiny_model(out_dir, "{variant}")`: weights from per-tensor
`torch.Generator`s seeded from seed {seed} and the tensor name (independent of the global
RNG); tokenizer training is deterministic. Building twice gives byte-identical files with
the same versions of torch and tokenizers.
"""
