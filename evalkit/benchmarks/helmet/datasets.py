"""HELMET's datasets as its 128K configs name them (configs/{recall,rag,rerank,icl,longqa,summ}.yaml
@4526dfb): category, where the rows come from (a release file relative to the unpacked `data/`
folder, or an HF dataset that data.py loads at run time), demo file, output length, the prompt
of data.py, the metric, and for the LLM-judged datasets which judge protocol scores them.
Which categories evalkit scores, and why Cite is not, is in CATEGORIES."""

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
    # "ruler_recall", "substring_exact_match", "ndcg@10", "exact_match" (ICL), "rougeL_f1",
    # "choice_exact_match" (infbench_choice), "judge_longqa" or "judge_summ" (LLM judge)
    metric: str
    # Rows built from HF datasets (ICL, LongQA, Summ; see icl.py and books.py): the source,
    # and the Llama-2 token length data.py pre-cuts the document to (the name's suffix).
    hub: str | None = None
    pre_cut: int | None = None
    answer_prefix: str = "Answer:"  # the system_template parse_output looks for


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

# ICL (data.py load_icl): the demonstrations are the context; labels mapped to shuffled integers.
_ICL = (
    "Use the provided mapping from the text to label to assign a label to the text. Only output "
    '"label: {{label}}" and nothing else. \n\n{context}\n\n{question}'
)  # the space before "\n\n" and the {{label}} (printed as "{label}") are upstream's
# LongQA and Summ (load_narrativeqa, load_infbench, load_multi_lexsum).
_NARRATIVEQA = (
    "You are given a story, which can be either a novel or a movie script, and a question. Answer "
    "the question as concisely as you can, using a single phrase if "
    "possible.\n\n{demo}{context}\n\nQuestion: {question}"
)
_INFBENCH_QA = (
    "You are given a story and a question. Answer the question as concisely as you can, using a "
    "single phrase if possible.\n\n{demo}{context}\n\nQuestion: {question}"
)
_INFBENCH_CHOICE = (
    "You are given a story and a question with multiple choices. Choose the best answer from the "
    "options provided. Only one of the following options is correct, output the answer using one "
    "single letter (A, B, C, or D). Don't say anything else.\n\n{demo}{context}\n\nQuestion: "
    "{question}\nOptions:\n{options}"
)
_INFBENCH_SUM = (
    "You are given a book and you are tasked to summarize it. Write a summary of about 1000 to "
    "1200 words. Only write about the plot and characters of the story. Do not discuss the themes "
    "or background of the book. Do not provide any analysis or "
    "commentary.\n\n{demo}{context}\n\nNow summarize the book."
)
_MULTI_LEXSUM = (
    "You are given the legal documents in a civil rights lawsuit, and you are tasked to summarize "
    "the case. Write a concise summary of one paragraph (200 to 250 words). The summary should "
    "contain a short description of the background, the parties involved, and the outcomes of the "
    "case.\n\n{demo}Legal documents:\n{context}\n\nNow please summarize the case."
)


def _icl(name: str, hub: str) -> HelmetDataset:
    return HelmetDataset(name, "ICL", "", None, 20, _ICL, "exact_match", hub=hub, answer_prefix="label:")


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
        _icl("icl_trec_coarse_6600shot_balance", "CogComp/trec"),
        _icl("icl_trec_fine_6400shot_balance", "CogComp/trec"),
        _icl("icl_banking77_5900shot_balance", "PolyAI/banking77"),
        _icl("icl_clinic150_7050shot_balance", "clinc_oos"),
        _icl("icl_nlu_8296shot_balance", "xingkunliuxtracta/nlu_evaluation_data"),
        HelmetDataset(
            "narrativeqa_130772",
            "LongQA",
            "",
            None,
            100,
            _NARRATIVEQA,
            "judge_longqa",
            hub="deepmind/narrativeqa",
            pre_cut=130772,
        ),
        HelmetDataset(
            "infbench_qa_eng_130862",
            "LongQA",
            "",
            None,
            10,
            _INFBENCH_QA,
            "rougeL_f1",
            hub="xinrongzhang2022/infinitebench",
            pre_cut=130862,
        ),
        HelmetDataset(
            "infbench_choice_eng_130862",
            "LongQA",
            "",
            None,
            10,
            _INFBENCH_CHOICE,
            "choice_exact_match",
            hub="xinrongzhang2022/infinitebench",
            pre_cut=130862,
        ),
        HelmetDataset(
            "infbench_sum_eng_129672",
            "Summ",
            "infbench/longbook_sum_eng_keypoints.jsonl",
            None,
            1200,
            _INFBENCH_SUM,
            "judge_summ",
            hub="xinrongzhang2022/infinitebench",
            pre_cut=129672,
            answer_prefix="Summary:",
        ),
        HelmetDataset(
            "multi_lexsum_130372",
            "Summ",
            "multi_lexsum/multi_lexsum_val.jsonl",
            None,
            400,
            _MULTI_LEXSUM,
            "judge_summ",
            pre_cut=130372,
            answer_prefix="Summary:",
        ),
    ]
}

# HELMET's categories (scripts/collect_results.py). Those evalkit does not score say why;
# the report lists them, and the overall mean is over the scored ones only.
CATEGORIES: dict[str, str | None] = {
    "Recall": None,
    "RAG": None,
    "Re-rank": None,
    "ICL": None,
    "LongQA": None,
    "Summ": None,
    "Cite": "left out: ALCE needs an NLI model, and EXAONE's figure excludes it (report App. D.1)",
}
