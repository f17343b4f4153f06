"""RULER's source corpora: Paul Graham essays (haystack), SQuAD v2 dev and HotpotQA dev (QA),
and the wonderwords word lists (needle keys, common words).

The corpus folder holds PaulGrahamEssays.json, squad.json[.gz] and hotpotqa.json[.gz] as
RULER ships them (../shared/data/ruler by default; EVALKIT_RULER_CORPUS or the spec's
`extra.corpus_dir` point elsewhere).
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from evalkit.errors import DataError, UsageError


def _read_json(folder: Path, stem: str) -> Any:
    for name in (f"{stem}.json", f"{stem}.json.gz"):
        path = folder / name
        if path.is_file():
            opener = gzip.open if name.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8") as f:
                try:
                    return json.load(f)
                except json.JSONDecodeError as e:
                    raise DataError(path, None, None, f"not valid JSON ({e.msg})") from e
    raise UsageError(f"RULER corpus file {stem}.json(.gz) not found in {folder}")


@lru_cache(maxsize=2)
def essay_words(folder: Path) -> list[str]:
    """The essays as RULER splits them: whitespace runs collapsed, split on single spaces."""
    data = _read_json(folder, "PaulGrahamEssays")
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        raise DataError(folder / "PaulGrahamEssays.json", None, "text", "expected {'text': str}")
    return re.sub(r"\s+", " ", data["text"]).split(" ")


@dataclass(frozen=True)
class QACorpus:
    qas: list[dict[str, Any]]  # query, outputs, context (doc ids), more_context (doc ids)
    docs: list[str]


@lru_cache(maxsize=2)
def qa_corpus(folder: Path, dataset: str) -> QACorpus:
    """SQuAD (answerable questions only) or HotpotQA, with RULER's document numbering."""
    if dataset == "squad":
        data = _read_json(folder, "squad")
        docs = sorted({p["context"] for d in data["data"] for p in d["paragraphs"]})
        doc_id = {c: i for i, c in enumerate(docs)}
        qas = []
        for d in data["data"]:
            more = [doc_id[p["context"]] for p in d["paragraphs"]]
            for p in d["paragraphs"]:
                for qa in p["qas"]:
                    if not qa["is_impossible"]:
                        own = doc_id[p["context"]]
                        qas.append(
                            {
                                "query": qa["question"],
                                "outputs": [a["text"] for a in qa["answers"]],
                                "context": [own],
                                "more_context": [i for i in more if i != own],
                            }
                        )
        return QACorpus(qas, docs)
    if dataset == "hotpotqa":
        data = _read_json(folder, "hotpotqa")
        docs = sorted({f"{t}\n{''.join(p)}" for d in data for t, p in d["context"]})
        doc_id = {c: i for i, c in enumerate(docs)}
        qas = [
            {
                "query": d["question"],
                "outputs": [d["answer"]],
                "context": [doc_id[f"{t}\n{''.join(p)}"] for t, p in d["context"]],
            }
            for d in data
        ]
        return QACorpus(qas, docs)
    raise UsageError(f"unknown RULER QA dataset {dataset!r} (squad or hotpotqa)")


@lru_cache(maxsize=1)
def wonderwords_lists() -> tuple[list[str], list[str], list[str]]:
    """wonderwords' noun, adjective and verb lists (MIT licence), as RULER reads them."""
    try:
        from wonderwords.random_word import _get_words_from_text_file
    except ImportError as e:
        raise UsageError("RULER needs the `wonderwords` package (pip install wonderwords)") from e
    return (
        list(_get_words_from_text_file("nounlist.txt")),
        list(_get_words_from_text_file("adjectivelist.txt")),
        list(_get_words_from_text_file("verblist.txt")),
    )


def english_words(folder: Path) -> list[str]:
    """RULER's larger word list (english_words.json, git-LFS in NVIDIA/RULER), which cwe falls back
    to once a prompt needs more distinct words than wonderwords has (long lengths only)."""
    path = folder / "english_words.json"
    if not path.is_file():
        raise UsageError(
            f"RULER cwe at this length needs more distinct words than wonderwords has: put RULER's "
            f"scripts/data/synthetic/json/english_words.json (git-LFS, `git lfs pull` in NVIDIA/RULER; "
            f"no package registry ships it) at {path}, or point EVALKIT_RULER_CORPUS at a copy of "
            f"this folder that has it (see docs/long-context.md)"
        )
    return list(json.loads(path.read_text(encoding="utf-8")).values())
