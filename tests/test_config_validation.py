"""Broken configs and command-line numbers: exit 2 naming the file and the field, never a
traceback, a hang, or a silently different setting (issue 16, item 5).

Broken variants of every real config in tasks/, runners/ and gates/ come from
tests/config_mutations.py (one changed value or one unknown key each); `make test` checks a
seeded sample of them, `make check-data` all of them (about 3,200).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from evalkit.cli import main
from evalkit.errors import DataError, UsageError
from evalkit.gate.policy import load_policy
from evalkit.pipeline import RunConfig, run_eval
from evalkit.runners.profiles import load_profile
from evalkit.specs import load_spec
from tests.config_mutations import Variant, variants

REPO = Path(__file__).resolve().parents[1]
KINDS = {
    "tasks": load_spec,
    "runners": lambda p: load_profile(str(p)),
    "gates": load_policy,
}


def _all_variants(kind: str) -> list[tuple[str, Variant]]:
    out = []
    for f in sorted((REPO / kind).glob("*.yaml")):
        out += [(f.name, v) for v in variants(yaml.safe_load(f.read_text(encoding="utf-8")))]
    return out


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A folder like tasks/ (with its samples/), where broken copies are written."""
    (tmp_path / "samples").symlink_to(REPO / "tasks" / "samples")
    return tmp_path


def _check(kind: str, name: str, v: Variant, folder: Path) -> None:
    path = folder / name
    path.write_text(yaml.safe_dump(v.raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with pytest.raises(DataError) as e:
        KINDS[kind](path)
    err = e.value
    named = (f"{err.row}." if err.row else "") + (err.field or "")
    assert str(path) in str(err), (v.what, str(err))
    # The field itself, or a key inside it (a scalar replaced by a mapping names the mapping's key).
    assert named == v.field or named.startswith((v.field + ".", v.field + "[")), (v.what, str(err))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_sample_of_broken_configs_name_file_and_field(kind, config_dir):
    every = _all_variants(kind)
    assert len(every) > 200  # the generator really walks the real configs
    for name, v in random.Random(16).sample(every, 40):
        _check(kind, name, v, config_dir)


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_broken_config_names_file_and_field(kind, config_dir):
    for name, v in _all_variants(kind):
        _check(kind, name, v, config_dir)


def _edit(folder: str, name: str, path: tuple, value) -> tuple[str, Variant]:
    raw = yaml.safe_load((REPO / folder / name).read_text(encoding="utf-8"))
    node = raw
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    return name, Variant(f"{path} = {value!r}", raw, ".".join(str(p) for p in path))


@pytest.mark.parametrize(
    ("kind", "case"),
    [  # the silently accepted ones of the issue
        ("tasks", _edit("tasks", "kmmlu_pro.yaml", ("scoring", "strict"), "false")),
        ("tasks", _edit("tasks", "kmmlu_pro.yaml", ("modes", "reasoning", "max_new_tokens"), -1)),
        ("tasks", _edit("tasks", "kmmlu_pro.yaml", ("modes", "reasoning", "temperature"), -1)),
        ("tasks", _edit("tasks", "kmmlu_pro.yaml", ("data", "sampel"), "samples/kmmlu_pro.jsonl")),
        ("runners", _edit("runners", "openai.yaml", ("settings", "max_retries"), -1)),
        ("runners", _edit("runners", "openai.yaml", ("settings", "concurrency"), 0)),
        ("gates", _edit("gates", "exaone-4.0-32b-gptq.yaml", ("sequential", "batch_items"), 2.5)),
        ("gates", _edit("gates", "tiny-smoke.yaml", ("fidelity", "allow_placeholder"), "false")),
    ],
)
def test_the_issues_silently_accepted_configs_are_refused(kind, case, config_dir):
    _check(kind, *case, config_dir)


def test_task_allow_placeholder_string_names_the_task_entry(config_dir):
    raw = yaml.safe_load((REPO / "gates" / "exaone-4.0-32b-gptq.yaml").read_text(encoding="utf-8"))
    raw["tasks"][2]["allow_placeholder"] = "false"
    _check("gates", "g.yaml", Variant("tasks[3]", raw, "tasks[3].allow_placeholder"), config_dir)


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evalkit", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        cwd=REPO,
    )


def test_cli_exits_2_naming_file_and_field_for_each_kind_of_config(tmp_path):
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "samples").symlink_to(REPO / "tasks" / "samples")
    spec = yaml.safe_load((REPO / "tasks" / "kmmlu_pro.yaml").read_text(encoding="utf-8"))
    spec["modes"]["non-reasoning"]["n"] = 2.5
    (tasks / "kmmlu_pro.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    profile = yaml.safe_load((REPO / "runners" / "torch-int4.yaml").read_text(encoding="utf-8"))
    profile["settings"]["max_batch_size"] = 0
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(profile), encoding="utf-8")
    gate = yaml.safe_load((REPO / "gates" / "tiny-smoke.yaml").read_text(encoding="utf-8"))
    gate["fidelity"]["max_mean_kl"] = "small"
    (tmp_path / "g.yaml").write_text(yaml.safe_dump(gate), encoding="utf-8")
    for args, env, where in (
        (
            ["run", "kmmlu_pro", "--data", "sample"],
            {"EVALKIT_TASKS_DIR": str(tasks)},
            "'modes.non-reasoning.n'",
        ),
        (["run", "kmmlu_pro", "--runner", str(tmp_path / "r.yaml")], {}, "'settings.max_batch_size'"),
        (["gate", str(tmp_path / "g.yaml")], {}, "'fidelity.max_mean_kl'"),
    ):
        res = _cli(args, env)
        assert res.returncode == 2, res.stderr
        assert "Traceback" not in res.stderr and where in res.stderr, res.stderr


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["run", "kmmlu_pro", "--limit", "-1"], "--limit"),
        (["run", "kmmlu_pro", "--limit", "0"], "--limit"),
        (["run", "kmmlu_pro", "--n", "0"], "--n"),
        (["run", "kmmlu_pro", "--n", "2.5"], "--n"),
        (["run", "kmmlu_pro", "--max-new-tokens", "0"], "--max-new-tokens"),
        (["run", "kmmlu_pro", "--max-new-tokens=-5"], "--max-new-tokens"),
        (["gate", "gates/tiny-smoke.yaml", "--n", "0"], "--n"),
        (["fidelity", "--limit", "0"], "--limit"),
        (["serve", "--max-batch-size", "0"], "--max-batch-size"),
    ],
)
def test_command_line_numbers_must_be_positive(argv, flag, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: must be a positive integer" in err


def test_make_variables_are_named_as_typed(capsys, monkeypatch):
    monkeypatch.setenv("EVALKIT_INTERFACE", "make")  # the Makefile's eval target sets it
    with pytest.raises(SystemExit):
        main(["run", "kmmlu_pro", "--limit", "-1"])
    assert "make variable LIMIT=-1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("field", "value"), [("limit", -1), ("n", 0), ("max_new_tokens", 0), ("limit", True)]
)
def test_run_config_numbers_are_checked_before_anything_runs(field, value, tmp_path):
    cfg = RunConfig(task="kmmlu_pro", data="sample", results_dir=tmp_path, progress=False)
    setattr(cfg, field, value)
    with pytest.raises(UsageError, match=f"--{field.replace('_', '-')} must be a positive integer"):
        run_eval(cfg)
    assert not any(tmp_path.iterdir())  # nothing was started
