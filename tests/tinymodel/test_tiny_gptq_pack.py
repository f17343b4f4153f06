"""GPTQ packing and RTN quantization: bit layout, shapes, and an independent dequantization."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from evalkit.tinymodel.gptq_pack import (
    GPTQTensors,
    act_order_permutation,
    dequantize,
    pack_cols,
    pack_rows,
    quantize_rtn,
    unpack_cols,
    unpack_rows,
)
from evalkit.tinymodel.weights import DECODER_LINEARS, LINEARS_BY_INPUT, linear_shapes

V1_SYM_ZERO_WORD = 0x77777777
GROUP = 128


def _word(value: int) -> int:
    """An unsigned 32-bit pattern as the int32 torch stores."""
    return value - 2**32 if value >= 2**31 else value


def ref_unpack_rows(qweight: np.ndarray) -> np.ndarray:
    """Independent unpacking: row 8r+j of the codes is nibble j of qweight row r."""
    kw, n = qweight.shape
    out = np.zeros((kw * 8, n), dtype=np.int64)
    for j in range(8):
        out[j::8] = (qweight.astype(np.int64) >> (4 * j)) & 0xF
    return out


def ref_unpack_cols(qzeros: np.ndarray) -> np.ndarray:
    r, nw = qzeros.shape
    out = np.zeros((r, nw * 8), dtype=np.int64)
    for j in range(8):
        out[:, j::8] = (qzeros.astype(np.int64) >> (4 * j)) & 0xF
    return out


def ref_dequant_v1(t: dict[str, np.ndarray]) -> np.ndarray:
    """w[n, k] = scales[g, n] * (q[k, n] - (stored_zero[g, n] + 1)), g = g_idx[k]; returns [N, K]
    (docs/gptq-format.md#dequantization-and-zero-points)."""
    q = ref_unpack_rows(t["qweight"])
    z = ref_unpack_cols(t["qzeros"]) + 1
    g = t["g_idx"].astype(np.int64)
    s = t["scales"].astype(np.float32)
    return (s[g] * (q - z[g]).astype(np.float32)).T


def ref_rtn_sym(w_nk: np.ndarray, g_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Independent sym RTN over the groups g_idx defines: (dequantized [N, K], scale per (n, k))."""
    deq = np.zeros_like(w_nk, dtype=np.float32)
    scale_nk = np.zeros_like(w_nk, dtype=np.float32)
    for g in np.unique(g_idx):
        cols = np.nonzero(g_idx == g)[0]
        absmax = np.abs(w_nk[:, cols]).max(axis=1)
        target = 2.0 * absmax / 15.0
        s16 = target.astype(np.float16)
        s16 = np.where(s16.astype(np.float32) < target, np.nextafter(s16, np.float16(np.inf)), s16)
        s = s16.astype(np.float32)[:, None]
        q = np.clip(np.round(w_nk[:, cols] / s) + 8, 0, 15)
        deq[:, cols] = s * (q - 8)
        scale_nk[:, cols] = s
    return deq, scale_nk


def _linear(sd: dict[str, torch.Tensor], name: str) -> dict[str, np.ndarray]:
    return {part: sd[f"{name}.{part}"].numpy() for part in ("qweight", "qzeros", "scales", "g_idx")}


def test_pack_rows_is_low_nibble_first_along_k() -> None:
    codes = torch.arange(1, 9, dtype=torch.int32).view(8, 1).repeat(1, 8)  # rows 1..8
    packed = pack_rows(codes)
    assert packed.dtype == torch.int32 and packed.shape == (1, 8)
    assert int(packed[0, 0]) == _word(0x87654321)
    assert torch.equal(unpack_rows(packed), codes)


def test_pack_cols_is_low_nibble_first_along_n() -> None:
    codes = torch.tensor([[15, 0, 1, 2, 3, 4, 5, 6, 7, 7, 7, 7, 7, 7, 7, 7]], dtype=torch.int32)
    packed = pack_cols(codes)
    assert packed.shape == (1, 2)
    assert int(packed[0, 0]) == _word(0x6543210F)
    assert int(packed[0, 1]) == V1_SYM_ZERO_WORD
    assert torch.equal(unpack_cols(packed), codes)


def test_pack_rejects_out_of_range_codes() -> None:
    with pytest.raises(ValueError):
        pack_rows(torch.full((8, 1), 16))
    with pytest.raises(ValueError):
        pack_cols(torch.full((1, 8), -1))


def test_quantize_rtn_v1_and_v2_zero_words() -> None:
    w = torch.randn(16, 256, generator=torch.Generator().manual_seed(1))
    v1 = quantize_rtn(w)
    v2 = quantize_rtn(w, checkpoint_format="gptq_v2")
    assert (v1.qzeros == V1_SYM_ZERO_WORD).all()
    assert (v2.qzeros == _word(0x88888888)).all()
    assert torch.equal(v1.qweight, v2.qweight)
    assert torch.equal(dequantize(v1), dequantize(v2, checkpoint_format="gptq_v2"))


def test_quantize_rtn_asym_stays_within_half_step() -> None:
    w = torch.randn(8, 128, generator=torch.Generator().manual_seed(2)) + 0.3
    t = quantize_rtn(w, sym=False, checkpoint_format="gptq_v2")
    err = (dequantize(t, checkpoint_format="gptq_v2") - w).abs()
    scale = t.scales.float()[t.g_idx.long()].t()
    assert (err <= scale / 2 * (1 + 1e-5) + 1e-7).all()


def test_quantize_rtn_rejects_bad_shapes_and_perms() -> None:
    with pytest.raises(ValueError):
        quantize_rtn(torch.zeros(8, 100))
    with pytest.raises(ValueError):
        quantize_rtn(torch.zeros(8, 128), act_order_perm=torch.zeros(128, dtype=torch.int64))


@pytest.mark.parametrize("variant", ["gptq", "gptq-actorder"])
def test_checkpoint_tensors_have_gptq_shapes_and_dtypes(built: dict[str, Path], variant: str) -> None:
    sd = load_file(str(built[variant] / "model.safetensors"))
    shapes = linear_shapes()
    for i in range(4):
        for suffix in DECODER_LINEARS:
            name = f"model.layers.{i}.{suffix}"
            n, k = shapes[suffix]
            assert f"{name}.weight" not in sd
            expected = {
                "qweight": (torch.int32, (k // 8, n)),
                "qzeros": (torch.int32, (k // GROUP, n // 8)),
                "scales": (torch.float16, (k // GROUP, n)),
                "g_idx": (torch.int32, (k,)),
            }
            for part, (dtype, shape) in expected.items():
                t = sd[f"{name}.{part}"]
                assert (t.dtype, tuple(t.shape)) == (dtype, shape), f"{name}.{part}"
            assert (sd[f"{name}.qzeros"] == V1_SYM_ZERO_WORD).all()
    # Unquantized, as in a real GPTQ checkpoint with lm_head: false.
    for name in ("model.embed_tokens.weight", "lm_head.weight", "model.norm.weight"):
        assert sd[name].dtype == torch.bfloat16
    assert sd["model.layers.0.self_attn.q_norm.weight"].dtype == torch.bfloat16


def test_plain_g_idx_is_channel_over_group(built: dict[str, Path]) -> None:
    sd = load_file(str(built["gptq"] / "model.safetensors"))
    for key, g_idx in sd.items():
        if key.endswith(".g_idx"):
            assert torch.equal(g_idx, (torch.arange(g_idx.numel()) // GROUP).to(torch.int32)), key


def test_act_order_g_idx_is_a_nonmonotone_grouping_shared_per_input(built: dict[str, Path]) -> None:
    sd = load_file(str(built["gptq-actorder"] / "model.safetensors"))
    for i in range(4):
        for group in LINEARS_BY_INPUT:
            names = [f"model.layers.{i}.{s}" for s in group]
            g_idx = sd[f"{names[0]}.g_idx"]
            k = g_idx.numel()
            assert bool((g_idx[1:] < g_idx[:-1]).any()), f"{names[0]}: g_idx is monotone"
            assert torch.equal(torch.bincount(g_idx.long()), torch.full((k // GROUP,), GROUP))
            for other in names[1:]:  # one Hessian per input, hence one order
                assert torch.equal(sd[f"{other}.g_idx"], g_idx)


def test_act_order_permutation_sorts_by_column_energy() -> None:
    w = torch.zeros(8, 16)
    w[:, 5] = 3.0
    w[:, 2] = 2.0
    perm = act_order_permutation(w)
    assert perm[:2].tolist() == [5, 2]
    assert sorted(perm.tolist()) == list(range(16))


@pytest.mark.parametrize("variant", ["gptq", "gptq-actorder"])
def test_independent_dequant_reproduces_rtn_exactly(built: dict[str, Path], variant: str) -> None:
    sd = load_file(str(built[variant] / "model.safetensors"))
    original = load_file(str(built["fp32"] / "model.safetensors"))
    for i in range(4):
        for suffix in DECODER_LINEARS:
            name = f"model.layers.{i}.{suffix}"
            t = _linear(sd, name)
            w = original[f"{name}.weight"].numpy()
            deq = ref_dequant_v1(t)
            expected, scale = ref_rtn_sym(w, t["g_idx"])
            np.testing.assert_array_equal(deq, expected, err_msg=name)
            assert np.all(np.abs(deq - w) <= scale / 2 * (1 + 1e-6)), name
            # The package's own dequantize agrees with the independent one.
            ours = dequantize(GPTQTensors(**{k: torch.from_numpy(v) for k, v in t.items()}))
            np.testing.assert_array_equal(ours.numpy(), deq)
