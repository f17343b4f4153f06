"""The 13 RULER tasks: generator kind, complexity settings, prompt template, answer prefix.

Data, not code, from NVIDIA/RULER @c3f5e3b4f87f97e048793bb510a3a6b19a46bf3a:
`scripts/synthetic.yaml` (task settings; niah_single_1 uses the `noise` haystack since
upstream commit 7097a4f) and `scripts/data/synthetic/constants.py` (templates, answer
prefixes, tokens to generate). Metrics per kind from `scripts/eval/synthetic/constants.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["niah", "variable_tracking", "common_words_extraction", "freq_words_extraction", "qa"]


@dataclass(frozen=True)
class KindSpec:
    template: str
    answer_prefix: str
    tokens_to_generate: int
    metric: Literal["all", "part"]  # string_match_all / string_match_part


KINDS: dict[str, KindSpec] = {
    "niah": KindSpec(
        "Some special magic {type_needle_v} are hidden within the following text. Make sure to memorize "
        "it. I will quiz you about the {type_needle_v} afterwards.\n{context}\nWhat are all the special "
        "magic {type_needle_v} for {query} mentioned in the provided text?",
        " The special magic {type_needle_v} for {query} mentioned in the provided text are",
        128,
        "all",
    ),
    "variable_tracking": KindSpec(
        "Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n"
        "{context}\nQuestion: Find all variables that are assigned the value {query} in the text above.",
        " Answer: According to the chain(s) of variable assignment in the text above, {num_v} variables "
        "are assigned the value {query}, they are: ",
        30,
        "all",
    ),
    "common_words_extraction": KindSpec(
        "Below is a numbered list of words. In these words, some appear more often than others. Memorize "
        "the ones that appear most often.\n{context}\nQuestion: What are the 10 most common words in the "
        "above list?",
        " Answer: The top 10 words that appear most often in the list are:",
        120,
        "all",
    ),
    "freq_words_extraction": KindSpec(
        "Read the following coded text and track the frequency of each coded word. Find the three most "
        "frequently appeared coded words. {context}\nQuestion: Do not provide any explanation. Please "
        "ignore the dots '....'. What are the three most frequently appeared words in the above coded text?",
        " Answer: According to the coded text above, the three most frequently appeared words are:",
        50,
        "all",
    ),
    "qa": KindSpec(
        "Answer the question based on the given documents. Only give me the answer and do not output any "
        "other words.\n\nThe following are given documents.\n\n{context}\n\nAnswer the question based on "
        "the given documents. Only give me the answer and do not output any other words.\n\nQuestion: "
        "{query}",
        " Answer:",
        32,
        "part",
    ),
}


@dataclass(frozen=True)
class RulerTask:
    name: str
    kind: Kind
    args: dict[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> KindSpec:
        return KINDS[self.kind]


def _niah(haystack: str, k: str, v: str, nk: int = 1, nv: int = 1, nq: int = 1) -> dict[str, object]:
    return {
        "type_haystack": haystack,
        "type_needle_k": k,
        "type_needle_v": v,
        "num_needle_k": nk,
        "num_needle_v": nv,
        "num_needle_q": nq,
    }


TASKS: dict[str, RulerTask] = {
    t.name: t
    for t in [
        RulerTask("niah_single_1", "niah", _niah("noise", "words", "numbers")),
        RulerTask("niah_single_2", "niah", _niah("essay", "words", "numbers")),
        RulerTask("niah_single_3", "niah", _niah("essay", "words", "uuids")),
        RulerTask("niah_multikey_1", "niah", _niah("essay", "words", "numbers", nk=4)),
        RulerTask("niah_multikey_2", "niah", _niah("needle", "words", "numbers")),
        RulerTask("niah_multikey_3", "niah", _niah("needle", "uuids", "uuids")),
        RulerTask("niah_multivalue", "niah", _niah("essay", "words", "numbers", nv=4)),
        RulerTask("niah_multiquery", "niah", _niah("essay", "words", "numbers", nq=4)),
        RulerTask("vt", "variable_tracking", {"type_haystack": "noise", "num_chains": 1, "num_hops": 4}),
        RulerTask("cwe", "common_words_extraction", {"freq_cw": 30, "freq_ucw": 3, "num_cw": 10}),
        RulerTask("fwe", "freq_words_extraction", {"alpha": 2.0}),
        RulerTask("qa_1", "qa", {"dataset": "squad"}),
        RulerTask("qa_2", "qa", {"dataset": "hotpotqa"}),
    ]
}

SEQ_LENGTHS = (4096, 8192, 16384, 32768, 65536, 131072)
