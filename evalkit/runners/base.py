"""The runner interface: everything that turns chat requests into completions."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any

from evalkit.records import ChatRequest, Completion


class Runner(ABC):
    """A model backend.

    A runner renders requests through the model's own chat template (or lets the
    server do it), generates, and yields completions *as they finish*, tagged with
    the index of the request they answer, so the caller can store each at once.
    """

    name: str = "runner"

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """Everything about the model and settings that changes outputs (JSON-able).

        Goes into every request's cache key: include a fingerprint of the model files.
        """

    @abstractmethod
    def render(self, request: ChatRequest) -> str | None:
        """The exact prompt text the model will see, or None when a server renders it."""

    @abstractmethod
    def generate(self, requests: Sequence[ChatRequest]) -> Iterator[tuple[int, Completion]]:
        """Generate every request; yield (index into `requests`, completion) as each finishes."""

    @property
    def is_placeholder_model(self) -> bool:
        """True for the embedded tiny model, whose scores mean nothing."""
        return False

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (GPU memory, servers, sockets)."""

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
