"""Model cards as data: cards/<id>.yaml, validated into typed records.

A card file lists the tables of one published table set (EXAONE 4.0 32B: its reasoning and
its non-reasoning table), each row in the card's order with the benchmark (as
evalkit.published spells it), the task that measures it (or why none does), the protocol
(repeats `n`, output budget `max_new_tokens`), and what the row needs besides the model: an
LLM judge, a simulated user, gated data. The protocol must equal the task spec's unless the
row says why it differs (`differs:`); then the card's value is the one that runs.

The loader checks the card against the task specs and against the published tables: every
row of the published table is in the card, in the same order, and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import Field

from evalkit.errors import DataError, EvalkitError, UsageError
from evalkit.published import PUBLISHED_DIR, load_published
from evalkit.registry import REPO_ROOT, get_task
from evalkit.schema import PositiveInt, Strict, validate
from evalkit.specs import MODES

CARDS_DIR = REPO_ROOT / "cards"


class _RowSchema(Strict):
    benchmark: str
    task: str | None = None
    no_task: str | None = None  # why no task measures this benchmark (then task is null)
    n: PositiveInt | None = None
    max_new_tokens: PositiveInt | None = None
    judge: bool = False  # the published figure is an LLM judge's score: needs `--judge`
    user_sim: bool = False  # an agent benchmark: needs a simulated user (`--user-sim`)
    gated: bool = False  # the data are gated on the hub (a token or a local copy is needed)
    differs: str | None = None  # why n / max_new_tokens differ from the task spec
    note: str | None = None


class _TableSchema(Strict):
    table: str
    mode: str
    rows: list[_RowSchema] = Field(min_length=1)


class _CardSchema(Strict):
    card: str
    title: str
    model: str
    model_size: str
    published: str | None = None
    notes: str | None = None
    tables: list[_TableSchema] = Field(min_length=1)


@dataclass(frozen=True)
class CardRow:
    """One benchmark of one card table, with the protocol that measures it."""

    benchmark: str
    mode: str
    task: str | None
    no_task: str | None
    n: int | None  # None only when there is no task
    max_new_tokens: int | None
    judge: bool
    user_sim: bool
    gated: bool
    differs: str | None
    note: str | None
    spec_n: int | None  # the task spec's values, to tell whether the card overrides them
    spec_max_new_tokens: int | None

    @property
    def overrides(self) -> bool:
        return (self.n, self.max_new_tokens) != (self.spec_n, self.spec_max_new_tokens)


@dataclass(frozen=True)
class CardTable:
    title: str
    mode: str
    rows: tuple[CardRow, ...]


@dataclass(frozen=True)
class Card:
    id: str
    title: str
    model: str  # the checkpoint the published figures are for
    model_size: str  # which published tables: "32B" or "1.2B"
    notes: str
    path: Path
    published_dir: Path
    tables: tuple[CardTable, ...]

    def rows(self) -> list[CardRow]:
        return [r for t in self.tables for r in t.rows]


def card_path(name: str) -> Path:
    """A card by name (cards/<name>.yaml) or by path."""
    path = Path(name)
    if name.endswith((".yaml", ".yml")) or path.is_file():
        if not path.is_file():
            raise UsageError(f"card file {name} not found")
        return path
    path = CARDS_DIR / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in CARDS_DIR.glob("*.yaml"))) or "none"
        raise UsageError(f"unknown card {name!r} (known: {known})")
    return path


def load_card(name: str) -> Card:
    """Read and validate a card; errors name the file, the table row and the key (exit 2)."""
    path = card_path(name)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise DataError(path, None, None, f"invalid YAML: {e}") from e
    if not isinstance(raw, dict):
        raise DataError(path, None, None, "a card must be a mapping")
    validate(_CardSchema, raw, path)  # types and unknown keys, naming the field
    schema = _CardSchema.model_validate(raw)
    published_dir = (REPO_ROOT / schema.published).parent if schema.published else PUBLISHED_DIR
    if schema.published and not (REPO_ROOT / schema.published).is_file():
        raise DataError(path, None, "published", f"{schema.published} not found")
    tables = tuple(
        _table(t, ti, schema.model_size, published_dir, path) for ti, t in enumerate(schema.tables, 1)
    )
    modes = [t.mode for t in tables]
    if len(set(modes)) != len(modes):
        raise DataError(path, None, "tables", "two tables of one mode")
    return Card(
        id=schema.card,
        title=schema.title,
        model=schema.model,
        model_size=schema.model_size,
        notes=(schema.notes or "").strip(),
        path=path,
        published_dir=published_dir,
        tables=tables,
    )


def _table(t: _TableSchema, ti: int, size: str, published_dir: Path, path: Path) -> CardTable:
    where = f"tables[{ti}]"
    if t.mode not in MODES:
        raise DataError(path, where, "mode", f"must be one of {', '.join(MODES)}")
    rows = tuple(_row(r, t.mode, f"{where}.rows[{ri}]", path) for ri, r in enumerate(t.rows, 1))
    _check_published_rows(rows, t, size, published_dir, where, path)
    return CardTable(title=t.table, mode=t.mode, rows=rows)


def _check_published_rows(
    rows: tuple[CardRow, ...], t: _TableSchema, size: str, published_dir: Path, where: str, path: Path
) -> None:
    """The card's rows are the published table's, in its order."""
    published = [f for f in load_published(published_dir) if f.is_subject]
    titles = {f.table for f in published if f.model_size == size and f.mode == t.mode}
    if t.table not in titles:
        raise DataError(
            path, where, "table", f"no published {size} {t.mode} table {t.table!r} (have: {sorted(titles)})"
        )
    expected = [f.benchmark for f in published if f.table == t.table]
    got = [r.benchmark for r in rows]
    for i, bench in enumerate(got):
        if bench not in expected:
            raise DataError(path, f"{where}.rows[{i + 1}]", "benchmark", f"{bench!r} is not in {t.table}")
        if got.count(bench) > 1:
            raise DataError(path, f"{where}.rows[{i + 1}]", "benchmark", f"{bench} appears twice")
    missing = [b for b in expected if b not in got]
    if missing:
        raise DataError(path, where, "rows", f"{t.table} also has {', '.join(missing)}: add them")
    if got != expected:
        first = next(i for i, (a, b) in enumerate(zip(got, expected, strict=True)) if a != b)
        raise DataError(
            path,
            f"{where}.rows[{first + 1}]",
            "benchmark",
            f"{got[first]} is out of the card's order (row {first + 1} there is {expected[first]})",
        )


def _row(r: _RowSchema, mode: str, where: str, path: Path) -> CardRow:
    if r.task is None:
        if not r.no_task:
            raise DataError(path, where, "task", "missing: name the task, or say why none in no_task")
        return CardRow(
            r.benchmark,
            mode,
            None,
            r.no_task,
            None,
            None,
            r.judge,
            r.user_sim,
            r.gated,
            None,
            r.note,
            None,
            None,
        )
    if r.no_task:
        raise DataError(path, where, "no_task", "only for a row without a task")
    try:
        spec = get_task(r.task)
    except EvalkitError as e:
        raise DataError(path, where, "task", str(e)) from e
    if spec.published_benchmark != r.benchmark:
        raise DataError(
            path, where, "task", f"task {r.task} measures {spec.published_benchmark!r}, not {r.benchmark!r}"
        )
    if mode not in spec.modes:
        raise DataError(path, where, "task", f"task {r.task} has no {mode} mode")
    s = spec.settings(mode)
    n = r.n if r.n is not None else s.n
    budget = r.max_new_tokens if r.max_new_tokens is not None else s.max_new_tokens
    if (n, budget) != (s.n, s.max_new_tokens) and not r.differs:
        raise DataError(
            path,
            where,
            "differs",
            f"n={n}, max_new_tokens={budget} differ from task {r.task}'s {mode} protocol "
            f"(n={s.n}, max_new_tokens={s.max_new_tokens}): say why in `differs`, or use the spec's",
        )
    spec_gated = bool(spec.data.hub and spec.data.hub.gated)
    if r.gated != spec_gated:
        raise DataError(
            path, where, "gated", f"task {r.task}'s hub data {'are' if spec_gated else 'are not'} gated"
        )
    return CardRow(
        benchmark=r.benchmark,
        mode=mode,
        task=r.task,
        no_task=None,
        n=n,
        max_new_tokens=budget,
        judge=r.judge,
        user_sim=r.user_sim,
        gated=r.gated,
        differs=r.differs,
        note=r.note,
        spec_n=s.n,
        spec_max_new_tokens=s.max_new_tokens,
    )
