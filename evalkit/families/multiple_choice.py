"""Multiple-choice knowledge tasks (KMMLU-Pro, MMLU-Pro, ...): one question, lettered options."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evalkit.chat import split_completion
from evalkit.data import Row
from evalkit.errors import DataError
from evalkit.prompts import render_prompt
from evalkit.records import Message, Sample, Verdict
from evalkit.scoring.choice import LETTERS, extract_choice
from evalkit.specs import TaskSpec

if TYPE_CHECKING:
    from evalkit.families import ScoreContext
    from evalkit.solvers import EpisodeOutput


def _field(row: Row, name: str, where: str) -> Any:
    if name not in row.fields or row.fields[name] is None:
        raise DataError(where, row.index + 1, name, "missing")
    return row.fields[name]


def _options(row: Row, spec: TaskSpec, where: str) -> list[str]:
    col = spec.data.fields.get("options", "options")
    if isinstance(col, list):  # options spread over several columns
        opts = [str(_field(row, c, where)) for c in col]
    else:
        raw = _field(row, col, where)
        if hasattr(raw, "tolist"):  # numpy arrays from parquet
            raw = raw.tolist()
        if not isinstance(raw, list):
            raise DataError(
                where, row.index + 1, col, f"expected a list of options, got {type(raw).__name__}"
            )
        opts = [str(o) for o in raw]
    if not 2 <= len(opts) <= len(LETTERS):
        raise DataError(where, row.index + 1, str(col), f"needs 2..{len(LETTERS)} options, has {len(opts)}")
    return opts


def _answer_letter(row: Row, spec: TaskSpec, n: int, where: str) -> str:
    col = spec.data.fields.get("answer", "answer")
    fmt = spec.data.fields.get("answer_format", "letter")
    raw = _field(row, col, where)
    try:
        if fmt == "letter":
            letter = str(raw).strip().upper()
            idx = LETTERS.index(letter) if len(letter) == 1 else -1
        elif fmt in ("index0", "index1"):
            idx = int(raw) - (1 if fmt == "index1" else 0)
        else:
            raise DataError(spec.path, None, "data.fields.answer_format", f"unknown format {fmt!r}")
    except ValueError:
        idx = -1
    if not 0 <= idx < n:
        raise DataError(where, row.index + 1, col, f"answer {raw!r} is not one of the {n} options ({fmt})")
    return LETTERS[idx]


def build_sample(row: Row, spec: TaskSpec, where: str) -> Sample:
    """Turn one dataset row into a zero-shot prompt with lettered options."""
    question = str(_field(row, spec.data.fields.get("question", "question"), where))
    options = _options(row, spec, where)
    target = _answer_letter(row, spec, len(options), where)
    subject_col = spec.data.fields.get("subject")
    subject = str(row.fields.get(subject_col, "")) if subject_col else ""
    letters = LETTERS[: len(options)]
    content = render_prompt(
        spec.prompt["template"],
        question=question.strip(),
        options=list(zip(letters, options, strict=True)),
        letters=letters,
        subject=subject,
        row=row.fields,
    )
    messages: list[Message] = []
    if spec.prompt.get("system"):
        messages.append({"role": "system", "content": str(spec.prompt["system"])})
    messages.append({"role": "user", "content": content})
    return Sample(
        id=row.id,
        messages=messages,
        target=target,
        metadata={"subject": subject, "options": options, "n_options": len(options)},
    )


def score(sample: Sample, output: EpisodeOutput, ctx: ScoreContext) -> Verdict:
    """Extract the committed letter from the answer part and compare it with the target."""
    c = output.final
    split = split_completion(c.text, c.reasoning_content, reasoning_mode=ctx.reasoning_mode)
    if split.answer is None:
        reason = "reasoning not closed with </think>: no answer" if split.unclosed_think else "no answer"
        return Verdict(extracted=None, correct=False, reason=reason)
    ext = extract_choice(
        split.answer,
        int(sample.metadata["n_options"]),
        sample.metadata.get("options", ()),
        strict=bool(ctx.spec.scoring.get("strict", False)),
    )
    if ext.value is None:
        return Verdict(extracted=None, correct=False, reason=ext.reason)
    correct = ext.value == sample.target
    return Verdict(extracted=ext.value, correct=correct, reason=ext.reason, score=1.0 if correct else 0.0)
