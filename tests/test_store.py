import json

import pytest

from evalkit.errors import StoreError
from evalkit.records import Completion
from evalkit.store import SampleStore


def comp(text: str = "A", reason: str = "stop") -> Completion:
    return Completion(text=text, finish_reason=reason, prompt_tokens=3, completion_tokens=1)  # type: ignore[arg-type]


def test_put_get_and_reopen(tmp_path):
    p = tmp_path / "g.jsonl"
    with SampleStore(p, "run1") as s:
        s.put("k1", comp("x"), sample_id="0", repeat=0)
        assert s.get("k1").text == "x"
        assert s.get("nope") is None
    with SampleStore(p, "run1") as s:
        assert len(s) == 1 and s.get("k1").text == "x"


def test_half_written_last_line_is_dropped(tmp_path):
    p = tmp_path / "g.jsonl"
    with SampleStore(p, "run1") as s:
        s.put("k1", comp("x"))
        s.put("k2", comp("y"))
    data = p.read_bytes()
    p.write_bytes(data[:-15])  # SIGKILL in the middle of writing k2
    with SampleStore(p, "run1") as s:
        assert s.dropped_partial_line
        assert s.get("k1") is not None and s.get("k2") is None
        s.put("k2", comp("y"))
    lines = p.read_text().splitlines()
    assert [json.loads(x).get("key") for x in lines[1:]] == ["k1", "k2"]


def test_corrupt_middle_line_is_refused_and_file_untouched(tmp_path):
    p = tmp_path / "g.jsonl"
    with SampleStore(p, "run1") as s:
        s.put("k1", comp())
        s.put("k2", comp())
    lines = p.read_text().splitlines()
    lines[1] = lines[1][:20]
    p.write_text("\n".join(lines) + "\n")
    before = p.read_bytes()
    with pytest.raises(StoreError, match=r"line 2 is corrupt"):
        SampleStore(p, "run1")
    assert p.read_bytes() == before


def test_foreign_store_is_refused(tmp_path):
    p = tmp_path / "g.jsonl"
    SampleStore(p, "run1").close()
    with pytest.raises(StoreError, match="belongs to another run"):
        SampleStore(p, "run2")
    q = tmp_path / "other.jsonl"
    q.write_text('{"some": "thing"}\n')
    with pytest.raises(StoreError, match="not an evalkit store"):
        SampleStore(q, "run1")


def test_second_writer_is_refused(tmp_path):
    p = tmp_path / "g.jsonl"
    with SampleStore(p, "run1"), pytest.raises(StoreError, match="another evalkit process"):
        SampleStore(p, "run1")


def test_errors_are_kept_but_retried(tmp_path):
    p = tmp_path / "g.jsonl"
    with SampleStore(p, "run1") as s:
        s.put("k1", Completion(text="", finish_reason="error", error="timeout"))
        assert s.get("k1") is None
        s.put("k1", comp("ok"))
        assert s.get("k1").text == "ok"
    with SampleStore(p, "run1") as s:
        assert s.get("k1").text == "ok"


def test_unicode_line_separators_in_model_text_survive_a_reopen(tmp_path):
    # json.dumps(ensure_ascii=False) leaves U+2028/U+2029/U+0085 unescaped; str.splitlines()
    # would cut a record there and report it corrupt.
    p = tmp_path / "g.jsonl"
    text = "a\u2028b\u2029c\x85d\x1ce"
    with SampleStore(p, "run1") as s:
        s.put("k1", comp(text))
    with SampleStore(p, "run1") as s:
        assert s.get("k1").text == text
    assert len(p.read_text(encoding="utf-8").splitlines()) == 2  # any reader sees one line per record


@pytest.mark.parametrize("keep", [0.0, 0.5, 0.99])
def test_cut_header_recovers_in_one_reopen(tmp_path, keep):
    p = tmp_path / "g.jsonl"
    SampleStore(p, "run1", {"task": "t"}).close()
    whole = p.read_bytes()
    p.write_bytes(whole[: int(len(whole) * keep)] or b"{")  # killed while writing the header
    with SampleStore(p, "run1") as s:
        assert s.dropped_partial_line and len(s) == 0
        s.put("k1", comp("x"))
    with SampleStore(p, "run1") as s:
        assert s.get("k1").text == "x"
    header = json.loads(p.read_text().splitlines()[0])
    assert header["evalkit_store"] == 1 and header["run_key"] == "run1"


def test_calls_of_a_sibling_store_are_copied_not_redone(tmp_path):
    from evalkit.store import find_stores

    a, b, c = (tmp_path / d / "generations.jsonl" for d in ("a", "b", "c"))
    with SampleStore(a, "run1") as s:
        s.put("k1", comp("x"))
        s.put("k2", Completion(text="", finish_reason="error", error="503"))
    SampleStore(c, "other").close()
    assert find_stores(tmp_path, "run1", exclude=b) == [a]
    before = a.read_bytes()
    with SampleStore(b, "run1", reuse_from=[a]) as s:
        assert s.get("k1").text == "x" and s.get("k2") is None and s.hits == 1
    assert a.read_bytes() == before  # only read
    with SampleStore(b, "run1") as s:  # the copy is this store's own now
        assert s.get("k1").text == "x"
    assert json.loads(b.read_text().splitlines()[1])["copied_from"] == "a"
