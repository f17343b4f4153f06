"""Hard cases for the shared multiple-choice extractor, per language: expected letter, or None.

None means the text does not commit to one option; the extractor must then say why and
never guess. Options are five cities in each language (A–E).
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalkit.scoring.choice import extract_choice

OPTS_EN = ["Busan", "Seoul", "Daegu", "Gwangju", "Incheon"]
OPTS_KO = ["부산", "서울", "대구", "광주", "인천"]
OPTS_ES = ["Lima", "Madrid", "Bogotá", "Quito", "Caracas"]

ENGLISH = [
    ("Answer: C", "C"),
    ("The answer is (C).", "C"),
    ("the correct answer is B because it is the capital", "B"),
    ("**Answer: D**", "D"),
    ("Final answer: **(E)**", "E"),
    ("So the best option is A.", "A"),
    ("I first thought the answer is A. Wait, no — the answer is B.", "B"),
    ("The answer is C.\n\nAnswer: D", "D"),
    ("Answer: F", None),  # outside A–E
    ("Answer: K", None),  # not a letter of any option
    ("a good approach is to compare the cities", None),  # the article 'a' is not option A
    ("The answer is a bit tricky to pin down.", None),
    ("I am not sure.", None),
    ("", None),
    ("   \n  ", None),
    ("Reasoning about each city...\n\nC", "C"),
    ("Reasoning...\n\n(D)", "D"),
    ("Reasoning...\n\nB.", "B"),
    ("Reasoning...\n\nOption B", "B"),
    ("Options **B** and maybe others", "B"),
    ("$\\boxed{C}$", "C"),
    ("\\boxed{\\text{D}}", "D"),
    ("\\boxed{(C)}", "C"),
    ("Answer: $\\boxed{D}$", "D"),
    ("\\boxed{B} ... on reflection \\boxed{E}", "E"),
    ("\\boxed{Daegu}", "C"),  # the option's text inside \boxed{}
    ("answer: Seoul", "B"),  # option text instead of its letter
    ("The answer is Incheon, the port city.", "E"),
    ("The answer is option C", "C"),
    ("Answer: (B) Seoul", "B"),
    ("The correct answer is: **B) Seoul**", "B"),
    ("Answer: The correct option is D.", "D"),
    ("Answer: c", "C"),
    ("Therefore, the answer is **C**.", "C"),
    ("Both A and C seem plausible, but the answer is A.", "A"),
    ("Options A and B are wrong, so the answer is C.", "C"),
    ("Answer: A, B", None),  # two letters: no single committed answer
    ("The answer is A or C.", None),
    ("The answer is (A, G).", None),
    ("The answer is (D) is not making any profit at all.", "D"),  # restating the option, not ruling out
    ("The answer is (B) and not (C).", "B"),
    ("The answer is not A.", None),
    ("Let me check each answer: A is wrong. C looks right.", None),
    ("Answer: I think B", None),  # 'I' is the pronoun, not option I
    ("I'll go with B.", "B"),
    ("I would choose option D.", "D"),
    ("Answer:\nC", "C"),
    ("Answer - E", "E"),
    ("Final Answer: **C) Daegu**", "C"),
    ("C. Daegu", "C"),  # a letter with its own option's text
    ("C. Seoul", None),  # a letter with another option's text
    ("A. Busan\nB. Seoul\nC. Daegu\nD. Gwangju\nE. Incheon", None),  # the options echoed back
    ("A. Busan\nB. Seoul\nThe answer is B", "B"),
    ("Seoul", "B"),
    ("Ｃ", "C"),  # full-width letter
]

KOREAN = [
    ("정답: C", "C"),
    ("정답은 C입니다.", "C"),
    ("따라서 정답은 (D)입니다.", "D"),
    ("정답은 ③입니다", "C"),
    ("정답: ②", "B"),
    ("정답은 2번입니다.", "B"),
    ("정답: 5번", "E"),
    ("답: A", "A"),
    ("답은 E", "E"),
    ("최종 답: D", "D"),
    ("해답: C", "C"),
    ("답변: D", "D"),
    ("정답 C", "C"),
    ("정답:C", "C"),
    ("정답은 C 입니다", "C"),
    ("정답은 **C**입니다.", "C"),
    ("**정답: B**", "B"),
    ("최종 정답: (A)", "A"),
    ("정답은 보기 B입니다", "B"),
    ("정답: 인천", "E"),
    ("정답은 서울입니다.", "B"),
    ("정답: **서울**", "B"),
    ("정답은 C, 대구입니다", "C"),
    ("B가 정답입니다.", "B"),
    ("따라서 (D)가 답입니다.", "D"),
    ("3번이 정답입니다.", "C"),
    ("C를 선택합니다.", "C"),
    ("보기 중 옳은 것은 C이다.", "C"),
    ("풀이를 보면 B가 맞아 보이지만, 정답: D", "D"),
    ("A는 틀렸고 C도 틀렸으므로 정답은 D입니다", "D"),
    ("처음엔 정답이 A라고 생각했지만, 다시 보니 정답은 B입니다.", "B"),
    ("정답은 C가 아니라 D입니다.", "D"),
    ("정답: C\n\n설명: A는 부산이므로 틀림", "C"),
    ("정답은 B입니다. (참고로 A는 오답)", "B"),
    ("정답은 A와 B입니다.", None),  # two letters
    ("정답: E", "E"),
    ("정답을 고르기 어렵습니다.", None),
    ("정답이 없습니다.", None),
    ("정답은 없습니다.", None),
    ("모르겠습니다", None),
    ("서울", "B"),
    ("C", "C"),
    ("(C)", "C"),
    ("3번", "C"),
    ("C. 대구", "C"),
    ("보기 B", "B"),
    ("정답은 \\boxed{D}", "D"),
    ("Answer: A\n\n정답: D", "D"),
    ("DNA가 정답의 열쇠입니다.", None),  # the A of DNA is not option A
]

SPANISH = [
    ("La respuesta correcta es C", "C"),
    ("La respuesta es (A).", "A"),
    ("Respuesta: E", "E"),
    ("RESPUESTA: D", "D"),
    ("La opción correcta es B", "B"),
    ("Respuesta final: **D**", "D"),
    ("Por lo tanto, la respuesta correcta es la C.", "C"),
    ("La respuesta correcta es la opción D.", "D"),
    ("La respuesta correcta es la A, ya que Lima es la capital.", "A"),
    ("La respuesta es la (C).", "C"),
    ("Respuesta: (B) Madrid", "B"),
    ("La respuesta es: C", "C"),
    ("Mi respuesta es A", "A"),
    ("La respuesta correcta sería B", "B"),
    ("Respuesta correcta: D", "D"),
    ("Opción correcta: C", "C"),
    ("La alternativa correcta es B", "B"),
    ("Respuesta: la correcta es B", "B"),
    ("Elijo la opción C", "C"),
    ("Seleccionaría la opción A.", "A"),
    ("Me quedo con la D.", "D"),
    ("A primera vista parece B, pero la respuesta es D", "D"),
    ("Primero pensé que era A, pero la respuesta final es B.", "B"),
    ("La respuesta es B.\nNo, espera: la respuesta es C.", "C"),
    ("Respuesta: a", "A"),
    ("La respuesta es a) Lima", "A"),
    ("La respuesta está a la izquierda del mapa.", None),  # the preposition 'a'
    ("Respuesta: Madrid", "B"),
    ("La respuesta correcta es Quito, porque está en Ecuador.", "D"),
    ("la respuesta correcta es: **B) Madrid**", "B"),
    ("La respuesta correcta es A y B", None),  # two letters
    ("La respuesta es C o D.", None),
    ("La respuesta es F", None),  # outside A–E
    ("Respuesta: C\n\nExplicación: la A es incorrecta porque Lima está en Perú.", "C"),
    ("Respuesta: Ninguna de las anteriores", None),
    ("No estoy seguro de la respuesta.", None),
    ("Sin información suficiente para responder.", None),
    ("\\boxed{B}", "B"),
    ("Respuesta final: \\boxed{A}", "A"),
    ("**C**", "C"),
    ("C", "C"),
    ("Opción B", "B"),
    ("Caracas", "E"),
    ("Respuesta – C", "C"),
    ("Considero que la respuesta correcta es C.", "C"),
]

TABLE = [
    (lang, text, expected)
    for lang, cases in (("en", ENGLISH), ("ko", KOREAN), ("es", SPANISH))
    for text, expected in cases
]
OPTIONS = {"en": OPTS_EN, "ko": OPTS_KO, "es": OPTS_ES}


def test_at_least_forty_cases_per_language():
    assert min(len(ENGLISH), len(KOREAN), len(SPANISH)) >= 40


@pytest.mark.parametrize(("lang", "text", "expected"), TABLE)
def test_hard_cases(lang, text, expected):
    ext = extract_choice(text, 5, OPTIONS[lang])
    assert ext.value == expected, ext.reason
    assert ext.reason  # found or not, the extractor says how


def test_nothing_found_names_a_reason_and_never_guesses():
    for lang, text, expected in TABLE:
        if expected is None:
            ext = extract_choice(text, 5, OPTIONS[lang])
            assert ext.value is None and len(ext.reason) > 5


def test_out_of_range_letter_says_so():
    ext = extract_choice("Answer: F", 5, OPTS_EN)
    assert ext.value is None and "not an option" in ext.reason


def test_strict_mode_requires_an_explicit_statement():
    assert extract_choice("Reasoning...\n\nC", 5, OPTS_EN, strict=True).value is None
    assert extract_choice("Seoul", 5, OPTS_EN, strict=True).value is None
    assert extract_choice("정답: C", 5, OPTS_KO, strict=True).value == "C"
    assert extract_choice("La respuesta es la C.", 5, OPTS_ES, strict=True).value == "C"


def test_letters_beyond_d_for_ten_options():
    assert extract_choice("The answer is (J)", 10).value == "J"
    assert extract_choice("The answer is (J)", 4).value is None
    assert extract_choice("정답: ⑩", 10).value == "J"
    assert extract_choice("The answer is (I).", 10).value == "I"


def test_no_options_given_still_reads_letters():
    assert extract_choice("Answer: B", 4).value == "B"
    assert extract_choice("Seoul", 4).value is None


def test_rejects_bad_option_counts():
    with pytest.raises(ValueError):
        extract_choice("A", 1)
    with pytest.raises(ValueError):
        extract_choice("A", 11)


ALPHABET = "ABCDEFGHIJabcdej ()[]*_:.,\n정답은이가번①③ respuestaAnswer is\\boxed{}$-"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=300), st.integers(min_value=2, max_value=10))
def test_any_text_gives_a_letter_of_the_item_or_none_with_a_reason(text, n):
    for strict in (False, True):
        ext = extract_choice(text, n, OPTS_KO[: min(n, 5)], strict=strict)
        assert ext.reason
        assert ext.value is None or ext.value in "ABCDEFGHIJ"[:n]


@pytest.mark.parametrize(
    "junk",
    [
        "answer: " * 20000,  # read from the end, a bounded number of statements
        "정답은 " * 20000,
        " " * 100000 + "x",
        "**" * 50000 + "B",
        "\\boxed{" * 20000,
        "Answer: " + "word " * 40000,
    ],
)
def test_degenerate_model_output_is_handled(junk):
    ext = extract_choice(junk, 5, OPTS_EN)
    assert ext.reason and (ext.value is None or ext.value == "B")
