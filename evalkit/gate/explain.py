"""A gate's outcome for people: one screen in a terminal, Markdown for a CI job summary."""

from __future__ import annotations

from evalkit.gate.verdicts import FAIL, PASS, UNDECIDED, GateResult

_TAGS = {PASS: "PASS", FAIL: "FAIL", UNDECIDED: "UNDECIDED"}
_EXIT_HELP = "exit codes: 0 pass, 1 fail, 2 cannot decide"


def render_text(result: GateResult) -> str:
    """Every verdict on one line (a hint under undecided and failed ones), then the overall line."""
    p = result.policy
    head = f"evalkit gate: {p.title} ({p.path})"
    if result.mode == "sequential":
        head += ", sequential"
    lines = [head]
    if p.description:
        lines.append(f"  {p.description.splitlines()[0]}")
    width = max((len(v.subject) for v in result.verdicts), default=10)
    cwidth = max((len(v.criterion) for v in result.verdicts), default=10)
    for v in result.verdicts:
        lines.append(f"  {_TAGS[v.status]:<9}  {v.subject:<{width}}  {v.criterion:<{cwidth}}  {v.message}")
        if v.hint and v.status != PASS:
            lines.append(f"  {'':<9}  {'':<{width}}  {'':<{cwidth}}  -> {v.hint}")
    lines += [f"  note: {n}" for n in result.notes]
    c = result.counts()
    lines.append(
        f"gate {_TAGS[result.status]} (exit {result.exit_code}): {c[PASS]} passed, {c[FAIL]} failed, "
        f"{c[UNDECIDED]} undecided; {_EXIT_HELP}"
    )
    return "\n".join(lines)


def render_markdown(result: GateResult) -> str:
    """A table for $GITHUB_STEP_SUMMARY or a pull-request comment."""
    p = result.policy
    icon = {PASS: "✅ pass", FAIL: "❌ fail", UNDECIDED: "⚠️ undecided"}
    lines = [
        f"### evalkit gate `{p.title}`: {icon[result.status]} (exit {result.exit_code})",
        "",
        "| verdict | task | criterion | explanation |",
        "|---|---|---|---|",
    ]
    for v in result.verdicts:
        text = v.message + (f" — {v.hint}" if v.hint and v.status != PASS else "")
        lines.append(f"| {icon[v.status]} | {v.subject} | {v.criterion} | {text.replace('|', '/')} |")
    lines += ["", f"Policy `{p.path}` ({_EXIT_HELP})."]
    return "\n".join(lines) + "\n"
