"""Finding and normalizing the final answer (string level, no sympy)."""

import time

import pytest

from evalkit.scoring.math_answer import (
    BOXED,
    FALLBACK,
    STATEMENT,
    find_boxes,
    find_final_answer,
    normalize_answer,
    option_texts,
    plus_minus_both,
)


@pytest.mark.parametrize(
    ("text", "answer", "method"),
    [
        ("so \\boxed{\\frac{\\sqrt{3}}{2}} done", "\\frac{\\sqrt{3}}{2}", BOXED),
        ("\\boxed{\\{1,2\\}}", "\\{1,2\\}", BOXED),
        ("\\boxed{5} no wait \\boxed{7}", "7", BOXED),
        ("\\boxed{2} and \\boxed{3}", "2, 3", BOXED),
        ("$\\boxed{2}$ y $\\boxed{3}$", "2, 3", BOXED),
        ("\\boxed{2}, \\boxed{3}. Then \\boxed{4}", "4", BOXED),
        ("\\fbox{12}", "12", BOXED),
        ("\\boxed 12.", "12", BOXED),
        ("The final answer is $\\frac{1}{2}$. Check: 2 * 1/2 = 1", "\\frac{1}{2}", STATEMENT),
        ("**Answer:** 42", "42", STATEMENT),
        ("La respuesta final es: $2220$.", "2220", STATEMENT),
        ("Respuesta: 3,5", "3,5", STATEMENT),
        ("따라서 정답은 12입니다. 검산: 3 × 4 = 12", "12입니다", STATEMENT),
        ("최종 답: 12개", "12개", STATEMENT),
        ("the answer is 19, and the other candidate 23 fails", "19", STATEMENT),
        ("x = 2, y = 3 is the answer: x = 2, y = 3", "x = 2, y = 3", STATEMENT),
        # several boxes labelled as parts are one list answer (issue 17)
        ("\\boxed{(3, 3)} \\text{ for part (a) and } \\boxed{(1, 1)}", "(3, 3), (1, 1)", BOXED),
        ("\\( y_1 = \\boxed{5} \\) and \\( y_2 = \\boxed{6} \\)", "5, 6", BOXED),
        ("\\boxed{5}, so then x = \\boxed{6}", "6", BOXED),  # prose between: the last box
        # a statement after the last box wins when it states a value ...
        ("=\\boxed{255} more. Final Answer: The final answer is $10,455$. I hope", "10,455", STATEMENT),
        # ... not when it states none, nor when it mixes text and $...$ pieces
        ("\\boxed{12}. The answer is correct.", "12", BOXED),
        (
            '\\boxed{12 $ and $13 }. Final Answer: The final answer is "$12 $ and $13 $".',
            "12 $ and $13",
            BOXED,
        ),
    ],
)
def test_find_final_answer(text, answer, method):
    found = find_final_answer(text)
    assert (found.text, found.method) == (answer, method)
    assert not found.raw


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("Final Answer: The largest $n$ is 34.", "The largest $n$ is 34"),
        (
            "Final Answer: Jane started growing Sphere 3 hours ago. I hope it is correct.",
            "Jane started growing Sphere 3 hours ago",
        ),
        ("La respuesta final es el número 12.", "el número 12"),
    ],
)
def test_a_statement_in_prose_is_searched_by_math_verify(text, answer):
    # issue 17: "The largest $n$ is 34" read as LaTeX gave i*s*34; as free text, math-verify
    # takes its last expression (34)
    found = find_final_answer(text)
    assert (found.text, found.method, found.raw) == (answer, STATEMENT, True)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (None, "no answer text"),
        ("  ", "empty"),
        ("\\boxed{5} then \\boxed{\\frac{1}{2}", "never closed"),
        ("\\boxed{ }", "empty"),
        ("\\boxed{" + "1" * 2000 + "}", "characters long"),
    ],
)
def test_no_final_answer_says_why(text, why):
    found = find_final_answer(text)
    assert found.text is None and why in found.reason


def test_without_box_or_statement_the_tail_goes_to_math_verify():
    found = find_final_answer("x" * 5000 + " so 12")
    assert found.method == FALLBACK and found.text is not None and len(found.text) == 2000


@pytest.mark.parametrize(
    ("raw", "lang", "multi", "normalized"),
    [
        ("1\\,000", "en", False, "1000"),
        ("1 000", "en", False, "1000"),
        ("27{,}648", "en", False, "27648"),
        ("6,\\!300", "en", False, "6300"),
        ("1,000 metros", "es", False, "1000"),
        ("3,5", "es", False, "3.5"),
        ("0{,}75", "es", False, "0.75"),
        ("3,5", "es", True, "3,5"),  # a list of answers 3 and 5
        ("3,5", "en", False, "3,5"),
        ("30 grados", "es", False, "30"),
        ("5개", "ko", False, "5"),
        ("12명입니다.", "ko", False, "12"),
        ("③", "ko", False, "3"),
        ("③번", "ko", False, "3"),
        ("√3", "en", False, "\\sqrt 3"),
        ("1 - 2/π", "en", False, "1 - 2/\\pi"),
        ("−984", "en", False, "-984"),
        ("\\frac{-1\\pm\\sqrt{17}}{2}", "en", True, "\\frac{-1\\pm\\sqrt{17}}{2}"),  # see plus_minus_both
        ("3 \\pmod{12}", "en", False, "3 \\pmod{12}"),
        ("x^2 + 1", "en", False, "x^2 + 1"),
    ],
)
def test_normalize_answer(raw, lang, multi, normalized):
    assert normalize_answer(raw, lang, multi=multi) == normalized


def test_plus_minus_both_is_one_pm_only():
    assert (
        plus_minus_both("\\frac{-1\\pm\\sqrt{17}}{2}") == "\\frac{-1+\\sqrt{17}}{2}, \\frac{-1-\\sqrt{17}}{2}"
    )
    assert plus_minus_both("3 \\pmod{12}") is None
    assert plus_minus_both("\\pm 1 \\pm 2") is None
    assert plus_minus_both("1 \\mp 2 \\pm 3") is None


def test_option_texts():
    q = "극댓값과 극솟값의 합은?\n① $-2$ ② $0$ ③ $2$ ④ $4$ ⑤ $6$"
    assert option_texts(q) == {"1": "$-2$", "2": "$0$", "3": "$2$", "4": "$4$", "5": "$6$"}
    q2 = "Which is prime?\n1. 4\n2. 6\n3. 7\n4. 9"
    assert option_texts(q2) == {"1": "4", "2": "6", "3": "7", "4": "9"}
    assert option_texts("Find $x$ if 1. it is odd, 2. it is prime.") == {}


def test_adversarial_text_is_linear_time():
    nasty = [
        "\\boxed" * 20000,
        "\\boxed{" * 20000,
        "{" * 50000 + "}" * 49999,
        "answer is " * 20000,
        "\\boxed{1}" + " ," * 20000 + "\\boxed{2}",
        "5" + " aaaaaaaaaa" * 5000 + "1",
    ]
    for text in nasty:
        t0 = time.perf_counter()
        found = find_final_answer(text)
        if found.text:
            normalize_answer(found.text[:1000], "es")
        assert time.perf_counter() - t0 < 1.0, text[:30]
    assert len(find_boxes("\\boxed{1}\\boxed{2}")) == 2
