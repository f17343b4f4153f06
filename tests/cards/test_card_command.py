"""`evalkit card`: the plan before any model loads, one runner for every cell, the card with
every row of the model card's tables, and a rerun that redoes nothing finished (CPU, tiny model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import evalkit.cards.run as card_run
from evalkit.cards.card import load_card
from evalkit.cli import main

TIMING = ["generation_time_s"]  # differs between runs of the same card; nothing else may


def _args(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "card",
        "exaone-4.0-32b",
        "--results-dir",
        str(tmp_path / "runs"),
        "--cards-dir",
        str(tmp_path / "cards"),
        "--id",
        "c",
        "--no-progress",
        *extra,
    ]


def _every_row(card_csv: Path) -> list[tuple[str, str, str]]:
    """(mode, benchmark, kind) of the EXAONE column of every card row, in the file's order."""
    df = pd.read_csv(card_csv)
    rows = df[df["kind"].isin(["measured", "not run"])]
    return [(m, b, k) for m, b, k in zip(rows["mode"], rows["benchmark"], rows["kind"], strict=True)]


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts runner loads of the card command (model, judge, user simulator)."""
    made: list[str] = []
    real = card_run.make_runner

    def counting(profile: Any, model: str | None = None) -> Any:
        made.append(profile.name)
        return real(profile, model)

    monkeypatch.setattr(card_run, "make_runner", counting)
    return made


def test_plan_lists_every_cell_and_loads_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], loads: list[str]
) -> None:
    assert main(_args(tmp_path, "--plan", "--limit", "2")) == 0
    assert loads == []
    plan = json.loads((tmp_path / "cards" / "c" / "plan.json").read_text(encoding="utf-8"))
    card = load_card("exaone-4.0-32b")
    assert [(c["benchmark"], c["mode"]) for c in plan["cells"]] == [
        (r.benchmark, r.mode) for r in card.rows()
    ]
    cells = {(c["benchmark"], c["mode"]): c for c in plan["cells"]}
    aime = cells[("AIME 2025", "reasoning")]
    # the bundled sample's 30 problems, LIMIT 2, the card's 32 repeats, the tiny profile's 96-token cap
    assert (aime["status"], aime["items"], aime["items_total"], aime["repeats"], aime["max_new_tokens"]) == (
        "run",
        2,
        30,
        32,
        96,
    )
    assert aime["expected_tokens"] == 2 * 32 * 48 and aime["tokens_source"] == "guess: 50% of the budget"
    assert aime["est_seconds"] is None and plan["throughput_tok_s"] is None  # no stored run: unknown
    tau = cells[("Tau-bench (Retail)", "non-reasoning")]
    assert tau["status"] == "not run" and "needs a user simulator (--user-sim PROFILE)" in tau["reason"]
    assert "needs a judge" in cells[("WMT24++ (ES)", "non-reasoning")]["reason"]
    out = capsys.readouterr().out
    assert "33 cells to run, 6 cells that cannot run" in out
    assert out.strip().splitlines()[-1].startswith("plan: ")


def test_cells_that_cannot_run_stop_the_card_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], loads: list[str]
) -> None:
    assert main(_args(tmp_path, "--limit", "1")) == 2
    err = capsys.readouterr().err
    assert "6 cells of the card cannot run" in err and "--skip-missing" in err
    assert "Tau-bench (Airline) (reasoning): needs a user simulator" in err
    assert loads == [] and (tmp_path / "cards" / "c" / "plan.md").is_file()
    assert not (tmp_path / "cards" / "c" / "card.md").exists()


def test_bad_options_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_args(tmp_path, "--modes", "thinking")) == 2
    assert "unknown mode 'thinking'" in capsys.readouterr().err
    assert main(_args(tmp_path, "--benchmarks", "AIME 2026")) == 2
    assert "has no benchmark 'AIME 2026'" in capsys.readouterr().err


def test_card_has_every_row_and_a_rerun_redoes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], loads: list[str]
) -> None:
    """LIMIT=1 N=1 on a subset (one benchmark, both modes): one runner load for all cells;
    every row of both 32B tables is in the card, the others "not run" with the reason."""
    args = _args(
        tmp_path,
        "--limit",
        "1",
        "--n",
        "1",
        "--max-new-tokens",
        "8",
        "--skip-missing",
        "--benchmarks",
        "AIME 2025",
    )
    assert main(args) == 0
    out = capsys.readouterr().out.strip().splitlines()
    card_md = tmp_path / "cards" / "c" / "card.md"
    assert out[-1] == f"card: {card_md}"
    assert loads == ["torch-int4"]  # two cells, one load
    rows = _every_row(tmp_path / "cards" / "c" / "card.csv")
    card = load_card("exaone-4.0-32b")
    assert [(m, b) for m, b, _ in rows] == [(r.mode, r.benchmark) for r in card.rows()]
    measured = {(m, b) for m, b, k in rows if k == "measured"}
    assert measured == {("reasoning", "AIME 2025"), ("non-reasoning", "AIME 2025")}
    df = pd.read_csv(tmp_path / "cards" / "c" / "card.csv")
    assert set(df[df["kind"] == "not run"]["note"]) == {"not selected"}
    text = card_md.read_text(encoding="utf-8")
    assert text.index("## 32B Reasoning Mode") < text.index("## 32B Non-Reasoning Mode")
    assert "| Math/Coding | LiveCodeBench v5 | — | not run: not selected | — | 72.6 |" in text
    html = (tmp_path / "cards" / "c" / "card.html").read_text(encoding="utf-8")
    assert html.count("not run: ") == 37 and "Qwen 3 235B" in html

    before = pd.read_csv(tmp_path / "cards" / "c" / "card.csv")
    loads.clear()
    assert main(args) == 0  # a rerun: every cell finished, nothing loads, the same card
    assert loads == []
    after = pd.read_csv(tmp_path / "cards" / "c" / "card.csv")
    pd.testing.assert_frame_equal(before, after)


def test_a_cell_killed_half_way_resumes_from_its_store(tmp_path: Path, loads: list[str]) -> None:
    """The ledger lists only finished cells: a cell whose run stopped (here: no metrics.json
    yet) runs again through its store, without regenerating the calls it had made."""
    args = _args(
        tmp_path,
        "--limit",
        "1",
        "--n",
        "2",
        "--max-new-tokens",
        "8",
        "--skip-missing",
        "--benchmarks",
        "KSM",
        "--modes",
        "non-reasoning",
    )
    assert main(args) == 0
    run_dir = next((tmp_path / "runs").iterdir())
    calls = (run_dir / "generations.jsonl").read_text(encoding="utf-8").count("\n")
    csv_before = pd.read_csv(tmp_path / "cards" / "c" / "card.csv").drop(columns=TIMING)
    (run_dir / "metrics.json").unlink()  # as if killed after its calls were stored
    loads.clear()
    assert main(args) == 0
    assert loads == ["torch-int4"]
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["calls_reused_from_store"] == 2  # 1 item x 2 repeats, none generated again
    assert (run_dir / "generations.jsonl").read_text(encoding="utf-8").count("\n") == calls
    pd.testing.assert_frame_equal(
        csv_before, pd.read_csv(tmp_path / "cards" / "c" / "card.csv").drop(columns=TIMING)
    )


def test_a_cell_with_failed_samples_exits_3_and_is_retried(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes import FlakyRunner, ScriptedRunner

    runners = iter([FlakyRunner(lambda r: "정답: A", failing={0}), ScriptedRunner(lambda r: "정답: A")])
    monkeypatch.setattr(card_run, "make_runner", lambda profile, model=None: next(runners))
    args = _args(
        tmp_path, "--limit", "1", "--n", "2", "--skip-missing", "--benchmarks", "KSM", "--modes", "reasoning"
    )
    assert main(args) == 3  # the card is written; one sample of the cell failed
    captured = capsys.readouterr()
    assert "KSM (reasoning) incomplete (1 of 2 samples failed; a rerun retries them)" in captured.err
    assert captured.out.strip().splitlines()[-1].startswith("card: ")
    assert main(args) == 0  # not skipped as finished: the failed sample is retried, the other reused
    run_dir = next((tmp_path / "runs").iterdir())
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert (metrics["incomplete"], metrics["calls_reused_from_store"], metrics["n_samples"]) == (False, 1, 2)
