"""Errors a user can fix. The CLI prints them on one line and exits with code 2."""

from __future__ import annotations

from pathlib import Path


class EvalkitError(Exception):
    """Base class of errors caused by input, not by a bug."""


class UsageError(EvalkitError):
    """Bad arguments, unknown names, missing files."""


class MissingRoleError(UsageError):
    """A task sends requests of a role (a judge, a simulated user) the run has no runner for.
    Names the role; the CLI adds the option that supplies it (evalkit.wording.role_hint)."""

    def __init__(self, role: str, have: list[str]):
        self.role, self.have = role, list(have)
        super().__init__(
            f"this task sends {role!r} requests, which need a runner for that role (have: {', '.join(have)})"
        )


class DataError(EvalkitError):
    """A malformed input row. Names the file, the row and the field."""

    def __init__(self, path: str | Path, row: int | str | None, field: str | None, problem: str):
        self.path, self.row, self.field, self.problem = str(path), row, field, problem
        where = self.path
        if row is not None:
            where += f", row {row}"
        if field is not None:
            where += f", field {field!r}"
        super().__init__(f"{where}: {problem}")


class StoreError(EvalkitError):
    """A sample store that is corrupt or belongs to another run."""
