"""Builds a small HELMET data folder laid out as the real one: the release's files under `data/`
(InfiniteBench En.Sum key points, the Multi-LexSum validation file) and, under `hf/`, copies of
the HF datasets HELMET loads at run time in their hub layout (the parquet branch's
`<config>/<split>/0000.parquet`, InfiniteBench's `longbook_*.jsonl`), with the real column
names and types, plus a character-level stand-in for the Llama-2 tokenizer (one token per
character, BOS first) so that HELMET's token thresholds are reached with texts of known size.

Rows are synthetic and tiny, except the long documents, generated here (never stored).
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

TREC = [  # (text, coarse_label, fine_label)
    ("How far is it from Denver to Aspen ?", 5, 40),
    ("What county is Modesto , California in ?", 4, 32),
    ("Who was Galileo ?", 3, 29),
    ("What is an atom ?", 2, 25),
    ("When did Hawaii become a state ?", 5, 39),
    ("How tall is the Sears Building ?", 5, 45),
    ("George Bush purchased a small interest in which baseball team ?", 3, 28),
    ("What is Australia 's national flower ?", 1, 19),
    ("Why does the moon turn orange ?", 2, 26),
    ("What is autism ?", 2, 25),
    ("What does CPR stand for ?", 0, 1),
    ("What is the abbreviation for Texas ?", 0, 0),
]
BANKING = [(f"question about my card number {i}", i % 4) for i in range(12)]
CLINC = [(f"please do intent {i} for me", i % 5) for i in range(14)]
NLU = [(f"olly command number {i}", i % 3, f"scenario{i % 2}") for i in range(20)]


def _parquet(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def long_text(seed: int, n_chars: int) -> str:
    """Deterministic prose of exactly `n_chars` characters."""
    words = ["harbor", "ledger", "stone", "ship", "winter", "island", "school", "light", "crew", "north"]
    out, i, size = [], seed, 0
    while size <= n_chars:
        out.append(words[i % len(words)])
        size += len(out[-1]) + 1
        i = (i * 7 + 3) % 101
    return " ".join(out)[:n_chars]


def icl_sources(hf: Path) -> None:
    trec = {
        "text": [t for t, _, _ in TREC],
        "coarse_label": [c for _, c, _ in TREC],
        "fine_label": [f for *_, f in TREC],
    }
    for split in ("train", "test"):
        _parquet(hf / "CogComp/trec/default" / split / "0000.parquet", pa.table(trec))
    bank = {"text": [t for t, _ in BANKING], "label": [label for _, label in BANKING]}
    for split in ("train", "test"):
        _parquet(hf / "PolyAI/banking77/default" / split / "0000.parquet", pa.table(bank))
    clinc = {"text": [t for t, _ in CLINC], "intent": [label for _, label in CLINC]}
    for split in ("train", "validation"):
        _parquet(hf / "clinc/clinc_oos/plus" / split / "0000.parquet", pa.table(clinc))
    nlu = {
        "text": [t for t, _, _ in NLU],
        "scenario": [s for *_, s in NLU],
        "label": [label for _, label, _ in NLU],
    }
    _parquet(hf / "xingkunliuxtracta/nlu_evaluation_data/default/train/0000.parquet", pa.table(nlu))


def narrativeqa(hf: Path) -> None:
    """deepmind/narrativeqa's columns: `document` (struct with id, kind, text, summary, ...),
    `question` and each of `answers` as {text, tokens}. Two test stories: one of 140,000
    characters (kept: more than 131,072 tokens), one of 1,000 (dropped)."""

    def row(doc_id: str, text: str, q: str, answers: list[str]) -> dict:
        return {
            "document": {
                "id": doc_id,
                "kind": "gutenberg",
                "url": "",
                "file_size": len(text),
                "word_count": len(text.split()),
                "start": "",
                "end": "",
                "summary": {"text": "", "tokens": [], "url": "", "title": doc_id},
                "text": text,
            },
            "question": {"text": q, "tokens": q.split()},
            "answers": [{"text": a, "tokens": a.split()} for a in answers],
        }

    long_doc, short_doc = long_text(1, 140_000), long_text(2, 1_000)
    test = [
        row("long", long_doc, "Where did the crew stay?", ["on the island", "the north island"]),
        row("short", short_doc, "Who keeps the ledger?", ["Mara"]),
        row("long", long_doc, "What did they build?", ["a school"]),
    ]
    train = [row("t", "x", f"train question {i}?", [f"train answer {i}"]) for i in range(5)]
    for split, rows in (("test", test), ("train", train)):
        _parquet(hf / "deepmind/narrativeqa/default" / split / "0000.parquet", pa.Table.from_pylist(rows))


def infinitebench(hf: Path, data: Path) -> None:
    """xinrongzhang2022/infinitebench's `longbook_{qa,choice,sum}_eng.jsonl` (id, context, input,
    answer, options), and the release's En.Sum key points. Row 0 of each file is long enough to
    be cut (140,000 characters), row 1 is kept whole (70,000), row 2 is too short (dropped)."""
    sizes = [140_000, 70_000, 1_000]
    root = hf / "xinrongzhang2022/infinitebench"
    qa = [
        {
            "id": i,
            "context": long_text(10 + i, n),
            "input": f"qa question {i}?",
            "answer": [f"qa answer {i}"],
            "options": [],
        }
        for i, n in enumerate(sizes)
    ]
    opts = [["the Alba", "the Beta", "the Gamma", "the Delta"]] * 3
    choice = [
        {
            "id": i,
            "context": long_text(20 + i, n),
            "input": f"mc question {i}?",
            "answer": [opts[i][i + 1]],
            "options": opts[i],
        }
        for i, n in enumerate(sizes)
    ]
    summ = [
        {
            "id": i,
            "context": long_text(30 + i, n),
            "input": "",
            "answer": [f" book summary {i}. "],
            "options": [],
        }
        for i, n in enumerate(sizes)
    ]
    _jsonl(root / "longbook_qa_eng.jsonl", qa)
    _jsonl(root / "longbook_choice_eng.jsonl", choice)
    _jsonl(root / "longbook_sum_eng.jsonl", summ)
    _jsonl(
        data / "infbench/longbook_sum_eng_keypoints.jsonl",
        [{"id": i, "keypoints": [f"kp {i}.1", f"kp {i}.2", f"kp {i}.3"]} for i in range(3)],
    )


def multi_lexsum(data: Path) -> None:
    """The release's multi_lexsum_val.jsonl: id, sources, summary/{long,short,tiny} and the key points."""
    rows = []
    for i, n in enumerate([140_000, 70_000, 500, 70_000]):
        rows.append(
            {
                "id": f"case-{i}",
                "sources": [long_text(40 + i, n // 2), long_text(50 + i, n - n // 2 - 2)],
                "summary/long": f"long summary {i}",
                "summary/short": None if i == 3 else f"short summary {i}",
                "summary/tiny": None,
                "summary/short_keypoints": [f"case {i} point a", f"case {i} point b"],
                "summary/long_keypoints": [],
            }
        )
    _jsonl(data / "multi_lexsum/multi_lexsum_val.jsonl", rows)


def char_tokenizer(path: Path) -> None:
    """One token per character, `<s>` first (Llama-2 adds BOS), saved as a fast HF tokenizer."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    chars = sorted({chr(c) for c in range(32, 127)} | {"\n"})
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, **{c: i + 3 for i, c in enumerate(chars)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    fast.save_pretrained(str(path))


def build(root: Path) -> Path:
    """The folder to pass as DATA= (holding `data/` and `hf/`)."""
    data, hf = root / "data", root / "hf"
    icl_sources(hf)
    narrativeqa(hf)
    infinitebench(hf, data)
    multi_lexsum(data)
    char_tokenizer(hf / "meta-llama/Llama-2-7b-hf")
    return root
