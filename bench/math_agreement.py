"""How often evalkit's math verdict is math-verify's own, on every answer set held here.

    python bench/math_agreement.py

Prints, for each set, evalkit's agreement with math-verify 0.9.0's default-settings verdict
(`verify(parse(gold), parse(response))`) and lists the pairs where they differ:
- math-verify's own test pairs (tests/data/math/math_verify_pairs.jsonl), all of them and
  those whose prediction is a whole model output (more than 300 characters: the
  OpenThoughts, NuminaMath and MATH-style responses in that suite);
- the 235 hand-checked answer pairs (tests/data/math/answer_pairs.jsonl), where evalkit is
  also compared with the hand-checked verdict.
No real MATH-500 model responses are held in this repository or ../shared/data (English
MATH-500 itself is absent), so no figure on them is printed.
"""

from __future__ import annotations

import json
import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from evalkit.scoring.math_answer import option_texts
from evalkit.scoring.math_equiv import check_answer

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "math"
WHOLE_OUTPUT_CHARS = 300


def _rows(name: str) -> list[dict]:
    return [json.loads(x) for x in (DATA / name).read_text(encoding="utf-8").splitlines() if x.strip()]


def _mv(gold: str, response: str) -> bool:
    from math_verify import parse, verify

    return bool(verify(parse(gold), parse(response)))


def _line(label: str, rows: list[dict], ours: list[bool], theirs: list[bool]) -> list[dict]:
    differ = [r for r, a, b in zip(rows, ours, theirs, strict=True) if a != b]
    n = len(rows)
    print(f"{label}: {n - len(differ)}/{n} ({100 * (n - len(differ)) / n:.1f} %)")
    return differ


def _hand_checked(p: dict) -> bool:
    choices = option_texts(p["question"]) if p.get("question") else None
    return check_answer(p["response"], p["gold"], lang=p["lang"], choices=choices, timeout_s=10).correct


def main() -> None:
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    sys.path.insert(0, str(DATA.parents[1] / "families"))
    from test_math_verify_pairs import evalkit_gold  # the gold as evalkit takes it

    pairs = _rows("math_verify_pairs.jsonl")
    with ThreadPoolExecutor(2) as pool:
        ours = list(
            pool.map(lambda p: check_answer(p["pred"], evalkit_gold(p["gold"]), timeout_s=10).correct, pairs)
        )
    mv = [bool(p["mv_default"]) for p in pairs]
    differ = _line("math-verify's test pairs, agreement with its default verdict", pairs, ours, mv)
    whole = [i for i, p in enumerate(pairs) if len(p["pred"]) > WHOLE_OUTPUT_CHARS]
    _line(
        f"  of which whole model outputs (> {WHOLE_OUTPUT_CHARS} chars)",
        [pairs[i] for i in whole],
        [ours[i] for i in whole],
        [mv[i] for i in whole],
    )
    for p in differ:
        print(
            f"    differs: {p['id']} gold {p['gold'][:40]!r} pred {p['pred'][-60:]!r} "
            f"(math-verify {p['mv_default']})"
        )

    hand = _rows("answer_pairs.jsonl")
    with ThreadPoolExecutor(2) as pool:
        ours = list(pool.map(_hand_checked, hand))
    mv = [_mv(f"${p['gold']}$", p["response"]) for p in hand]
    expected = [bool(p["expected"]) for p in hand]
    _line("hand-checked answer pairs, agreement with math-verify", hand, ours, mv)
    _line("hand-checked answer pairs, agreement with the hand-checked verdict", hand, ours, expected)
    _line("  (math-verify itself vs the hand-checked verdict)", hand, mv, expected)


if __name__ == "__main__":
    main()
