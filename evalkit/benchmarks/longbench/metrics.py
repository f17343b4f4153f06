"""LongBench v1's metrics (LongBench/metrics.py and eval.py @2e00731), English and code tasks.

Each metric scores one prediction against one ground truth; a sample's score is the max
over its ground truths, and trec/triviaqa/samsum/lsht score only the prediction's first line.
Rouge-L is the `rouge` package's F (as upstream); edit similarity is fuzzywuzzy's `fuzz.ratio`
without python-Levenshtein (LongBench's requirements), i.e. difflib's ratio rounded to a percent.
"""

from __future__ import annotations

import difflib
import re
import string
from collections import Counter
from collections.abc import Callable
from typing import Any

_PUNCT = set(string.punctuation)


def normalize_answer(s: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    s = "".join(ch for ch in s.lower() if ch not in _PUNCT)
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def _f1(pred: list[str], gold: list[str]) -> float:
    same = sum((Counter(pred) & Counter(gold)).values())
    if same == 0:
        return 0.0
    p, r = same / len(pred), same / len(gold)
    return 2 * p * r / (p + r)


def qa_f1_score(prediction: str, ground_truth: str, **_: Any) -> float:
    return _f1(normalize_answer(prediction).split(), normalize_answer(ground_truth).split())


def rouge_score(prediction: str, ground_truth: str, **_: Any) -> float:
    from rouge import Rouge

    try:
        scores = Rouge().get_scores([prediction], [ground_truth], avg=True)
    except Exception:  # upstream catches everything (empty text, recursion on long texts) as 0
        return 0.0
    return float(scores["rouge-l"]["f"])


def classification_score(prediction: str, ground_truth: str, *, all_classes: list[str], **_: Any) -> float:
    matched = [c for c in all_classes if c in prediction]
    # Upstream removes, while iterating, class names that are substrings of the gold label;
    # iterating over the list being edited skips the element after each removal. Kept as is.
    for term in matched:
        if term in ground_truth and term != ground_truth:
            matched.remove(term)
    return 1.0 / len(matched) if ground_truth in matched else 0.0


def _count_equal(prediction: str, target: str) -> float:
    numbers = re.findall(r"\d+", prediction)
    return 0.0 if not numbers else sum(1 for n in numbers if n == target) / len(numbers)


def count_score(prediction: str, ground_truth: str, **_: Any) -> float:
    return _count_equal(prediction, str(ground_truth))


def retrieval_score(prediction: str, ground_truth: str, **_: Any) -> float:
    found = re.findall(r"Paragraph (\d+)", ground_truth)
    return _count_equal(prediction, found[0]) if found else 0.0


def fuzz_ratio(a: str, b: str) -> int:
    """fuzzywuzzy.fuzz.ratio (pure-Python path): 100 for equal strings, 0 if one is empty."""
    if a == b:
        return 100
    if not a or not b:
        return 0
    return round(100 * difflib.SequenceMatcher(None, a, b).ratio())


def code_sim_score(prediction: str, ground_truth: str, **_: Any) -> float:
    first = ""
    for line in prediction.lstrip("\n").split("\n"):
        if "`" not in line and "#" not in line and "//" not in line:
            first = line
            break
    return fuzz_ratio(first, ground_truth) / 100


METRICS: dict[str, Callable[..., float]] = {
    "narrativeqa": qa_f1_score,
    "qasper": qa_f1_score,
    "multifieldqa_en": qa_f1_score,
    "hotpotqa": qa_f1_score,
    "2wikimqa": qa_f1_score,
    "musique": qa_f1_score,
    "gov_report": rouge_score,
    "qmsum": rouge_score,
    "multi_news": rouge_score,
    "trec": classification_score,
    "triviaqa": qa_f1_score,
    "samsum": rouge_score,
    "passage_retrieval_en": retrieval_score,
    "passage_count": count_score,
    "lcc": code_sim_score,
    "repobench-p": code_sim_score,
}

# The English leaderboard's categories (README); code completion counts in it too.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "Single-Doc QA": ("narrativeqa", "qasper", "multifieldqa_en"),
    "Multi-Doc QA": ("hotpotqa", "2wikimqa", "musique"),
    "Summarization": ("gov_report", "qmsum", "multi_news"),
    "Few-shot Learning": ("trec", "triviaqa", "samsum"),
    "Synthetic Tasks": ("passage_count", "passage_retrieval_en"),
    "Code Completion": ("lcc", "repobench-p"),
}
FIRST_LINE_ONLY = {"trec", "triviaqa", "samsum", "lsht"}
NO_CHAT_TEMPLATE = {"trec", "triviaqa", "samsum", "lsht", "lcc", "repobench-p"}


def sample_score(dataset: str, prediction: str, answers: list[str], all_classes: list[str] | None) -> float:
    """eval.py `scorer` for one sample: max over ground truths, first line for few-shot tasks."""
    if dataset in FIRST_LINE_ONLY:
        prediction = prediction.lstrip("\n").split("\n")[0]
    fn = METRICS[dataset]
    return max((fn(prediction, gt, all_classes=all_classes or []) for gt in answers), default=0.0)
