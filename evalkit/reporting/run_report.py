"""report.md for one run: measured vs published vs peers, with the figures that qualify it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evalkit.published import lookup
from evalkit.reporting.format import pct
from evalkit.run_records import AnswerCheck, RunMetrics

PLACEHOLDER_WARNING = (
    "**Placeholder model: these scores are meaningless.** This run used evalkit's embedded tiny "
    "EXAONE-4-architecture model (random weights, a few MB), which exists so that every command "
    "works without a GPU or downloads. It shows that the pipeline runs, nothing about EXAONE 4.0."
)


def headline(m: RunMetrics) -> str:
    """One line: measured figure with its SE beside the published one."""
    pub = published_value(m)
    ci = m.get("ci95")
    # the interval, not ± SE: at 0 % or 100 % the SE is 0 while the interval is not (issue 17)
    value = pct(m["value"])
    meas = f"{value} (95% CI {pct(ci[0])}–{pct(ci[1])})" if ci else f"{value} ± {pct(m['se'])}"
    ref = (
        f"{pub:.1f} published (EXAONE 4.0 {m['reference_size']}, {m['mode']})"
        if pub is not None
        else "no published figure"
    )
    tag = "  [placeholder model: meaningless]" if m.get("placeholder_model") else ""
    if m.get("incomplete"):
        tag += f"  [INCOMPLETE: {failed_text(m)}, not scored]"
    return f"{m['title']} ({m['mode']}): {meas} measured ({m['metric']}, {m['n_items']} items) vs {ref}{tag}"


def failed_text(m: Mapping[str, Any]) -> str:
    """'3 of 16 samples failed' from a run's metrics (0 for runs from before errors were counted)."""
    e = m.get("errors") or {}
    return f"{e.get('failed_samples', 0)} of {e.get('planned_samples', m.get('n_samples', 0))} samples failed"


def _incomplete_note(m: RunMetrics) -> list[str]:
    if not m.get("incomplete"):
        return []
    errors = m.get("errors")
    examples = errors["examples"] if errors else []
    first = ""
    if examples:  # one line, whatever the server sent
        first = f" First: item {examples[0]['id']!r}: {' '.join(str(examples[0]['error']).split())[:200]}"
    return [
        f"> **Incomplete run: {failed_text(m)}** (the model call returned an error, not an answer). "
        "They are left out of every figure below, which covers only the samples answered; "
        f"errors.jsonl lists them. Rerun the same command to retry them.{first}",
        "",
    ]


def published_value(m: RunMetrics) -> float | None:
    benchmark = m.get("benchmark")
    if not benchmark:
        return None
    row = lookup(benchmark, m["mode"], m.get("reference_size", "32B"))
    return row[0].value if row else None


def _answer_check_rows(ac: AnswerCheck | None) -> list[str]:
    """Where answers were found and how their checks went (families that check answers)."""
    if not ac:
        return []
    found = ", ".join(f"{k} {v}" for k, v in ac["found_in"].items())
    return [
        f"| final answers found in | {found} |",
        f"| answer checks over their {ac['time_limit_s']:g} s time limit / failed | "
        f"{ac['timeouts']} / {ac['failed']} |",
    ]


