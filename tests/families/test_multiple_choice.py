"""The multiple-choice family and its six knowledge tasks, on bundled samples and scripted models."""

import collections
import csv
import dataclasses
import json
import re
from pathlib import Path

import pytest

from evalkit.cli import main
from evalkit.data import Row, load_rows
from evalkit.errors import DataError
from evalkit.families import BuildContext, ScoreContext
from evalkit.families import multiple_choice as mc
from evalkit.pipeline import RunConfig, run_eval
from evalkit.published import lookup
from evalkit.records import ChatRequest, Completion, SamplingParams
from evalkit.registry import get_task, list_tasks
from evalkit.solvers import EpisodeOutput, generate
from tests.fakes import ScriptedRunner

# Every task of the family (a new one is checked without an edit here).
TASKS = [t for t in list_tasks() if get_task(t).family == "multiple_choice"]
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def samples(task: str):
    spec = get_task(task)
    loaded = load_rows(spec, "sample")
    return spec, [mc.build_sample(r, spec, BuildContext(loaded.path)) for r in loaded.rows]


def out(text: str, **info) -> EpisodeOutput:
    c = Completion(text=text, finish_reason="stop")
    return EpisodeOutput(calls=[c], final=c, info=info)


def read_jsonl(p: Path) -> list[dict]:
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()]


@pytest.mark.parametrize("task", TASKS)
def test_every_task_builds_its_sample_and_names_its_sources(task):
    spec, built = samples(task)
    assert 10 <= len(built) <= 20
    assert spec.family == "multiple_choice"
    for s in built:
        assert s.target in "ABCDEFGHIJ"[: s.metadata["n_options"]]
        assert s.messages[-1]["role"] == "user"
        assert "{{" not in s.messages[-1]["content"]
    assert len(spec.prompt["source"]) > 100 and len(spec.provenance) > 200
    assert spec.data.hub is not None and spec.data.hub.revision
    for mode in ("reasoning", "non-reasoning"):
        assert mode in spec.modes
        for size in ("32B", "1.2B"):
            fig = lookup(spec.published_benchmark, mode, size)
            assert fig and fig[0].value is not None and fig[0].is_subject


@pytest.mark.parametrize(
    ("task", "marker"),
    [
        ("kmmlu_pro", "정답: X"),
        ("kmmlu_redux", "정답: X"),
        ("mmmlu_es", "Respuesta: $LETRA"),
        ("mmlu_redux", "Answer: $LETTER"),
        ("gpqa_diamond", "Answer: $LETTER"),
        ("mmlu_pro", "the answer is (X)"),
    ],
)
def test_prompts_are_in_the_task_language(task, marker):
    _, built = samples(task)
    assert all(marker in s.messages[-1]["content"] for s in built)


def test_synthetic_samples_are_marked_and_real_ones_are_not():
    for task in ("gpqa_diamond", "kmmlu_pro", "kmmlu_redux", "mmmlu_es"):
        spec = get_task(task)
        assert spec.data.sample_synthetic
        rows = load_rows(spec, "sample").rows
        assert rows and all(r.fields.get("synthetic") is True for r in rows)
    for task in ("mmlu_pro", "mmlu_redux"):
        spec = get_task(task)
        assert not spec.data.sample_synthetic
        assert all("synthetic" not in r.fields for r in load_rows(spec, "sample").rows)


def test_the_gpqa_sample_contains_no_gpqa_question():
    real = list(csv.DictReader((SHARED / "gpqa_diamond" / "gpqa_diamond.csv").open(encoding="utf-8")))
    real_text = {r["Question"].strip() for r in real} | {r["Correct Answer"].strip() for r in real}
    sample = (Path(get_task("gpqa_diamond").tasks_dir) / "samples" / "gpqa_diamond.jsonl").read_text()
    assert "canary" not in sample.lower()
    for row in map(json.loads, sample.splitlines()):
        assert row["Question"].strip() not in real_text and row["Record ID"].startswith("synth")


def test_real_samples_are_copies_of_the_shared_data():
    spec = get_task("mmlu_redux")
    shared = {
        (r["subject"], r["idx"]): r
        for r in map(json.loads, (SHARED / "mmlu_redux" / "mmlu_redux_2.0_raw.jsonl").open())
    }
    for r in load_rows(spec, "sample").rows:
        assert shared[(r.fields["subject"], r.fields["idx"])] == r.fields
        assert r.id == f"{r.fields['subject']}/{r.fields['idx']}"


