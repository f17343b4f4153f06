"""The four math tasks: specs, real data, hub-layout copies, scoring with repeats, `evalkit score`."""

import json
from collections import Counter
from pathlib import Path

import pytest

from evalkit.cli import main
from evalkit.data import Row, load_rows
from evalkit.errors import DataError
from evalkit.families import BuildContext, ScoreContext, load_family
from evalkit.pipeline import RunConfig, plan_run, run_eval
from evalkit.published import lookup
from evalkit.records import Completion
from evalkit.registry import get_task, list_tasks
from evalkit.scoring.math_equiv import check_answer
from evalkit.solvers import EpisodeOutput
from tests.fakes import ScriptedRunner

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"
# Every task of the family (a new one is checked without an edit here).
TASKS = [t for t in list_tasks() if get_task(t).family == "math"]
FAMILY = load_family("math")


def read_jsonl(p: Path) -> list[dict]:
    return [json.loads(x) for x in p.read_text(encoding="utf-8").splitlines() if x.strip()]


@pytest.mark.parametrize("task", TASKS)
def test_spec_maps_both_modes_to_the_published_figures(task):
    spec = get_task(task)
    assert spec.family == "math" and set(spec.modes) == {"reasoning", "non-reasoning"}
    for mode in spec.modes:
        figs = lookup(spec.published_benchmark, mode)
        assert figs and figs[0].is_subject and figs[0].value is not None, (task, mode)
    assert spec.settings("reasoning").max_new_tokens == 65536  # the report's math budget
    assert spec.settings("reasoning").temperature == 0.6 and spec.settings("reasoning").top_p == 0.95
    assert "EXAONE" in spec.prompt["source"] and "not published" in spec.prompt["source"]


def test_repeats_default_to_the_protocol_and_n_overrides():
    for task, n in [("aime2025", 32), ("hmmt_feb2025", 32), ("math500_es", 4), ("ksm", 1)]:
        plan = plan_run(RunConfig(task=task, runner="exaone-4.0-32b-gptq", mode="reasoning", data="sample"))
        assert (plan.n, plan.params.max_new_tokens, plan.capped) == (n, 65536, False)
    plan = plan_run(RunConfig(task="aime2025", n=4, mode="reasoning", data="sample"))  # the tiny profile
    assert plan.n == 4 and plan.capped and plan.params.max_new_tokens == 96


def test_bundled_aime_and_hmmt_are_the_real_benchmarks():
    aime = load_rows(get_task("aime2025"), "sample")
    shared = read_jsonl(SHARED / "aime2025" / "aime2025.jsonl")
    assert [r.id for r in aime.rows] == [str(i) for i in range(1, 31)] and not aime.synthetic
    assert [(r.fields["id"], r.fields["problem"], r.fields["answer"]) for r in aime.rows] == [
        (s["id"], s["problem"], s["answer"]) for s in shared
    ]
    assert all(0 <= int(r.fields["answer"]) <= 999 for r in aime.rows)
    hmmt = load_rows(get_task("hmmt_feb2025"), "sample")
    shared = read_jsonl(SHARED / "hmmt_feb2025" / "hmmt_feb2025.jsonl")
    assert [(r.fields["problem"], r.fields["answer"]) for r in hmmt.rows] == [
        (s["problem"], s["answer"]) for s in shared
    ]


def test_math500_es_stand_in_is_the_mmath_subset_and_labelled():
    spec = get_task("math500_es")
    full = read_jsonl(REPO / "tasks" / "samples" / "math500_es_mmath311.jsonl")
    assert full == read_jsonl(SHARED / "math500_es" / "MMATH_es_MATH500_subset.jsonl") and len(full) == 311
    sample = load_rows(spec, "sample")
    assert [r.fields for r in sample.rows] == full[:20]
    assert "Stand-in" in spec.extra["data_note"] and spec.data.hub is None
    assert "MMATH" in spec.provenance and "unknown" in spec.provenance


@pytest.mark.parametrize("task", ["aime2025", "hmmt_feb2025"])
def test_every_real_gold_answer_is_read_by_the_checker(task):
    """Each gold, boxed as a model would write it, is equivalent to itself, and not to a wrong value."""
    spec = get_task(task)
    loaded = load_rows(spec, "sample")
    for row in loaded.rows:
        s = FAMILY.build_sample(row, spec, BuildContext(loaded.path))
        assert check_answer(f"\\boxed{{{s.target}}}", s.target).correct, s.target
        assert not check_answer("\\boxed{1234567}", s.target).correct, s.target


