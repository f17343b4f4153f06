"""`evalkit report --out`: files, plots that are real images, and the HTML page in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evalkit.cli import main
from tests.reporting.fake_runs import binary_scores, degrade, write_run

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def distinct_colors(img: np.ndarray) -> int:
    rgb = img.astype(np.uint32)
    return len(np.unique((rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]))


def artifacts_dir(name: str) -> Path:
    """Where a test keeps files for people to look at: $EVALKIT_TEST_ARTIFACTS or .cache/test-artifacts."""
    d = Path(os.environ.get("EVALKIT_TEST_ARTIFACTS", REPO / ".cache" / "test-artifacts")) / name
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    runs = root / "runs"
    ref = binary_scores(300, 0.62, 1)
    subjects = {k: ["law", "medicine", "accounting"][int(k) % 3] for k in ref}
    write_run(runs, "bf16", ref, model="LGAI-EXAONE/EXAONE-4.0-32B", runner_profile="bf16", subjects=subjects)
    write_run(runs, "gptq", degrade(ref, 15, 6, 2), subjects=subjects)
    rng = np.random.default_rng(3)
    write_run(
        runs,
        "aime",
        {f"p{i}": [float(x) for x in rng.random(8) < 0.8] for i in range(30)},
        task="aime2025",
        title="AIME 2025",
        benchmark="AIME 2025",
        mode="reasoning",
    )
    write_run(
        runs,
        "tiny",
        binary_scores(40, 0.25, 4),
        task="kmmlu_pro",
        model="tiny",
        runner_profile="torch-int4",
        placeholder=True,
        synthetic=True,
    )
    out = root / "out"
    code = main(
        ["report", str(runs), "--out", str(out), "--html", "--plots", "--baseline", str(runs / "bf16")]
    )
    assert code == 0
    return {"root": root, "runs": runs, "out": out}


def test_files_are_written(report):
    out = report["out"]
    for name in ("comparison.md", "comparison.csv", "comparison.html"):
        assert (out / name).stat().st_size > 500, name
    names = {p.name for p in (out / "plots").iterdir()}
    for stem in ("measured_vs_published", "paired_deltas", "breakdown_kmmlu_pro_non_reasoning"):
        assert {f"{stem}.png", f"{stem}.svg"} <= names


def test_plots_are_non_trivial_images(report):
    for png in (report["out"] / "plots").glob("*.png"):
        img = np.asarray(Image.open(png).convert("RGB"))
        h, w, _ = img.shape
        assert w >= 500 and h >= 250, png.name
        colors = distinct_colors(img)
        assert colors > 50, f"{png.name}: {colors} colours"
        non_white = np.mean(np.any(img < 240, axis=2))
        assert 0.02 < non_white < 0.9, f"{png.name}: {non_white:.3f} of the pixels drawn"
    svg = (report["out"] / "plots" / "measured_vs_published.svg").read_text()
    assert "KMMLU-Pro" in svg and "AIME 2025" in svg and "placeholder model" in svg


def test_single_run_report_still_rerenders(report, capsys):
    d = report["runs"] / "gptq"
    assert main(["report", str(d)]) == 0
    assert (d / "report.md").is_file() and "report:" in capsys.readouterr().out


def test_html_options_need_out(report, capsys):
    assert main(["report", str(report["runs"] / "gptq"), "--html"]) == 2
    assert "give --out DIR" in capsys.readouterr().err


def test_html_renders_in_headless_chromium_with_every_figure(report):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium; CI installs it in .ci/run)")
    html = report["out"] / "comparison.html"
    profile = report["root"] / "chromium-profile"
    art = artifacts_dir("reporting")
    shot = art / "comparison.png"
    shot.unlink(missing_ok=True)
    # One launch renders the page, prints its DOM and keeps a screenshot.
    dom = subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--window-size=1400,2200",
            f"--screenshot={shot}",
            "--dump-dom",
            html.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    shutil.copy(html, art / "comparison.html")
    assert shot.is_file() and Image.open(shot).size == (1400, 2200)
    assert distinct_colors(np.asarray(Image.open(shot).convert("RGB"))) > 50

    # Every measured figure (with its interval) and every published figure is on the rendered page.
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))
    csv_rows = (report["out"] / "comparison.csv").read_text().splitlines()
    header = csv_rows[0].split(",")
    assert "Placeholder model: these scores are meaningless." in text
    for pub in ("60.0", "85.3"):  # KMMLU-Pro non-reasoning, AIME 2025 reasoning: the card's EXAONE figures
        assert pub in text
    for line in csv_rows[1:]:
        row = dict(zip(header, line.split(","), strict=False))
        if row["kind"] == "measured":
            v, lo, hi = (f"{float(row[k]):.1f}" for k in ("value", "ci95_low", "ci95_high"))
            assert f"{v} [{lo}, {hi}]" in text, row["system"]
    m = json.loads((report["runs"] / "gptq" / "metrics.json").read_text())
    assert f"{100 * m['value']:.1f}" in text
