"""TorchInt4Runner end to end: chat template in, Completions out; describe(); lazy import."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from int4_checkpoints import tiny_variants

from evalkit.chat import render_chat
from evalkit.fingerprint import fingerprint_dir
from evalkit.records import ChatRequest, SamplingParams
from evalkit.runners.torch_int4.runner import TorchInt4Runner

MARKERS = ["<think>", "</think>", "<tool_call>"]


def request(text: str, **params: object) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], params=SamplingParams(**params))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def runner(checkpoint: Callable[[str], Path]) -> TorchInt4Runner:
    return TorchInt4Runner(str(checkpoint("gptq")), device="cpu", max_batch_size=2)


def test_describe(runner: TorchInt4Runner) -> None:
    d = runner.describe()
    assert d == {
        "runner": "torch_int4",
        "model_fingerprint": fingerprint_dir(runner.model_dir),
        "model": str(runner.model_dir),
        "dtype": "float32",
        "device_type": "cpu",
    }
    assert not runner.is_placeholder_model  # a directory, not an embedded tiny model


def test_generate_fills_every_completion_field(runner: TorchInt4Runner) -> None:
    requests = [
        request("hello", max_new_tokens=6),
        request("a much longer question " * 4, max_new_tokens=3),
        request("third", max_new_tokens=4, temperature=0.7, seed=1),
    ]
    results = dict(runner.generate(requests))
    assert sorted(results) == [0, 1, 2]
    for i, req in enumerate(requests):
        c = results[i]
        assert c.prompt_tokens == len(runner.encode(render_chat(runner.tokenizer, req)))
        assert c.token_ids is not None and c.completion_tokens == len(c.token_ids)
        eos = set(runner.engine.eos_ids)
        visible = [t for t in c.token_ids if t not in eos]
        assert c.text == runner.decode(visible)
        assert c.finish_reason in ("stop", "length")
        if c.finish_reason == "length":
            assert c.completion_tokens == req.params.max_new_tokens


def test_render_is_the_model_template(runner: TorchInt4Runner) -> None:
    req = ChatRequest(
        messages=[{"role": "user", "content": "hi"}], params=SamplingParams(), enable_thinking=True
    )
    assert runner.render(req) == render_chat(runner.tokenizer, req)
    assert runner.render(req).endswith("<think>\n")


def test_eos_includes_the_tokenizer_eos(runner: TorchInt4Runner) -> None:
    assert runner.tokenizer.eos_token_id in runner.engine.eos_ids


def test_decode_keeps_markers_and_drops_special_tokens(runner: TorchInt4Runner) -> None:
    tok = runner.tokenizer
    ids = tok.encode("<think>\nso</think>\n\n<tool_call>{}", add_special_tokens=False)
    ids = [tok.bos_token_id, *ids, tok.pad_token_id]
    assert runner.decode(ids) == "<think>\nso</think>\n\n<tool_call>{}"


def test_markers_survive_a_tokenizer_that_calls_them_special(
    checkpoint: Callable[[str], Path], tmp_path: Path
) -> None:
    model_dir = tmp_path / "m"
    shutil.copytree(checkpoint("gptq"), model_dir)
    tj = json.loads((model_dir / "tokenizer.json").read_text())
    for added in tj["added_tokens"]:
        added["special"] = True
    (model_dir / "tokenizer.json").write_text(json.dumps(tj))
    r = TorchInt4Runner(str(model_dir), device="cpu")
    ids = r.tokenizer.encode("<think>x</think>y<tool_call>", add_special_tokens=False)
    assert r.decode([*ids, r.tokenizer.eos_token_id]) == "<think>x</think>y<tool_call>"


@pytest.mark.parametrize(
    "name", [v.removeprefix("tiny:") for v in tiny_variants("tiny", "tiny-gptq-actorder")]
)
def test_embedded_tiny_models(name: str) -> None:
    r = TorchInt4Runner(name, device="cpu")
    assert r.is_placeholder_model
    assert r.describe()["model"] == name
    [(i, c)] = list(r.generate([request("1+1=", max_new_tokens=5)]))
    assert i == 0 and c.completion_tokens >= 1


def test_package_import_does_not_import_torch() -> None:
    code = (
        "import sys, evalkit.runners.torch_int4 as p; assert 'torch' not in sys.modules, 'torch imported'; "
        "from evalkit.registry import import_object; "
        "assert import_object('evalkit.runners.torch_int4.runner:TorchInt4Runner') is p.TorchInt4Runner"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
