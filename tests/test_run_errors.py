"""Failed model calls are errors, not answers: kept apart, counted, retried, and they fail the run."""

from __future__ import annotations

import json
from pathlib import Path

from evalkit.cli import EXIT_INCOMPLETE, main
from evalkit.pipeline import RunConfig, run_eval
from evalkit.reporting.run_report import headline
from tests.fakes import FlakyRunner, ScriptedRunner
from tests.runners.test_openai_errors import OK, Reply, ScriptedServer


def answer_a(req: object) -> str:
    return "Answer: A"


def read_jsonl(p: Path) -> list[dict]:
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()]


def test_failed_samples_are_kept_apart_counted_and_retried(tmp_path):
    cfg = RunConfig(task="kmmlu_pro", limit=4, n=1, data="sample", results_dir=tmp_path, progress=False)
    first = run_eval(cfg, runner=FlakyRunner(answer_a, failing={0, 2}))
    d, m = first.run_dir, first.metrics
    answered = read_jsonl(d / "samples.jsonl")
    errors = read_jsonl(d / "errors.jsonl")
    assert len(answered) == 2 and len(errors) == 2
    assert {r["id"] for r in answered} | {e["id"] for e in errors} == {"0", "1", "2", "3"}
    assert all(e["error"].startswith("HTTP 503") for e in errors)
    assert m["incomplete"] and m["errors"]["failed_samples"] == 2 and m["errors"]["planned_samples"] == 4
    assert m["n_samples"] == 2  # the figure covers the answered samples only
    assert "INCOMPLETE: 2 of 4 samples failed" in headline(m)
    report = (d / "report.md").read_text()
    assert "Incomplete run: 2 of 4 samples failed" in report and "HTTP 503" in report
    assert json.loads((d / "metrics.json").read_text())["errors"]["failed_samples"] == 2
    info = json.loads((d / "run.json").read_text())  # the run ended: finished, incomplete
    assert info["status"] == "finished" and info["incomplete"] and "error" not in info

    healthy = ScriptedRunner(answer_a)
    again = run_eval(cfg, runner=healthy)
    assert again.run_dir == d and len(healthy.calls) == 2  # only the failed ones are asked again
    assert not again.metrics["incomplete"] and again.metrics["errors"]["failed_samples"] == 0
    assert again.metrics["n_samples"] == 4 and again.metrics["calls_reused_from_store"] == 2
    assert not (d / "errors.jsonl").exists()
    assert "INCOMPLETE" not in headline(again.metrics)
    assert not json.loads((d / "run.json").read_text())["incomplete"]


def client_profile(tmp_path: Path, url: str) -> Path:
    p = tmp_path / "client.yaml"
    settings = {
        "endpoints": [url],
        "concurrency": 2,
        "max_retries": 1,
        "backoff_base": 0.01,
        "backoff_max": 0.02,
    }
    p.write_text(
        "runner: evalkit.runners.openai_api:OpenAIRunner\nmodel: tiny\n"
        f"settings: {json.dumps(settings)}\nlimits: {{max_new_tokens: 8}}\n"
    )
    return p


def test_a_run_with_failed_requests_exits_non_zero_unless_allowed(tmp_path, capsys, monkeypatch):
    server = ScriptedServer([Reply(body={"choices": [{"message": "not an object"}]})])
    try:
        args = ["run", "kmmlu_pro", "--runner", str(client_profile(tmp_path, server.url)), "--limit", "3"]
        args += ["--n", "1", "--results-dir", str(tmp_path / "runs"), "--no-progress"]
        assert main(args) == EXIT_INCOMPLETE
        out, err = capsys.readouterr()
        assert "INCOMPLETE: 3 of 3 samples failed" in out
        assert "3 of 3 samples failed" in err and "--allow-errors" in err
        monkeypatch.setenv("EVALKIT_INTERFACE", "make")  # make's users are told its variable
        assert main(args) == EXIT_INCOMPLETE
        assert "pass ALLOW_ERRORS=1 to accept" in capsys.readouterr().err
        monkeypatch.delenv("EVALKIT_INTERFACE")
        (run_dir,) = (tmp_path / "runs").iterdir()
        assert "'choices[0].message' is a string" in (run_dir / "errors.jsonl").read_text()

        assert main([*args, "--allow-errors"]) == 0  # the same run, retried, failing again
        assert "warning: 3 of 3 samples failed" in capsys.readouterr().err

        server.replies = [Reply(body=OK)]  # the server recovers: a rerun retries and completes
        assert main(args) == 0
        assert "INCOMPLETE" not in capsys.readouterr().out
        assert len(read_jsonl(run_dir / "samples.jsonl")) == 3 and not (run_dir / "errors.jsonl").exists()
    finally:
        server.close()