# --- options shuffled per item and repeat (GPQA) ---------------------------------------------


def test_permutations_are_seeded_by_item_and_repeat_and_roughly_uniform():
    assert mc.option_permutation("rec1", 0, 0, 4) == mc.option_permutation("rec1", 0, 0, 4)
    perms = {tuple(mc.option_permutation("rec1", r, 0, 4)) for r in range(40)}
    assert len(perms) > 10  # repeats see different orders
    assert mc.option_permutation("rec1", 0, 0, 4) != mc.option_permutation("rec1", 0, 1, 4) or (
        mc.option_permutation("rec2", 0, 0, 4) != mc.option_permutation("rec2", 0, 1, 4)
    )
    where_correct = collections.Counter(
        mc.option_permutation(f"id{i}", r, 0, 4).index(0) for i in range(500) for r in range(4)
    )
    assert all(400 < where_correct[k] < 600 for k in range(4)), where_correct


def _answer_correctly(sample_rows: dict[str, dict]):
    """A scripted model that reads its prompt and names the letter showing the correct text."""

    def script(req: ChatRequest) -> str:
        prompt = req.messages[-1]["content"]
        for rec in sample_rows.values():
            if rec["Question"] in prompt:
                m = re.search(r"^([A-D])\) " + re.escape(rec["Correct Answer"].strip()) + "$", prompt, re.M)
                assert m, prompt
                return f"<think>thinking</think>Reasoning.\nAnswer: {m.group(1)}"
        raise AssertionError("unknown prompt")

    return script


def test_gpqa_run_shuffles_per_repeat_and_scores_against_the_shown_letter(tmp_path):
    spec = get_task("gpqa_diamond")
    rows = {r.id: r.fields for r in load_rows(spec, "sample").rows}
    runner = ScriptedRunner(_answer_correctly(rows))
    res = run_eval(
        RunConfig(task="gpqa_diamond", mode="reasoning", limit=3, n=4, results_dir=tmp_path, progress=False),
        runner=runner,
    )
    assert res.metrics["value"] == 1.0 and res.metrics["n_samples"] == 12
    recs = read_jsonl(res.run_dir / "samples.jsonl")
    for r in recs:
        perm = r["info"]["permutation"]
        assert sorted(perm) == [0, 1, 2, 3] and r["info"]["repeat"] == r["repeat"]
        assert r["target"] == "ABCD"[perm.index(0)] == r["extracted"]
        assert r["transcript"][0]["content"].count(") ") >= 4
    shown = {(r["id"], tuple(r["info"]["permutation"])) for r in recs}
    assert len({p for _, p in shown}) > 3  # not one order for every repeat

    # a model that always answers "A" is right only where the correct option was shown first
    always_a = ScriptedRunner(lambda req: "</think>Answer: A")
    res_a = run_eval(
        RunConfig(
            task="gpqa_diamond", mode="reasoning", limit=3, n=4, results_dir=tmp_path / "a", progress=False
        ),
        runner=always_a,
    )
    recs_a = read_jsonl(res_a.run_dir / "samples.jsonl")
    assert [r["correct"] for r in recs_a] == [r["info"]["permutation"][0] == 0 for r in recs_a]


def test_gpqa_score_rederives_or_takes_the_permutation(tmp_path, capsys):
    _, built = samples("gpqa_diamond")
    s = built[0]
    perm1 = mc.option_permutation(s.id, 1, 0, 4)
    shown_target = "ABCD"[perm1.index(0)]
    other = next(x for x in "ABCD" if x != shown_target)
    resp = tmp_path / "r.jsonl"
    resp.write_text(
        json.dumps({"id": s.id, "repeat": 1, "response": f"Answer: {shown_target}"})
        + "\n"
        + json.dumps({"id": s.id, "response": "Answer: C", "permutation": [3, 1, 2, 0]})
        + "\n"
        + json.dumps({"id": s.id, "repeat": 2, "response": f"Answer: {other}", "permutation": list(perm1)})
        + "\n"
    )
    assert main(["score", "gpqa_diamond", "--responses", str(resp), "--data", "sample"]) == 0
    verdicts = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [v["correct"] for v in verdicts] == [True, False, False]  # [3,1,2,0]: correct shown at D
    assert verdicts[0] == {"id": s.id, "repeat": 1, "extracted": shown_target, "correct": True,
                           "reason": "simple-evals 'Answer: X'"}  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "field"),
    [({"permutation": [0, 0, 1, 2]}, "permutation"), ({"repeat": -1}, "repeat"), ({"repeat": "1"}, "repeat")],
)
def test_score_rejects_bad_permutations_and_repeats(tmp_path, capsys, extra, field):
    resp = tmp_path / "r.jsonl"
    resp.write_text(json.dumps({"id": "synth01", "response": "Answer: A", **extra}) + "\n")
    assert main(["score", "gpqa_diamond", "--responses", str(resp), "--data", "sample"]) == 2
    assert f"r.jsonl, row 1, field '{field}'" in capsys.readouterr().err


