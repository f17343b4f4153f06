"""Reading HELMET's release (HF `princeton-nlp/HELMET` data.tar.gz, unpacked): one JSONL per
dataset under `data/`. Each returned record is the release row as it is, tagged with
`dataset` and `helmet_index` (its 0-based line in the file), and with `helmet_demos`: the in-context
demonstrations rendered as HELMET's data.py renders them (2 shots, the config's `shots`).

The 100-row subsets HELMET evaluates (`max_test_samples: 100`, seed 42) are drawn as data.py
draws them: `Dataset.shuffle(seed=42)` then the first 100 for RULER and json_kv (the same
permutation as numpy's default_rng(42)), and `random.sample(sorted(keys), 100)` for KILT and
MS MARCO, which upstream draws from Python's global generator; evalkit seeds its own with 42,
so those subsets may differ from upstream's.

ICL, LongQA and Summ rows are built from HF datasets (icl.py, books.py), read from local copies
under `<DATA>/hf/` when present, else from the hub.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from evalkit.benchmarks.helmet.datasets import DATASETS, HelmetDataset
from evalkit.errors import DataError, UsageError
from evalkit.specs import TaskSpec

SHOTS = 2
SEED = 42
PASSAGE = "Document (Title: {title}): {text}"
RAG_DEMO = "{documents}\n\nQuestion: {question}\nAnswer: {answer}"
KV_DEMO = "Key: {key}\nCorresponding value:{value}"


_FOLDERS = ("ruler", "kilt", "json_kv", "msmarco", "multi_lexsum", "infbench")


def data_root(path: Path) -> Path:
    """The folder holding `ruler/`, `kilt/`, ...: `path` itself or its `data/` child."""
    for root in (path, path / "data"):
        if any((root / d).is_dir() for d in _FOLDERS):
            return root
    raise UsageError(
        f"{path}: not an unpacked HELMET release (no ruler/, kilt/ or json_kv/ folder in it or in "
        "its data/); download data.tar.gz from HF princeton-nlp/HELMET and unpack it (docs/long-context.md)"
    )


def _lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(0-based line, row) of each non-empty line; one row in memory at a time."""
    with path.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if line.strip():
                try:
                    yield i, json.loads(line)
                except json.JSONDecodeError as e:
                    raise DataError(str(path), i + 1, "(line)", f"not valid JSON: {e.msg}") from e


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [row for _, row in _lines(path)]


# The fields the subset draw needs; the test files are large (128K-token rows), so they are
# read twice, keeping only these fields the first time and only the chosen rows the second.
_KEYS = ("id", "question", "qid", "query", "s_pop")


def shuffle_order(n: int, seed: int) -> list[int]:
    """`datasets.Dataset.shuffle(seed=seed)`'s order: numpy default_rng(seed).permutation(n)."""
    return [int(i) for i in np.random.default_rng(seed).permutation(n)]


def passages(ctxs: list[dict[str, object]]) -> str:
    return "\n\n".join(PASSAGE.format(**c) for c in ctxs)


def rag_demos(row: dict[str, object], demos: list[dict[str, object]], key: str, popqa: bool) -> str:
    """load_qa's `update`: demos shuffled with a seed from the question's hash, first 2 distinct."""
    pool = [d for d in demos if d[key] != row[key]] if popqa else demos
    h = int(hashlib.sha256(str(row[key]).encode("utf-8")).hexdigest(), 16) % 2**31
    chosen: list[dict[str, Any]] = []
    seen: set[Any] = set()
    for i in shuffle_order(len(pool), h):
        if pool[i][key] in seen:
            continue
        seen.add(pool[i][key])
        chosen.append(pool[i])
        if len(chosen) == SHOTS:
            break
    text = "\n\n".join(
        RAG_DEMO.format(documents=passages(d["ctxs"]), question=d["question"], answer=d["answers"][0])
        for d in chosen
    )
    return text + "\n\n" if chosen else ""


def rerank_passages(ctxs: list[dict[str, object]]) -> str:
    """load_msmarco_rerank's passage list: `[ID: id] Document (Title: t): text`, no title if absent."""
    tpl = (
        "[ID: {id}] Document (Title: {title}): {text}"
        if "title" in ctxs[0]
        else "[ID: {id}] Document: {text}"
    )
    return "\n\n".join(tpl.format(**c) for c in ctxs)


def gold_ranking(ctxs: list[dict[str, Any]]) -> str:
    return " > ".join(c["id"] for c in sorted(ctxs, key=lambda c: c["label"], reverse=True))


def rerank_demos(row: dict[str, Any], demos: list[dict[str, Any]], prefiltered: bool) -> str:
    """load_msmarco_rerank's `update`: demos of other queries, shuffled with a seed from the
    qid's hash, first 2 distinct qids, each its passages then `Query: ...\nRanking: ...`."""
    pool = demos if prefiltered else [d for d in demos if d["qid"] != row["qid"]]
    h = abs(int(hashlib.sha256(row["qid"].encode("utf-8")).hexdigest(), 16) % 2**31)
    text, seen = "", set()
    for i in shuffle_order(len(pool), h):
        d = pool[i]
        if d["qid"] in seen:
            continue
        seen.add(d["qid"])
        text += (
            rerank_passages(d["ctxs"]) + f"\n\nQuery: {d['query']}\nRanking: {gold_ranking(d['ctxs'])}\n\n"
        )
        if len(seen) == SHOTS:
            break
    return text


