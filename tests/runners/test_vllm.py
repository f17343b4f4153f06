"""The vLLM runner: the import-error path here; the real thing only where vLLM and a GPU exist."""

from __future__ import annotations

import importlib.util

import pytest

from evalkit.cli import main
from evalkit.errors import UsageError
from evalkit.records import SamplingParams
from evalkit.runners.profiles import load_profile, make_runner

HAVE_VLLM = importlib.util.find_spec("vllm") is not None


@pytest.mark.skipif(HAVE_VLLM, reason="vLLM is installed: the import-error path cannot be exercised")
def test_without_vllm_the_runner_fails_at_once_with_the_install_command(capsys):
    with pytest.raises(UsageError, match=r"pip install 'evalkit\[vllm\]'"):
        make_runner(load_profile("vllm-tiny"))
    assert main(["run", "kmmlu_pro", "--runner", "vllm-tiny", "--limit", "1"]) == 2
    assert "evalkit[vllm]" in capsys.readouterr().err


@pytest.mark.skipif(not HAVE_VLLM, reason="vLLM is not installed (optional extra; GPU only)")
def test_sampling_params_map_one_to_one():
    import vllm

    from evalkit.runners.vllm_runner import to_vllm_params

    p = to_vllm_params(
        vllm,
        SamplingParams(
            temperature=0.6, top_p=0.95, top_k=20, presence_penalty=1.5, max_new_tokens=9, stop=("x",), seed=4
        ),
    )
    assert (p.temperature, p.top_p, p.top_k, p.presence_penalty, p.max_tokens, p.seed) == (
        0.6,
        0.95,
        20,
        1.5,
        9,
        4,
    )
    assert p.stop == ["x"] and p.n == 1


def test_an_aborted_request_is_an_error_not_an_empty_answer():
    from types import SimpleNamespace

    from evalkit.runners.vllm_runner import VLLMRunner

    runner = object.__new__(VLLMRunner)  # _completion needs only the codec
    runner.codec = SimpleNamespace(decode=lambda ids: "".join(map(str, ids)))  # type: ignore[assignment]

    def out(reason: str | None) -> SimpleNamespace:
        return SimpleNamespace(
            outputs=[SimpleNamespace(token_ids=[1, 2], finish_reason=reason, stop_reason=None)]
        )

    for reason in ("abort", None):
        c = runner._completion(out(reason), 5)
        assert (c.finish_reason, c.text) == ("error", "") and repr(reason) in (c.error or "")
    assert runner._completion(out("length"), 5).finish_reason == "length"
    assert runner._completion(out("stop"), 5).text == "12"
