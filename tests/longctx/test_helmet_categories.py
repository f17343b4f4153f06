"""HELMET's ICL, LongQA and Summ: metrics on worked examples, the row builders on a small copy of
the real layout (tests/data/helmet/layout.py), HELMET's context cut, and the judge's prompts and
score parsing.

The expected rows are pinned as hashes of what upstream's own loaders build from the same
fixture: HELMET @4526dfb data.py `load_icl` (max_test_sample=4) and `load_infbench` /
`load_narrativeqa` (shots 2, seed 42), run once with their `load_dataset` and Llama-2
tokenizer pointed at this fixture (NarrativeQA without its unseeded demos)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

from evalkit.benchmarks.helmet import books, icl, judge
from evalkit.benchmarks.helmet import metrics as M
from evalkit.benchmarks.helmet.fit import fit
from tests.data.helmet.layout import build


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("helmet"))


@pytest.fixture(scope="module")
def llama2(layout: Path):  # the character-level stand-in in the Llama-2 slot
    from evalkit.benchmarks.helmet.hub import tokenizer

    return tokenizer(layout / "hf", "meta-llama/Llama-2-7b-hf")


def _sha(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj).encode()).hexdigest()


# --- metrics ------------------------------------------------------------------------------


def test_icl_and_choice_metrics_worked_examples() -> None:
    assert M.icl_exact_match("label: 4\nbecause ...", "4") == 1.0  # text after "label:" on its line
    assert M.icl_exact_match("The label is 4", "4") == 0.0  # no "label:": the first line, not equal
    assert M.icl_exact_match("LABEL: 12.", "12") == 1.0  # case and punctuation do not matter
    answers = ["B", "B. the Alba"]
    assert M.choice_exact_match("B", answers) == 1.0
    assert M.choice_exact_match("Answer: B", answers) == 1.0  # parsed after "Answer:"
    assert M.choice_exact_match("I pick b. THE ALBA since ...", answers) == 1.0  # 2nd answer as substring
    assert M.choice_exact_match("C", answers) == 0.0
    # SQuAD normalisation drops the article "a": an empty output matches the answer A (upstream quirk)
    assert M.choice_exact_match("", ["A", "A. the Alba"]) == 1.0


def test_rouge_l_matches_rouge_score() -> None:
    # values of rouge_score 0.1.2 RougeScorer(["rougeL"], use_stemmer=True), as HELMET calls it
    assert M.rouge_l("They are headed for the North Pole", "the North Pole") == pytest.approx(
        (3 / 7, 1.0, 0.6)
    )
    p, r, f = M.rouge_l(
        "The running dogs were quickly jumping over fences.", "A dog jumps over the fence quickly"
    )
    assert (p, r, f) == pytest.approx((0.5, 4 / 7, 0.533333), abs=1e-6)  # stems: run/dog/jump/fenc
    assert M.rouge_l("", "x") == (0.0, 0.0, 0.0)
    # max over answers, and over the raw and the "Answer:"-parsed output (default_post_process)
    assert M.rouge_l_f1_with_parse("Answer: a school\nthey built it", ["a school", "x"]) == 1.0


# --- ICL ----------------------------------------------------------------------------------

ICL_UPSTREAM = {
    "icl_trec_coarse_6600shot_balance": "a0b5dbfdedfd527a89bf4f4129cf5e1aa168288e5a89a9fbcea089601d44de8c",
    "icl_trec_fine_6400shot_balance": "a83b9a20fe1d4ca85294a8a761af7efa50f3966ec963f19cbbc33ecf80e010f9",
    "icl_banking77_5900shot_balance": "cb837c90724b7c7c27b4c2b392a207dfffbbf28226d575261f374379d1864415",
    "icl_clinic150_7050shot_balance": "fea2e27d861418a8695557a927f8d8f08a28373fe063accc0863281eb2bbb07c",
    "icl_nlu_8296shot_balance": "475ff42817f20a51dcd761ab8fe6457be47349069967c79be6c2a0aba80c69cf",
}


@pytest.mark.parametrize("name", list(ICL_UPSTREAM))
def test_icl_rows_are_upstreams(layout: Path, name: str) -> None:
    rows = icl.read_icl(name, layout / "hf", 4)
    assert _sha([[r["context"], r["question"], r["answers"][0]] for r in rows]) == ICL_UPSTREAM[name]


def test_icl_demos_balanced_and_mapping_consistent(layout: Path) -> None:
    rows = icl.read_icl("icl_trec_coarse_6600shot_balance", layout / "hf", 4)
    assert len(rows) == 4  # 12 test rows > 4: shuffled and label-balanced
    for r in rows:
        lines = r["context"].split("\n\n")
        assert len(lines) == 6600  # the name's shots
        labels = Counter(x.rsplit("\nlabel: ", 1)[1] for x in lines)
        assert sorted(labels.values()) == [1100] * 6  # 6 labels, 1100 rounds each
        text_to_label = {x.rsplit("\nlabel: ", 1)[0]: x.rsplit("\nlabel: ", 1)[1] for x in lines}
        assert text_to_label.get(r["question"], r["answers"][0]) == r["answers"][0]  # one mapping per row
    assert len({r["context"][:200] for r in rows}) == 4  # each row draws its own demos and mapping


def test_icl_nlu_split_is_datasets_train_test_split() -> None:
    import datasets

    split = datasets.Dataset.from_dict({"i": list(range(37))}).train_test_split(test_size=0.1, seed=42)
    assert icl.train_test_split(37, 0.1, 42) == (split["train"]["i"], split["test"]["i"])


def test_balance_labels_tops_up_small_labels() -> None:
    rows = [{"label": 0}] * 5 + [{"label": 1}] * 2  # 3 rounds: label 1 has 2 rows, drawn again
    out = icl.balance_labels(rows, "label", 6, seed=1)
    assert Counter(r["label"] for r in out) == {0: 3, 1: 3}


# --- LongQA and Summ rows -------------------------------------------------------------------

BOOKS_UPSTREAM = {
    "infbench_qa_eng_130862": "7ebc1d3613e5771080bfe0ac16e1a482145e4905c11f8c2f06b4631e480fdbf1",
    "infbench_choice_eng_130862": "c07f32f21dff53d0a2561e44365ce53b51ecdd4265f36514184b4c169d1393fb",
    "infbench_sum_eng_129672": "4a925aead63cfbc2cd2f1db00907f4c80f845d64f9492b26d424141a3bb09f71",
}


@pytest.mark.parametrize("name", list(BOOKS_UPSTREAM))
def test_infbench_rows_are_upstreams(layout: Path, llama2, name: str) -> None:
    n = int(name.rsplit("_", 1)[1])
    rows = books.read_infbench(name, n, layout / "data", layout / "hf", llama2, 100)
    blob = [[r["context"], r["question"], r["answers"], r["demo"]] for r in rows]
    assert _sha(blob) == BOOKS_UPSTREAM[name]
    # row 2 (1,000 tokens) fails filter_length; row 0 is pre-cut, row 1 (70,000) is whole
    by_index = {r["helmet_index"]: r for r in rows}
    assert set(by_index) == {0, 1}
    assert by_index[0]["context"].endswith(books.POSTFIX) and by_index[0]["pre_cut_tokens"] == 140_001
    assert not by_index[1]["context"].endswith(books.POSTFIX)


def test_pre_cut_keeps_llama2_budget(layout: Path, llama2) -> None:
    # 140,000 chars = 140,001 tokens with BOS; keep max_length - len(ids(POSTFIX)) tokens, BOS
    # included, i.e. 130,772 - 39 - 1 + 1 characters, then the postfix (truncate_llama2)
    text = "x" * 140_000
    cut, n = books.pre_cut(llama2, text, 130_772)
    assert n == 140_001
    assert cut == "x" * (130_772 - (len(books.POSTFIX) + 1)) + books.POSTFIX
    assert books.pre_cut(llama2, "short", 130_772) == ("short", 6)


def test_narrativeqa_rows(layout: Path, llama2) -> None:
    rows = books.read_narrativeqa("narrativeqa_130772", 130_772, layout / "hf", llama2, 100)
    upstream = "7659df7b03cb634a8a94171313dcd0d6ac03a185fd43ebf6dd8ddb56c9fd2f42"
    assert _sha([[r["context"], r["question"], r["answers"]] for r in rows]) == upstream
    assert [r["question"] for r in rows] == [
        "What did they build?",
        "Where did the crew stay?",
    ]  # short story dropped
    demo = rows[0]["demo"]
    assert (
        demo.startswith("For example:\n\nQuestion: train question ")
        and demo.count("\nAnswer: train answer") == 2
    )
    assert demo.endswith("Now, use the following story to answer the question:\n\n")
    again = books.read_narrativeqa("narrativeqa_130772", 130_772, layout / "hf", llama2, 100)
    assert [r["demo"] for r in again] == [r["demo"] for r in rows]  # seeded, unlike upstream


def test_summ_rows_carry_the_judges_inputs(layout: Path, llama2) -> None:
    inf = books.read_infbench("infbench_sum_eng_129672", 129_672, layout / "data", layout / "hf", llama2, 100)
    assert {r["id"]: r["keypoints"] for r in inf}[0] == ["kp 0.1", "kp 0.2", "kp 0.3"]
    assert all(r["expert_summary"] == r["answers"][0] for r in inf)
    lex = books.read_multi_lexsum("multi_lexsum_130372", 130_372, layout / "data", llama2, 100)
    # case-3 has no short summary, case-2 is 500 tokens: both dropped
    assert sorted(r["id"] for r in lex) == ["case-0", "case-1"]
    r0 = next(r for r in lex if r["id"] == "case-0")
    assert r0["answers"] == ["short summary 0"] and r0["expert_summary"] == "long summary 0"
    assert r0["keypoints"] == ["case 0 point a", "case 0 point b"]
    assert r0["context"].endswith(books.POSTFIX)
    # demos: summaries of validation rows outside the scored subset (case-2)
    assert r0["demo"] == (
        "Example summaries:\n\nSummary: short summary 2\n\n"
        "Now, write a summary of the following legal documents.\n"
    )


# --- the context cut (HELMET's tokenize) ----------------------------------------------------


def test_fit_cuts_the_end_of_the_context(llama2) -> None:
    template = "Read.\n\n{context}\n\nQuestion: {question}"
    fields = {"context": "abcdefghij" * 10, "question": "why?"}
    text = template.format(**fields)  # 123 characters = 123 tokens (no BOS here), + 5 of the template
    exact = fit(llama2, template, fields, budget=128, overhead=5)
    assert exact.text == text and exact.cut_tokens == 0 and exact.prompt_tokens == 128
    cut = fit(llama2, template, fields, budget=100, overhead=5)  # 128 > 100: 28 tokens off the context's end
    assert cut.cut_tokens == 28 and cut.prompt_tokens == 128
    assert cut.text == template.format(context=fields["context"][:72], question="why?")


# --- the judge ------------------------------------------------------------------------------


def test_longqa_judge_prompt_and_scores() -> None:
    p = judge.longqa_prompt("Where?", ["on the island", "north"], "Answer: on the\nisland, I think")
    assert (
        "Question: Where?\nCorrect answers: ['on the island', 'north']\nAnswer: on the island, I think\n" in p
    )
    assert p.startswith("Please act as an impartial judge") and '{"fluency": 0, "correctness": 1}' in p
    s = judge.score_longqa('Reasoning ... {"fluency": 1, "correctness": 2}')
    assert s.ok and s.value == pytest.approx(2 / 3)  # fluency x correctness / 3 (collect_results' 100/3)
    assert judge.score_longqa('{"fluency": 0, "correctness": 3}').value == 0.0
    # the last brace group is the one read, as parse_json reads it
    assert (
        judge.score_longqa('{"fluency": 0, "correctness": 0} then {"fluency": 1, "correctness": 3}').value
        == 1.0
    )


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ("The answer is correct.", "no JSON"),
        ('{"fluency": 1}', "no JSON with numeric fluency and correctness"),
        ('{"fluency": 1, "correctness": "high"}', "numeric"),
        ('{"fluency": 1, "correctness": 5}', "out of the rubric"),
        ("{fluency: 1, correctness: 2}", "no JSON"),
    ],
)
def test_malformed_longqa_judge_reply_scores_zero_with_reason(reply: str, why: str) -> None:
    s = judge.score_longqa(reply)
    assert s.value == 0.0 and not s.ok and why in s.reason


def test_summ_judge_prompts_and_f1() -> None:
    fp, rp, pp = judge.summ_prompts(False, "  My summary.  ", ["a", "b", "c"], "Expert long summary.")
    assert fp.endswith('Text: "My summary."\n')
    assert 'Key points:\n1. a\n2. b\n3. c\n\nSummary: "My summary."\n' in rp
    assert pp.endswith('Expert summary: "Expert long summary."\n\nProvided summary: "My summary."\n')
    book = judge.summ_prompts(True, "S", ["a"], "E")
    assert "summary of a novel" in book[1] and "summary of a civil lawsuit" in rp
    assert book[2].endswith(
        "<start of summary>E<end of summary>\n\nProvided summary: <start of summary>S<end of summary>\n"
    )
    # recall 2/3 key points, precision 1/2 sentences: F1 = 2 * (2/3) * (1/2) / (2/3 + 1/2) = 4/7
    replies = ['{"fluency": 1}', 'so {"recall": 2}', '```json\n{"precision": 1, "sentence_count": 2}\n```']
    s = judge.score_summ(replies, 3)
    assert s.ok and s.value == pytest.approx(4 / 7)
    assert s.parts["recall"] == pytest.approx(2 / 3) and s.parts["precision"] == 0.5
    assert judge.score_summ(['{"fluency": 0}', *replies[1:]], 3).value == 0.0  # fluency gates the F1
    assert judge.score_summ([*replies[:2], '{"precision": 0, "sentence_count": 0}'], 3).value == 0.0


def test_malformed_summ_judge_reply_scores_zero_with_reason() -> None:
    s = judge.score_summ(['{"fluency": 1}', "I cannot score this.", '{"precision": 1}'], 3)
    assert s.value == 0.0 and not s.ok
    assert "recall" in s.reason and "sentence_count" in s.reason and "scored 0" in s.reason


def test_judge_sampling_is_helmets() -> None:
    p = judge.judge_params("longqa")
    assert (p.temperature, p.top_p, p.seed, p.max_new_tokens) == (0.1, 0.9, 42, 2048)
    assert judge.judge_params("summ").max_new_tokens == 4096
