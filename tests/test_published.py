import pytest

from evalkit.errors import DataError
from evalkit.published import _load_file, load_published, lookup


def test_all_four_tables_are_there():
    figs = load_published()
    tables = {(f.model_size, f.mode) for f in figs}
    assert tables == {
        ("32B", "reasoning"),
        ("32B", "non-reasoning"),
        ("1.2B", "reasoning"),
        ("1.2B", "non-reasoning"),
    }
    # 17 rows x 6 systems + 22 x 8 + 17 x 5 + 22 x 5
    assert len(figs) == 17 * 6 + 22 * 8 + 17 * 5 + 22 * 5


@pytest.mark.parametrize(
    ("bench", "mode", "size", "value"),
    [
        ("KMMLU-Pro", "reasoning", "32B", 67.7),
        ("KMMLU-Pro", "non-reasoning", "32B", 60.0),
        ("AIME 2025", "reasoning", "32B", 85.3),
        ("WMT24++ (ES)", "non-reasoning", "1.2B", 65.9),
        ("Tau-bench (Airline)", "non-reasoning", "32B", 25.5),
        ("RULER", "non-reasoning", "32B", 88.2),
    ],
)
def test_subject_figures(bench, mode, size, value):
    row = lookup(bench, mode, size)
    assert row[0].is_subject and row[0].system.startswith("EXAONE 4.0")
    assert row[0].value == value


def test_peers_and_not_available():
    row = lookup("BFCL-v3", "reasoning", "32B")
    by_system = {f.system: f.value for f in row}
    assert by_system["Phi 4 reasoning-plus"] is None  # N/A on the card
    assert by_system["DeepSeek R1-0528"] == 64.7
    assert all(f.source for f in row)


def test_validation_names_the_problem(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(
        "source: x\ntables:\n  - {table: T, model_size: 32B, mode: reasoning,\n"
        "     systems: [{name: EXAONE 4.0 32B, size: 32B}, {name: P, size: 1B}],\n"
        "     rows: [{benchmark: KMMLU-Pro, values: [1.0]}]}\n"
    )
    with pytest.raises(DataError, match="needs 2 values"):
        _load_file(p)
    p.write_text(p.read_text().replace("KMMLU-Pro", "KMMLU-Typo"))
    with pytest.raises(DataError, match="unknown benchmark"):
        _load_file(p)