def test_hmmt_problem_10_needs_both_answers():
    spec = get_task("hmmt_feb2025")
    row = next(r for r in load_rows(spec, "sample").rows if r.id == "10")
    gold = FAMILY.build_sample(row, spec, BuildContext("x")).target
    assert check_answer("\\boxed{\\frac{-1-\\sqrt{17}}{2}, \\frac{-1+\\sqrt{17}}{2}}", gold).correct
    assert not check_answer("\\boxed{\\frac{-1+\\sqrt{17}}{2}}", gold).correct


def test_matharena_hub_layout_copy_is_read_offline(tmp_path):
    """A local copy of MathArena/aime_2025 as laid out on the hub (data/train-*.parquet)."""
    import pandas as pd

    rows = read_jsonl(REPO / "tasks" / "samples" / "aime2025.jsonl")
    repo = tmp_path / "aime_2025"
    (repo / "data").mkdir(parents=True)
    pd.DataFrame([{k: r[k] for k in ("problem_idx", "problem", "answer")} for r in rows]).to_parquet(
        repo / "data" / "train-00000-of-00001.parquet"
    )
    spec = get_task("aime2025")
    loaded = load_rows(spec, str(repo))
    assert [r.id for r in loaded.rows] == [str(i) for i in range(1, 31)]
    assert FAMILY.build_sample(loaded.rows[0], spec, BuildContext(loaded.path)).target == "70"


def test_hrm8k_hub_layout_copy_with_float_answers(tmp_path):
    """A local copy of HAERAE-HUB/HRM8K: README configs -> HRM8K/ksm_test.csv (config KSM)."""
    repo = tmp_path / "HRM8K"
    (repo / "HRM8K").mkdir(parents=True)
    (repo / "README.md").write_text(
        "---\nlicense: mit\nconfigs:\n"
        "- config_name: GSM8K\n  data_files:\n  - split: test\n    path: HRM8K/gsm8k_test.csv\n"
        "- config_name: KSM\n  data_files:\n  - split: test\n    path: HRM8K/ksm_test.csv\n---\n# HRM8K\n"
    )
    (repo / "HRM8K" / "gsm8k_test.csv").write_text("question,answer\n1+1?,2.0\n")
    (repo / "HRM8K" / "ksm_test.csv").write_text(
        "question,answer,original,original_answer\n"
        '"$2^{x+1} = 32$의 해는?\n① 2 ② 3 ③ 4 ④ 5 ⑤ 6",3.0,"Solve $2^{x+1}=32$.",3.0\n'
        '"한 변의 길이가 2인 정삼각형의 넓이를 구하시오.",\\sqrt{3},"Area?",\\sqrt{3}\n'
    )
    spec = get_task("ksm")
    loaded = load_rows(spec, str(repo))
    assert len(loaded.rows) == 2 and [r.id for r in loaded.rows] == ["0", "1"]
    first = FAMILY.build_sample(loaded.rows[0], spec, BuildContext(loaded.path))
    assert first.target == "3" and first.metadata["choices"]["3"] == "4"
    assert "최종 정답은 \\boxed{n}" in first.messages[-1]["content"]
    assert FAMILY.build_sample(loaded.rows[1], spec, BuildContext(loaded.path)).target == "\\sqrt{3}"


def test_ksm_bundled_sample_is_synthetic_and_consistent():
    spec = get_task("ksm")
    loaded = load_rows(spec, "sample")
    assert loaded.synthetic and all(r.fields["synthetic"] for r in loaded.rows)
    samples = [FAMILY.build_sample(r, spec, BuildContext(loaded.path)) for r in loaded.rows]
    assert sum(1 for s in samples if s.metadata["choices"]) == 3
    for s in samples:  # each synthetic gold is read by the checker
        assert check_answer(f"정답은 $\\boxed{{{s.target}}}$입니다.", s.target, lang="ko").correct


