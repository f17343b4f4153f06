"""The sample store: one JSONL line per model call, written (and fsync'ed) the moment it exists.

Each line is keyed by a fingerprint of everything that changes the call's output
(model files, runner settings, rendered prompt, sampling params, seed, sample id,
repeat and call index), so a restarted run skips every call already made and a killed
run loses at most the line being written. A half-written last line (SIGKILL during a
write; the header line included, which then starts the store afresh) is dropped on open;
any other damage, or a store that belongs to another run, is refused with a message
naming the file and line.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from evalkit.errors import StoreError
from evalkit.jsonl import dumps_line
from evalkit.records import Completion

STORE_FORMAT = 1


class SampleStore:
    """Append-only store of completions for one run directory."""

    def __init__(
        self,
        path: Path,
        run_key: str,
        meta: dict[str, object] | None = None,
        reuse_from: Sequence[Path] = (),
    ):
        """Open (resume) or create the store at `path`. `reuse_from`: other stores of the same
        run key (runs of other items or repeats) whose calls this one takes instead of making
        them again; they are only read."""
        self.path = path
        self.run_key = run_key
        self._records: dict[str, dict[str, Any]] = {}
        self._reuse_from = list(reuse_from)
        self._others: dict[str, dict[str, object]] | None = None  # read on the first miss
        self._origin: dict[str, str] = {}  # key -> the run directory it was copied from
        self.dropped_partial_line = False
        self.hits = 0  # calls answered from a store
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_file = path.with_suffix(".lock").open("w")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            self._lock_file.close()
            raise StoreError(f"{path}: another evalkit process is writing this run") from e
        if path.exists() and path.stat().st_size > 0:
            self._load()  # may leave it empty: the header itself was cut
        if path.exists() and path.stat().st_size > 0:
            self._fh: TextIO = path.open("a", encoding="utf-8")
        else:
            self._fh = path.open("w", encoding="utf-8")
            header = {"evalkit_store": STORE_FORMAT, "run_key": run_key, "created": time.time()}
            header.update(meta or {})
            self._write(header)

    def _load(self) -> None:
        data = self.path.read_bytes()
        if not data.endswith(b"\n"):
            # The process died mid-write: the tail is an incomplete record. Drop only it.
            cut = data.rfind(b"\n") + 1
            with self.path.open("r+b") as f:
                f.truncate(cut)
            data = data[:cut]
            self.dropped_partial_line = True
        # split("\n"), not splitlines(): model text may hold U+2028 and other line separators,
        # which json.dumps(ensure_ascii=False) leaves unescaped. `data` ends with "\n" here.
        lines = data.decode("utf-8", errors="replace").split("\n")[:-1]
        if not lines:  # killed while writing the header: nothing was stored yet, start afresh
            return
        try:
            header = json.loads(lines[0])
        except json.JSONDecodeError as e:
            raise StoreError(f"{self.path}: line 1 is not an evalkit store header ({e.msg})") from e
        if not isinstance(header, dict) or header.get("evalkit_store") != STORE_FORMAT:
            raise StoreError(
                f"{self.path}: not an evalkit store (format {STORE_FORMAT}) — refusing to touch it"
            )
        if header.get("run_key") != self.run_key:
            raise StoreError(
                f"{self.path}: this store belongs to another run (its key {str(header.get('run_key'))[:12]}… "
                f"differs from {self.run_key[:12]}…: task, model, runner, mode or settings changed); "
                "use another run id or delete the directory"
            )
        for lineno, line in enumerate(lines[1:], 2):
            try:
                rec = json.loads(line)
                key = rec["key"]
                Completion.from_dict(rec["completion"])
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise StoreError(
                    f"{self.path}: line {lineno} is corrupt ({type(e).__name__}: {e}); nothing was changed — "
                    "fix or delete that line, or start a new run"
                ) from e
            old = self._records.get(key)
            if old is None or old["completion"].get("finish_reason") == "error":
                self._records[key] = rec

    def _write(self, obj: dict[str, object]) -> None:
        self._fh.write(dumps_line(obj))
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def get(self, key: str) -> Completion | None:
        """The stored completion for `key`; errors are not reused, so they are retried.

        A call found only in a `reuse_from` store is copied into this one first, so that this
        run's store alone holds every call of the run."""
        rec = self._records.get(key)
        if rec is None or rec["completion"].get("finish_reason") == "error":
            other = self._other_records().get(key)
            if other is None:
                return None
            rec = {**other, "copied_from": other.get("copied_from") or self._origin[key]}
            self._write(rec)
            self._records[key] = rec
        self.hits += 1
        return Completion.from_dict(rec["completion"])

    def _other_records(self) -> dict[str, dict[str, object]]:
        if self._others is None:
            self._others = {}
            for other in self._reuse_from:
                for rec in read_records(other, self.run_key):
                    if rec["completion"].get("finish_reason") != "error":
                        self._others.setdefault(rec["key"], rec)
                        self._origin.setdefault(rec["key"], other.parent.name)
        return self._others

    def put(self, key: str, completion: Completion, **info: Any) -> None:
        rec = {"key": key, **info, "completion": completion.to_dict(), "t": time.time()}
        self._write(rec)
        if completion.finish_reason != "error" or key not in self._records:
            self._records[key] = rec

    def __len__(self) -> int:
        return len(self._records)

    def close(self) -> None:
        self._fh.close()
        self._lock_file.close()

    def __enter__(self) -> SampleStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _header(path: Path) -> dict[str, object] | None:
    try:
        with path.open("rb") as f:
            first = f.readline()
        header = json.loads(first)
    except (OSError, ValueError):
        return None
    return header if isinstance(header, dict) and header.get("evalkit_store") == STORE_FORMAT else None


def find_stores(root: Path, run_key: str, *, exclude: Path) -> list[Path]:
    """The stores of other runs under `root` (one level down) that share `run_key`."""
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.glob("*/generations.jsonl")):
        header = _header(path)
        if path != exclude and header is not None and header.get("run_key") == run_key:
            found.append(path)
    return found


def read_records(path: Path, run_key: str) -> Iterator[dict[str, Any]]:
    """The call records of another run's store, read only; lines that do not parse (one being
    written right now) are skipped, and a store of another key yields nothing."""
    header = _header(path)
    if header is None or header.get("run_key") != run_key:
        return
    with path.open("rb") as f:
        f.readline()
        for raw in f:
            try:
                rec = json.loads(raw)
                Completion.from_dict(rec["completion"])
            except (ValueError, KeyError, TypeError):
                continue
            if isinstance(rec, dict) and isinstance(rec.get("key"), str):
                yield rec
