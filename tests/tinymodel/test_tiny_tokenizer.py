"""The tiny model's tokenizer: loading, special tokens, round-trips, and the EXAONE chat template."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from evalkit.tinymodel.corpus import chat_template_text
from evalkit.tinymodel.tokenizer import ADDED_TOKENS, CONTROL_TOKENS, MARKUP_TOKENS

from .conftest import SHARED_TEMPLATE

TOOLS_BLOCK = (
    "# Available Tools\n"
    "You can use none, one, or multiple of the following tools by calling them as functions "
    "to help with the user’s query.\n"
    "Here are the tools available to you in JSON format within <tool> and </tool> tags:\n"
    '<tool>{"type": "function", "function": {"name": "get_weather", "description": "날씨 조회", '
    '"parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}'
    "</tool>\n"
    "\nFor each function call you want to make, return a JSON object with function name and arguments "
    "within <tool_call> and </tool_call> tags, like:\n"
    '<tool_call>{"name": function_1_name, "arguments": {argument_1_name: argument_1_value, '
    "argument_2_name: argument_2_value}}</tool_call>\n"
    '<tool_call>{"name": function_2_name, "arguments": {...}}</tool_call>\n...\n'
    "Note that if no argument name is specified for a tool, you can just print the argument value "
    "directly, without the argument name or JSON formatting."
)
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "날씨 조회",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
NO_THINK = "<think>\n\n</think>\n\n"
ASSISTANT = "[|assistant|]\n"
TOOL_CALL = {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "서울"}}}

# (id, messages, tools, enable_thinking, expected prompt)
CASES: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]] | None, bool, str]] = [
    (
        "user-nonreasoning",
        [{"role": "user", "content": "안녕하세요"}],
        None,
        False,
        f"[|user|]\n안녕하세요[|endofturn|]\n[|assistant|]\n{NO_THINK}",
    ),
    (
        "user-reasoning",
        [{"role": "user", "content": "What is 2+2?"}],
        None,
        True,
        "[|user|]\nWhat is 2+2?[|endofturn|]\n[|assistant|]\n<think>\n",
    ),
    (
        "system",
        [{"role": "system", "content": "Responde en español."}, {"role": "user", "content": "Hola"}],
        None,
        False,
        f"[|system|]\nResponde en español.[|endofturn|]\n[|user|]\nHola[|endofturn|]\n{ASSISTANT}{NO_THINK}",
    ),
    (
        "tools-no-system",
        [{"role": "user", "content": "서울 날씨?"}],
        TOOLS,
        True,
        f"[|system|]\n{TOOLS_BLOCK}[|endofturn|]\n[|user|]\n서울 날씨?[|endofturn|]\n{ASSISTANT}<think>\n",
    ),
    (
        "tools-with-system",
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather?"}],
        TOOLS,
        False,
        f"[|system|]\nBe brief.\n\n{TOOLS_BLOCK}[|endofturn|]\n[|user|]\nWeather?[|endofturn|]\n"
        f"[|assistant|]\n{NO_THINK}",
    ),
    (
        "past-reasoning-dropped",
        [
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "<think>\nadd them\n</think>\n\n4"},
            {"role": "user", "content": "3+3?"},
        ],
        None,
        True,
        f"[|user|]\n2+2?[|endofturn|]\n[|assistant|]\n{NO_THINK}4[|endofturn|]\n"
        "[|user|]\n3+3?[|endofturn|]\n[|assistant|]\n<think>\n",
    ),
    (
        "tool-call-and-result",
        [
            {"role": "user", "content": "서울 날씨?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [TOOL_CALL],
            },
            {"role": "tool", "content": "맑음, 21도"},
        ],
        TOOLS,
        False,
        f"[|system|]\n{TOOLS_BLOCK}[|endofturn|]\n[|user|]\n서울 날씨?[|endofturn|]\n"
        f"{ASSISTANT}{NO_THINK}"
        '<tool_call>{"name": "get_weather", "arguments": {"city": "서울"}}</tool_call>'
        '[|endofturn|]\n[|tool|]\n<tool_result>{"result": "맑음, 21도"}</tool_result>[|endofturn|]\n'
        f"[|assistant|]\n{NO_THINK}",
    ),
]


@pytest.fixture(scope="module")
def tok(built: dict[str, Path]) -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(str(built["gptq"]))


def _render(tok: PreTrainedTokenizerBase, messages: list[dict[str, Any]], tools: Any, thinking: bool) -> str:
    kwargs: dict[str, Any] = {"tokenize": False, "add_generation_prompt": True, "enable_thinking": thinking}
    if tools:
        kwargs["tools"] = tools
    out = tok.apply_chat_template(messages, **kwargs)
    assert isinstance(out, str)
    return out


def test_special_tokens_are_single_fixed_ids(tok: PreTrainedTokenizerBase) -> None:
    for expected_id, token in enumerate(ADDED_TOKENS):
        assert tok.convert_tokens_to_ids(token) == expected_id
        assert tok.encode(token, add_special_tokens=False) == [expected_id], token
    assert (tok.pad_token_id, tok.bos_token_id) == (0, 1)
    assert tok.eos_token == "[|endofturn|]"
    assert tok.eos_token_id == tok.convert_tokens_to_ids("[|endofturn|]")
    assert tok.unk_token == "[UNK]"


def test_ids_agree_with_config(tok: PreTrainedTokenizerBase, built: dict[str, Path]) -> None:
    for variant, d in built.items():
        cfg = json.loads((d / "config.json").read_text())
        gen = json.loads((d / "generation_config.json").read_text())
        assert cfg["eos_token_id"] == gen["eos_token_id"] == tok.eos_token_id, variant
        assert cfg["bos_token_id"] == tok.bos_token_id and cfg["pad_token_id"] == tok.pad_token_id
        assert cfg["vocab_size"] % 64 == 0 and cfg["vocab_size"] >= len(tok)
    assert 3500 <= len(tok) <= 4100


@pytest.mark.parametrize(
    "text",
    [
        "대한민국의 수도는 서울이며, 한글은 세종대왕이 만들었다. 뷁 똠방각하 😀",
        "The quick brown fox jumps over the lazy dog; x^2 + 1 = 0 → \\boxed{i}.",
        "¿Dónde está la biblioteca? El niño comió piñata y jalapeños.",
        '  leading spaces\ttabs\n\nnewlines {"json": [1, 2.5, null]}\r\n',
    ],
)
def test_text_round_trips(tok: PreTrainedTokenizerBase, text: str) -> None:
    ids = tok.encode(text, add_special_tokens=False)
    assert tok.unk_token_id not in ids
    assert tok.decode(ids, skip_special_tokens=False) == text
    assert tok.decode(ids, skip_special_tokens=True) == text


def test_markup_survives_skipping_special_tokens(tok: PreTrainedTokenizerBase) -> None:
    text = '[BOS]reasoning</think>\n\n<tool_call>{"name": "f", "arguments": {}}</tool_call>[|endofturn|][PAD]'
    ids = tok.encode(text, add_special_tokens=False)
    for token in (*CONTROL_TOKENS[:3], "</think>", "<tool_call>", "</tool_call>"):
        assert tok.convert_tokens_to_ids(token) in ids
    assert tok.decode(ids, skip_special_tokens=False) == text
    assert tok.decode(ids, skip_special_tokens=True) == (
        'reasoning</think>\n\n<tool_call>{"name": "f", "arguments": {}}</tool_call>'
    )
    assert set(MARKUP_TOKENS).isdisjoint(tok.all_special_tokens)


def test_encoding_adds_no_bos_or_eos(tok: PreTrainedTokenizerBase) -> None:
    assert tok.encode("hello", add_special_tokens=True) == tok.encode("hello", add_special_tokens=False)


def test_bundled_template_is_the_reference_verbatim(built: dict[str, Path]) -> None:
    text = chat_template_text()
    cfg = json.loads((built["gptq"] / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert cfg["chat_template"] == text
    assert (built["gptq"] / "chat_template.jinja").read_bytes() == text.encode("utf-8")
    if not SHARED_TEMPLATE.is_file():
        pytest.skip("shared/reference not present")
    assert SHARED_TEMPLATE.read_bytes() == text.encode("utf-8")


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_chat_template_renders_exaone_format(tok: PreTrainedTokenizerBase, case: tuple[Any, ...]) -> None:
    _, messages, tools, thinking, expected = case
    assert _render(tok, messages, tools, thinking) == expected


def _render_reference(messages: list[dict[str, Any]], tools: Any, thinking: bool) -> str:
    """Render the shared reference template with plain jinja2, configured as HF does."""
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def tojson(x: Any, ensure_ascii: bool = False, indent: Any = None, **_: Any) -> str:
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent)

    def raise_exception(message: str) -> None:
        raise ValueError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    template = env.from_string(SHARED_TEMPLATE.read_text(encoding="utf-8"))
    ctx: dict[str, Any] = {"messages": messages, "add_generation_prompt": True, "enable_thinking": thinking}
    if tools:
        ctx["tools"] = tools
    return template.render(**ctx)


@pytest.mark.skipif(not SHARED_TEMPLATE.is_file(), reason="shared/reference not present")
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_chat_template_matches_direct_jinja2_render(
    tok: PreTrainedTokenizerBase, case: tuple[Any, ...]
) -> None:
    """The same cases rendered from shared/reference with plain jinja2 (HF's settings)."""
    _, messages, tools, thinking, expected = case
    assert _render_reference(messages, tools, thinking) == expected == _render(tok, messages, tools, thinking)
