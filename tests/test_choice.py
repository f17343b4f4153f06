"""Hard cases for the multiple-choice extractor: expected letter, or None (no guess)."""

import pytest

from evalkit.scoring.choice import extract_choice

OPTS = ["부산", "서울", "대구", "광주", "인천"]

CASES = [
    # English
    ("Answer: C", "C"),
    ("The answer is (C).", "C"),
    ("the correct answer is B because ...", "B"),
    ("**Answer: D**", "D"),
    ("Final answer: **(E)**", "E"),
    ("So the best option is A.", "A"),
    ("I first thought the answer is A. Wait, no — the answer is B.", "B"),
    ("Answer: F", None),  # outside A–E
    ("a good approach is to compare", None),  # the article 'a' is not option A
    ("I am not sure.", None),
    ("", None),
    ("Reasoning...\n\nC", "C"),
    ("Reasoning...\n\n(D)", "D"),
    ("Reasoning...\n\nB.", "B"),
    ("Options **B** and maybe others", "B"),
    ("$\\boxed{C}$", "C"),
    ("\\boxed{\\text{D}}", "D"),
    ("\\boxed{B} ... on reflection \\boxed{E}", "E"),
    ("answer: 서울", "B"),  # option text instead of its letter
    ("The answer is option C", "C"),
    # Korean
    ("정답: C", "C"),
    ("정답은 C입니다.", "C"),
    ("따라서 정답은 (D)입니다.", "D"),
    ("정답은 ③입니다", "C"),
    ("답: A", "A"),
    ("답은 E", "E"),
    ("정답: 인천", "E"),
    ("풀이를 보면 B가 맞아 보이지만, 정답: D", "D"),
    ("모르겠습니다", None),
    ("서울", "B"),
    ("정답은 보기 B입니다", "B"),
    # Spanish
    ("La respuesta correcta es C", "C"),
    ("La respuesta es (A).", "A"),
    ("Respuesta: E", "E"),
    ("La opción correcta es B", "B"),
    ("Respuesta final: **D**", "D"),
    ("No estoy seguro de la respuesta.", None),
    # mixed / tricky
    ("Answer: A\n\n정답: D", "D"),
    ("A. 부산\nB. 서울\nThe answer is B", "B"),
    ("(C)", "C"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_hard_cases(text, expected):
    assert extract_choice(text, 5, OPTS).value == expected


def test_null_always_has_a_reason():
    for text, expected in CASES:
        ext = extract_choice(text, 5, OPTS)
        assert ext.reason
        if expected is None:
            assert ext.value is None


def test_strict_mode_requires_an_explicit_statement():
    assert extract_choice("Reasoning...\n\nC", 5, OPTS, strict=True).value is None
    assert extract_choice("정답: C", 5, OPTS, strict=True).value == "C"


def test_letters_beyond_d_for_ten_options():
    assert extract_choice("The answer is (J)", 10).value == "J"
    assert extract_choice("The answer is (J)", 4).value is None
