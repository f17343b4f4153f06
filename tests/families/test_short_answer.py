"""The short_answer family: a benchmark as a YAML file and a JSONL file, run with `evalkit run`.

The tasks here are written into a temporary tasks directory (EVALKIT_TASKS_DIR) from the
example in docs/examples/, and answered by a replaying runner loaded from a runner profile, so
every test goes through the CLI as a user's new benchmark would. Real data (MATH-500 (ES) as
MMATH ships it, AIME 2025) checks that the YAML-configured modes give the math family's
verdicts on the same responses.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from evalkit.cli import main
from evalkit.errors import DataError
from evalkit.specs import load_spec
from tests.families.hostile import hostile_outputs
from tests.families.replay_runner import write_profile

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "docs" / "examples" / "short_answer_task.yaml"
SHARED = REPO.parent / "shared" / "data"
MATH500_ES = SHARED / "math500_es" / "MMATH_es_MATH500_subset.jsonl"
AIME = SHARED / "aime2025" / "aime2025.jsonl"


def read_jsonl(p: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in p.read_text(encoding="utf-8").splitlines() if x.strip()]


def example() -> dict[str, Any]:
    raw = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    assert isinstance(raw, dict)
    return raw


def write_task(
    tasks: Path, name: str, scoring: dict[str, Any], rows: list[dict[str, Any]], **over: Any
) -> Path:
    """A task `name` in `tasks`: the docs example with this scoring block, rows as its sample."""
    spec = copy.deepcopy(example())
    spec.update(name=name, scoring=scoring, **over)
    spec["data"]["sample"] = f"samples/{name}.jsonl"
    (tasks / "samples").mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    (tasks / "samples" / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    path = tasks / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def evalkit_run(
    tmp: Path, task: str, responses: list[tuple[str, str]], mode: str = "non-reasoning", run_id: str = ""
) -> dict[str, dict[str, Any]]:
    """`evalkit run TASK` on the replaying runner; the per-sample records by id."""
    run_id = run_id or f"{task}-{mode}"
    profile = write_profile(tmp / f"replay-{run_id}.yaml", responses)
    argv = ["run", task, "--runner", str(profile), "--mode", mode, "--data", "sample", "--no-progress"]
    assert main([*argv, "--results-dir", str(tmp / "runs"), "--run-id", run_id]) == 0
    records = read_jsonl(tmp / "runs" / run_id / "samples.jsonl")
    return {str(r["id"]): r for r in records}


@pytest.fixture
def tasks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "tasks"
    d.mkdir()
    monkeypatch.setenv("EVALKIT_TASKS_DIR", str(d))
    return d


# --- the docs example runs as it is --------------------------------------------------------
def test_the_docs_example_runs_from_its_own_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EVALKIT_TASKS_DIR", str(EXAMPLE.parent))
    rows = read_jsonl(EXAMPLE.parent / "samples" / "short_answer_task.jsonl")
    q = {r["id"]: r["question"] for r in rows}
    responses = [
        (q["apples"], "17 + 3 * 12 = 53\nAnswer: 53"),
        (q["tickets"], "1,250 x 8 = 10,000\n**Answer:** 10,000 dollars"),
        (q["halves"], "Each piece is $\\boxed{1.875}$ m."),  # no Answer line: the second pattern
        (q["cold"], "4 - 11 = -7\nAnswer: −7 degrees"),  # U+2212 minus
        (q["pages"], "Answer: 45\n\nWait, 45 * 120 = 5,400.\nAnswer: 5400"),  # the last Answer line
        (q["share"], "Answer: 333,333.34 won"),  # the second accepted answer
    ]
    recs = evalkit_run(tmp_path, "short_answer_task", responses)
    assert {i: r["correct"] for i, r in recs.items()} == dict.fromkeys(q, True)
    assert recs["tickets"]["extracted"] == "10,000" and recs["halves"]["reason"].startswith("pattern 2")
    metrics = json.loads((tmp_path / "runs" / "short_answer_task-non-reasoning" / "metrics.json").read_text())
    assert metrics["metric"].startswith("accuracy") and metrics["value"] == 1.0

    wrong = [(question, "Answer: 54") for question in q.values()]
    recs = evalkit_run(tmp_path, "short_answer_task", wrong, run_id="wrong")
    assert not any(r["correct"] for r in recs.values())


def test_evalkit_score_scores_responses_made_elsewhere_by_id(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_TASKS_DIR", str(EXAMPLE.parent))
    rows = [
        {"id": "apples", "response": "Answer: 53"},
        {"id": "cold", "response": "<think>4 - 11</think>\nAnswer: -7"},
        {"id": "share", "response": "<think>1e6 / 3</think>Answer: 333333.335"},  # within rel_tol 1e-6
        {"id": "pages", "response": "<think>45 * 120</think>I cannot tell."},
    ]
    resp = tmp_path / "r.jsonl"
    resp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "v.jsonl"
    args = ["score", "short_answer_task", "--responses", str(resp), "--data", "sample", "--out", str(out)]
    assert main([*args, "--mode", "reasoning"]) == 0
    verdicts = {v["id"]: v for v in read_jsonl(out)}
    assert {i: v["correct"] for i, v in verdicts.items()} == {
        "apples": False, "cold": True, "share": True, "pages": False,
    }  # fmt: skip
    assert "not closed" in verdicts["apples"]["reason"] and "no match" in verdicts["pages"]["reason"]


# --- exact match ---------------------------------------------------------------------------
CAPITALS = [
    {"id": "es", "question": "What is the capital of Spain?", "answer": "Madrid"},
    {"id": "kr", "question": "What is the capital of South Korea?", "answer": ["Seoul", "서울"]},
    {"id": "us", "question": "Which city is the seat of the US government?", "answer": "Washington, D.C."},
    {"id": "uk", "question": "What is the capital of the United Kingdom?", "answer": "London"},
]


def test_exact_match_normalises_both_sides_and_accepts_any_listed_answer(tmp_path, tasks):
    scoring = {
        "match": "exact",
        "patterns": [r"(?im)^\W*final answer\W*:\s*(.+)$"],
        "normalize": ["nfkc", "lower", "no_articles", "no_punct", "collapse_space", "strip_period"],
    }
    write_task(tasks, "capitals", scoring, CAPITALS)
    q = {r["id"]: r["question"] for r in CAPITALS}
    responses = [
        (q["es"], "Spain's capital.\nFinal answer: ＭＡＤＲＩＤ."),  # full width, case, period
        (q["kr"], "**Final answer:** 서울"),  # the second accepted answer
        (q["us"], "Final answer: washington dc"),  # punctuation removed on both sides
        (q["uk"], "It is not Paris.\nFinal answer: the city of London"),  # not equal: wrong
    ]
    recs = evalkit_run(tmp_path, "capitals", responses)
    assert {i: r["correct"] for i, r in recs.items()} == {"es": True, "kr": True, "us": True, "uk": False}
    assert recs["es"]["details"]["normalized"] == "madrid"
    assert recs["uk"]["details"]["normalized"] == "city of london"


def test_reasoning_mode_reads_only_the_answer_part(tmp_path, tasks):
    write_task(
        tasks, "capitals", {"match": "exact", "extractor": "last_line", "normalize": ["lower"]}, CAPITALS
    )
    q = {r["id"]: r["question"] for r in CAPITALS}
    responses = [
        (q["es"], "<think>Madrid? Or Barcelona.\nBarcelona</think>\nMadrid"),
        (q["kr"], "<think>The answer is Seoul, surely\nSeoul"),  # never closed: no answer
        (q["us"], "<think>\nWashington, D.C.\n</think>\n\n"),  # the answer part is empty
        (q["uk"], "<think>Paris</think>London"),
    ]
    recs = evalkit_run(tmp_path, "capitals", responses, mode="reasoning")
    assert {i: r["correct"] for i, r in recs.items()} == {"es": True, "kr": False, "us": False, "uk": True}
    assert recs["kr"]["extracted"] is None and "not closed" in recs["kr"]["reason"]
    assert recs["us"]["extracted"] is None and recs["us"]["score"] == 0.0


# --- numeric match -------------------------------------------------------------------------
def test_numeric_match_reads_spanish_numbers_within_the_tolerance(tmp_path, tasks):
    rows = [
        {"id": "big", "question": "¿Cuántos habitantes?", "answer": "1.234.567"},
        {"id": "dec", "question": "¿Cuánto mide?", "answer": "2,5"},
        {"id": "pi", "question": "¿Cuánto vale pi?", "answer": 3.14159},
        {"id": "neg", "question": "¿Qué temperatura?", "answer": -3},
        {"id": "far", "question": "¿Cuántos kilómetros?", "answer": 1000},
    ]
    scoring = {"match": "numeric", "patterns": [r"(?i)respuesta\s*:\s*(.+)"], "lang": "es", "abs_tol": 0.001}
    write_task(tasks, "numeros", scoring, rows)
    q = {r["id"]: r["question"] for r in rows}
    responses = [
        (q["big"], "Respuesta: 1 234 567 habitantes"),  # spaces group digits too
        (q["dec"], "Respuesta: 2.5 metros"),  # a decimal point in Spanish text
        (q["pi"], "Respuesta: 3,1416"),  # within abs_tol 0.001
        (q["neg"], "Respuesta: −3 °C"),
        (q["far"], "Respuesta: 1.001"),  # 1001 in Spanish: outside the tolerance
    ]
    recs = evalkit_run(tmp_path, "numeros", responses)
    assert {i: r["correct"] for i, r in recs.items()} == {
        "big": True, "dec": True, "pi": True, "neg": True, "far": False,
    }  # fmt: skip
    assert recs["far"]["details"]["number"] == "1001"


@pytest.mark.parametrize(
    ("text", "lang", "value"),
    [
        ("1,234.5", "en", "1234.5"),
        ("1.234,5", "es", "1234.5"),
        ("3.5", "es", "3.5"),
        ("1.234", "es", "1234"),
        ("1.234", "en", "1.234"),
        ("1,5", "es", "1.5"),
        ("1\u202f000", "en", "1000"),
        ("-4.0e3", "ko", "-4000"),
        ("1,5", "en", None),  # a comma not grouping thousands in English: not a number
        ("12,34,567", "en", None),
        ("3e", "en", None),
        ("1e99999999", "en", None),
        ("9" * 401, "en", None),
        ("1..2", "en", None),
    ],
)
def test_numbers_are_read_by_language(text, lang, value):
    from evalkit.scoring.short_answer import parse_number

    got = parse_number(text, lang).value
    assert got == (Decimal(value) if value is not None else None)


def test_normalisers_do_what_their_names_say():
    from evalkit.scoring.short_answer import normalize

    assert normalize(
        "  The  Answer, é! ", ["strip", "lower", "no_articles", "no_punct", "collapse_space"]
    ) == ("answer é")
    assert (
        normalize("Ｅｓ ＬＡ casa.", ["nfkc", "lower", "no_articles", "strip_period", "no_space"]) == "escasa"
    )
    assert normalize("Straße", ["lower"]) == "strasse"


# --- math match ----------------------------------------------------------------------------
def test_math_match_uses_math_verify_after_a_pattern_or_on_the_whole_answer(tmp_path, tasks):
    rows = [
        {"id": "frac", "question": "Simplify 6/8.", "answer": "\\frac{3}{4}"},
        {"id": "root", "question": "Solve x^2 = 2 for x > 0.", "answer": "\\sqrt{2}"},
        {"id": "set", "question": "Roots of x^2 - 1?", "answer": "-1, 1"},
    ]
    write_task(tasks, "algebra", {"match": "math", "patterns": [r"ANSWER=(.*)"]}, rows)
    write_task(tasks, "algebra_free", {"match": "math", "lang": "en", "timeout_s": 5.0}, rows)
    q = {r["id"]: r["question"] for r in rows}
    responses = [
        (q["frac"], "ANSWER=0.75"),
        (q["root"], "ANSWER=2^{1/2}"),
        (q["set"], "ANSWER=\\{1, -1\\}"),
    ]
    recs = evalkit_run(tmp_path, "algebra", responses)
    assert all(r["correct"] for r in recs.values()), {i: r["reason"] for i, r in recs.items()}
    free = [
        (q["frac"], "So $\\boxed{\\frac{6}{8}}$."),
        (q["root"], "The answer is $\\sqrt{3}$."),
        (q["set"], ""),
    ]
    recs = evalkit_run(tmp_path, "algebra_free", free)
    assert {i: r["correct"] for i, r in recs.items()} == {"frac": True, "root": False, "set": False}
    assert recs["frac"]["details"]["method"] == "boxed" and recs["set"]["extracted"] is None


# --- hostile output: zero with a reason, never a crash -------------------------------------
@pytest.mark.parametrize(
    ("match", "scoring"),
    [
        ("exact", {"patterns": [r"(?s)answer:\s*(.*)"], "normalize": ["nfkc", "lower", "no_punct"]}),
        ("numeric", {"extractor": "boxed", "normalize": ["nfkc", "strip"]}),
        ("numeric", {"patterns": [r"(\S+)\s*$"], "occurrence": "first"}),
        ("math", {}),
    ],
)
def test_hostile_outputs_score_zero_with_a_reason(tmp_path, tasks, match, scoring):
    rows = [{"id": f"q{i}", "question": f"Question {i:02d}?", "answer": "7"} for i in range(12)]
    write_task(tasks, "hostile", {"match": match, **scoring}, rows)
    made = hostile_outputs(seed=20, n=12, big=False, tools=[])
    fixed = [
        "",
        "\ud800\udfff\ud800 answer: \ud83d",
        "answer: " + "9" * 5000,
        "\\boxed{" + "{" * 3000 + "7" + "}" * 3000 + "}",
        "\\boxed{" * 2000 + "7",
        "answer: 1e99999999 \\boxed{1e99999999}",
    ]
    texts = [*fixed, *made][: len(rows)]
    responses = [(r["question"], t) for r, t in zip(rows, texts, strict=True)]
    recs = evalkit_run(tmp_path, "hostile", responses)
    assert len(recs) == len(rows)
    for r in recs.values():
        assert r["reason"] and r["score"] in (0.0, 1.0)
        if r["extracted"] is None:
            assert r["score"] == 0.0 and not r["correct"]
    assert not recs["q0"]["correct"] and recs["q0"]["extracted"] is None


# --- the spec is checked when it is loaded ------------------------------------------------
@pytest.mark.parametrize(
    ("scoring", "field", "message"),
    [
        ({}, "scoring.match", "missing"),
        ({"match": "fuzzy"}, "scoring.match", "'exact', 'numeric' or 'math'"),
        (
            {"match": "exact", "patterns": ["(unclosed"]},
            "scoring.patterns[1]",
            "not a valid regular expression",
        ),
        ({"match": "exact", "patterns": ["ok (x)", "(a)(b)"]}, "scoring.patterns[2]", "one capture group"),
        ({"match": "exact", "patterns": []}, "scoring.patterns", "at least 1"),
        (
            {"match": "exact", "normalize": ["strip", "stem"]},
            "scoring.normalize[2]",
            "unknown normaliser 'stem'",
        ),
        (
            {"match": "exact", "extractor": "regex"},
            "scoring.extractor",
            "unknown extractor 'regex' (known: boxed",
        ),
        ({"match": "exact", "extractor": "boxed", "patterns": ["(x)"]}, "scoring.extractor", "not both"),
        ({"match": "exact", "occurrence": "first"}, "scoring.occurrence", "only with scoring.patterns"),
        ({"match": "math", "normalize": ["lower"]}, "scoring.normalize", "math-verify"),
        ({"match": "exact", "abs_tol": 0.1}, "scoring.abs_tol", "only with match: numeric"),
        ({"match": "numeric", "rel_tol": -1}, "scoring.rel_tol", "greater than or equal to 0"),
        ({"match": "numeric", "timeout_s": 3}, "scoring.timeout_s", "only with match: math"),
        ({"match": "exact", "lang": "es"}, "scoring.lang", "numeric or math"),
        ({"match": "numeric", "lang": "fr"}, "scoring.lang", "'en', 'es' or 'ko'"),
        ({"match": "exact", "normalise": ["lower"]}, "scoring.normalise", "unknown key"),
    ],
)
def test_bad_scoring_blocks_name_the_file_and_the_key(tasks, scoring, field, message):
    path = write_task(tasks, "bad", scoring, CAPITALS)
    with pytest.raises(DataError) as e:
        load_spec(path)
    assert e.value.field == field and "bad.yaml" in str(e.value)
    assert message in str(e.value)


@pytest.mark.parametrize(
    ("match", "answer", "problem"), [("numeric", "Madrid", "is not a number"), ("exact", "...", "empty once")]
)
def test_a_gold_answer_the_mode_cannot_read_names_file_row_and_field(
    tmp_path, tasks, capsys, match, answer, problem
):
    rows = [
        {"id": "a", "question": "a?", "answer": "12"},
        {"id": "b", "question": "b?", "answer": [7, "7.5"]},
    ]
    rows.append({"id": "c", "question": "c?", "answer": answer})
    write_task(tasks, "gold", {"match": match, "normalize": ["no_punct"]}, rows)
    profile = write_profile(tmp_path / "p.yaml", [])
    argv = ["run", "gold", "--runner", str(profile), "--data", "sample", "--results-dir", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "gold.jsonl, row 3, field 'answer'" in err and problem in err


# --- real data: the YAML family agrees with the math family -------------------------------
def _styles(gold: str, i: int) -> str:
    """One of several ways a model writes (or fails to write) the answer to a problem."""
    wrong = str(int(gold) + 1)
    return [
        f"Razonamos paso a paso.\n\nLa respuesta final es $\\boxed{{{gold}}}$.",
        f"Por lo tanto, el resultado es $\\boxed{{{wrong}}}$.",
        f"Tras simplificar, obtenemos el valor pedido.\n\nRespuesta: {gold}",
        f"Primero $\\boxed{{{gold}}}$... no, corrijo: $\\boxed{{{wrong}}}$",
        "No puedo resolver este problema.",
        f"<think>Quizá {wrong}.</think>\nLa respuesta es $\\boxed{{{gold}}}$.",
    ][i % 6]


REAL = [(MATH500_ES, "es", "question"), (AIME, "en", "problem")]


@pytest.mark.parametrize(("source", "lang", "question"), REAL)
def test_yaml_tasks_agree_with_the_math_family_on_real_problems(tmp_path, tasks, source, lang, question):
    _agree(tmp_path, tasks, source, lang, question, limit=60)


@pytest.mark.slow  # every problem: 311 of MATH-500 (ES), 30 of AIME 2025
@pytest.mark.parametrize(("source", "lang", "question"), REAL)
def test_yaml_tasks_agree_with_the_math_family_on_every_real_problem(tmp_path, tasks, source, lang, question):
    _agree(tmp_path, tasks, source, lang, question, limit=None)


def _agree(tmp_path: Path, tasks: Path, source: Path, lang: str, question: str, limit: int | None) -> None:
    if not source.is_file():
        pytest.skip(f"{source} not present")
    rows = [
        {"id": str(i), "question": r[question], "answer": r["answer"]}
        for i, r in enumerate(read_jsonl(source))
    ]
    rows = rows[:limit]
    math_spec = copy.deepcopy(example())
    math_spec["prompt"]["template"] = "{{ question }}"
    common = {"prompt": math_spec["prompt"], "family": "math"}
    write_task(tasks, "as_math_family", {"lang": lang, "timeout_s": 5.0}, rows, **common)
    common["family"] = "short_answer"
    write_task(tasks, "as_math_mode", {"match": "math", "lang": lang}, rows, **common)
    numeric = {
        "match": "numeric",
        "lang": lang,
        "patterns": [r"\\boxed\{([^{}]*)\}", r"(?i)respuesta\s*:\s*(.+)"],
        "occurrence": "last",
    }
    write_task(tasks, "as_numeric", numeric, rows, **common)
    responses = [(r["question"], _styles(str(r["answer"]), i)) for i, r in enumerate(rows)]
    runs = {t: evalkit_run(tmp_path, t, responses) for t in ("as_math_family", "as_math_mode", "as_numeric")}
    family = runs["as_math_family"]
    right = sum(1 for i in range(len(rows)) if i % 6 in (0, 2, 5))  # the styles giving the answer
    assert sum(r["correct"] for r in family.values()) == right
    for name in ("as_math_mode", "as_numeric"):
        other = runs[name]
        differ = {
            i: (family[i]["reason"], other[i]["reason"])
            for i in family
            if family[i]["correct"] != other[i]["correct"]
        }
        assert not differ, f"{name} disagrees with the math family: {differ}"
    for i, r in runs["as_math_mode"].items():  # the same checker: the same answer found
        assert r["extracted"] == family[i]["extracted"]