def test_the_family_shuffles_exactly_when_the_spec_asks():
    spec = get_task("gpqa_diamond")
    s = mc.build_sample(load_rows(spec, "sample").rows[0], spec, BuildContext("x"))
    solve = mc.solver(spec, frozenset({"model"}))
    for repeat in range(3):
        req = next(solve(s, SamplingParams(), False, repeat))
        perm = mc.option_permutation(s.id, repeat, spec.prompt["shuffle"]["seed"], 4)
        shown = [s.metadata["options"][i] for i in perm]
        text = req.messages[-1]["content"]
        assert [text.index(o) for o in shown] == sorted(text.index(o) for o in shown)
    assert req.messages == next(solve(s, SamplingParams(), False, 2)).messages
    plain = dataclasses.replace(spec, prompt={k: v for k, v in spec.prompt.items() if k != "shuffle"})
    assert mc.solver(plain, frozenset({"model"})) is generate


# --- scoring settings --------------------------------------------------------------------------


def ctx(spec, reasoning=False):
    return ScoreContext(spec=spec, reasoning_mode=reasoning)


def test_mmlu_pro_scores_with_the_official_chain_and_optional_guess_credit():
    spec, built = samples("mmlu_pro")
    s = next(x for x in built if x.metadata["n_options"] == 10)
    right = mc.score(s, out(f"Let's see... the answer is ({s.target})."), ctx(spec))
    assert right.correct and right.reason.startswith("official pattern 1")
    fallback = mc.score(s, out(f"Therefore {s.target} holds."), ctx(spec))  # fallback 3: last letter
    assert fallback.correct and "fallback 3" in fallback.reason
    none = mc.score(s, out("no idea"), ctx(spec))
    assert none.extracted is None and none.score == 0.0
    guess = dataclasses.replace(spec, scoring={**spec.scoring, "no_answer": "expected_guess"})
    credited = mc.score(s, out("no idea"), ctx(guess))
    assert credited.extracted is None and not credited.correct and credited.score == pytest.approx(0.1)
    strict = dataclasses.replace(spec, scoring={**spec.scoring, "strict": True})
    assert mc.score(s, out(f"Answer: {s.target}"), ctx(strict)).extracted is None


def test_reasoning_mode_reads_only_after_think():
    spec, built = samples("mmlu_redux")
    s = built[0]
    wrong = "ABCD".replace(s.target, "")[0]
    v = mc.score(s, out(f"Answer: {wrong}... no.</think>\nAnswer: {s.target}"), ctx(spec, True))
    assert v.correct
    unclosed = mc.score(s, out(f"Answer: {s.target}"), ctx(spec, True))
    assert unclosed.extracted is None and "</think>" in unclosed.reason


@pytest.mark.parametrize(
    ("task", "text"),
    [
        ("kmmlu_redux", "풀이...\n\n정답은 {t}입니다."),
        ("kmmlu_pro", "{t}가 정답입니다."),
        ("mmmlu_es", "Razonamiento...\nRespuesta: {t}"),
        ("mmlu_redux", "Reasoning...\n**Answer: {t}**"),
    ],
)
def test_answers_in_each_language_are_read(task, text):
    spec, built = samples(task)
    for s in built:
        assert mc.score(s, out(text.format(t=s.target)), ctx(spec)).correct


def test_simple_evals_keeps_upstream_case_sensitivity():
    spec, built = samples("mmlu_redux")
    s = built[0]
    v = mc.score(s, out(f"answer: {s.target.lower()}"), ctx(spec))
    assert v.extracted == s.target.lower() and not v.correct


