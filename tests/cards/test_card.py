"""Cards as data: both EXAONE 4.0 cards load, list every published row in order, and bad
cards fail naming the file, the row and the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from evalkit.cards.card import CARDS_DIR, load_card
from evalkit.errors import DataError, UsageError
from evalkit.published import load_published
from evalkit.registry import get_task


def _published_rows(size: str) -> dict[str, list[str]]:
    """table title -> the benchmarks of its EXAONE column, in the card's order."""
    out: dict[str, list[str]] = {}
    for f in load_published():
        if f.is_subject and f.model_size == size:
            out.setdefault(f.table, []).append(f.benchmark)
    return out


@pytest.mark.parametrize("name,size", [("exaone-4.0-32b", "32B"), ("exaone-4.0-1.2b", "1.2B")])
def test_every_published_benchmark_is_in_its_card_in_order(name: str, size: str) -> None:
    card = load_card(name)
    assert card.model_size == size
    published = _published_rows(size)
    assert sorted(t.title for t in card.tables) == sorted(published)
    for t in card.tables:
        assert [r.benchmark for r in t.rows] == published[t.title]
        for r in t.rows:  # each row names a task of that benchmark, with the spec's protocol
            assert r.task is not None
            spec = get_task(r.task)
            assert spec.published_benchmark == r.benchmark
            assert (r.n, r.max_new_tokens) == (spec.settings(t.mode).n, spec.settings(t.mode).max_new_tokens)
            assert r.gated == bool(spec.data.hub and spec.data.hub.gated)
    needs = {(r.benchmark, r.mode) for r in card.rows() if r.user_sim}
    assert ("Tau-bench (Retail)", "reasoning") in needs and ("Tau-bench (Airline)", "non-reasoning") in needs
    assert {r.benchmark for r in card.rows() if r.judge} == {"WMT24++ (ES)", "HELMET"}


def _write(tmp_path: Path, mutate) -> str:  # type: ignore[no-untyped-def]
    raw = yaml.safe_load((CARDS_DIR / "exaone-4.0-32b.yaml").read_text(encoding="utf-8"))
    mutate(raw)
    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return str(path)


def _swap(raw: dict) -> None:  # type: ignore[type-arg]
    rows = raw["tables"][0]["rows"]
    rows[1], rows[2] = rows[2], rows[1]


@pytest.mark.parametrize(
    "mutate,where,key,words",
    [
        (_swap, "tables[1].rows[2]", "benchmark", "out of the card's order"),
        (lambda raw: raw["tables"][1]["rows"].pop(3), "tables[2]", "rows", "also has AIME 2025"),
        (
            lambda raw: raw["tables"][0]["rows"][0].update(task="no_such_task"),
            "tables[1].rows[1]",
            "task",
            "unknown task",
        ),
        (
            lambda raw: raw["tables"][0]["rows"][0].update(task="mmlu_pro"),
            "tables[1].rows[1]",
            "task",
            "measures 'MMLU-Pro'",
        ),
        (lambda raw: raw["tables"][0]["rows"][3].update(n=4), "tables[1].rows[4]", "differs", "n=4"),
        (
            lambda raw: raw["tables"][1]["rows"][2].update(gated=False),
            "tables[2].rows[3]",
            "gated",
            "are gated",
        ),
        (lambda raw: raw["tables"][1]["rows"][9].update(task=None), "tables[2].rows[10]", "task", "no_task"),
        (lambda raw: raw["tables"][0].update(mode="thinking"), "tables[1]", "mode", "must be one of"),
        (lambda raw: raw["tables"][0].update(table="32B Thinking"), "tables[1]", "table", "no published"),
    ],
)
def test_bad_cards_name_file_row_and_key(tmp_path: Path, mutate, where: str, key: str, words: str) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path, mutate)
    with pytest.raises(DataError) as e:
        load_card(path)
    assert e.value.path == path and e.value.row == where and e.value.field == key
    assert words in e.value.problem


def test_schema_errors_name_the_key(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda raw: raw["tables"][0]["rows"][0].update(repeats=3))
    with pytest.raises(DataError, match=r"card.yaml, field 'tables\[1\].rows\[1\].repeats': unknown key"):
        load_card(path)


def test_a_row_may_override_the_protocol_when_it_says_why(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda raw: raw["tables"][0]["rows"][3].update(n=4, differs="a cheaper look"))
    row = load_card(path).tables[0].rows[3]
    assert (row.benchmark, row.n, row.spec_n, row.overrides) == ("AIME 2025", 4, 32, True)


def test_unknown_card_lists_the_known_ones() -> None:
    with pytest.raises(UsageError, match=re.escape("exaone-4.0-1.2b, exaone-4.0-32b")):
        load_card("exaone-5")
