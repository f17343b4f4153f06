"""Typed records that flow through a run: sample -> request -> completion -> verdict.

Messages and tool schemas stay in the OpenAI/JSON shape because that is what
`tokenizer.apply_chat_template`, vLLM and OpenAI-compatible servers all take.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Required, TypedDict

FinishReason = Literal["stop", "length", "error"]


class Message(TypedDict, total=False):
    """One chat message in the OpenAI/HF shape (the chat template reads these keys)."""

    role: Required[str]
    content: str
    tool_calls: list[dict[str, object]]
    reasoning_content: str
    name: str


@dataclass(frozen=True)
class Sample:
    """One benchmark item, ready to be sent: the conversation so far plus what scoring needs."""

    id: str
    messages: list[Message]
    target: Any
    tools: list[dict[str, object]] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class SamplingParamsDict(TypedDict):
    """`SamplingParams` as JSON (run.json, metrics.json, the store's request lines)."""

    temperature: float
    top_p: float
    top_k: int
    presence_penalty: float
    max_new_tokens: int
    stop: list[str]
    seed: int | None


@dataclass(frozen=True)
class SamplingParams:
    """Decoding settings of one request. temperature == 0 means greedy."""

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0  # 0 = no top-k filter
    presence_penalty: float = 0.0
    max_new_tokens: int = 1024
    stop: tuple[str, ...] = ()
    seed: int | None = None

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0

    def to_dict(self) -> SamplingParamsDict:
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "presence_penalty": self.presence_penalty,
            "max_new_tokens": self.max_new_tokens,
            "stop": list(self.stop),
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, d: SamplingParamsDict) -> SamplingParams:
        return cls(
            temperature=d["temperature"],
            top_p=d["top_p"],
            top_k=d["top_k"],
            presence_penalty=d["presence_penalty"],
            max_new_tokens=d["max_new_tokens"],
            stop=tuple(d.get("stop") or ()),
            seed=d["seed"],
        )


@dataclass(frozen=True)
class ChatRequest:
    """One model call: a conversation rendered by the model's own chat template."""

    messages: list[Message]
    params: SamplingParams
    enable_thinking: bool = False
    tools: list[dict[str, object]] | None = None
    # Which runner answers: "model" (the model under test), or another role the run was
    # given a runner for, such as "judge" or "user" (a simulated user in agent tasks).
    role: str = "model"


class CompletionDict(TypedDict):
    """`Completion` as JSON (the sample store's lines)."""

    text: str
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    token_ids: list[int] | None
    reasoning_content: str | None
    error: str | None


@dataclass
class Completion:
    """What a runner returns for one request. `text` is everything the model generated."""

    text: str
    finish_reason: FinishReason
    prompt_tokens: int = 0
    completion_tokens: int = 0
    token_ids: list[int] | None = None
    # Some servers return reasoning separately (OpenAI `reasoning_content`); runners that
    # see the raw text leave this None and evalkit splits the text itself.
    reasoning_content: str | None = None
    error: str | None = None

    def to_dict(self) -> CompletionDict:
        return {
            "text": self.text,
            "finish_reason": self.finish_reason,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "token_ids": self.token_ids,
            "reasoning_content": self.reasoning_content,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, d: CompletionDict) -> Completion:
        return cls(**d)


@dataclass(frozen=True)
class Verdict:
    """The score of one completion: what was extracted, whether it is right, and why."""

    extracted: Any
    correct: bool
    reason: str
    score: float = 0.0  # in [0, 1]; for binary tasks 1.0 iff correct
    details: dict[str, Any] = field(default_factory=dict)  # family-specific (per turn, per check, ...)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)
