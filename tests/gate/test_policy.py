"""Gate policies: the shipped ones load; malformed ones fail naming the file, entry and key."""

from pathlib import Path

import pytest

from evalkit.errors import DataError
from evalkit.gate import load_policy

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "gates").glob("*.yaml")))
def test_shipped_policies_load(name):
    p = load_policy(REPO / "gates" / name)
    assert p.version >= 1 and (p.tasks or p.fidelity)
    for t in p.tasks:
        assert 0.5 <= (t.vs_reference or t.vs_published).confidence < 1  # type: ignore[union-attr]


def test_defaults_merge_and_null_switches_a_comparison_off(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text(
        "policy: p\nversion: 3\ndefaults: {confidence: 0.9, min_items: 50, vs_published: {max_drop: 4}}\n"
        "tasks:\n"
        "  - {task: kmmlu_pro, mode: reasoning, vs_reference: {max_drop: 1.5, method: bootstrap}}\n"
        "  - {benchmark: AIME 2025, mode: reasoning, vs_published: null, vs_reference: {max_drop: 5}}\n"
    )
    p = load_policy(f)
    a, b = p.tasks
    assert a.vs_published and a.vs_published.max_drop == 4 and a.vs_published.confidence == 0.9
    assert a.vs_reference and a.vs_reference.method == "bootstrap" and a.min_items == 50
    assert b.vs_published is None and b.benchmark == "AIME 2025" and b.label == "AIME 2025 (reasoning)"
    assert p.title == "p v3" and p.on_inconclusive == "undecided"


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ("policy: p\nversion: 1\ntasks: [{task: nope, mode: reasoning}]\n", "tasks[1], field 'task'"),
        ("policy: p\nversion: 1\ntasks: [{task: kmmlu_pro, mode: fast}]\n", "tasks[1], field 'mode'"),
        (
            "policy: p\nversion: 1\ntasks: [{task: kmmlu_pro, mode: reasoning, vs_reference: {drop: 1}}]\n",
            "tasks[1], field 'vs_reference.drop'",
        ),
        (
            "policy: p\nversion: 1\ntasks: [{task: kmmlu_pro, mode: reasoning, confidence: 1.0, "
            "vs_published: {max_drop: 2}}]\n",
            "tasks[1], field 'confidence'",
        ),
        (
            "policy: p\nversion: 1\ntasks: [{task: kmmlu_pro, benchmark: KMMLU-Pro, mode: reasoning}]\n",
            "tasks[1], field 'task'",
        ),
        ("policy: p\nversion: one\ntasks: []\n", "field 'version'"),
        ("policy: p\nversion: 1\ntasks: []\nthreshold: 3\n", "field 'threshold'"),
        (
            "policy: p\nversion: 1\ntasks: [{task: kmmlu_pro, mode: reasoning, vs_published: {max_drop: 2, "
            "method: magic}}]\n",
            "field 'vs_published.method'",
        ),
    ],
)
def test_malformed_policies_name_file_entry_and_key(tmp_path, body, where):
    f = tmp_path / "bad.yaml"
    f.write_text(body)
    with pytest.raises(DataError) as e:
        load_policy(f)
    assert str(f) in str(e.value) and where in str(e.value)
