"""GPTQ format handling: unpacking, dequantization, and clear errors for bad checkpoints."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from int4_checkpoints import pack_cols, pack_rows
from safetensors.torch import load_file, save_file

from evalkit.errors import DataError
from evalkit.runners.torch_int4.errors import CheckpointError
from evalkit.runners.torch_int4.gptq import QuantLinear, dequantize_gptq, unpack_int4_cols, unpack_int4_rows
from evalkit.runners.torch_int4.loader import load_model

CPU = torch.device("cpu")
Q_PROJ = "model.layers.0.self_attn.q_proj"


def test_unpack_inverts_packing_including_negative_words() -> None:
    gen = torch.Generator().manual_seed(0)
    codes = torch.randint(0, 16, (64, 24), generator=gen)
    codes[7::8] = 15  # top nibble set: every packed word is negative as int32
    packed = pack_rows(codes)
    assert packed.dtype == torch.int32 and bool((packed < 0).all())
    assert torch.equal(unpack_int4_rows(packed), codes.to(torch.int32))
    zeros = torch.randint(0, 16, (3, 64), generator=gen)
    assert torch.equal(unpack_int4_cols(pack_cols(zeros)), zeros.to(torch.int32))


@pytest.mark.parametrize("zero_offset", [0, 1])
def test_dequantize_matches_the_formula_elementwise(zero_offset: int) -> None:
    gen = torch.Generator().manual_seed(1)
    k, n, groups = 32, 16, 4
    q = torch.randint(0, 16, (k, n), generator=gen)
    z = torch.randint(0, 15, (groups, n), generator=gen)
    scales = torch.rand((groups, n), generator=gen).half()
    g_idx = torch.randperm(k, generator=gen) % groups  # act-order: non-monotone
    w = dequantize_gptq(pack_rows(q), pack_cols(z), scales, g_idx.int(), zero_offset=zero_offset)
    for kk in range(k):
        for nn in range(n):
            g = int(g_idx[kk])
            expected = float(scales[g, nn]) * (int(q[kk, nn]) - (int(z[g, nn]) + zero_offset))
            assert w[kk, nn].item() == pytest.approx(expected, rel=1e-6, abs=1e-7)


def test_quant_linear_cached_and_uncached_agree(checkpoint: Callable[[str], Path]) -> None:
    cached = load_model(checkpoint("gptq-actorder"), device=CPU, cache_dequantized=True)
    lazy = load_model(checkpoint("gptq-actorder"), device=CPU, cache_dequantized=False)
    a, b = cached.get_submodule(Q_PROJ), lazy.get_submodule(Q_PROJ)
    assert isinstance(a, QuantLinear) and isinstance(b, QuantLinear)
    assert a.weight_cache is not None and b.weight_cache is None
    x = torch.randn(3, a.in_features)
    assert torch.equal(a(x), b(x))


def copy_checkpoint(
    src: Path,
    dst: Path,
    *,
    config: Callable[[dict[str, Any]], None] | None = None,
    tensors: Callable[[dict[str, torch.Tensor]], None] | None = None,
) -> Path:
    """A copy of a single-file checkpoint with its config and/or tensors edited in place."""
    shutil.copytree(src, dst)
    if config is not None:
        raw = json.loads((dst / "config.json").read_text())
        config(raw)
        (dst / "config.json").write_text(json.dumps(raw))
    if tensors is not None:
        weights = load_file(str(dst / "model.safetensors"))
        tensors(weights)
        save_file(weights, str(dst / "model.safetensors"))
    return dst


def load_error(path: Path) -> CheckpointError:
    with pytest.raises(CheckpointError) as info:
        load_model(path, device=CPU)
    assert isinstance(info.value, DataError)  # the CLI prints these on one line
    return info.value


def set_quant(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(raw: dict[str, Any]) -> None:
        raw["quantization_config"][key] = value

    return edit


def test_wrong_bits_names_file_and_field(checkpoint: Callable[[str], Path], tmp_path: Path) -> None:
    err = load_error(copy_checkpoint(checkpoint("gptq"), tmp_path / "c", config=set_quant("bits", 8)))
    assert err.field == "quantization_config.bits"
    assert err.path.endswith("config.json")
    assert "8" in str(err) and "4-bit" in str(err)


def test_unknown_checkpoint_format(checkpoint: Callable[[str], Path], tmp_path: Path) -> None:
    err = load_error(
        copy_checkpoint(checkpoint("gptq"), tmp_path / "c", config=set_quant("checkpoint_format", "marlin"))
    )
    assert err.field == "quantization_config.checkpoint_format"
    assert "'marlin'" in str(err)


def test_not_gptq_at_all(checkpoint: Callable[[str], Path], tmp_path: Path) -> None:
    err = load_error(
        copy_checkpoint(checkpoint("gptq"), tmp_path / "c", config=set_quant("quant_method", "awq"))
    )
    assert err.field == "quantization_config.quant_method"


def test_v1_checkpoint_declared_v2_fires_the_nibble_check(
    checkpoint: Callable[[str], Path], tmp_path: Path
) -> None:
    err = load_error(
        copy_checkpoint(checkpoint("gptq"), tmp_path / "c", config=set_quant("checkpoint_format", "gptq_v2"))
    )
    assert err.field == f"{Q_PROJ}.qzeros"
    assert "zero nibble 8" in str(err) and "found 7" in str(err)
    assert "'gptq'" in str(err)  # says which format the file looks like


def test_v2_checkpoint_declared_v1_fires_too(tmp_path: Path) -> None:
    from int4_checkpoints import Spec, write_checkpoint

    src = write_checkpoint(tmp_path / "v2", Spec(quant="gptq_v2"))
    load_model(src, device=CPU)  # declared correctly: fine
    err = load_error(copy_checkpoint(src, tmp_path / "c", config=set_quant("checkpoint_format", "gptq")))
    assert "found 8" in str(err) and "'gptq_v2'" in str(err)


def test_bad_qweight_shape_names_the_tensor(checkpoint: Callable[[str], Path], tmp_path: Path) -> None:
    def truncate(w: dict[str, torch.Tensor]) -> None:
        w[f"{Q_PROJ}.qweight"] = w[f"{Q_PROJ}.qweight"][:-1].clone()

    err = load_error(copy_checkpoint(checkpoint("gptq"), tmp_path / "c", tensors=truncate))
    assert err.field == f"{Q_PROJ}.qweight"
    assert "expected [32, 256]" in str(err)
    assert err.path.endswith("model.safetensors")


def test_g_idx_out_of_range_names_the_tensor(checkpoint: Callable[[str], Path], tmp_path: Path) -> None:
    def corrupt(w: dict[str, torch.Tensor]) -> None:
        w[f"{Q_PROJ}.g_idx"][5] = 2  # K=256, G=128: only groups 0 and 1 exist

    err = load_error(copy_checkpoint(checkpoint("gptq"), tmp_path / "c", tensors=corrupt))
    assert err.field == f"{Q_PROJ}.g_idx"
    assert "[0, 1]" in str(err)


def test_unexpected_tensor_is_refused(checkpoint: Callable[[str], Path], tmp_path: Path) -> None:
    def add_bias(w: dict[str, torch.Tensor]) -> None:
        w[f"{Q_PROJ}.bias"] = torch.zeros(256)

    err = load_error(copy_checkpoint(checkpoint("gptq"), tmp_path / "c", tensors=add_bias))
    assert err.field == f"{Q_PROJ}.bias"


def test_gptq_tensors_without_quantization_config(checkpoint: Callable[[str], Path], tmp_path: Path) -> None:
    err = load_error(
        copy_checkpoint(checkpoint("gptq"), tmp_path / "c", config=lambda raw: raw.pop("quantization_config"))
    )
    assert err.field is not None and err.field.endswith(".qweight")


def test_quantize_config_json_is_read_when_config_has_none(
    checkpoint: Callable[[str], Path], tmp_path: Path
) -> None:
    """AutoGPTQ exports keep the settings in quantize_config.json beside config.json."""
    moved: dict[str, Any] = {}

    def move(raw: dict[str, Any]) -> None:
        moved.update(raw.pop("quantization_config"))

    dst = copy_checkpoint(checkpoint("gptq"), tmp_path / "c", config=move)
    (dst / "quantize_config.json").write_text(json.dumps({**moved, "bits": 3}))
    err = load_error(dst)
    assert err.field == "bits" and err.path.endswith("quantize_config.json")
    (dst / "quantize_config.json").write_text(json.dumps(moved))
    reference = load_model(checkpoint("gptq"), device=CPU)
    model = load_model(dst, device=CPU)
    ids = torch.tensor([[1, 2, 3]])
    start = torch.zeros(1, dtype=torch.long)
    assert torch.equal(model(ids, model.new_cache(start, 4)), reference(ids, reference.new_cache(start, 4)))