@pytest.mark.parametrize(
    ("task", "change", "field", "msg"),
    [
        ("aime2025", {"answer": "12a"}, "answer", "expected an integer answer"),
        ("aime2025", {"answer": None}, "answer", "missing"),
        ("aime2025", {"problem": "  "}, "problem", "non-empty problem"),
        ("ksm", {"answer": [1, 2]}, "answer", "expected a string or a number"),
        ("ksm", {"answer": float("nan")}, "answer", "not a finite number"),
        ("math500_es", {"answer": ""}, "answer", "empty answer"),
    ],
)
def test_bad_rows_name_file_row_and_field(tmp_path, task, change, field, msg):
    spec = get_task(task)
    good = load_rows(spec, "sample").rows[0].fields
    p = tmp_path / "rows.jsonl"
    p.write_text(json.dumps(good, ensure_ascii=False) + "\n" + json.dumps({**good, **change}) + "\n")
    loaded = load_rows(spec, str(p)) if task != "aime2025" else None
    if loaded is None:  # aime's id column must stay unique
        bad = {**good, **change, "problem_idx": 99}
        p.write_text(json.dumps(good, ensure_ascii=False) + "\n" + json.dumps(bad) + "\n")
        loaded = load_rows(spec, str(p))
    with pytest.raises(DataError, match=msg) as e:
        FAMILY.build_sample(loaded.rows[1], spec, BuildContext(loaded.path))
    assert (e.value.row, e.value.field) == (2, field) and "rows.jsonl" in str(e.value)


def test_score_reads_only_the_answer_part_in_reasoning_mode():
    spec = get_task("aime2025")
    s = FAMILY.build_sample(
        Row("1", 0, {"problem_idx": 1, "problem": "p", "answer": "70"}), spec, BuildContext("x")
    )
    ctx = ScoreContext(spec=spec, reasoning_mode=True)

    def verdict(text: str):
        c = Completion(text=text, finish_reason="stop")
        return FAMILY.score(s, EpisodeOutput(calls=[c], final=c), ctx)

    assert verdict("try \\boxed{70} ... </think>The answer is $\\boxed{70}$.").correct
    v = verdict("thinking: maybe \\boxed{70} but still going")
    assert not v.correct and v.extracted is None and "</think>" in v.reason
    v = verdict("\\boxed{70}</think>I am not sure.")  # the box in the reasoning does not count
    assert not v.correct and v.extracted is None


def _scripted(answers: dict[str, list[str]]):
    """Answer each problem (recognised by its text) with its next scripted answer."""
    served: Counter = Counter()

    def script(req) -> str:
        content = req.messages[-1]["content"]
        key = next(k for k in answers if k in content)
        i = served[key]
        served[key] += 1
        return answers[key][i % len(answers[key])]

    return ScriptedRunner(script)