def render_report(m: RunMetrics) -> str:
    lines: list[str] = [f"# {m['title']} — {m['mode']} — {m['model']} ({m['runner_profile']})", ""]
    if m.get("placeholder_model"):
        lines += [f"> {PLACEHOLDER_WARNING}", ""]
    lines += _incomplete_note(m)
    if m.get("synthetic_data"):
        lines += [
            "> **Synthetic data.** The rows are the task's bundled sample, written for evalkit in the "
            "dataset's schema, not the real benchmark.",
            "",
        ]
    if m.get("data_note"):  # e.g. a stand-in data set (MATH500 (ES))
        lines += [f"> **Data.** {m['data_note']}", ""]
    lo, hi = m["ci95"]
    pub = published_value(m)
    incomplete = " (incomplete)" if m.get("incomplete") else ""
    lines += [
        "| | value |",
        "|---|---|",
        f"| measured {m['metric']}{incomplete} | **{pct(m['value'])}** (95% CI {pct(lo)}–{pct(hi)}; "
        f"SE {pct(m['se'])}) |",
        f"| items × repeats | {m['n_items']} × {m['n_repeats']} = {m['n_samples']} samples |",
    ]
    if m.get("maj@n"):  # repeated-sampling estimates (math tasks)
        e = m["maj@n"]
        lines.append(f"| {e['metric']} (majority answer per item) | {pct(e['value'])} ± {pct(e['se'])} |")
    if m.get("pass@k"):
        ks = ", ".join(f"pass@{k} {pct(e['value'])}" for k, e in m["pass@k"].items())
        lines.append(f"| unbiased pass@k | {ks} |")
    if pub is not None:
        delta = 100 * m["value"] - pub
        lines += [
            f"| published, EXAONE 4.0 {m['reference_size']} ({m['mode']}) | {pub:.1f} |",
            f"| measured − published | {delta:+.1f} points |",
        ]
    lines.append("")

    if benchmark := m.get("benchmark"):
        row = lookup(benchmark, m["mode"], m.get("reference_size", "32B"))
        if row:
            lines += [
                f"## Model card: {row[0].table} ({m['benchmark']})",
                "",
                "| system | size | published | note |",
                "|---|---|---|---|",
            ]
            lines.append(f"| this run ({m['model']}) | — | {pct(m['value'])} ± {pct(m['se'])} | measured |")
            for f in row:
                note = "the model this run reproduces" if f.is_subject else "peer"
                val = "N/A" if f.value is None else f"{f.value:.1f}"
                lines.append(f"| {f.system} | {f.system_size} | {val} | {note} |")
            lines += ["", f"Source: {row[0].source}. The card's figures are for the unquantized model.", ""]

    t, p = m["tokens"], m["params"]
    lines += [
        "## Run health",
        "",
        "| | value |",
        "|---|---|",
        f"| truncated (hit max_new_tokens = {p['max_new_tokens']}) | {pct(m['truncation_rate'])}% |",
        f"| failed samples (errors, not scored) | {failed_text(m)} |",
        f"| no answer extracted | {pct(m['no_answer_rate'])}% |",
        *(
            [f"| of which the think block never closed | {pct(m['unclosed_think_rate'])}% |"]
            if m["mode"] == "reasoning"
            else []
        ),
        f"| prompt tokens, mean | {t['prompt_mean']:.0f} |",
        f"| completion tokens, mean / max / total | {t['completion_mean']:.0f} / {t['completion_max']} / "
        f"{t['completion_total']} |",
        f"| wall time | {m['wall_time_s']:.1f} s (generation {m['generation_time_s']:.1f} s) |",
        f"| model calls reused from the store | {m['calls_reused_from_store']} |",
        *_answer_check_rows(m.get("answer_check")),
        "",
    ]
    if m.get("max_new_tokens_capped_by_profile"):
        lines += [
            f"The runner profile capped max_new_tokens at {m['params']['max_new_tokens']} "
            "(set MAX_NEW_TOKENS= with make, --max-new-tokens with evalkit run, to override).",
            "",
        ]
    b = m.get("breakdown")
    if b and len(b["groups"]) > 1:
        lines += [f"## By {b['field']}", "", f"| {b['field']} | items | score |", "|---|---|---|"]
        for g, v in b["groups"].items():
            lines.append(f"| {g} | {v['n_items']} | {pct(v['value'])} |")
        lines.append("")
    # Family-specific tables, already formatted (IFEval's four figures, BFCL's categories, ...).
    for table in m.get("tables") or []:
        cols = table["columns"]
        lines += [f"## {table['title']}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in table["rows"]]
        lines += ["", table["note"], ""] if table.get("note") else [""]
    lines += [
        "## Settings",
        "",
        f"- runner: `{m['runner_profile']}` — "
        + ", ".join(f"{k} {str(v)[:16] if k.endswith('fingerprint') else v}" for k, v in m["runner"].items()),
        f"- data: {m['data_source']}",
        f"- sampling: temperature {p['temperature']}, top_p {p['top_p']}, top_k {p['top_k']}, "
        f"presence_penalty {p['presence_penalty']}, max_new_tokens {p['max_new_tokens']}, "
        f"run seed {m['seed']}",
        f"- prompt: {m.get('prompt_source', '').strip()}",
        f"- evalkit {m['evalkit_version']}, run `{m['run_id']}`, finished {m['finished']}",
        "",
    ]
    return "\n".join(lines)


def write_report(run_dir: Path, metrics: RunMetrics) -> Path:
    path = run_dir / "report.md"
    path.write_text(render_report(metrics), encoding="utf-8")
    return path
