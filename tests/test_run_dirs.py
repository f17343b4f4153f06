"""Runs never overwrite runs: another result set (items, repeats) is another run directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.errors import UsageError
from evalkit.pipeline import RunConfig, run_eval
from tests.fakes import ScriptedRunner


def answer_a(req: object) -> str:
    return "Answer: A"


def snapshot(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}


def cfg(tmp_path: Path, **kw: object) -> RunConfig:
    base: dict[str, object] = {"task": "kmmlu_pro", "n": 1, "data": "sample", "progress": False}
    return RunConfig(results_dir=tmp_path, **{**base, **kw})  # type: ignore[arg-type]


def test_another_limit_is_another_run_and_reuses_the_shared_calls(tmp_path):
    small = run_eval(cfg(tmp_path, limit=2), runner=ScriptedRunner(answer_a))
    before = snapshot(small.run_dir)
    runner = ScriptedRunner(answer_a)
    big = run_eval(cfg(tmp_path, limit=4), runner=runner)
    assert big.run_dir != small.run_dir
    assert snapshot(small.run_dir) == before  # metrics, samples, report, store: untouched
    assert len(runner.calls) == 2 and big.metrics["calls_reused_from_store"] == 2
    assert big.metrics["n_samples"] == 4 and small.metrics["n_samples"] == 2
    copied = [json.loads(x) for x in (big.run_dir / "generations.jsonl").read_text().splitlines()[1:]]
    assert sum(1 for r in copied if r.get("copied_from") == small.run_dir.name) == 2 and len(copied) == 4

    more_repeats = run_eval(cfg(tmp_path, limit=2, n=2), runner=ScriptedRunner(answer_a))
    assert more_repeats.run_dir not in (small.run_dir, big.run_dir)
    again = ScriptedRunner(answer_a)
    assert run_eval(cfg(tmp_path, limit=2), runner=again).run_dir == small.run_dir  # same set: resumes
    assert again.calls == []
    # a limit past the data's end is the same result set as no limit
    whole = run_eval(cfg(tmp_path), runner=ScriptedRunner(answer_a))
    assert run_eval(cfg(tmp_path, limit=10_000), runner=ScriptedRunner(answer_a)).run_dir == whole.run_dir


def test_an_explicit_run_id_holding_another_result_set_is_refused(tmp_path):
    first = run_eval(cfg(tmp_path, limit=2, run_id="r"), runner=ScriptedRunner(answer_a))
    before = snapshot(first.run_dir)
    with pytest.raises(UsageError, match=r"holds another run \(2 items x 1 repeats; this one: 3 x 1\)"):
        run_eval(cfg(tmp_path, limit=3, run_id="r"), runner=ScriptedRunner(answer_a))
    assert snapshot(first.run_dir) == before


def test_a_cut_store_header_recovers_in_one_rerun(tmp_path):
    first = run_eval(cfg(tmp_path, limit=2), runner=ScriptedRunner(answer_a))
    store = first.run_dir / "generations.jsonl"
    store.write_bytes(store.read_bytes().split(b"\n")[0][:40])  # killed while writing the header
    runner = ScriptedRunner(answer_a)
    again = run_eval(cfg(tmp_path, limit=2), runner=runner)
    assert again.run_dir == first.run_dir and len(runner.calls) == 2
    assert again.metrics["value"] == first.metrics["value"]