@pytest.mark.parametrize(
    ("scoring", "field"),
    [
        ({"extractor": "regex"}, "scoring.extractor"),
        ({"extractor": "mmlu_pro_official", "variant": "v2"}, "scoring.variant"),
        ({"no_answer": "random"}, "scoring.no_answer"),
        ({"strictness": True}, "scoring.strictness"),
    ],
)
def test_bad_scoring_settings_name_the_key(scoring, field):
    spec = dataclasses.replace(get_task("kmmlu_pro"), scoring=scoring)
    with pytest.raises(DataError) as e:
        mc.scoring_settings(spec)
    assert e.value.field == field and "kmmlu_pro.yaml" in str(e.value)


def test_simple_evals_tasks_refuse_items_with_more_than_four_options():
    spec = get_task("mmmlu_es")
    row = Row("0", 0, {"Question": "q", "A": "1", "B": "2", "C": "3", "D": "4", "Answer": "A"})
    mc.build_sample(row, spec, BuildContext("x"))
    five = dataclasses.replace(
        spec,
        data=dataclasses.replace(
            spec.data, fields={**spec.data.fields, "options": ["A", "B", "C", "D", "E"]}
        ),
    )
    with pytest.raises(DataError, match="only A-D"):
        mc.build_sample(Row("0", 0, {**row.fields, "E": "5"}), five, BuildContext("x"))


def test_padding_options_are_dropped_and_an_answer_on_padding_is_refused():
    spec = get_task("mmlu_pro")
    base = {"question_id": 1, "question": "q", "category": "math", "src": "x"}
    s = mc.build_sample(
        Row("1", 0, {**base, "options": ["1", "N/A", "2", "3"], "answer": "C"}), spec, BuildContext("f")
    )
    assert s.metadata["options"] == ["1", "2", "3"] and s.target == "B"
    with pytest.raises(DataError, match="dropped option") as e:
        mc.build_sample(
            Row("1", 4, {**base, "options": ["1", "N/A", "2"], "answer": "B"}), spec, BuildContext("f")
        )
    assert (e.value.row, e.value.field) == (5, "options")


# --- data: subsets, ids, configs ---------------------------------------------------------------


def test_mmlu_redux_subset_is_a_setting_and_ids_do_not_move():
    spec = get_task("mmlu_redux")
    everything = load_rows(spec, "sample").rows
    ok_only = dataclasses.replace(spec, data=dataclasses.replace(spec.data, filter={"error_type": ("ok",)}))
    ok_rows = load_rows(ok_only, "sample").rows
    assert len(everything) == 16 and len(ok_rows) == 12
    assert {r.id for r in ok_rows} < {r.id for r in everything}
    assert all(r.fields["error_type"] == "ok" for r in ok_rows)
    assert [r.id for r in load_rows(ok_only, "sample", limit=2).rows] == [r.id for r in ok_rows[:2]]


def test_mmlu_redux_hub_layout_copy_reads_every_subject_config(tmp_path):
    """A local copy laid out like the hub dataset (one config per subject) is read offline."""
    import pandas as pd

    spec = get_task("mmlu_redux")
    subjects = ["anatomy", "virology"]
    yaml = ["---", "configs:"]
    for subj in subjects:
        (tmp_path / subj).mkdir()
        rows = [
            {"question": f"{subj} q{i}", "choices": ["a", "b", "c", "d"], "answer": i % 4, "error_type": "ok",
             "source": None, "correct_answer": None, "potential_reason": None}
            for i in range(3)
        ]  # fmt: skip
        pd.DataFrame(rows).to_parquet(tmp_path / subj / "test-00000-of-00001.parquet")
        yaml += [f"- config_name: {subj}", "  data_files:", "  - split: test", f"    path: {subj}/test-*"]
    (tmp_path / "README.md").write_text("\n".join([*yaml, "---", ""]))
    two = dataclasses.replace(
        spec,
        data=dataclasses.replace(spec.data, hub=dataclasses.replace(spec.data.hub, configs=tuple(subjects))),
    )
    loaded = load_rows(two, str(tmp_path))
    assert [r.id for r in loaded.rows] == [f"{s}/{i}" for s in subjects for i in range(3)]
    built = [mc.build_sample(r, two, BuildContext(loaded.path)) for r in loaded.rows]
    assert [b.target for b in built[:3]] == ["A", "B", "C"] and built[3].metadata["subject"] == "virology"


