"""Multiple-choice knowledge tasks (MMLU-Redux, MMLU-Pro, GPQA, KMMLU-Pro/Redux, MMMLU): lettered options.

What a task spec sets (all optional except question/options/answer):

* ``data.fields``: ``question``; ``options`` (one list column, or a list of columns); ``answer``
  with ``answer_format`` (``letter``, ``index0``, ``index1``, or ``correct_first`` when the first
  option column holds the correct answer, as in GPQA); ``drop_options`` (values that are not
  options, e.g. MMLU-Pro's "N/A" padding); ``subject`` (the per-subject breakdown of the
  report) and ``subject_label`` (its name there, e.g. "category"); ``breakdowns`` (further
  columns broken down in metrics.json, e.g. MMLU-Redux's ``error_type``).
* ``prompt.shuffle: {seed: N}``: options are shown in a permutation drawn from (seed, item id,
  repeat); the family's solver then shows each repeat its own permutation and records it in the
  episode (and `evalkit score` accepts it per row, or rederives it).
* ``scoring.extractor``: a registered letter extractor (evalkit.scoring.extractors): ``choice``
  (evalkit's hardened extractor, the default), ``mmlu_pro_official`` (with ``variant``),
  ``simple_evals`` or ``simple_evals_multilingual``;
  ``scoring.strict``: stricter extraction (see each extractor); ``scoring.no_answer``: ``zero``
  (default) or ``expected_guess`` (credit 1/n_options, the expected value of the random guess
  that MMLU-Pro's scripts substitute for a missing answer).
"""

from __future__ import annotations

import functools
import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evalkit.data import Row
from evalkit.errors import DataError
from evalkit.families.base import BuildContext, Solver
from evalkit.families.defaults import inline_sample as inline_sample
from evalkit.families.defaults import verdict_row as verdict_row
from evalkit.metrics import aggregate as default_aggregate
from evalkit.metrics import breakdown
from evalkit.prompts import render_prompt
from evalkit.records import ChatRequest, Completion, Message, Sample, SamplingParams, Verdict
from evalkit.run_records import Breakdown, FamilyMetrics, SampleRecord
from evalkit.scoring.choice import LETTERS
from evalkit.scoring.extractors import Extraction, ExtractOptions, check_extractor, get_extractor
from evalkit.scoring.mmlu_pro_official import VARIANTS
from evalkit.solvers import Episode, EpisodeOutput, generate
from evalkit.specs import TaskSpec

if TYPE_CHECKING:
    from evalkit.families import ScoreContext

NO_ANSWER = ("zero", "expected_guess")


@dataclass(frozen=True)
class ScoringSettings:
    extractor: str
    variant: str
    strict: bool
    no_answer: str


def scoring_settings(spec: TaskSpec) -> ScoringSettings:
    """The spec's `scoring:` block, validated (errors name the spec file and the key)."""
    s = spec.scoring
    unknown = set(s) - {"extractor", "variant", "strict", "no_answer"}
    if unknown:
        raise DataError(spec.path, None, f"scoring.{sorted(unknown)[0]}", "unknown key")
    settings = ScoringSettings(
        extractor=str(s.get("extractor", "choice")),
        variant=str(s.get("variant", "local")),
        strict=bool(s.get("strict", False)),
        no_answer=str(s.get("no_answer", "zero")),
    )
    check_extractor(settings.extractor, spec.path, letters=True)  # registered letter extractors
    if settings.variant not in VARIANTS:
        raise DataError(spec.path, None, "scoring.variant", f"must be one of {', '.join(VARIANTS)}")
    if settings.no_answer not in NO_ANSWER:
        raise DataError(spec.path, None, "scoring.no_answer", f"must be one of {', '.join(NO_ANSWER)}")
    return settings


def _shuffle_seed(spec: TaskSpec) -> int | None:
    shuffle = spec.prompt.get("shuffle")
    if not shuffle:
        return None
    if not isinstance(shuffle, dict) or not isinstance(shuffle.get("seed"), int):
        raise DataError(spec.path, None, "prompt.shuffle", "expected {seed: <integer>}")
    return int(shuffle["seed"])


def option_permutation(sample_id: str, repeat: int, seed: int, n: int) -> list[int]:
    """The order options are shown in: position i shows the dataset's option perm[i].

    Drawn from (seed, item id, repeat) alone, so the same item and repeat are shown alike in
    every run (paired comparisons between runs stay paired) and `evalkit score` can rederive it."""
    digest = hashlib.sha256(f"{seed}|{sample_id}|{repeat}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big")).sample(range(n), n)


def _field(row: Row, name: str, where: str) -> Any:
    if name not in row.fields or row.fields[name] is None:
        raise DataError(where, row.index + 1, name, "missing")
    return row.fields[name]


