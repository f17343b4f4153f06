"""The tiny model's tokenizer: a byte-level BPE trained on the bundled corpus, EXAONE special tokens.

Byte-level pre-tokenization and decoding mean any text round-trips (Korean included) and
there is never an unknown token. The EXAONE control tokens get fixed low ids and are
single tokens; only PAD, BOS, EOS and UNK are "special" (removed by
``skip_special_tokens=True``), so role tags, ``<think>``/``</think>`` and the tool tags stay
visible in decoded model output, where the harness parses them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

from evalkit.tinymodel.corpus import chat_template_text, corpus_lines

PAD, BOS, EOS, UNK = "[PAD]", "[BOS]", "[|endofturn|]", "[UNK]"
# Removed by decode(skip_special_tokens=True).
CONTROL_TOKENS = (PAD, BOS, EOS, UNK)
# Single ids, but ordinary text when decoding.
MARKUP_TOKENS = (
    "[|system|]",
    "[|user|]",
    "[|assistant|]",
    "[|tool|]",
    "<think>",
    "</think>",
    "<tool_call>",
    "</tool_call>",
    "<tool_result>",
    "</tool_result>",
    "<tool>",
    "</tool>",
)
# Order = id: [PAD]=0, [BOS]=1, [|endofturn|]=2, ... as in EXAONE (pad 0, bos 1).
ADDED_TOKENS = CONTROL_TOKENS + MARKUP_TOKENS

# 63 * 64: the trainer reaches it on the bundled corpus, so the model vocab needs no padding rows.
VOCAB_TARGET = 4032
MODEL_MAX_LENGTH = 131072


@dataclass(frozen=True)
class SpecialIds:
    """Ids of the tokens that config.json and generation_config.json name."""

    pad: int
    bos: int
    eos: int
    unk: int


def _byte_level_bpe(bpe: models.BPE) -> Tokenizer:
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    return tok


def train_tokenizer() -> Tokenizer:
    """Train the byte-level BPE on the bundled corpus (deterministic, well under a second).

    Training takes all added tokens as trainer "special tokens" so they get ids 0..15;
    the trained vocab and merges are then rebuilt into a fresh tokenizer, where the control
    tokens are registered as special and the markup tokens as plain added tokens (the
    trainer would have marked them all special).
    """
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_TARGET,
        min_frequency=2,
        special_tokens=list(ADDED_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    trained = _byte_level_bpe(models.BPE(unk_token=None, byte_fallback=False))
    trained.train_from_iterator(corpus_lines(), trainer=trainer)

    model_json = json.loads(trained.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model_json["merges"]]
    tok = _byte_level_bpe(models.BPE(vocab=model_json["vocab"], merges=merges, unk_token=None))
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in CONTROL_TOKENS])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in MARKUP_TOKENS])
    for expected_id, token in enumerate(ADDED_TOKENS):
        got = tok.token_to_id(token)
        if got != expected_id:
            raise RuntimeError(f"tokenizer build: {token!r} got id {got}, expected {expected_id}")
    return tok


def special_ids(tok: Tokenizer) -> SpecialIds:
    """The ids of PAD, BOS, EOS ([|endofturn|]) and UNK in ``tok``."""

    def must(token: str) -> int:
        i = tok.token_to_id(token)
        if i is None:
            raise KeyError(token)
        return i

    return SpecialIds(pad=must(PAD), bos=must(BOS), eos=must(EOS), unk=must(UNK))


def _json(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def tokenizer_config(tok: Tokenizer) -> dict[str, object]:
    """tokenizer_config.json as transformers writes it, carrying the EXAONE chat template."""
    added = {
        str(tok.token_to_id(t)): {
            "content": t,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": t in CONTROL_TOKENS,
        }
        for t in ADDED_TOKENS
    }
    return {
        "added_tokens_decoder": added,
        # The template adds no BOS and neither does the tokenizer (no post-processor), as in EXAONE.
        "add_bos_token": False,
        "add_eos_token": False,
        "bos_token": BOS,
        "chat_template": chat_template_text(),
        "clean_up_tokenization_spaces": False,
        "eos_token": EOS,
        "model_max_length": MODEL_MAX_LENGTH,
        "pad_token": PAD,
        "tokenizer_class": "PreTrainedTokenizerFast",
        "unk_token": UNK,
    }


def write_tokenizer_files(tok: Tokenizer, out_dir: Path) -> SpecialIds:
    """Write tokenizer.json, tokenizer_config.json, special_tokens_map.json, chat_template.jinja."""
    (out_dir / "tokenizer.json").write_text(tok.to_str(pretty=True) + "\n", encoding="utf-8")
    (out_dir / "tokenizer_config.json").write_text(_json(tokenizer_config(tok)), encoding="utf-8")
    special_map = {"bos_token": BOS, "eos_token": EOS, "pad_token": PAD, "unk_token": UNK}
    (out_dir / "special_tokens_map.json").write_text(_json(special_map), encoding="utf-8")
    (out_dir / "chat_template.jinja").write_bytes(chat_template_text().encode("utf-8"))
    return special_ids(tok)
