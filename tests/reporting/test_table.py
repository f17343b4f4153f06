"""The comparison's content: model-card grouping, intervals, deltas, paired differences, CSV rows."""

from dataclasses import dataclass

import pytest

from evalkit.reporting import RunData, build_comparison, comparison_records, discover_runs
from evalkit.reporting.markdown import render_markdown
from tests.reporting.fake_runs import binary_scores, degrade, write_run

# AIME: per item two right, one right on odd items, one right unless i % 3 == 0.
AIME = {f"p{i}": [1.0, float(i % 2), 1.0, float(i % 3 > 0)] for i in range(30)}
AIME_MEAN = 100 * (2 + 15 / 30 + 20 / 30) / 4


@dataclass
class World:
    runs: dict[str, RunData]
    reference_right: int  # items the bf16 run got right (of 400)


@pytest.fixture
def world(tmp_path) -> World:
    ref = binary_scores(400, 0.6, 1)
    write_run(tmp_path, "bf16", ref, model="LGAI-EXAONE/EXAONE-4.0-32B", runner_profile="bf16")
    write_run(tmp_path, "gptq", degrade(ref, 20, 8, 2))
    write_run(
        tmp_path, "aime", AIME, task="aime2025", title="AIME 2025", benchmark="AIME 2025", mode="reasoning"
    )
    write_run(
        tmp_path,
        "mine",
        binary_scores(50, 0.3, 4),
        task="mytask",
        title="My task",
        benchmark=None,
        placeholder=True,
        model="tiny",
        runner_profile="torch-int4",
    )
    return World({r.run_id: r for r in discover_runs([tmp_path])}, int(sum(v[0] for v in ref.values())))


def test_tables_follow_the_model_card(world):
    runs = world.runs
    c = build_comparison(list(runs.values()), baselines=[runs["bf16"]])
    assert [t.title for t in c.tables] == [
        "32B Reasoning Mode",
        "32B Non-Reasoning Mode",
        "Tasks without a published figure (non-reasoning)",
    ]
    nr = c.tables[1]
    assert nr.subject == "EXAONE 4.0 32B" and ("Qwen3 32B", "32.8B") in nr.peers
    (row,) = nr.rows
    assert row.key == "KMMLU-Pro" and row.category == "Multilinguality" and row.published.value == 60.0
    gptq = row.cells["EXAONE-4.0-32B-GPTQ · exaone-4.0-32b-gptq"]
    # The candidate lost 20 of the reference's right answers and won 8: 12 fewer of 400.
    assert gptq.value == pytest.approx(100 * (world.reference_right - 12) / 400)
    assert gptq.delta_published.estimate == pytest.approx(gptq.value - 60.0)
    assert gptq.delta_published.width == pytest.approx(gptq.ci[1] - gptq.ci[0])
    assert gptq.delta_baseline.estimate == pytest.approx(-3.0)
    assert gptq.delta_baseline.width < 0.6 * gptq.delta_published.width  # pairing pays
    assert gptq.paired.mcnemar.candidate_wins == 8 and gptq.paired.mcnemar.reference_wins == 20
    assert c.any_placeholder


def test_csv_records_hold_measured_published_and_peers(world):
    runs = world.runs
    recs = comparison_records(build_comparison(list(runs.values()), baselines=[runs["bf16"]]))
    kinds = {(r["benchmark"], r["kind"]) for r in recs}
    assert ("KMMLU-Pro", "published") in kinds and ("AIME 2025", "peer") in kinds
    measured = [r for r in recs if r["kind"] == "measured"]
    assert len(measured) == 4
    aime = next(r for r in measured if r["task"] == "aime2025")
    assert aime["value"] == pytest.approx(AIME_MEAN) and aime["published"] == 85.3 and aime["n_repeats"] == 4
    assert aime["ci95_low"] < AIME_MEAN < aime["ci95_high"]
    mine = next(r for r in measured if r["task"] == "mytask")
    assert mine["placeholder_model"] and mine["published"] is None


def test_markdown_labels_the_placeholder_and_shows_health(world):
    md = render_markdown(build_comparison(list(world.runs.values())))
    assert "Placeholder model: these scores are meaningless" in md and "tiny · torch-int4 (placeholder)" in md
    assert "## Run health" in md and "10.0 min" in md and "| 85.3 |" in md
