"""Issue 17: an all-wrong or all-right run never shows a zero-width interval, and report.md,
comparison.md, comparison.csv, comparison.html and the gate show the same one."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from evalkit.cli import main
from evalkit.reporting import discover_runs, measured_interval, paired_comparison
from evalkit.reporting.run_report import headline, render_report
from tests.reporting.fake_runs import write_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("edges")
    aime = {"task": "aime2025", "title": "AIME 2025", "benchmark": "AIME 2025", "mode": "reasoning"}
    # two problems, 8 repeats each: the reference solves every sample, the candidate none
    write_run(root, "ref", {"p1": [1.0] * 8, "p2": [1.0] * 8}, model="bf16", runner_profile="bf16", **aime)
    write_run(root, "cand", {"p1": [0.0] * 8, "p2": [0.0] * 8}, **aime)
    out = root / "out"
    assert (
        main(
            [
                "report",
                str(root / "cand"),
                str(root / "ref"),
                "--out",
                str(out),
                "--html",
                "--baseline",
                str(root / "ref"),
            ]
        )
        == 0
    )
    return root, out


def test_metrics_and_report_md_show_0_to_84_percent(runs):
    root, _ = runs
    m = json.loads((root / "cand" / "metrics.json").read_text())
    assert m["value"] == 0 and m["ci95"][0] == 0 and m["ci95"][1] == pytest.approx(0.8419, abs=1e-4)
    assert "**0.0** (95% CI 0.0–84.2; SE 0.0)" in render_report(m)
    assert "0.0 (95% CI 0.0–84.2) measured" in headline(m)
    m_ref = json.loads((root / "ref" / "metrics.json").read_text())
    assert m_ref["ci95"][0] == pytest.approx(1 - 0.8419, abs=1e-4) and m_ref["ci95"][1] == 1


def test_comparison_files_and_gate_agree_and_are_not_points(runs):
    root, out = runs
    (cand,) = [r for r in discover_runs([root / "cand"])]
    (ref,) = [r for r in discover_runs([root / "ref"])]
    iv = measured_interval(cand).interval
    assert (iv.low, iv.high) == (0.0, pytest.approx(0.8419, abs=1e-4))
    rows = pd.read_csv(out / "comparison.csv")
    mine = rows[(rows["kind"] == "measured") & (rows["delta_vs_baseline"].notna())].iloc[0]
    assert (mine["ci95_low"], mine["ci95_high"]) == (0.0, pytest.approx(84.2, abs=0.05))
    diff = paired_comparison(cand, ref).interval
    assert diff.estimate == -1 and diff.high > -0.5  # never −100 [−100, −100]
    assert mine["delta_vs_baseline_ci95_high"] == pytest.approx(100 * diff.high)
    assert mine["delta_vs_baseline_ci95_low"] < mine["delta_vs_baseline_ci95_high"]
    md = (out / "comparison.md").read_text()
    html = (out / "comparison.html").read_text()
    assert "84.2" in md and "84.2" in html
    assert f"{100 * diff.high:+.1f}".replace("-", "−") in md.replace("-", "−")
