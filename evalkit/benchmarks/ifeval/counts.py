"""Word and sentence counts per dialect (Multi-IF switches on the detected language)."""

from __future__ import annotations

import re

from evalkit.benchmarks.ifeval import text
from evalkit.benchmarks.ifeval.dialect import Dialect

_CJ_LANGS = ("zh", "zh-cn", "zh-tw", "ja")
_CJK_CHARS = re.compile(r"[\u4E00-\u9FFF\u3400-\u4DBF]|[\u3040-\u309f\u30a0-\u30ff]|[\uAC00-\uD7AF]")
# Punctuation Multi-IF deletes before counting Chinese/Japanese words.
_CJ_PUNCT = re.compile(
    r"[\\.\!\?\．\/_,\{\}<>:;$%^&*(+\"\'+——！，。？、`~@#￥……（）：；《）《》“”()\[\]»〔〕\-「」]+"
)
_CJ_SENTENCE = re.compile(r"[^!?。\.\!\?\！\？\．\n]+[!?。\.\!\?\！\？\．\n]?", flags=re.U)
_HI_SENTENCE_END = re.compile(r"(?<=[।!?])\s*")


def _language(value: str) -> str:
    try:
        return text.detect_language(value)
    except text.LanguageUndetectable:
        return "en"  # Multi-IF's fallback


def count_words(value: str, dialect: Dialect) -> int:
    if dialect is Dialect.MULTI_IF and _language(value) in _CJ_LANGS:
        stripped = _CJ_PUNCT.sub("", value)
        n_cjk = len(_CJK_CHARS.findall(stripped))
        return len(_CJK_CHARS.sub(" ", stripped).split()) + n_cjk
    return text.count_words(value)


def count_sentences(value: str, dialect: Dialect) -> int:
    if dialect is Dialect.MULTI_IF:
        lang = _language(value)
        if lang == "hi":
            return len([s for s in _HI_SENTENCE_END.split(value) if s.strip()])
        if lang in _CJ_LANGS:
            return sum(len(_CJ_SENTENCE.findall(line.strip())) for line in value.splitlines())
    return text.count_sentences(value)
