"""`evalkit score`: verdicts for responses produced anywhere, without running a model.

Input rows are JSON objects with `id` and `response` (the model's whole output). A row
either names a dataset item by its id (the item then comes from `--data` or the task's
default source) or carries the item's own fields inline, in the dataset's schema.
Every row is validated before anything is scored, so a bad row costs nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from evalkit.data import Row, default_source, load_rows, read_records
from evalkit.errors import DataError
from evalkit.families import BuildContext, ScoreContext, load_family
from evalkit.jsonl import dumps_line
from evalkit.records import Sample
from evalkit.registry import get_task
from evalkit.solvers import EpisodeOutput
from evalkit.stats import clustered_mean
from evalkit.wording import plural


def _inline_fields(spec_fields: dict[str, Any]) -> list[str]:
    """The dataset columns an inline row must carry (the spec's question column is enough to tell)."""
    q = spec_fields.get("question", "question")
    return [q] if isinstance(q, str) else list(q)


def _refuse_duplicates(path: Path, rows: list[dict[str, Any]]) -> None:
    """Each (id, repeat) once: a response given twice would be scored twice."""
    seen: dict[tuple[str, str], list[int]] = {}
    for i, rec in enumerate(rows, 1):  # a row without `repeat` is repeat 0
        seen.setdefault((str(rec["id"]), json.dumps(rec.get("repeat", 0))), []).append(i)
    dups = [(k, lines) for k, lines in seen.items() if len(lines) > 1]
    if dups:
        named = "; ".join(
            f"id {rid!r}{f' repeat {rep}' if rep != '0' else ''} (rows {', '.join(map(str, lines))})"
            for (rid, rep), lines in dups[:10]
        )
        more = f" and {len(dups) - 10} more" if len(dups) > 10 else ""
        raise DataError(path, None, "id", f"duplicate responses: {named}{more}; give each (id, repeat) once")


def score_responses(task: str, responses: Path, *, data: str | None, mode: str, out: TextIO) -> str:
    """Write one verdict row per response to `out`; return a one-line summary."""
    spec = get_task(task)
    family = load_family(spec.family)
    if not responses.is_file():
        raise DataError(responses, None, None, "file not found")
    rows = read_records(responses)
    if not rows:
        raise DataError(responses, None, None, "no responses in the file: nothing to score")
    marker = _inline_fields(spec.data.fields)

    samples: list[Sample] = []
    outputs: list[EpisodeOutput] = []
    items: dict[str, Row] | None = None
    where = str(responses)
    for i, rec in enumerate(rows, 1):
        if "id" not in rec or rec["id"] in (None, ""):
            raise DataError(responses, i, "id", "missing")
        outputs.append(family.output_from_response(rec, where, i))
        rid = str(rec["id"])
        own = family.inline_sample(rec, spec, where, i)  # e.g. a row with its own `gold` answer
        if own is not None:
            samples.append(own)
            continue
        if all(k in rec for k in marker):
            fields = {k: v for k, v in rec.items() if k not in ("response", "responses", "repeat")}
            inline_row = Row(id=rid, index=i - 1, fields=fields)
            samples.append(family.build_sample(inline_row, spec, BuildContext(where)))
            continue
        if items is None:
            loaded = load_rows(spec, data or default_source(spec))
            items = {r.id: r for r in loaded.rows}
            item_where = loaded.path
        if rid not in items:
            raise DataError(
                responses, i, "id", f"no item with id {rid!r} in {item_where} and no inline fields"
            )
        samples.append(family.build_sample(items[rid], spec, BuildContext(item_where)))

    _refuse_duplicates(responses, rows)
    ctx = ScoreContext(spec=spec, reasoning_mode=mode == "reasoning")
    scores = []
    for rec, sample, output in zip(rows, samples, outputs, strict=True):
        v = family.score(sample, output, ctx)
        row: dict[str, Any] = {"id": str(rec["id"])}
        if "repeat" in rec:
            row["repeat"] = rec["repeat"]
        row.update(family.verdict_row(v))
        out.write(dumps_line(row))
        scores.append((str(rec["id"]), v.score))
    est = clustered_mean(scores)
    return f"{task}: {plural(len(scores), 'response')}, accuracy {100 * est.mean:.1f} ± {100 * est.se:.1f}"
