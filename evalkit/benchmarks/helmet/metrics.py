"""HELMET's metrics (utils.py and data.py @4526dfb) for the categories evalkit scores:
substring exact match and exact match after SQuAD normalisation (max over answers, and over
the raw and the parsed output), RULER recall (fraction of answers found, case-insensitive),
for Re-rank the parsed ranking's NDCG@10 as trec_eval computes it (pytrec_eval's ndcg_cut_10),
ROUGE-L F1 as `rouge_score.RougeScorer(["rougeL"], use_stemmer=True)` computes it (InfiniteBench
QA), and InfiniteBench multiple choice as `load_infbench`'s choice_post_process scores it. The
LLM-judged scores are in judge.py."""

from __future__ import annotations

import math
import re
from functools import lru_cache

from evalkit.benchmarks.longbench.metrics import normalize_answer


def parse_output(output: str, prefix: str = "Answer:") -> str | None:
    """utils.parse_output: the text after `prefix` on its line, else the first line."""
    for pat in (
        re.compile(f"(?:{re.escape(prefix)})(.*)(?:\n|$)", re.IGNORECASE),
        re.compile(r"(?:^)(.*)(?:\n|$)"),
    ):
        m = pat.search(output)
        if m is not None:
            return re.sub(f"^{re.escape(prefix)}", "", m[1].strip(), flags=re.IGNORECASE).strip()
    return None


def substring_exact_match(prediction: str, answers: list[str]) -> float:
    """1.0 if a normalised answer is a substring of the normalised prediction (max over answers)."""
    pred = normalize_answer(prediction)
    return 1.0 if any(normalize_answer(a) in pred for a in answers) else 0.0


def subem_with_parse(prediction: str, answers: list[str], prefix: str) -> float:
    """default_post_process / json_kv's post_process: the max over the raw and the parsed output."""
    parsed = parse_output(prediction, prefix)
    raw = substring_exact_match(prediction, answers)
    return max(raw, substring_exact_match(parsed, answers)) if parsed is not None else raw


def ruler_recall(prediction: str, answers: list[str]) -> float:
    """load_ruler's post_process: the fraction of answers contained in the output, case-insensitive."""
    if not answers:
        return 0.0
    return sum(1.0 for a in answers if a.lower() in prediction.lower()) / len(answers)


def parse_rankings(output: str) -> dict[str, int]:
    """utils.parse_rankings: the longest `12 > 7 > 3` chain of integer ids (after dropping
    brackets, colons and "id"), each id scored len-rank, first occurrence kept; with no
    number at all, the whole text is one (unmatchable) id."""
    text = re.sub(r"[\[\]:]", "", output).lower().replace("id", "")
    longest = ""
    for m in re.finditer(r"(\d+)(?:\s*>\s*(\d+))*", text):
        if len(m.group(0)) > len(longest):
            longest = m.group(0)
    ranks = [n.strip() for n in longest.split(">") if n.strip().isdigit()] if longest else [text]
    out: dict[str, int] = {}
    for i, r in enumerate(ranks):
        out.setdefault(r, len(ranks) - i)
    return out


def ndcg_at_k(scores: dict[str, float], qrel: dict[str, int], k: int = 10) -> float:
    """trec_eval's ndcg_cut.k: documents ordered by score (descending; ties by id descending,
    as trec_eval sorts), gain = relevance label, discount log2(rank + 1); the ideal ranking
    is the qrels' labels sorted descending. 0 when nothing is relevant."""
    ranked = sorted(scores.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)[:k]
    dcg = sum(max(qrel.get(doc, 0), 0) / math.log2(i + 2) for i, (doc, _) in enumerate(ranked))
    ideal = sorted((g for g in qrel.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def exact_match(prediction: str, answers: list[str]) -> float:
    """drqa_exact_match_score, max over answers: the normalised strings are equal."""
    pred = normalize_answer(prediction)
    return 1.0 if any(normalize_answer(a) == pred for a in answers) else 0.0


def icl_exact_match(prediction: str, answer: str) -> float:
    """load_icl's post_process: exact match of the text after "label:" (else the first line)."""
    parsed = parse_output(prediction, "label:")
    return exact_match(parsed, [answer]) if parsed is not None else 0.0


@lru_cache(maxsize=1)
def _stemmer() -> object:
    from nltk.stem import porter

    return porter.PorterStemmer()  # rouge_score's DefaultTokenizer(use_stemmer=True)


def rouge_tokens(text: str) -> list[str]:
    """rouge_score.tokenize: lower case, non-alphanumerics to spaces, Porter-stem words of more
    than 3 characters."""
    stem = _stemmer().stem  # type: ignore[attr-defined]
    tokens = re.split(r"\s+", re.sub(r"[^a-z0-9]+", " ", text.lower()))
    tokens = [stem(t) if len(t) > 3 else t for t in tokens]
    return [t for t in tokens if re.match(r"^[a-z0-9]+$", t)]


def _lcs(a: list[str], b: list[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(prediction: str, target: str) -> tuple[float, float, float]:
    """(precision, recall, F1) of ROUGE-L: the longest common subsequence of the tokens."""
    pred, ref = rouge_tokens(prediction), rouge_tokens(target)
    if not pred or not ref:
        return 0.0, 0.0, 0.0
    lcs = _lcs(ref, pred)
    p, r = lcs / len(pred), lcs / len(ref)
    return p, r, (2 * p * r / (p + r) if p + r > 0 else 0.0)


def rouge_l_f1(prediction: str, answers: list[str]) -> float:
    """calculate_metrics' rougeL_f1: the best F1 over the answers."""
    return max(rouge_l(prediction, a)[2] for a in answers) if answers else 0.0


def rouge_l_f1_with_parse(prediction: str, answers: list[str], prefix: str = "Answer:") -> float:
    """default_post_process: the max over the raw output and the output parsed after `prefix`."""
    parsed = parse_output(prediction, prefix)
    raw = rouge_l_f1(prediction, answers)
    return max(raw, rouge_l_f1(parsed, answers)) if parsed is not None else raw


def choice_exact_match(prediction: str, answers: list[str]) -> float:
    """load_infbench's choice_post_process. `answers` is [letter, "letter. option text"]: exact
    match of the raw or parsed output against either (SQuAD normalisation, which drops the
    article "a", so "A" and an empty output normalise alike, as upstream), or the second answer
    a case-insensitive substring of the output."""
    parsed = parse_output(prediction)
    em = exact_match(prediction, answers)
    if parsed is not None:
        em = max(em, exact_match(parsed, answers))
    if len(answers) > 1 and answers[1].lower() in prediction.lower():
        em = 1.0
    return em
