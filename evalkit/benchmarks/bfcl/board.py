"""The BFCL v3 leaderboard's figures from per-category accuracies.

At gorilla commit cd9429c (the last v3 state; `eval_runner_helper.py`):

- non-live = unweighted mean of [simple, multiple, parallel, parallel_multiple, irrelevance],
  where simple is itself the unweighted mean of the Python, Java and JavaScript simple scores;
- live = accuracy pooled over live_simple, live_multiple, live_parallel,
  live_parallel_multiple, live_irrelevance and live_relevance (weighted by entry count);
- multi-turn = unweighted mean of base, miss_func, miss_param and long_context;
- overall = unweighted mean of non-live, live and multi-turn.

A category that was not run counts as 0 in the leaderboard's unweighted means (it shows
N/A); here a part with a missing category is None, and so is the overall.
"""

from __future__ import annotations

from dataclasses import dataclass

NON_LIVE = ("simple", "java", "javascript", "multiple", "parallel", "parallel_multiple", "irrelevance")
LIVE = (
    "live_simple",
    "live_multiple",
    "live_parallel",
    "live_parallel_multiple",
    "live_irrelevance",
    "live_relevance",
)
MULTI_TURN = ("multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param", "multi_turn_long_context")
CATEGORIES = NON_LIVE + LIVE + MULTI_TURN


@dataclass(frozen=True)
class CategoryScore:
    correct: float
    total: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


def _mean(xs: list[float | None]) -> float | None:
    return None if any(x is None for x in xs) else sum(x for x in xs if x is not None) / len(xs)


def board(scores: dict[str, CategoryScore]) -> dict[str, float | None]:
    """non_live, live, multi_turn and overall accuracies (None where a category is missing)."""

    def acc(cat: str) -> float | None:
        return scores[cat].accuracy if cat in scores and scores[cat].total else None

    simple = _mean([acc("simple"), acc("java"), acc("javascript")])
    non_live = _mean([simple, acc("multiple"), acc("parallel"), acc("parallel_multiple"), acc("irrelevance")])
    if all(acc(c) is not None for c in LIVE):
        live: float | None = sum(scores[c].correct for c in LIVE) / sum(scores[c].total for c in LIVE)
    else:
        live = None
    multi_turn = _mean([acc(c) for c in MULTI_TURN])
    return {
        "non_live_simple": simple,
        "non_live": non_live,
        "live": live,
        "multi_turn": multi_turn,
        "overall": _mean([non_live, live, multi_turn]),
    }
