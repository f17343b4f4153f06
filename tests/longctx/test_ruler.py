"""RULER generation: deterministic, sized in the model's tokens, answers present in the text;
the string-match metrics; the family end to end with a scripted model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.benchmarks.ruler import metrics
from evalkit.benchmarks.ruler.generate import generate_task
from evalkit.benchmarks.ruler.keys import PairList
from evalkit.longctx.tokens import chat_overhead, count_tokens, load_tokenizer
from evalkit.pipeline import RunConfig, run_eval
from tests.fakes import ScriptedRunner

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "data" / "ruler"
FAST = ["niah_single_1", "niah_multikey_2", "niah_multikey_3", "vt", "cwe", "fwe", "niah_single_3"]


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer("tiny")


@pytest.mark.parametrize("task", FAST)
def test_same_seed_tokenizer_length_give_identical_samples(tok, task: str) -> None:
    def gen(seed: int = 42):
        return generate_task(
            task,
            lambda t: count_tokens(tok, t),
            4096,
            2,
            corpus=CORPUS,
            seed=seed,
            template_tokens=chat_overhead(tok),
        )

    a, b = gen(), gen()
    assert json.dumps([s.__dict__ for s in a]) == json.dumps([s.__dict__ for s in b])  # byte-identical
    assert [s.outputs for s in gen(7)] != [s.outputs for s in a]  # the seed matters
    for s in a:
        # Fits: chat template + prompt (with answer prefix) + output budget <= 4096, and close to it.
        assert s.length <= 4096 and s.length > 3000, s.length
        assert count_tokens(tok, s.input + s.answer_prefix) + chat_overhead(tok) <= 4096
        if task not in ("cwe", "fwe"):  # the answers are written in the text (cwe/fwe: counted words)
            assert all(o in s.input for o in s.outputs)


def test_longer_runs_extend_shorter_ones(tok) -> None:
    count = lambda t: count_tokens(tok, t)  # noqa: E731
    two = generate_task("niah_single_1", count, 4096, 2, corpus=CORPUS)
    three = generate_task("niah_single_1", count, 4096, 3, corpus=CORPUS)
    assert three[:2] == two


def test_key_list_matches_sorted_set_on_a_small_case() -> None:
    adjs, nouns = ["well", "well-known", "red", "a", "a b"], ["known-x", "x", "cat", "b"]
    want = sorted({f"{a}-{n}" for a in adjs for n in nouns})
    assert list(PairList(adjs, nouns)) == want


def test_string_match_metrics() -> None:
    assert metrics.string_match_all("The numbers are 123 and 456.", ["123", "456"]) == 1.0
    assert metrics.string_match_all("only 123", ["123", "456"]) == 0.5
    assert metrics.string_match_all("", ["1"]) == 0.0
    assert metrics.string_match_part("It is FRANCE.", ["France", "Paris"]) == 1.0
    assert metrics.string_match_part("\x00\x01 nothing", ["France"]) == 0.0
    assert metrics.postprocess("  a\x07b ") == "a\nb"


def test_ruler_family_end_to_end(tmp_path: Path) -> None:
    """A model that copies the needle values scores 100 on the needle tasks it answers."""

    def answer(req):
        text = req.messages[0]["content"]
        vals = [
            ln.split(" is: ")[1].rstrip(".")
            for ln in text.split("\n")
            if "special magic" in ln and " is: " in ln
        ]
        return "<think>\n\n</think>\n\n" + " ".join(vals)

    res = run_eval(
        RunConfig(task="ruler", limit=1, results_dir=tmp_path, progress=False), runner=ScriptedRunner(answer)
    )
    m = res.metrics
    assert m["value"] == 1.0 and m["lengths"] == [4096]
    rec = json.loads((res.run_dir / "samples.jsonl").read_text().splitlines()[0])
    assert rec["subject"] == "niah_single_1" and rec["correct"]
