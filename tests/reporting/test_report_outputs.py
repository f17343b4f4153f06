"""`evalkit report --out`: files, plots that are real images whose text fits and renders (Korean
included), and the HTML page in headless Chromium, with no table wider than a 1,400 px window."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib.text import Text
from PIL import Image

from evalkit.cli import main
from evalkit.reporting import build_comparison, discover_runs, fonts
from evalkit.reporting.fonts import INSTALL_HINT, cjk_families
from evalkit.reporting.plots import _style, figures, text_problems
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
    # Subjects as the real KMMLU-Pro sample names them (Korean), and a Spanish one.
    subjects = {k: ["민법", "회계원리", "Matemáticas (señales)"][int(k) % 3] for k in ref}
    write_run(runs, "bf16", ref, model="LGAI-EXAONE/EXAONE-4.0-32B", runner_profile="bf16", subjects=subjects)
    write_run(runs, "gptq", degrade(ref, 15, 6, 2), subjects=subjects)
    # The same system on fewer items: a variant, named by what differs.
    short = write_run(runs, "gptq-short", dict(list(degrade(ref, 15, 6, 2).items())[:120]), subjects=subjects)
    # ... whose 2 other samples failed (errors, not answers): scored on the 120 answered.
    m = json.loads((short / "metrics.json").read_text())
    m.update(incomplete=True, errors={"failed_samples": 2, "planned_samples": 122, "examples": []})
    (short / "metrics.json").write_text(json.dumps(m))
    # A run that stopped on an error, and one killed before it wrote anything but run.json.
    for name, status in (
        ("failed", {"status": "failed", "error": "RuntimeError: CUDA out of memory"}),
        ("killed", {}),
    ):
        (runs / name).mkdir()
        info = {"task": "ksm", "mode": "reasoning", "model": "tiny", "runner_profile": "torch-int4"}
        (runs / name / "run.json").write_text(
            json.dumps({**info, "planned_items": 40, "planned_repeats": 4, **status})
        )
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
    stems = ("measured_32b_non_reasoning", "measured_32b_reasoning", "paired_deltas")
    for stem in (*stems, "breakdown_kmmlu_pro_non_reasoning"):
        assert {f"{stem}.png", f"{stem}.svg"} <= names, stem


def test_variants_and_unfinished_runs_are_named(report):
    md = (report["out"] / "comparison.md").read_text()
    # Runs of one system on one task differ in their item count: the label says so, no hash.
    assert "EXAONE-4.0-32B-GPTQ · exaone-4.0-32b-gptq [300 items]" in md
    assert "EXAONE-4.0-32B-GPTQ · exaone-4.0-32b-gptq [120 items] (incomplete)" in md
    assert "**Incomplete runs.**" in md
    assert "[120 items] (incomplete), kmmlu_pro: 2 of 122 samples failed" in md
    assert "[300 items] (incomplete)" not in md
    assert not re.search(r"\[[0-9a-f]{8}\]", md)
    assert "## Unfinished or failed runs" in md
    assert (
        "| `failed` | ksm | reasoning | tiny · torch-int4 | failed | 0 | 40 items × 4 | RuntimeError: CUDA"
        in md
    )
    assert "| `killed` | ksm | reasoning | tiny · torch-int4 | running or killed |" in md


def test_plots_are_non_trivial_images(report):
    for png in (report["out"] / "plots").glob("*.png"):
        img = np.asarray(Image.open(png).convert("RGB"))
        h, w, _ = img.shape
        assert w >= 500 and h >= 250, png.name
        colors = distinct_colors(img)
        assert colors > 50, f"{png.name}: {colors} colours"
        non_white = np.mean(np.any(img < 240, axis=2))
        assert 0.02 < non_white < 0.9, f"{png.name}: {non_white:.3f} of the pixels drawn"
        assert w <= 1100 and h <= 1600, f"{png.name}: {w}x{h} px"  # one screen wide, readable at 100 %
    plots = report["out"] / "plots"
    svg = (plots / "measured_32b_non_reasoning.svg").read_text()
    assert "KMMLU-Pro" in svg and "placeholder model" in svg and "Qwen3" not in svg
    assert "AIME 2025" in (plots / "measured_32b_reasoning.svg").read_text()
    breakdown = (plots / "breakdown_kmmlu_pro_non_reasoning.svg").read_text()
    assert "민법" in breakdown and "Matemáticas (señales)" in breakdown  # SVG text stays text
    assert "Noto Sans CJK" in breakdown or not cjk_families()  # the font chain is named for browsers


def test_every_plot_text_lies_inside_its_image(report):
    c = build_comparison(
        discover_runs([report["runs"]]), baselines=discover_runs([report["runs"] / "bf16"]), level=0.95
    )
    figs = figures(c)
    assert len(figs) == 4
    for name, fig in figs:
        assert text_problems(fig) == [], name
        texts = [t.get_text() for t in fig.findobj(Text)]
        if name.startswith("measured"):  # the tiny run is in the non-reasoning table only
            tagged = any("placeholder model" in t for t in texts)
            assert tagged == (name == "measured_32b_non_reasoning"), name


def _render_text(text: str) -> np.ndarray:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with _style():
        fig = Figure(figsize=(1.5, 0.5), dpi=100)
        FigureCanvasAgg(fig)
        fig.text(0.05, 0.3, text, fontsize=14)
        fig.canvas.draw()
        return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def test_korean_and_spanish_render_as_glyphs_not_boxes():
    if not cjk_families():
        pytest.skip(f"no CJK font installed ({INSTALL_HINT}; .ci/run installs it)")
    # A font without Hangul draws every syllable as the same empty box: the images would match.
    assert not np.array_equal(_render_text("민법"), _render_text("헌법"))
    assert not np.array_equal(_render_text("señal"), _render_text("senal"))


def test_a_missing_cjk_font_is_said_plainly(monkeypatch):
    monkeypatch.setattr(fonts, "cjk_families", lambda: ())
    note = fonts.missing_glyphs_note(["KMMLU-Pro", "회계원리"])
    assert note and "'회계원리'" in note and "fonts-noto-cjk" in note
    assert fonts.missing_glyphs_note(["only Latin, señal"]) is None


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


# Run in the page by the test only (the report itself has no scripts): how far each table
# reaches, against the window's width.
MEASURE = """<script>
window.addEventListener("load", () => {
  const width = document.documentElement.clientWidth;
  const tables = [...document.querySelectorAll("table")].map((t, i) => ({
    i, right: Math.ceil(t.getBoundingClientRect().right), scroll: t.scrollWidth,
    box: Math.ceil(t.parentElement.getBoundingClientRect().width) }));
  const out = document.createElement("pre"); out.id = "measure";
  out.textContent = JSON.stringify({ width, page: document.documentElement.scrollWidth, tables });
  document.body.appendChild(out);
});
</script>"""


def test_no_table_overflows_a_1400px_window(report):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium; CI installs it in .ci/run)")
    page = report["root"] / "measure.html"
    page.write_text((report["out"] / "comparison.html").read_text().replace("</body>", MEASURE + "</body>"))
    dom = subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={report['root'] / 'chromium-profile-measure'}",
            "--window-size=1400,1000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    found = re.search(r'<pre id="measure">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    m = json.loads(html.unescape(found.group(1)))
    assert m["width"] <= 1400 and m["page"] <= m["width"], m
    assert len(m["tables"]) >= 5
    for t in m["tables"]:
        assert t["right"] <= m["width"] and t["scroll"] <= t["box"] + 1, t


def test_text_problems_finds_clipped_and_colliding_labels():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 2))  # no constrained layout: long tick labels run off the left edge
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_ylim(0, 1)
    ax.set_yticks([0.5, 0.51])
    ax.set_yticklabels(["a label far too long for this little figure", "its neighbour"])
    problems = text_problems(fig)
    assert any("reaches outside" in p for p in problems)
    assert any("overlap" in p for p in problems)