def kv_demos(row: dict[str, Any]) -> str:
    pairs = row.get("demos") or []
    text = "\n\n".join(KV_DEMO.format(key=k, value=" " + v) for k, v in pairs[:SHOTS])
    return text + ("\n\n" if SHOTS > 0 else "")


def _select(ds: HelmetDataset, rows: list[dict[str, Any]], limit: int | None) -> list[int]:
    if limit is None or limit >= len(rows):
        return list(range(len(rows)))
    if ds.category in ("RAG", "Re-rank"):
        key = "id" if "id" in rows[0] else "question"
        if ds.category == "Re-rank":
            key = "qid" if "qid" in rows[0] else "query"
        keys = set(random.Random(SEED).sample(sorted({r[key] for r in rows}), limit))
        return [i for i, r in enumerate(rows) if r[key] in keys]
    return shuffle_order(len(rows), SEED)[:limit]


def max_samples(spec: TaskSpec, category: str) -> int | None:
    """The spec's `max_test_samples`: one number, or per category with a `default`."""
    limit = spec.extra.get("max_test_samples")
    if isinstance(limit, dict):
        limit = limit.get(category, limit.get("default"))
    return int(limit) if limit else None


def hf_root(path: Path, root: Path) -> Path | None:
    """Where local copies of HF datasets are: `hf/` beside the release's `data/`."""
    for cand in (path / "hf", root.parent / "hf"):
        if cand.is_dir():
            return cand
    return None


def _hf_records(spec: TaskSpec, name: str, root: Path, hf: Path | None, tok: Any) -> list[dict[str, object]]:
    from evalkit.benchmarks.helmet import books, icl

    ds = DATASETS[name]
    limit = max_samples(spec, ds.category)
    if ds.category == "ICL":
        return icl.read_icl(name, hf, limit)
    assert ds.pre_cut is not None
    if name.startswith("narrativeqa"):
        return books.read_narrativeqa(name, ds.pre_cut, hf, tok(), limit)
    if name.startswith("infbench"):
        return books.read_infbench(name, ds.pre_cut, root, hf, tok(), limit)
    return books.read_multi_lexsum(name, ds.pre_cut, root, tok(), limit)


def read_release(spec: TaskSpec, path: Path) -> list[dict[str, object]]:
    """The records of the spec's `extra.datasets` from an unpacked HELMET release (and, for ICL,
    LongQA and Summ, the HF datasets HELMET loads at run time)."""
    from functools import cache

    from evalkit.benchmarks.helmet import hub

    root = data_root(path)
    hf = hf_root(path, root)
    pre_cut_tokenizer = str(spec.extra.get("pre_cut_tokenizer", "meta-llama/Llama-2-7b-hf"))
    tok = cache(lambda: hub.tokenizer(hf, pre_cut_tokenizer))
    records: list[dict[str, object]] = []
    for name in spec.extra.get("datasets", list(DATASETS)):
        ds = DATASETS[name]
        if ds.hub is not None or ds.pre_cut is not None:
            records += _hf_records(spec, name, root, hf, tok)
            continue
        limit = max_samples(spec, ds.category)
        file = root / ds.test_file
        if not file.exists():
            raise UsageError(f"{file}: missing from the HELMET release at {root} (needed for {name})")
        line_of, rows = [], []
        for i, full in _lines(file):
            line_of.append(i)
            rows.append({k: full[k] for k in _KEYS if k in full})
        demos = _read_jsonl(root / ds.demo_file) if ds.demo_file else []
        if name.startswith("kilt_popqa_"):  # load_qa's popularity filter: log10(s_pop) < threshold
            threshold = float(name.rsplit("_", 1)[1])
            line_of = [i for i, r in enumerate(rows) if math.log10(r["s_pop"]) < threshold]
            rows = [rows[i] for i in line_of]
            demos = [r for r in demos if math.log10(r["s_pop"]) < threshold]
        chosen = _select(ds, rows, limit)
        prefiltered = ds.category == "Re-rank" and len(demos) > 2 * len(chosen)
        if prefiltered:  # upstream drops the test qids from the demos once, when there are many
            qids = {rows[i]["qid"] for i in chosen}
            demos = [d for d in demos if d["qid"] not in qids]
        wanted = {line_of[i] for i in chosen}
        full_rows = {i: row for i, row in _lines(file) if i in wanted}
        for i in chosen:
            row = full_rows[line_of[i]]
            if ds.category == "RAG":
                key = "id" if "id" in row else "question"
                row["helmet_demos"] = rag_demos(row, demos, key, popqa="popqa" in name)
            elif ds.category == "Re-rank":
                row["helmet_demos"] = rerank_demos(row, demos, prefiltered=prefiltered)
            elif name == "json_kv":
                row["helmet_demos"] = kv_demos(row)
            records.append({**row, "dataset": name, "helmet_index": line_of[i]})
    return records
