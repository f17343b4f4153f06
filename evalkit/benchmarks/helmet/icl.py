"""HELMET's ICL category (data.py `load_icl` @4526dfb, the `*_balance` datasets of configs/icl.yaml):
many-shot classification with the labels mapped to shuffled integers.

For each dataset: the test set (500 label-balanced rows drawn with seed 42 where it is larger,
since the 2025-02-25 changelog), and per test row its own demonstrations: `N` training rows
(N from the name, e.g. 6600 for `icl_trec_coarse_6600shot_balance`) balanced over the labels
and a random label -> integer mapping, both drawn from a seed derived from the row's text. All
of it is deterministic and follows upstream's draws exactly (Python's `random.Random`, and
numpy's default_rng for `datasets`' shuffle and train_test_split), so the rows match HELMET's
given the same source data in the same order.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evalkit.benchmarks.helmet import hub
from evalkit.benchmarks.helmet.release import shuffle_order

SEED = 42
ITEM = "{text}\nlabel: {label}"


@dataclass(frozen=True)
class IclSource:
    repo: str  # HF dataset repository (HELMET's load_dataset name, or where it now lives)
    config: str
    train: str
    test: str | None  # None: HELMET splits the train split 90/10 itself (NLU)
    label: str
    num_labels: int


SOURCES: dict[str, IclSource] = {
    "trec_coarse": IclSource("CogComp/trec", "default", "train", "test", "coarse_label", 6),
    "trec_fine": IclSource("CogComp/trec", "default", "train", "test", "fine_label", 50),
    "banking77": IclSource("PolyAI/banking77", "default", "train", "test", "label", 77),
    # HELMET loads "clinc_oos" ("plus"); the hub now keeps it as clinc/clinc_oos
    "clinic150": IclSource("clinc/clinc_oos", "plus", "train", "validation", "intent", 151),
    "nlu": IclSource("xingkunliuxtracta/nlu_evaluation_data", "default", "train", None, "label", 68),
}


def source_of(name: str) -> IclSource:
    return next(src for key, src in SOURCES.items() if key in name)


def shots_of(name: str) -> int:
    """The number of demonstrations in the dataset's name (`..._6600shot_balance` -> 6600)."""
    return int(name.split("shot")[0].split("_")[-1])


def balance_labels(rows: list[dict[str, Any]], label: str, shots: int, seed: int) -> list[dict[str, Any]]:
    """load_icl's balance_labels: `ceil(shots / labels)` rounds, each holding one row of every
    label (rows drawn per label without replacement, topped up when a label has fewer rows than
    rounds), each round shuffled, then the first `shots` rows. `num_rounds % len(rows)` is
    upstream's expression, kept: it decides how many rows are drawn in the first pass."""
    rand = random.Random(seed)
    by_label: dict[Any, list[dict[str, object]]] = {}
    for x in rows:
        by_label.setdefault(x[label], []).append(x)
    rounds = math.ceil(shots / len(by_label))
    out: list[list[dict[str, object]]] = [[] for _ in range(rounds)]
    for samples in by_label.values():
        idx = rand.sample(range(len(samples)), rounds % len(samples))
        while len(idx) < rounds:
            idx += rand.sample(range(len(samples)), min(rounds - len(idx), len(samples)))
        for i, j in enumerate(idx):
            out[i].append(samples[j])
    for group in out:
        rand.shuffle(group)
    return [x for group in out for x in group][:shots]


def train_test_split(n: int, test_size: float, seed: int) -> tuple[list[int], list[int]]:
    """`Dataset.train_test_split(test_size, seed)`'s (train, test) row indices."""
    n_test = math.ceil(test_size * n)
    perm = [int(i) for i in np.random.default_rng(seed).permutation(n)]
    return perm[n_test:], perm[:n_test]


def row_seed(text: str, seed: int = SEED) -> int:
    """The per-row seed of load_icl's preprocess: sha256 of the text plus the run seed, mod 2**31."""
    return (int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16) + seed) % 2**31


def splits(name: str, hf_root: Path | None) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """(train, test) rows in HELMET's order."""
    src = source_of(name)
    cols = ["text", src.label]
    train = hub.parquet_split(hf_root, src.repo, src.config, src.train, cols)
    if src.test is None:
        tr, te = train_test_split(len(train), 0.1, SEED)
        return [train[i] for i in tr], [train[i] for i in te]
    return train, hub.parquet_split(hf_root, src.repo, src.config, src.test, cols)


def test_rows(test: list[dict[str, object]], label: str, max_samples: int | None) -> list[dict[str, object]]:
    """load_icl's test set: if larger than `max_samples`, shuffled (seed 42) and label-balanced."""
    if max_samples is None or len(test) <= max_samples:
        return test
    shuffled = [test[i] for i in shuffle_order(len(test), SEED)]
    return balance_labels(shuffled, label, max_samples, SEED)


def build_row(name: str, row: dict[str, Any], train: list[dict[str, Any]]) -> dict[str, object]:
    """load_icl's preprocess: the row's demonstrations as the context, its text as the question,
    and its label's integer as the answer."""
    src = source_of(name)
    seed = row_seed(row["text"])
    demos = balance_labels(train, src.label, shots_of(name), seed)
    mapping = list(range(src.num_labels))
    random.Random(seed).shuffle(mapping)
    context = "\n\n".join(ITEM.format(text=d["text"], label=str(mapping[int(d[src.label])])) for d in demos)
    return {"context": context, "question": row["text"], "answers": [str(mapping[int(row[src.label])])]}


def read_icl(name: str, hf_root: Path | None, max_samples: int | None) -> list[dict[str, object]]:
    """The records of one ICL dataset, `helmet_index` being the row's place in the test set."""
    src = source_of(name)
    train, test = splits(name, hf_root)
    rows = test_rows(test, src.label, max_samples)
    return [{**build_row(name, r, train), "dataset": name, "helmet_index": i} for i, r in enumerate(rows)]
