"""Building and caching the tiny model: files, determinism, config.json, the cache protocol."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from transformers import AutoConfig, Exaone4Config, GPTQConfig
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

import evalkit.tinymodel.build as build_mod
from evalkit.errors import UsageError
from evalkit.tinymodel import BUILD_VERSION, VARIANTS, build_tiny_model, ensure_tiny_model

EXPECTED_FILES = {
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "README.md",
    "evalkit_build.json",
}


def _digests(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


@pytest.mark.parametrize("variant", VARIANTS)
def test_two_builds_are_byte_identical(built: dict[str, Path], tmp_path: Path, variant: str) -> None:
    again = build_tiny_model(tmp_path / "again", variant)
    first = _digests(built[variant])
    assert set(first) == EXPECTED_FILES
    assert _digests(again) == first


def test_build_in_another_process_is_byte_identical(built: dict[str, Path], tmp_path: Path) -> None:
    """Another interpreter, another hash seed, one tokenizers thread: the same bytes."""
    env = {
        **os.environ,
        "PYTHONHASHSEED": "12345",
        "RAYON_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    code = "import sys; from pathlib import Path; from evalkit.tinymodel import build_tiny_model as b; "
    code += "b(Path(sys.argv[1]), 'gptq-actorder')"
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "sub")], check=True, env=env, timeout=120)
    assert _digests(tmp_path / "sub") == _digests(built["gptq-actorder"])


def test_variants_share_tokenizer_and_weights_values(built: dict[str, Path]) -> None:
    digests = {v: _digests(d) for v, d in built.items()}
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        assert len({digests[v][name] for v in VARIANTS}) == 1, name
    assert len({digests[v]["model.safetensors"] for v in VARIANTS}) == len(VARIANTS)


def test_readme_says_what_it_is(built: dict[str, Path]) -> None:
    for variant, d in built.items():
        text = (d / "README.md").read_text(encoding="utf-8")
        assert "random weights" in text and "meaningless" in text, variant
        if variant.startswith("gptq"):
            assert "round-to-nearest (RTN)" in text


def test_unknown_variant_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        build_tiny_model(tmp_path, "int8")
    with pytest.raises(UsageError):
        ensure_tiny_model("int8")


@pytest.mark.parametrize("variant", VARIANTS)
def test_config_loads_as_exaone4(built: dict[str, Path], variant: str) -> None:
    cfg = AutoConfig.from_pretrained(str(built[variant]))
    assert isinstance(cfg, Exaone4Config)
    assert cfg.layer_types == ["sliding_attention"] * 3 + ["full_attention"]
    assert (cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers) == (256, 512, 4)
    assert (cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim) == (4, 2, 64)
    assert cfg.sliding_window == 64 and cfg.max_position_embeddings == 131072
    assert cfg.tie_word_embeddings is False and cfg.hidden_act == "silu"
    rope = dict(cfg.rope_parameters or {})
    assert rope["rope_type"] == "llama3" and rope["rope_theta"] == 1e6
    assert (rope["factor"], rope["low_freq_factor"], rope["high_freq_factor"]) == (16.0, 1.0, 4.0)
    assert rope["original_max_position_embeddings"] == 8192
    raw = json.loads((built[variant] / "config.json").read_text())
    assert raw["torch_dtype"] == ("float32" if variant == "fp32" else "bfloat16")
    assert raw["rope_scaling"]["rope_type"] == "llama3" and raw["sliding_window_pattern"] == 4


def test_llama3_rope_frequencies_are_what_transformers_computes(built: dict[str, Path]) -> None:
    """Independent llama3 formula (docs/exaone4-architecture.md#rope) vs transformers' llama3
    init on our config."""
    cfg = AutoConfig.from_pretrained(str(built["fp32"]))
    inv_freq, attention_scaling = ROPE_INIT_FUNCTIONS["llama3"](cfg, "cpu")
    dim, theta, factor, low, high, orig = 64, 1e6, 16.0, 1.0, 4.0, 8192
    base = 1.0 / theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    expected = []
    for f in base.tolist():
        wavelen = 2 * torch.pi / f
        if wavelen > orig / low:
            expected.append(f / factor)
        elif wavelen < orig / high:
            expected.append(f)
        else:
            smooth = (orig / wavelen - low) / (high - low)
            expected.append((1 - smooth) * f / factor + smooth * f)
    want = torch.tensor(expected, dtype=torch.float64)
    torch.testing.assert_close(inv_freq.double(), want, rtol=1e-5, atol=0)
    assert attention_scaling == 1.0
    assert not torch.allclose(inv_freq.double(), base)  # scaling actually applied


@pytest.mark.parametrize("variant", ["gptq", "gptq-actorder"])
def test_quantization_config_reads_as_gptq(built: dict[str, Path], variant: str) -> None:
    qc = json.loads((built[variant] / "config.json").read_text())["quantization_config"]
    assert qc["quant_method"] == "gptq" and qc["bits"] == 4 and qc["group_size"] == 128
    assert qc["sym"] is True and qc["checkpoint_format"] == "gptq" and qc["lm_head"] is False
    assert qc["desc_act"] is (variant == "gptq-actorder") and qc["static_groups"] is False
    assert qc["meta"]["quantizer"][0].startswith("evalkit:")
    parsed = GPTQConfig.from_dict(qc)
    assert (parsed.bits, parsed.group_size, parsed.format) == (4, 128, "gptq")
    assert parsed.desc_act is qc["desc_act"]


def test_no_quantization_config_for_dense_variants(built: dict[str, Path]) -> None:
    for variant in ("bf16", "fp32"):
        assert "quantization_config" not in json.loads((built[variant] / "config.json").read_text())


def test_ensure_builds_once_and_reuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path))
    d = ensure_tiny_model("bf16")
    assert d == tmp_path / "models" / f"tiny-exaone4-bf16-v{BUILD_VERSION}"
    assert set(p.name for p in d.iterdir()) == EXPECTED_FILES
    assert [p.name for p in (tmp_path / "models").iterdir()] == [d.name]  # no temp dirs left

    def no_build(out_dir: Path, variant: str) -> Path:
        raise AssertionError("rebuilt a complete model")

    monkeypatch.setattr(build_mod, "build_tiny_model", no_build)
    assert ensure_tiny_model("bf16") == d


def test_ensure_default_variant_is_gptq(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path))
    assert ensure_tiny_model().name == f"tiny-exaone4-gptq-v{BUILD_VERSION}"


def test_ensure_rebuilds_an_incomplete_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path))
    d = ensure_tiny_model("fp32")
    good = _digests(d)
    (d / "model.safetensors").unlink()
    assert ensure_tiny_model("fp32") == d
    assert _digests(d) == good
    assert [p.name for p in (tmp_path / "models").iterdir()] == [d.name]


def test_concurrent_ensure_calls_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path))
    results: list[Path] = []
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def worker() -> None:
        start.wait()
        try:
            results.append(ensure_tiny_model("gptq"))
        except BaseException as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(results)) == 1
    assert build_mod.is_complete(results[0])
    assert [p.name for p in (tmp_path / "models").iterdir()] == [results[0].name]
