"""Where RULER's official generator cannot go on. QA: at 4K with the tiny model's tokenizer the
third HotpotQA sample does not fit at the searched size, and the official script's next size
(10 documents fewer) is below the question's own 10 documents, where it loops forever; evalkit
steps down to the question's own documents instead, and refuses a length at which even those
do not fit. cwe: RULER's larger word list is a Git-LFS file that no registry ships; without it
the error says where to put it."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.benchmarks.ruler.corpora import english_words
from evalkit.benchmarks.ruler.generate import generate_task
from evalkit.errors import UsageError
from evalkit.longctx.tokens import chat_overhead, count_tokens, load_tokenizer

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "data" / "ruler"


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer("tiny")


def test_qa_2_at_4k_finishes_with_the_questions_own_documents(tok) -> None:
    over = chat_overhead(tok)
    out = generate_task("qa_2", lambda t: count_tokens(tok, t), 4096, 3, corpus=CORPUS, template_tokens=over)
    assert [s.outputs for s in out] == [["yes"], ["Chief of Protocol"], ["Animorphs"]]
    assert all(s.length <= 4096 for s in out)
    # Samples 0 and 1 fit with the 17 documents the search found; sample 2, the one upstream
    # cannot finish, does not, and has exactly its own 10 documents.
    assert [s.input.count("\nDocument ") + s.input.startswith("Document ") for s in out] == [17, 17, 10]


def test_a_length_where_even_the_own_documents_do_not_fit_is_refused(tok) -> None:
    with pytest.raises(UsageError, match=r"RULER qa_2 sample 0 does not fit \d+ tokens .* own documents: 10"):
        generate_task("qa_2", lambda t: count_tokens(tok, t), 1024, 1, corpus=CORPUS)


def test_cwe_word_list_missing_says_where_to_put_it(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"english_words\.json .*no package registry ships it") as e:
        english_words(tmp_path)
    assert str(tmp_path / "english_words.json") in str(e.value)
