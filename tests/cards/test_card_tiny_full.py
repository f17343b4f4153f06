"""Issue 18, item 4: the whole 32B card on the tiny model (CPU), LIMIT=1 N=1 SKIP_MISSING=1,
has every row of both 32B tables; a SIGKILL in the middle and a rerun give the same card.

Slow (two whole cards on the CPU: minutes), run by `make check-data`; the fast variants in
test_card_command.py run a subset in `make test`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from evalkit.cards.card import load_card

REPO = Path(__file__).resolve().parents[2]
TIMING = ["generation_time_s"]


def _cmd(root: Path) -> list[str]:
    # `make card CARD=exaone-4.0-32b LIMIT=1 N=1 SKIP_MISSING=1`, with the outputs under `root`
    return [
        sys.executable, "-m", "evalkit", "card", "exaone-4.0-32b", "--limit", "1", "--n", "1",
        "--skip-missing", "--no-progress", "--id", "c",
        "--results-dir", str(root / "runs"), "--cards-dir", str(root / "cards"),
    ]  # fmt: skip


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "EVALKIT_INTERFACE": "make"}


def _stored_calls(runs: Path) -> int:
    """Calls stored by every run so far (a store's first line is its header)."""
    total = 0
    for p in runs.glob("*/generations.jsonl"):
        try:
            total += max(p.read_text(encoding="utf-8").count("\n") - 1, 0)
        except OSError:
            continue
    return total


@pytest.mark.slow
def test_whole_card_on_the_tiny_model_survives_a_sigkill(tmp_path: Path) -> None:
    whole = subprocess.run(_cmd(tmp_path / "a"), env=_env(), capture_output=True, text=True, timeout=3600)
    assert whole.returncode == 0, whole.stderr[-2000:]
    card_md = tmp_path / "a" / "cards" / "c" / "card.md"
    assert whole.stdout.strip().splitlines()[-1] == f"card: {card_md}"

    df = pd.read_csv(tmp_path / "a" / "cards" / "c" / "card.csv")
    rows = df[df["kind"].isin(["measured", "not run"])]
    card = load_card("exaone-4.0-32b")
    assert list(zip(rows["mode"], rows["benchmark"], strict=True)) == [
        (r.mode, r.benchmark) for r in card.rows()
    ]
    missing = rows[rows["kind"] == "not run"]
    not_run = set(zip(missing["benchmark"], missing["mode"], strict=True))
    assert not_run == {  # the rows needing a simulated user or a judge; the other 33 measured
        (b, m) for b in ("Tau-bench (Airline)", "Tau-bench (Retail)") for m in ("reasoning", "non-reasoning")
    } | {("HELMET", "non-reasoning"), ("WMT24++ (ES)", "non-reasoning")}

    # The same card again, killed (SIGKILL: no cleanup) once the first cell's store has a call.
    root = tmp_path / "b"
    proc = subprocess.Popen(_cmd(root), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 1800
    while _stored_calls(root / "runs") == 0 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert not (root / "cards" / "c" / "card.md").exists()
    stored = _stored_calls(root / "runs")
    assert stored >= 1

    again = subprocess.run(_cmd(root), env=_env(), capture_output=True, text=True, timeout=3600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.strip().splitlines()[-1] == f"card: {root / 'cards' / 'c' / 'card.md'}"
    first = pd.read_csv(tmp_path / "a" / "cards" / "c" / "card.csv").drop(columns=TIMING)
    resumed = pd.read_csv(root / "cards" / "c" / "card.csv").drop(columns=TIMING)
    pd.testing.assert_frame_equal(first, resumed)