def test_repeats_give_pass_at_1_maj_at_n_and_pass_at_k(tmp_path):
    # AIME 1-3 (gold 70, 588, 16): 4/4 right; 1/4 right with a wrong majority; 3/4 right
    runner = _scripted(
        {
            "integer bases": ["\\boxed{70}"] * 4,
            "heptagon": ["\\boxed{588}", "\\boxed{5}", "The answer is 5.", "\\boxed{5}"],
            "baseball team": ["\\boxed{16}", "\\boxed{016}", "\\boxed{7}", "Answer: 16"],
        }
    )
    res = run_eval(
        RunConfig(task="aime2025", limit=3, n=4, data="sample", results_dir=tmp_path, progress=False),
        runner=runner,
    )
    m = res.metrics
    assert m["metric"] == "pass@1[avg-of-4]" and m["value"] == pytest.approx((1 + 0.25 + 0.75) / 3)
    assert (m["n_items"], m["n_samples"], m["n_repeats"]) == (3, 12, 4)
    assert m["maj@n"]["metric"] == "maj@4" and m["maj@n"]["value"] == pytest.approx(2 / 3)
    assert m["pass@k"]["2"]["value"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert m["pass@k"]["4"]["value"] == pytest.approx(1.0)
    assert set(m["pass@k"]) == {"1", "2", "4"}
    assert m["answer_check"]["timeouts"] == 0 and m["answer_check"]["found_in"]["statement"] == 2
    recs = read_jsonl(res.run_dir / "samples.jsonl")
    assert sorted((r["id"], r["repeat"]) for r in recs) == [(i, k) for i in ("1", "2", "3") for k in range(4)]
    assert all(r["details"]["vote_key"] for r in recs)
    report = res.report_path.read_text()
    assert "maj@4" in report and "pass@2" in report and "final answers found in" in report
    assert "85.3" not in report and "35.9" in report  # non-reasoning by default, 32B table


def test_evalkit_score_checks_rows_with_their_own_gold(tmp_path, capsys):
    rows = [
        {"id": "a", "repeat": 0, "gold": "\\frac{1}{2}", "response": "so \\boxed{0.5}"},
        {"id": "a", "repeat": 1, "gold": "\\frac{1}{2}", "response": "so \\boxed{1/3}"},
        {"id": "b", "repeat": 0, "gold": 7, "response": "<think>hmm</think>La respuesta es 7."},
        {"id": "1", "repeat": 0, "response": "\\boxed{070}"},  # a dataset item (AIME problem 1)
    ]
    resp = tmp_path / "r.jsonl"
    resp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    out = tmp_path / "v.jsonl"
    args = ["score", "aime2025", "--responses", str(resp), "--data", "sample", "--out", str(out)]
    assert main([*args, "--mode", "reasoning"]) == 0
    verdicts = read_jsonl(out)
    assert [set(v) for v in verdicts] == [{"id", "repeat", "extracted", "correct", "reason"}] * 4
    # reasoning mode: rows without </think> have no answer
    assert [(v["id"], v["repeat"], v["correct"]) for v in verdicts] == [
        ("a", 0, False),
        ("a", 1, False),
        ("b", 0, True),
        ("1", 0, False),
    ]
    assert main(args) == 0
    verdicts = read_jsonl(out)
    assert [v["correct"] for v in verdicts] == [True, False, True, True]
    assert verdicts[0]["extracted"] == "0.5" and "equivalent" in verdicts[0]["reason"]
    assert "2 of 4" not in capsys.readouterr().err

    resp.write_text(json.dumps({"id": "x", "gold": [1, 2], "response": "\\boxed{1}"}) + "\n")
    assert main(args) == 2
    assert "r.jsonl, row 1, field 'gold'" in capsys.readouterr().err


@pytest.mark.slow  # about 15-30 s on 2 busy cores: run by `make check-data`
def test_make_eval_aime_n4_on_the_embedded_model(tmp_path, capsys):
    """`make eval TASK=aime2025 N=4` (here on 2 problems and a short budget, to stay quick)."""
    args = ["run", "aime2025", "--n", "4", "--limit", "2", "--max-new-tokens", "8", "--no-progress"]
    rc = main([*args, "--results-dir", str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "pass@1[avg-of-4], 2 items" in out and "35.9 published" in out and "meaningless" in out
    run_dir = next(tmp_path.iterdir())
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["n_samples"] == 8 and m["placeholder_model"] and "maj@n" in m and "pass@k" in m
    assert m["truncation_rate"] == 1.0  # the tiny model runs to the budget; the report says so
    assert "truncated (hit max_new_tokens = 8) | 100.0%" in (run_dir / "report.md").read_text()


@pytest.mark.slow
def test_every_math500_es_stand_in_gold_is_read_by_the_checker():
    rows = read_jsonl(REPO / "tasks" / "samples" / "math500_es_mmath311.jsonl")
    for r in rows:
        assert check_answer(
            f"La respuesta final es $\\boxed{{{r['answer']}}}$.", r["answer"], lang="es"
        ).correct


def test_math500_es_reports_its_stand_in_data_and_reads_spanish(tmp_path):
    answers = {"196": ["La respuesta es 9."], "hexágono": ["**Respuesta final**: $\\boxed{42}$ pulgadas"]}
    res = run_eval(
        RunConfig(task="math500_es", limit=2, n=2, data="sample", results_dir=tmp_path, progress=False),
        runner=_scripted(answers),
    )
    assert res.metrics["value"] == 1.0 and res.metrics["metric"] == "pass@1[avg-of-2]"
    assert "Stand-in data" in res.report_path.read_text()
    assert (
        "Por favor, razona paso a paso"
        in read_jsonl(res.run_dir / "samples.jsonl")[0]["messages"][-1]["content"]
    )