def test_missing_composite_id_names_row_and_field(tmp_path):
    p = tmp_path / "redux.jsonl"
    p.write_text(
        json.dumps({"subject": "anatomy", "question": "q", "choices": ["a", "b"], "answer": 0}) + "\n"
    )
    with pytest.raises(DataError) as e:
        load_rows(get_task("mmlu_redux"), str(p))
    assert (e.value.row, e.value.field) == (1, "idx")


# --- aggregation -------------------------------------------------------------------------------


def test_breakdowns_by_category_source_and_error_annotation(tmp_path):
    for task, label, extra in (("mmlu_pro", "category", "src"), ("mmlu_redux", "subject", "error_type")):
        spec, built = samples(task)
        targets = {s.id: s.target for s in built}
        runner = ScriptedRunner(lambda req, t=targets: "the answer is (A). Answer: A")
        res = run_eval(RunConfig(task=task, results_dir=tmp_path / task, progress=False), runner=runner)
        m = res.metrics
        assert m["breakdown"]["field"] == label and m["extraction"]["extractor"]
        groups = m["breakdowns"][extra]["groups"]
        assert sum(g["n_items"] for g in groups.values()) == len(built)
        expected = collections.Counter(str(r.fields[extra]) for r in load_rows(spec, "sample").rows)
        assert {k: g["n_items"] for k, g in groups.items()} == dict(expected)
        hits = sum(t == "A" for t in targets.values())
        assert m["value"] == pytest.approx(hits / len(built))
        report = res.report_path.read_text()
        assert f"## By {label}" in report


@pytest.mark.parametrize(
    ("task", "config", "split", "data_file", "readme_path"),
    [
        # layouts of the hub repositories: one file per config, declared in README.md
        ("gpqa_diamond", "gpqa_diamond", "train", "gpqa_diamond.csv", "gpqa_diamond.csv"),
        ("mmmlu_es", "ES_LA", "test", "test/mmlu_ES-LA.csv", "test/mmlu_ES-LA.csv"),
        ("mmlu_pro", "default", "test", "data/test-00000-of-00001.parquet", "data/test-*"),
        ("kmmlu_redux", "default", "test", "data/test-00000-of-00001.parquet", "data/test-*"),
    ],
)
def test_local_copies_in_hub_layout(tmp_path, task, config, split, data_file, readme_path):
    import pandas as pd

    spec = get_task(task)
    rows = [r.fields for r in load_rows(spec, "sample").rows]
    target = tmp_path / data_file
    target.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows)
    if data_file.endswith(".csv"):
        frame.to_csv(target, index=False)
    else:
        frame.to_parquet(target)
    card = ["---", "configs:", f"- config_name: {config}", "  data_files:", f"  - split: {split}"]
    (tmp_path / "README.md").write_text("\n".join([*card, f"    path: {readme_path}", "---", ""]))
    loaded = load_rows(spec, str(tmp_path))
    assert [r.id for r in loaded.rows] == [r.id for r in load_rows(spec, "sample").rows]
    from_copy = [mc.build_sample(r, spec, BuildContext(loaded.path)) for r in loaded.rows]
    assert [s.target for s in from_copy] == [s.target for s in samples(task)[1]]


def _spec_copy(tmp_path: Path, task: str, edit) -> Path:
    src = get_task(task).path
    (tmp_path / "samples").mkdir(exist_ok=True)
    for f in (src.parent / "samples").glob(f"{task}.jsonl"):
        (tmp_path / "samples" / f.name).write_text(f.read_text())
    dst = tmp_path / f"{task}.yaml"
    dst.write_text(edit(src.read_text()))
    return dst


def test_the_ok_subset_is_one_uncommented_line(tmp_path):
    from evalkit.specs import load_spec

    path = _spec_copy(
        tmp_path,
        "mmlu_redux",
        lambda s: s.replace("  # filter: {error_type: [ok]}", "  filter: {error_type: [ok]}"),
    )
    spec = load_spec(path)
    assert spec.data.filter == {"error_type": ("ok",)}
    assert len(load_rows(spec, "sample").rows) == 12


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (
            lambda s: s.replace("  # filter: {error_type: [ok]}", "  filter: {error_type: ok}"),
            "data.filter.error_type",
        ),
        (lambda s: s.replace("    config_field: subject", ""), "data.hub.config_field"),
    ],
)
def test_bad_data_settings_name_the_key(tmp_path, edit, field):
    from evalkit.specs import load_spec

    with pytest.raises(DataError) as e:
        load_spec(_spec_copy(tmp_path, "mmlu_redux", edit))
    assert e.value.field == field
