"""HELMET's datasets as its 128K configs name them (configs/recall.yaml, rag.yaml, rerank.yaml @4526dfb):
category, release file (relative to the unpacked `data/` folder), demo file, output length,
and the prompt of data.py. Which categories evalkit scores, and why the others are not, is
in CATEGORIES."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HelmetDataset:
    name: str
    category: str
    test_file: str
    demo_file: str | None
    max_new_tokens: int  # the config's generation_max_length
    user_template: str  # data.py's user_template ({placeholders} filled with str.format)
    metric: str  # "ruler_recall", "substring_exact_match" or "ndcg@10"


_NIAH = (
    "A special magic {type_needle_v} is hidden within the following text. Make sure to memorize it. "
    "I will quiz you about the {type_needle_v} afterwards.\n{context}\n"
    "What is the special magic {type_needle_v} for {query} mentioned in the provided text?"
)
_NIAH_MV = (
    "Some special magic {type_needle_v} are hidden within the following text. Make sure to memorize it. "
    "I will quiz you about the {type_needle_v} afterwards.\n{context}\n"
    "What are all the special magic {type_needle_v} for {query} mentioned in the provided text?"
)
_JSON_KV = (
    "{context}\n\nExtract the value corresponding to the specified key in the JSON object below.\n\n"
    "{demos}Key: {question}"
)
_RAG = (
    "Use the given documents to write a concise and short answer to the question. Write your answer "
    "in the following format:\nAnswer: [answer]\n\n{demos}{context}\n\nQuestion: {question}"
)
_RERANK = (
    "You are provided with a list of documents, each indicated by their ID. Rank each document based on "
    "their relevance to the question in descending order from most relelvant to least relevant texts. "
    "Include all documents in the rankings. Write your answer using the unique IDs, with the following "
    "format:\nRanking: ID3 > ID1 > ID2\n\n{demos}{context}\n\nQuery: {question}"
)  # "relelvant" is upstream's spelling, kept

DATASETS: dict[str, HelmetDataset] = {
    d.name: d
    for d in [
        HelmetDataset(
            "ruler_niah_mk_2",
            "Recall",
            "ruler/niah_multikey_2/validation_131072.jsonl",
            None,
            50,
            _NIAH,
            "ruler_recall",
        ),
        HelmetDataset(
            "ruler_niah_mk_3",
            "Recall",
            "ruler/niah_multikey_3/validation_131072.jsonl",
            None,
            100,
            _NIAH,
            "ruler_recall",
        ),
        HelmetDataset(
            "ruler_niah_mv",
            "Recall",
            "ruler/niah_multivalue/validation_131072.jsonl",
            None,
            50,
            _NIAH_MV,
            "ruler_recall",
        ),
        HelmetDataset(
            "json_kv", "Recall", "json_kv/test_k1800_dep6.jsonl", None, 100, _JSON_KV, "substring_exact_match"
        ),
        HelmetDataset(
            "kilt_nq",
            "RAG",
            "kilt/nq-dev-multikilt_1000_k1000_dep6.jsonl",
            "kilt/nq-train-multikilt_1000_k3_dep6.jsonl",
            20,
            _RAG,
            "substring_exact_match",
        ),
        HelmetDataset(
            "kilt_triviaqa",
            "RAG",
            "kilt/triviaqa-dev-multikilt_1000_k1000_dep6.jsonl",
            "kilt/triviaqa-train-multikilt_1000_k3_dep6.jsonl",
            20,
            _RAG,
            "substring_exact_match",
        ),
        HelmetDataset(
            "kilt_hotpotqa",
            "RAG",
            "kilt/hotpotqa-dev-multikilt_1000_k1000_dep3.jsonl",
            "kilt/hotpotqa-train-multikilt_1000_k3_dep3.jsonl",
            20,
            _RAG,
            "substring_exact_match",
        ),
        HelmetDataset(
            "kilt_popqa_3",
            "RAG",
            "kilt/popqa_test_1000_k1000_dep6.jsonl",
            "kilt/popqa_test_1000_k3_dep6.jsonl",
            20,
            _RAG,
            "substring_exact_match",
        ),
        HelmetDataset(
            "msmarco_rerank_psg",
            "Re-rank",
            "msmarco/test_reranking_data_k1000_dep3.jsonl",
            "msmarco/test_reranking_data_k10_dep3.jsonl",
            200,
            _RERANK,
            "ndcg@10",
        ),
    ]
}

# HELMET's categories (scripts/collect_results.py). Those evalkit does not score yet say why;
# the report lists them, and the overall mean is over the scored ones only.
CATEGORIES: dict[str, str | None] = {
    "Recall": None,
    "RAG": None,
    "Re-rank": None,
    "ICL": "not built yet in evalkit (its five datasets are loaded from other HF datasets at run time)",
    "LongQA": "not built yet in evalkit (narrativeqa needs the LLM judge; infbench loads HF data)",
    "Summ": "not built yet in evalkit (LLM-judged F1 over key points)",
    "Cite": "left out: ALCE needs an NLI model, and EXAONE's figure excludes it (report App. D.1)",
}
