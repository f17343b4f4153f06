"""Answer extractors registered by name: every name a spec uses resolves, unknown names are
refused when the spec is loaded (naming the file and `scoring.extractor`), and the registered
functions read answers as the functions they wrap."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from evalkit.errors import DataError
from evalkit.families import multiple_choice as mc
from evalkit.registry import get_task, list_tasks, tasks_dir
from evalkit.scoring.choice import extract_choice
from evalkit.scoring.extractors import (
    Extraction,
    ExtractOptions,
    extractor_names,
    get_extractor,
    register_extractor,
)
from evalkit.scoring.mmlu_pro_official import extract_mmlu_pro
from evalkit.scoring.simple_evals import extract_simple_evals, extract_simple_evals_multilingual
from evalkit.specs import load_spec


def test_every_extractor_a_task_names_is_registered():
    named = {}
    for task in list_tasks():
        spec = get_task(task)
        if spec.family == "multiple_choice":
            named[task] = mc.scoring_settings(spec).extractor
    assert set(named.values()) == {"choice", "simple_evals", "simple_evals_multilingual", "mmlu_pro_official"}
    for name in named.values():
        assert get_extractor(name, letters=True).name == name
    assert extractor_names(letters=True) == sorted(set(named.values()))
    assert {"boxed", "final_answer", "last_line"} <= set(extractor_names())


TEXTS = [
    "Answer: B",
    "answer: c",
    "The answer is (D).",
    "정답은 ③입니다",
    "**C**",
    "",
    "Respuesta: A",
    "nothing",
]


@pytest.mark.parametrize("text", TEXTS)
def test_registered_letter_extractors_read_as_the_functions_they_wrap(text):
    options = ["one", "two", "three", "four"]
    opts = ExtractOptions(options=options, strict=False, variant="api")
    assert get_extractor("choice")(text, opts) == extract_choice(text, 4, options)
    strict = dataclasses.replace(opts, strict=True)
    assert get_extractor("choice")(text, strict) == extract_choice(text, 4, options, strict=True)
    assert get_extractor("mmlu_pro_official")(text, opts) == extract_mmlu_pro(text, variant="api")
    assert get_extractor("simple_evals")(text, opts) == extract_simple_evals(text)
    assert get_extractor("simple_evals_multilingual")(text, opts) == extract_simple_evals_multilingual(text)


def test_unknown_names_list_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown extractor 'regex' \(known: boxed, choice, final_answer"):
        get_extractor("regex")
    with pytest.raises(
        ValueError, match=r"unknown letter extractor 'boxed' \(known: choice, mmlu_pro_official"
    ):
        get_extractor("boxed", letters=True)


def test_a_name_registered_twice_is_refused():
    def other(text: str | None, opts: ExtractOptions) -> Extraction:
        return Extraction(text, "another boxed")

    with pytest.raises(ValueError, match="'boxed' is registered twice"):
        register_extractor("boxed")(other)


def _spec_with_extractor(tmp_path: Path, task: str, extractor: str) -> Path:
    raw = yaml.safe_load((tasks_dir() / f"{task}.yaml").read_text(encoding="utf-8"))
    raw["scoring"]["extractor"] = extractor
    raw["data"]["sample"] = None
    path = tmp_path / f"{task}.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_a_spec_naming_an_unknown_extractor_fails_when_loaded(tmp_path):
    path = _spec_with_extractor(tmp_path, "gpqa_diamond", "simple_eval")
    with pytest.raises(DataError) as e:
        load_spec(path)
    assert e.value.field == "scoring.extractor" and "gpqa_diamond.yaml" in str(e.value)
    assert "unknown extractor 'simple_eval' (known: " in str(e.value) and "simple_evals_multilingual" in str(
        e.value
    )


def test_multiple_choice_refuses_an_extractor_that_does_not_give_letters(tmp_path):
    spec = load_spec(_spec_with_extractor(tmp_path, "kmmlu_pro", "boxed"))  # registered: loads
    with pytest.raises(DataError) as e:
        mc.scoring_settings(spec)
    assert e.value.field == "scoring.extractor" and "unknown letter extractor 'boxed'" in str(e.value)
