"""What the command line says when something is wrong: the real cause, named in the interface
the user typed (`--data` for the CLI, `DATA=` under make), before any model loads."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import evalkit.pipeline as pipeline
from evalkit import __version__
from evalkit.cli import main
from evalkit.hub import _probe, offline_reason
from evalkit.wording import option, plural

REPO = Path(__file__).resolve().parent.parent
COMMANDS = ("list", "run", "score", "generate", "report", "gate", "fidelity", "serve")


@pytest.fixture
def no_model_load(monkeypatch):
    """Loading a model fails the test: these errors must come before it."""

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the error")

    monkeypatch.setattr(pipeline, "make_runner", refuse)


def test_version_and_help_describe_every_command(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"evalkit {__version__}"
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for cmd in COMMANDS:
        assert f"\n    {cmd} " in out, cmd
    assert "~/.cache/evalkit (EVALKIT_CACHE)" in out


@pytest.mark.parametrize(
    ("argv", "hint"),
    [(["run", "kmmlu_pro", "--limitt", "3"], "evalkit run --help"), (["nosuch"], "evalkit --help")],
)
def test_usage_errors_are_one_line_with_a_hint(capsys, argv, hint):
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and "usage:" not in err
    assert err.startswith("evalkit") and f"(see `{hint}`)" in err


def test_a_missing_local_model_is_named_at_once(capsys, tmp_path, monkeypatch, no_model_load):
    def no_data(*args, **kwargs):
        raise AssertionError("data was loaded before the model was checked")

    monkeypatch.setattr(pipeline, "load_rows", no_data)
    assert main(["run", "kmmlu_pro", "--model", "/nonexistent", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "model '/nonexistent' not found" in err and "--model /nonexistent" in err
    assert "KMMLU" not in err and err.count("\n") == 1


@pytest.mark.parametrize(("interface", "flag"), [("", "--data /path/to/local/copy"), ("make", "DATA=/path")])
def test_offline_hub_data_says_what_was_tried_without_retries(capsys, tmp_path, monkeypatch, interface, flag):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("EVALKIT_INTERFACE", interface)
    assert main(["run", "kmmlu_pro", "--data", "hub", "--limit", "1", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Retry" not in err and err.count("\n") == 1
    assert "LGAI-EXAONE/KMMLU-Pro@main" in err and "HF_HUB_OFFLINE is set" in err and flag in err


def test_an_unreachable_hub_is_found_in_one_try(monkeypatch):
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens
    _probe.cache_clear()
    reason = offline_reason()
    assert reason is not None and reason.startswith("http://127.0.0.1:9 is unreachable")


@pytest.mark.parametrize(
    ("args", "interface", "expected"),
    [
        (["max_batch_size=2.5"], "", "--runner-arg max_batch_size=2.5: max_batch_size of runner profile"),
        (["nope=1"], "", "runner profile 'torch-int4' (TorchInt4Runner) has no setting 'nope' (it has: "),
        (["max_batch_size=x"], "make", 'RUNNER_ARGS="max_batch_size=x": max_batch_size of runner profile'),
    ],
)
def test_runner_args_are_checked_before_the_model_loads(
    capsys, tmp_path, monkeypatch, no_model_load, args, interface, expected
):
    monkeypatch.setenv("EVALKIT_INTERFACE", interface)
    flags = [x for a in args for x in ("--runner-arg", a)]
    assert main(["run", "kmmlu_pro", "--limit", "1", *flags, "--results-dir", str(tmp_path)]) == 2
    assert expected in capsys.readouterr().err


def test_runner_args_reach_the_runner_and_run_json(tmp_path, capsys):
    argv = ["run", "kmmlu_pro", "--limit", "1", "--max-new-tokens", "2", "--no-progress"]
    argv += ["--results-dir", str(tmp_path)]
    assert main([*argv, "--runner-arg", "max_batch_size=2", "--runner-arg", "dtype=float32"]) == 0
    (run_json,) = tmp_path.glob("*/run.json")
    info = json.loads(run_json.read_text())
    assert info["runner_args"] == {"max_batch_size": 2, "dtype": "float32"}
    assert info["status"] == "finished"
    metrics = json.loads((run_json.parent / "metrics.json").read_text())
    assert metrics["runner_args"] == info["runner_args"]


@pytest.mark.parametrize(("interface", "flag"), [("", "--user-sim PROFILE"), ("make", "USER_SIM=PROFILE")])
def test_an_agent_task_without_its_user_simulator_stops_before_the_model_loads(
    capsys, tmp_path, monkeypatch, no_model_load, interface, flag
):
    monkeypatch.setenv("EVALKIT_INTERFACE", interface)
    assert main(["run", "tau_bench_airline", "--limit", "1", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "sends 'user' requests" in err and flag in err


def test_a_run_that_fails_says_so_in_run_json(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("the GPU fell over")

    monkeypatch.setattr(pipeline, "run_episodes", fail)
    cfg = pipeline.RunConfig(task="kmmlu_pro", limit=2, results_dir=tmp_path, run_id="r", progress=False)
    with pytest.raises(RuntimeError):
        pipeline.run_eval(cfg)
    info = json.loads((tmp_path / "r" / "run.json").read_text())
    assert info["status"] == "failed" and info["error"] == "RuntimeError: the GPU fell over"
    assert info["planned_items"] == 2 and info["planned_repeats"] == 1


def test_progress_counts_calls_with_an_estimated_total():
    p = pipeline._Progress(episodes=4, enabled=False, desc="t")
    for key in "abcd":  # first round: one call each
        p.call(key, 10, cached=False)
    assert p.expected_total() == 4  # each expected to make as many calls as the busiest so far
    for _ in range(4):  # episode a talks on and ends after 6 calls
        p.call("a", 10, cached=False)
    p.call("a", 10, cached=False)
    p.episode_done("a")
    # a took 6 calls; b, c, d have made 1 each and are expected to take 6: 5 more each
    assert p.calls == 9 and p.expected_total() == 9 + 15
    p.close()


def test_make_echoes_each_command_on_one_line():
    out = subprocess.run(
        [
            "make",
            "-n",
            "-o",
            ".venv/.evalkit-installed",
            "eval",
            "TASK=tau_bench_retail",
            "USER_SIM=openai",
            "USER_SIM_MODEL=gpt-4o",
            "JUDGE=openai",
            "RUNNER_ARGS=max_model_len=8192 enforce_eager=true",
            "ALLOW_ERRORS=1",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    (line,) = [x for x in out if "evalkit run" in x]
    assert line.startswith("EVALKIT_INTERFACE=make ") and "run tau_bench_retail --runner torch-int4" in line
    for part in (
        '--user-sim openai --user-sim-model "gpt-4o"',
        "--judge openai",
        '--runner-arg "max_model_len=8192" --runner-arg "enforce_eager=true"',
        "--allow-errors",
    ):
        assert part in line
    assert not [x for x in out if x.rstrip().endswith("\\")]


def test_words():
    assert plural(1, "category") == "1 category" and plural(3, "category") == "3 categories"
    assert plural(2, "run") == "2 runs" and plural(0, "item") == "0 items"
    assert option("data", "/x") == "--data /x" and option("allow-errors") == "--allow-errors"


def test_words_under_make(monkeypatch):
    monkeypatch.setenv("EVALKIT_INTERFACE", "make")
    assert option("data", "/x") == "DATA=/x" and option("user-sim") == "USER_SIM="
    assert option("runner-arg", "a=1") == 'RUNNER_ARGS="a=1"'
    assert option("allow-errors") == "ALLOW_ERRORS=1"