def _answer_index(row: Row, spec: TaskSpec, n: int, where: str) -> int:
    fmt = spec.data.fields.get("answer_format", "letter")
    if fmt == "correct_first":
        return 0
    col = spec.data.fields.get("answer", "answer")
    raw = _field(row, col, where)
    try:
        if fmt == "letter":
            letter = str(raw).strip().upper()
            idx = LETTERS.index(letter) if len(letter) == 1 and letter in LETTERS else -1
        elif fmt in ("index0", "index1"):
            idx = int(raw) - (1 if fmt == "index1" else 0)
        else:
            raise DataError(spec.path, None, "data.fields.answer_format", f"unknown format {fmt!r}")
    except (ValueError, TypeError):
        idx = -1
    if not 0 <= idx < n:
        raise DataError(where, row.index + 1, col, f"answer {raw!r} is not one of the {n} options ({fmt})")
    return idx


def _options_and_answer(row: Row, spec: TaskSpec, where: str) -> tuple[list[str], int]:
    """The options as shown (padding dropped, whitespace trimmed) and the correct one's index."""
    col = spec.data.fields.get("options", "options")
    if isinstance(col, list):  # options spread over several columns
        raw_opts = [str(_field(row, c, where)) for c in col]
    else:
        raw = _field(row, col, where)
        if hasattr(raw, "tolist"):  # numpy arrays from parquet
            raw = raw.tolist()
        if not isinstance(raw, list):
            raise DataError(
                where, row.index + 1, col, f"expected a list of options, got {type(raw).__name__}"
            )
        raw_opts = [str(o) for o in raw]
    answer = _answer_index(row, spec, len(raw_opts), where)
    drop = {str(v) for v in spec.data.fields.get("drop_options") or ()}
    kept = [i for i, o in enumerate(raw_opts) if o not in drop]
    if answer not in kept:
        problem = f"the answer is a dropped option {raw_opts[answer]!r}"
        raise DataError(where, row.index + 1, str(col), problem)
    opts = [raw_opts[i].strip() for i in kept]
    if not 2 <= len(opts) <= len(LETTERS):
        raise DataError(where, row.index + 1, str(col), f"needs 2..{len(LETTERS)} options, has {len(opts)}")
    return opts, kept.index(answer)


def _render_messages(
    prompt: dict[str, Any], question: str, options: Sequence[str], subject: str, row: Any
) -> list[Message]:
    letters = LETTERS[: len(options)]
    content = render_prompt(
        prompt["template"],
        question=question,
        options=list(zip(letters, options, strict=True)),
        letters=letters,
        subject=subject,
        row=row,
    )
    messages: list[Message] = []
    if prompt.get("system"):
        messages.append({"role": "system", "content": str(prompt["system"])})
    messages.append({"role": "user", "content": content})
    return messages


def build_sample(row: Row, spec: TaskSpec, ctx: BuildContext) -> Sample:
    """Turn one dataset row into a zero-shot prompt with lettered options."""
    where = ctx.where
    settings = scoring_settings(spec)
    seed = _shuffle_seed(spec)
    question = str(_field(row, spec.data.fields.get("question", "question"), where)).strip()
    options, answer = _options_and_answer(row, spec, where)
    if settings.extractor.startswith("simple_evals") and len(options) != 4:
        raise DataError(
            where, row.index + 1, str(spec.data.fields.get("options", "options")),
            f"simple-evals extraction reads only A-D; this item has {len(options)} options",
        )  # fmt: skip
    subject_col = spec.data.fields.get("subject")
    subject = str(row.fields.get(subject_col) or "") if subject_col else ""
    groups = {str(c): str(row.fields.get(c)) for c in spec.data.fields.get("breakdowns") or ()}
    perm = option_permutation(row.id, 0, seed, len(options)) if seed is not None else None
    shown = [options[i] for i in perm] if perm else options
    metadata: dict[str, Any] = {"subject": subject, "options": options, "n_options": len(options)}
    if groups:
        metadata["groups"] = groups
    if seed is not None:
        # What the solver needs to show another repeat's permutation (`messages` show repeat 0).
        metadata["shuffle"] = {"question": question, "row": row.fields}
    return Sample(
        id=row.id,
        messages=_render_messages(spec.prompt, question, shown, subject, row.fields),
        target=LETTERS[answer],
        metadata=metadata,
    )


def solver(spec: TaskSpec, roles: frozenset[str]) -> Solver:
    """One call; with `prompt.shuffle`, with the options in each repeat's permutation."""
    seed = _shuffle_seed(spec)
    if seed is None:
        return generate
    prompt = spec.prompt

    def shuffled(sample: Sample, params: SamplingParams, enable_thinking: bool, repeat: int = 0) -> Episode:
        return shuffled_options(prompt, seed, sample, params, enable_thinking, repeat)

    return shuffled


