"""LiveCodeBench problems: the `code_generation_lite` row schema, decoded safely.

Private tests are either a JSON string or base64(zlib(pickle(<JSON string>))) (the
official loader, lcb_runner/benchmarks/code_generation.py @28fef95, tries JSON first).
Downloaded pickles are never given to `pickle.loads`: a restricted unpickler that can build
no object at all (find_class always refuses) decodes them, and the result must be a str.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import pickle
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from evalkit.errors import DataError


@dataclass(frozen=True)
class TestCase:
    __test__ = False  # not a pytest test class

    input: str
    output: str
    testtype: str  # "stdin" or "functional"


@dataclass(frozen=True)
class Problem:
    question_id: str
    title: str
    content: str
    platform: str
    contest_date: datetime
    starter_code: str
    difficulty: str
    public_tests: tuple[TestCase, ...]
    private_tests: tuple[TestCase, ...]
    fn_name: str | None

    @property
    def tests(self) -> tuple[TestCase, ...]:
        """What grading runs: public then private, as the official evaluation sample."""
        return self.public_tests + self.private_tests


class _NoObjects(pickle.Unpickler):
    """Unpickles plain strings (and other primitive values); refuses every class and callable."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refused to load {module}.{name} from a downloaded pickle")


def safe_unpickle(data: bytes) -> Any:
    """pickle.loads for untrusted bytes: primitives only, never a class or function call."""
    return _NoObjects(io.BytesIO(data)).load()


def encode_private_tests(tests: list[dict[str, str]]) -> str:
    """The upstream compressed encoding (for writing test data in the exact schema)."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode()


def decode_tests(raw: Any, where: str, row: int, field: str) -> tuple[TestCase, ...]:
    """Public or private tests from their stored form; errors name the file, row and field."""
    if isinstance(raw, list):
        items = raw
    elif isinstance(raw, str):
        try:
            items = json.loads(raw)
        except json.JSONDecodeError:
            try:
                inner = safe_unpickle(zlib.decompress(base64.b64decode(raw.encode("utf-8"), validate=True)))
            except (binascii.Error, zlib.error, pickle.UnpicklingError, EOFError, ValueError) as e:
                raise DataError(where, row, field, f"neither JSON nor base64/zlib/pickle ({e})") from e
            if not isinstance(inner, str):
                kind = type(inner).__name__
                raise DataError(where, row, field, f"the pickle holds a {kind}, not a string") from None
            try:
                items = json.loads(inner)
            except json.JSONDecodeError as e:
                raise DataError(where, row, field, f"decoded tests are not JSON ({e.msg})") from e
    else:
        raise DataError(where, row, field, f"expected a string, got {type(raw).__name__}")
    if not isinstance(items, list):
        raise DataError(where, row, field, "expected a list of tests")
    out = []
    for i, t in enumerate(items):
        if not isinstance(t, dict) or not all(
            isinstance(t.get(k), str) for k in ("input", "output", "testtype")
        ):
            raise DataError(where, row, f"{field}[{i}]", "a test needs string input, output and testtype")
        if t["testtype"] not in ("stdin", "functional"):
            raise DataError(where, row, f"{field}[{i}].testtype", f"unknown test type {t['testtype']!r}")
        out.append(TestCase(t["input"], t["output"], t["testtype"]))
    return tuple(out)


def parse_problem(rec: dict[str, Any], where: str, row: int) -> Problem:
    """One dataset row as a Problem; malformed rows raise DataError naming the field."""
    for key in ("question_id", "question_content", "contest_date", "public_test_cases", "private_test_cases"):
        if key not in rec:
            raise DataError(where, row, key, "missing")
    try:
        date = rec["contest_date"]
        date = date if isinstance(date, datetime) else datetime.fromisoformat(str(date))
    except ValueError as e:
        raise DataError(where, row, "contest_date", f"not an ISO date ({e})") from e
    meta = rec.get("metadata") or "{}"
    try:
        meta = json.loads(meta) if isinstance(meta, str) else dict(meta)
    except (json.JSONDecodeError, TypeError, ValueError) as e:
        raise DataError(where, row, "metadata", f"not a JSON object ({e})") from e
    fn = meta.get("func_name")
    return Problem(
        question_id=str(rec["question_id"]),
        title=str(rec.get("question_title", "")),
        content=str(rec["question_content"]),
        platform=str(rec.get("platform", "")),
        contest_date=date.replace(tzinfo=None),
        starter_code=str(rec.get("starter_code") or ""),
        difficulty=str(rec.get("difficulty", "")),
        public_tests=decode_tests(rec["public_test_cases"], where, row, "public_test_cases"),
        private_tests=decode_tests(rec["private_test_cases"], where, row, "private_test_cases"),
        fn_name=str(fn) if fn else None,
    )


def in_window(p: Problem, start: str | None, end: str | None) -> bool:
    """LiveCodeBench's --start_date/--end_date filter: start <= contest_date <= end (YYYY-MM-DD)."""
    if start and p.contest_date < datetime.strptime(start, "%Y-%m-%d"):
        return False
    return not (end and p.contest_date > datetime.strptime(end, "%Y-%m-%d"))
