"""The runner interface: everything that turns chat requests into completions."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from evalkit.records import ChatRequest, Completion


@dataclass
class TokenLogits:
    """Next-token distributions over one teacher-forced sequence (for `evalkit fidelity`).

    `token_ids` are the rendered prompt's tokens followed by the continuation's;
    `logits[t]` (float32, shape [len(token_ids), vocab]) is the distribution of token
    t + 1 given tokens 0..t, so the continuation is predicted by rows prompt_len - 1 ..
    len - 2. Tensors stay on the runner's device (torch tensors).
    """

    token_ids: list[int]
    prompt_len: int
    logits: Any
    # Per decoder layer, the residual stream after the layer ([len(token_ids), hidden]),
    # when asked for and the runner can expose it; with the layer's attention kind.
    hidden_states: list[Any] | None = None
    layer_types: list[str] | None = None


class Runner(ABC):
    """A model backend.

    A runner renders requests through the model's own chat template (or lets the
    server do it), generates, and yields completions *as they finish*, tagged with
    the index of the request they answer, so the caller can store each at once.
    """

    name: str = "runner"
    # True where the model is a name a server knows rather than files on this machine (the
    # pipeline then does not look for it before the runner starts).
    remote_model: bool = False

    @abstractmethod
    def describe(self) -> dict[str, object]:
        """Everything about the model and settings that changes outputs (JSON-able).

        Goes into every request's cache key: include a fingerprint of the model files.
        """

    @abstractmethod
    def render(self, request: ChatRequest) -> str | None:
        """The exact prompt text the model will see, or None when a server renders it."""

    @abstractmethod
    def generate(self, requests: Sequence[ChatRequest]) -> Iterator[tuple[int, Completion]]:
        """Generate every request; yield (index into `requests`, completion) as each finishes."""

    def next_token_logits(
        self, request: ChatRequest, continuation: str, *, hidden_states: bool = False
    ) -> TokenLogits:
        """Teacher-forced next-token logits over `request` rendered by the model's own chat
        template (with its generation prompt) followed by the text `continuation`.

        Optional: runners that can return full logits implement it; the default says which
        runner cannot.
        """
        raise NotImplementedError(
            f"the {self.name} runner ({type(self).__name__}) cannot return next-token logits"
        )

    @property
    def is_placeholder_model(self) -> bool:
        """True for the embedded tiny model, whose scores mean nothing."""
        return False

    def max_context(self) -> int | None:
        """Tokens the model attends over (prompt + generation), or None when unknown.

        Optional: long-context tasks refuse a prompt that does not fit, with this figure.
        """
        return None

    def kv_bytes_per_token(self) -> int | None:
        """Bytes of KV cache one token of one sequence occupies, or None when unknown.

        Optional: long-context runs plan how many sequences fit in memory from it.
        """
        return None

    def kv_cache_budget_bytes(self) -> int | None:
        """Bytes this runner can give to the KV cache of the requests of one `generate()` call,
        as of now (the model loaded), or None when unknown.

        Optional. With `kv_bytes_per_token()` (both known, both > 0) the scheduler hands the
        runner at most as many requests per call as fit: n x (longest prompt + max_new_tokens)
        x bytes per token <= budget; a request that does not fit alone is refused, or cut where
        the task's protocol cuts prompts. None: no planning beyond the runner's own batching.
        """
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (GPU memory, servers, sockets)."""

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