def shuffled_options(
    prompt: dict[str, Any],
    seed: int,
    sample: Sample,
    params: SamplingParams,
    enable_thinking: bool,
    repeat: int,
) -> Episode:
    """One call with the options in this repeat's permutation, which the episode records."""
    sh = sample.metadata["shuffle"]
    options = sample.metadata["options"]
    perm = option_permutation(sample.id, repeat, seed, len(options))
    messages = _render_messages(
        prompt, sh["question"], [options[i] for i in perm], sample.metadata["subject"], sh["row"]
    )
    completion: Completion = yield ChatRequest(
        messages=messages, params=params, enable_thinking=enable_thinking, tools=sample.tools
    )
    return EpisodeOutput(
        calls=[completion],
        final=completion,
        transcript=[*messages, {"role": "assistant", "content": completion.text}],
        info={"permutation": perm, "repeat": repeat},
    )


def _permutation(sample: Sample, output: EpisodeOutput, seed: int | None) -> list[int] | None:
    if seed is None:
        return None
    given = output.info.get("permutation")
    if given is not None:
        return [int(i) for i in given]
    repeat = int(output.info.get("repeat", 0))
    return option_permutation(sample.id, repeat, seed, sample.metadata["n_options"])


def _extract(answer: str, shown: Sequence[str], settings: ScoringSettings) -> Extraction:
    extractor = get_extractor(settings.extractor, letters=True)  # checked in scoring_settings
    return extractor(answer, ExtractOptions(options=shown, strict=settings.strict, variant=settings.variant))


def score(sample: Sample, output: EpisodeOutput, ctx: ScoreContext) -> Verdict:
    """Extract the committed letter from the answer part and compare it with the target as shown."""
    settings = scoring_settings(ctx.spec)
    n = int(sample.metadata["n_options"])
    details: dict[str, Any] = {}
    if "groups" in sample.metadata:
        details["groups"] = sample.metadata["groups"]
    target = sample.target
    shown = list(sample.metadata.get("options", ()))
    perm = _permutation(sample, output, _shuffle_seed(ctx.spec))
    if perm is not None:
        if sorted(perm) != list(range(n)):
            return Verdict(None, False, f"permutation {perm} does not order the {n} options", details=details)
        shown = [shown[i] for i in perm]
        target = LETTERS[perm.index(LETTERS.index(sample.target))]
        details.update(permutation=perm, target=target)

    c = output.final
    split = ctx.split(c)
    if split.answer is None:
        reason = "reasoning not closed with </think>: no answer" if split.unclosed_think else "no answer"
        ext = Extraction(None, reason)
    else:
        ext = _extract(split.answer, shown, settings)
    if ext.value is None:
        if settings.no_answer == "expected_guess":
            reason = f"{ext.reason}; credited 1/{n}, the expected value of upstream's random guess"
            return Verdict(None, False, reason, score=1.0 / n, details=details)
        return Verdict(None, False, ext.reason, details=details)
    correct = ext.value == target
    return Verdict(ext.value, correct, ext.reason, score=1.0 if correct else 0.0, details=details)


def output_from_response(rec: dict[str, Any], where: str, row: int) -> EpisodeOutput:
    """`evalkit score` rows: `response`, plus `repeat` and `permutation` for shuffled tasks."""
    if not isinstance(rec.get("response"), str):
        raise DataError(where, row, "response", "missing or not a string")
    info: dict[str, Any] = {}
    if "repeat" in rec:
        if not isinstance(rec["repeat"], int) or rec["repeat"] < 0:
            raise DataError(where, row, "repeat", "must be a non-negative integer")
        info["repeat"] = rec["repeat"]
    if rec.get("permutation") is not None:
        perm = rec["permutation"]
        if not isinstance(perm, list) or sorted(perm) != list(range(len(perm))):
            raise DataError(where, row, "permutation", "must list the option indices 0..n-1, each once")
        info["permutation"] = perm
    c = Completion(text=rec["response"], finish_reason="stop")
    return EpisodeOutput(calls=[c], final=c, info=info)


def _group_of(col: object, r: SampleRecord) -> object:
    """A record's group in the breakdown by `col` (the row's value, kept in its details)."""
    return (r["details"] or {}).get("groups", {}).get(col)


def aggregate(records: list[SampleRecord], n_repeats: int, spec: TaskSpec) -> FamilyMetrics:
    """The default metrics, the subject breakdown under the spec's name for it, and further
    breakdowns (e.g. MMLU-Pro by source, MMLU-Redux by error annotation) in `breakdowns`."""
    out = default_aggregate(records, n_repeats=n_repeats)
    label = spec.data.fields.get("subject_label")
    if label and "breakdown" in out:
        out["breakdown"]["field"] = str(label)
    extra: dict[str, Breakdown] = {}
    for col in spec.data.fields.get("breakdowns") or ():
        extra[str(col)] = breakdown(records, str(col), functools.partial(_group_of, col))
    if extra:
        out["breakdowns"] = extra
    settings = scoring_settings(spec)
    out["extraction"] = {
        "extractor": settings.extractor,
        "variant": settings.variant if settings.extractor == "mmlu_pro_official" else None,
        "strict": settings.strict,
        "no_answer": settings.no_answer,
    }
    return out
