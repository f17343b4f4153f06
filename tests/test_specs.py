import subprocess
import sys
import textwrap

import pytest

from evalkit.errors import DataError, UsageError
from evalkit.registry import get_task, list_tasks
from evalkit.specs import load_spec


def test_kmmlu_pro_spec():
    spec = get_task("kmmlu_pro")
    assert spec.family == "multiple_choice"
    assert spec.data.hub is not None and spec.data.hub.path == "LGAI-EXAONE/KMMLU-Pro"
    assert spec.data.hub.gated and spec.data.sample_synthetic
    assert spec.published_benchmark == "KMMLU-Pro"
    assert spec.settings("reasoning").temperature == 0.6
    assert spec.settings("non-reasoning").temperature == 0.0
    assert "kmmlu_pro" in list_tasks()


def test_unknown_task_names_the_known_ones():
    with pytest.raises(UsageError, match="kmmlu_pro"):
        get_task("no_such_task")


def write(tmp_path, name, body):
    p = tmp_path / f"{name}.yaml"
    p.write_text(textwrap.dedent(body))
    return p


GOOD = """\
    name: t
    family: multiple_choice
    provenance: test
    data: {id_field: null}
    prompt: {template: "{{ question }}", source: test}
    modes: {non-reasoning: {temperature: 0.0}}
"""


def test_minimal_spec_loads(tmp_path):
    spec = load_spec(write(tmp_path, "t", GOOD))
    assert spec.family == "multiple_choice" and spec.metric == "accuracy"


def test_a_solver_key_is_refused_the_family_chooses(tmp_path):
    body = GOOD.replace(
        "    family: multiple_choice\n", "    family: multiple_choice\n    solver: generate\n"
    )
    with pytest.raises(DataError, match="its family chooses it") as e:
        load_spec(write(tmp_path, "t", body))
    assert e.value.field == "solver"


@pytest.mark.parametrize(
    ("mutation", "field"),
    [
        (lambda s: s.replace("name: t", "name: other"), "name"),
        (lambda s: s + "    colour: blue\n", "colour"),
        (lambda s: s.replace("    family: multiple_choice\n", ""), "family"),
        (lambda s: s.replace("non-reasoning:", "fast:"), "modes.fast"),
        (lambda s: s.replace("temperature: 0.0", "temp: 0.0"), "modes.non-reasoning.temp"),
        (lambda s: s.replace(", source: test", ""), "prompt.source"),
        (lambda s: s.replace("{{ question }}", "{{ question }"), "prompt.template"),
        (lambda s: s.replace("{id_field: null}", "{id_field: null, sampel: x.jsonl}"), "data.sampel"),
        (lambda s: s.replace("temperature: 0.0", "temperature: -1"), "modes.non-reasoning.temperature"),
    ],
)
def test_bad_specs_name_the_field(tmp_path, mutation, field):
    with pytest.raises(DataError) as e:
        load_spec(write(tmp_path, "t", mutation(GOOD)))
    assert e.value.field == field
    assert "t.yaml" in str(e.value)


def test_listing_tasks_does_not_import_torch():
    code = "import sys, evalkit.cli as c; c.main(['list']); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False")
    assert "kmmlu_pro" in out
