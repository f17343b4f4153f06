"""The EXAONE 4 forward pass on the Triton kernels: the fast GPU path of the int4 runner.

Same model as ``model.py`` (which stays the reference), organised for serving:

- weights: q|k|v and gate|up fused into one linear each (one GEMV launch instead of three);
  GPTQ linears as ``W4Weight`` (codes as stored), dense ones as an ``[N, K]`` tensor, so a
  bf16 checkpoint runs through the same code (the bf16 baseline of the benchmark);
- KV cache in blocks (``PagedKVCache``): each sequence has a block table row, so memory
  follows its actual length while others come and go (continuous batching); sliding layers
  hold only the blocks of the window;
- ``decode``: one token for each of B rows, every shape static, so the engine can capture
  it in a CUDA graph; ``prefill``: the prompts (or chunks of them) of several sequences in
  one pass, with their linears through dequantize + cuBLAS once there are many tokens and
  the attention of all chunks in one launch per layer (``kernels/prefill_attention.py``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from evalkit.runners.torch_int4.config import SLIDING, Exaone4Config
from evalkit.runners.torch_int4.gptq import QuantLinear
from evalkit.runners.torch_int4.kernels import attention, glue, prefill_attention, torch_ops, w4a16
from evalkit.runners.torch_int4.kernels.attention import SharedPrefix, default_splits
from evalkit.runners.torch_int4.kernels.prefill_attention import pack_chunks
from evalkit.runners.torch_int4.kernels.w4a16 import W4Weight, pack_gptq
from evalkit.runners.torch_int4.model import DecoderLayer, Exaone4LM, rope_inv_freq
from evalkit.runners.torch_int4.paged_cache import PagedKVCache

Linear = W4Weight | torch.Tensor  # a dense weight is [N, K], as nn.Linear keeps it
# Rows at or above which a W4 linear is dequantized into a scratch buffer and run by cuBLAS
# (unless the large-M GEMM has a measured config for them: `takes_dequant_matmul`). Measured
# on an H200 at the 32B shapes (bench/prefill_profile.py, 2026-12-02), one layer's four linears:
# 64 rows 489 us fused / 760 dequantized; 96 rows 939 / 780 (the GEMM's 64-row tiles double
# past 64); 128 rows 924 / 698; 256 rows 1,460 / 893.
DEQUANT_MATMUL_ROWS = 65


def _as_given(w: W4Weight, rows: int, dtype: torch.dtype) -> torch.Tensor | None:
    """``w4a16.input_order`` of the twins' path: x as given."""
    return None


def takes_dequant_matmul(rows: int, w: W4Weight, dtype: torch.dtype) -> bool:
    """Whether `rows` rows of `w` run as dequantize + cuBLAS rather than a fused kernel: from
    DEQUANT_MATMUL_ROWS rows on, except where ``w4a16.TUNED_TC`` holds a config for them."""
    return rows >= DEQUANT_MATMUL_ROWS and w4a16.tc_config(w, rows, dtype) is None


@dataclass
class FastLayer:
    qkv: Linear
    o: Linear
    gate_up: Linear
    down: Linear
    q_norm: torch.Tensor
    k_norm: torch.Tensor
    post_attn_norm: torch.Tensor
    post_ffn_norm: torch.Tensor
    sliding: bool
    rope: bool


def linear_bytes(w: Linear) -> int:
    """Bytes one pass over a linear's weights reads."""
    return w.nbytes if isinstance(w, W4Weight) else w.numel() * w.element_size()


def _fuse(parts: Sequence[Linear]) -> Linear:
    """Concatenate linears that share an input along their outputs."""
    if all(isinstance(p, torch.Tensor) for p in parts):
        return torch.cat([p for p in parts if isinstance(p, torch.Tensor)], dim=0)
    ws = [p for p in parts if isinstance(p, W4Weight)]
    if len(ws) != len(parts):
        raise ValueError("cannot fuse a GPTQ linear with a dense one")
    first = ws[0]
    for w in ws[1:]:
        same_perm = (w.perm is None and first.perm is None) or (
            w.perm is not None and first.perm is not None and torch.equal(w.perm, first.perm)
        )
        if not same_perm or (w.group_size, w.zero_offset) != (first.group_size, first.zero_offset):
            raise ValueError("linears with different act-order or quantization cannot be fused")
    return W4Weight(
        qweight=torch.cat([w.qweight for w in ws], dim=1),
        qzeros=torch.cat([w.qzeros for w in ws], dim=1),
        scales=torch.cat([w.scales for w in ws], dim=1),
        perm=first.perm,
        in_features=first.in_features,
        out_features=sum(w.out_features for w in ws),
        group_size=first.group_size,
        zero_offset=first.zero_offset,
    )


def _from_module(module: torch.nn.Module, dtype: torch.dtype) -> Linear:
    if isinstance(module, QuantLinear):
        groups = module.scales.shape[0]
        return pack_gptq(
            module.qweight,
            module.qzeros,
            module.scales,
            module.g_idx,
            group_size=module.in_features // groups,
            zero_offset=module.zero_offset,
        )
    weight = module.weight
    assert isinstance(weight, torch.Tensor)
    return weight.detach().to(dtype)


class FastExaone4:
    """Weights of an EXAONE 4 model laid out for the kernels, and its two forward passes."""

    def __init__(
        self,
        cfg: Exaone4Config,
        layers: list[FastLayer],
        embed: torch.Tensor,
        final_norm: torch.Tensor,
        lm_head: Linear,
        inv_freq: torch.Tensor,
        dtype: torch.dtype,
        *,
        triton_kernels: bool | None = None,
    ):
        self.cfg, self.layers, self.embed = cfg, layers, embed
        self.final_norm, self.lm_head, self.dtype = final_norm, lm_head, dtype
        self.inv_freq = inv_freq.float().contiguous()
        self._scratch: torch.Tensor | None = None
        self.triton_kernels = embed.is_cuda if triton_kernels is None else triton_kernels
        # The kernels, or their plain-PyTorch twins (CPU default: Triton only interprets there).
        self._w4_matmul = w4a16.w4_matmul if self.triton_kernels else torch_ops.w4_matmul
        self._qkv_post = glue.qkv_post if self.triton_kernels else torch_ops.qkv_post
        self._add_norm = glue.add_norm if self.triton_kernels else torch_ops.add_norm
        self._add_norm_ordered = glue.add_norm_ordered if self.triton_kernels else torch_ops.add_norm_ordered
        self._silu_mul = glue.silu_mul if self.triton_kernels else torch_ops.silu_mul
        # gate|up's r128 GEMM applies silu(gate) * up in its epilogue where it was measured to win
        # (w4a16.silu_config), and at one row down's GEMV reads it from gate|up's output where its
        # config says so (w4a16.silu_down_config); both bit for bit glue.silu_mul's result;
        # EVALKIT_FUSED_SILU=0: never
        self.fused_silu = os.environ.get("EVALKIT_FUSED_SILU", "1") != "0"
        # at one row o's GEMV merges the split attention itself where its config says so
        # (w4a16.merge_o_config): no merge kernel; EVALKIT_FUSED_MERGE=0: never
        self.fused_merge = os.environ.get("EVALKIT_FUSED_MERGE", "1") != "0"
        # where a linear's kernel reads x in another order (w4a16.input_order), its producer
        # writes it so; the twins' path has no such kernel (a test may set one)
        self._input_order = w4a16.input_order if self.triton_kernels else _as_given
        self._attention = attention.decode_attention if self.triton_kernels else torch_ops.decode_attention
        self._prefill_attention = (
            prefill_attention.prefill_attention if self.triton_kernels else torch_ops.prefill_attention
        )

    @property
    def device(self) -> torch.device:
        return self.embed.device

    @classmethod
    def from_reference(cls, lm: Exaone4LM, *, triton_kernels: bool | None = None) -> FastExaone4:
        """Take over the weights of a loaded reference model (which is emptied layer by layer,
        so peak memory stays one layer above the weights)."""
        cfg, dtype = lm.cfg, lm.dtype
        layers: list[FastLayer] = []
        for i in range(cfg.num_layers):
            ref = lm.model.layers[i]
            assert isinstance(ref, DecoderLayer)
            att, mlp = ref.self_attn, ref.mlp
            layers.append(
                FastLayer(
                    qkv=_fuse([_from_module(m, dtype) for m in (att.q_proj, att.k_proj, att.v_proj)]),
                    o=_from_module(att.o_proj, dtype),
                    gate_up=_fuse([_from_module(m, dtype) for m in (mlp.gate_proj, mlp.up_proj)]),
                    down=_from_module(mlp.down_proj, dtype),
                    q_norm=att.q_norm.weight.detach(),
                    k_norm=att.k_norm.weight.detach(),
                    post_attn_norm=ref.post_attention_layernorm.weight.detach(),
                    post_ffn_norm=ref.post_feedforward_layernorm.weight.detach(),
                    sliding=cfg.layer_types[i] == SLIDING,
                    rope=cfg.uses_rope(i),
                )
            )
            lm.model.layers[i] = torch.nn.Identity()  # drop the unfused copies now
        return cls(
            cfg,
            layers,
            lm.model.embed_tokens.weight.detach(),
            lm.model.norm.weight.detach(),
            _from_module(lm.lm_head, dtype),
            lm.inv_freq,
            dtype,
            triton_kernels=triton_kernels,
        )

    @classmethod
    def from_gptq_groups(
        cls,
        cfg: Exaone4Config,
        groups: Iterable[tuple[str, dict[str, torch.Tensor]]],
        *,
        group_size: int,
        zero_offset: int,
        dtype: torch.dtype = torch.bfloat16,
        dense: bool = False,
        triton_kernels: bool | None = None,
    ) -> FastExaone4:
        """Build from GPTQ tensors by HF name, delivered a group (embedding, one layer, the
        head) at a time, so that only one layer's raw tensors are alive at once (the
        benchmark's random 32B model). `dense` dequantizes every linear to `dtype` instead:
        the same model with bf16 weights."""

        def linear(t: dict[str, torch.Tensor], prefix: str) -> Linear:
            # pop: the raw tensors are released as soon as they are packed (peak memory)
            w = pack_gptq(
                t.pop(f"{prefix}.qweight"),
                t.pop(f"{prefix}.qzeros"),
                t.pop(f"{prefix}.scales"),
                t.pop(f"{prefix}.g_idx"),
                group_size=group_size,
                zero_offset=zero_offset,
            )
            if not dense:
                return w
            dense_w = torch_ops.dense_weight(w, dtype)
            return dense_w if w.perm is None else dense_w[:, torch.argsort(w.perm)].contiguous()

        layers: list[FastLayer] = []
        named: dict[str, torch.Tensor] = {}
        for _, tensors in groups:
            if any(k.startswith("model.layers.") for k in tensors):
                p = f"model.layers.{len(layers)}."
                i = len(layers)
                layers.append(
                    FastLayer(
                        qkv=_fuse([linear(tensors, p + f"self_attn.{m}_proj") for m in "qkv"]),
                        o=linear(tensors, p + "self_attn.o_proj"),
                        gate_up=_fuse([linear(tensors, p + f"mlp.{m}_proj") for m in ("gate", "up")]),
                        down=linear(tensors, p + "mlp.down_proj"),
                        q_norm=tensors[p + "self_attn.q_norm.weight"].to(dtype),
                        k_norm=tensors[p + "self_attn.k_norm.weight"].to(dtype),
                        post_attn_norm=tensors[p + "post_attention_layernorm.weight"].to(dtype),
                        post_ffn_norm=tensors[p + "post_feedforward_layernorm.weight"].to(dtype),
                        sliding=cfg.layer_types[i] == SLIDING,
                        rope=cfg.uses_rope(i),
                    )
                )
            else:
                named.update(tensors)
            del tensors
        embed = named["model.embed_tokens.weight"].to(dtype)
        inv_freq = rope_inv_freq(cfg.rope, cfg.head_dim).to(embed.device)
        return cls(
            cfg,
            layers,
            embed,
            named["model.norm.weight"].to(dtype),
            named["lm_head.weight"].to(dtype),
            inv_freq,
            dtype,
            triton_kernels=triton_kernels,
        )

    def weight_bytes_per_token(self) -> int:
        """Bytes of weights one decode step reads: every linear and lm_head, the norms, one
        embedding row (the embedding table itself is not streamed)."""
        total = linear_bytes(self.lm_head) + self.embed.shape[1] * self.embed.element_size()
        total += self.final_norm.numel() * self.final_norm.element_size()
        for layer in self.layers:
            total += sum(linear_bytes(w) for w in (layer.qkv, layer.o, layer.gate_up, layer.down))
            norms = (layer.q_norm, layer.k_norm, layer.post_attn_norm, layer.post_ffn_norm)
            total += sum(t.numel() * t.element_size() for t in norms)
        return total

    # ----------------------------------------------------------------- linears

    def order_for(self, w: Linear, rows: int) -> torch.Tensor | None:
        """The input order (``w4a16.input_order``'s map) in which `rows` rows of x should reach
        `w`'s kernel, or None for x as it is."""
        if not isinstance(w, W4Weight):
            return None
        return self._input_order(w, rows, self.dtype)

    def _fusable(self, w: Linear, rows: int) -> bool:
        """Whether gate|up's kernel for `rows` rows applies silu(gate) * up itself
        (``w4a16.silu_config``)."""
        if not (self.triton_kernels and isinstance(w, W4Weight)):
            return False
        return w4a16.silu_config(w, rows, self.dtype) is not None

    def linear(self, x: torch.Tensor, w: Linear, dest: torch.Tensor | None = None) -> torch.Tensor:
        """Partial sums [S, T, N] of ``x [T, K] @ w`` (S = 1 for cuBLAS paths); `dest`: x is in
        the input order ``order_for`` gave."""
        if dest is not None:
            assert isinstance(w, W4Weight)
            return self._w4_matmul(x, w, dest=dest)
        if isinstance(w, torch.Tensor):
            return F.linear(x, w)[None]
        if self.triton_kernels and takes_dequant_matmul(x.shape[0], w, x.dtype):
            need = w.out_features * w.in_features
            if self._scratch is None or self._scratch.numel() < need:
                self._scratch = torch.empty(need, dtype=x.dtype, device=x.device)
            dense = w4a16.dequantize(w, x.dtype, out=self._scratch[:need].view(w.out_features, w.in_features))
            if w.perm is not None:
                x = x.index_select(1, w.perm)
            return F.linear(x, dense)[None]
        return self._w4_matmul(x, w)

    def _qkv(
        self,
        layer: FastLayer,
        h: torch.Tensor,
        positions: torch.Tensor,
        cache: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q, k, v after the fused projection, q/k norms and (sliding layers) RoPE; with `cache`
        (keys, values, slots) the new keys/values are written there too (decode)."""
        cfg = self.cfg
        return self._qkv_post(
            self.linear(h, layer.qkv),
            num_heads=cfg.num_heads,
            num_kv_heads=cfg.num_kv_heads,
            head_dim=cfg.head_dim,
            q_norm=layer.q_norm,
            k_norm=layer.k_norm,
            eps=cfg.rms_norm_eps,
            inv_freq=self.inv_freq if layer.rope else None,
            positions=positions,
            dtype=self.dtype,
            cache=cache,
        )

    def _merge_in_o(self, layer: FastLayer, rows: int, shared: SharedPrefix | None) -> bool:
        """Whether o's one-row kernel merges the split attention itself (``w4a16.merge_o_config``):
        one row, no shared prefix, a GPTQ o."""
        if not (self.triton_kernels and self.fused_merge and rows == 1 and shared is None):
            return False
        if not isinstance(layer.o, W4Weight):
            return False
        return w4a16.merge_o_config(layer.o, self.device, self.dtype, self.cfg.head_dim) is not None

    def _out_and_mlp(
        self, layer: FastLayer, attn: torch.Tensor | attention.SplitAttention, h: torch.Tensor
    ) -> torch.Tensor:
        """The rest of a layer after its attention: o, the post-attention norm and residual, the
        MLP and its norm and residual. Where gate|up or down read x in another order, the norm
        and silu_mul before them write it in that order (no copy between). `attn` is the split
        attention, not yet merged, where o's kernel merges it (``_merge_in_o``)."""
        eps, rows = self.cfg.rms_norm_eps, h.shape[0]
        if isinstance(attn, attention.SplitAttention):
            assert isinstance(layer.o, W4Weight)
            parts = w4a16.merge_o(attn.mid, attn.lse, attn.groups, layer.o, self.dtype)
        else:
            parts = self.linear(attn, layer.o)
        gate_up_order = self.order_for(layer.gate_up, rows)
        if gate_up_order is None:
            x = h = self._add_norm(parts, layer.post_attn_norm, eps, h)
        else:
            h, x = self._add_norm_ordered(parts, layer.post_attn_norm, eps, h, gate_up_order)
        down_order = self.order_for(layer.down, rows)
        if self.fused_silu and gate_up_order is not None and self._fusable(layer.gate_up, rows):
            assert isinstance(layer.gate_up, W4Weight)
            act = w4a16.gate_up_silu(x, layer.gate_up, gate_up_order, down_order)
        else:
            gate_up = self.linear(x, layer.gate_up, gate_up_order)
            if self._silu_in_down(layer, gate_up, down_order):
                assert isinstance(layer.down, W4Weight)
                parts = w4a16.silu_down(gate_up, layer.down, self.dtype)
                return self._add_norm(parts, layer.post_ffn_norm, eps, h)
            act = self._silu_mul(gate_up, self.dtype, down_order)
        return self._add_norm(self.linear(act, layer.down, down_order), layer.post_ffn_norm, eps, h)

    def _silu_in_down(self, layer: FastLayer, gate_up: torch.Tensor, down_order: torch.Tensor | None) -> bool:
        """Whether down's one-row kernel reads silu(gate) * up from gate|up's output itself
        (``w4a16.silu_down_config``): one row, GPTQ linears, gate|up's output whole in float32."""
        if not (self.triton_kernels and self.fused_silu and down_order is None):
            return False
        if not (isinstance(layer.down, W4Weight) and isinstance(layer.gate_up, W4Weight)):
            return False
        if gate_up.shape[:2] != (1, 1) or gate_up.dtype != torch.float32:
            return False
        return w4a16.silu_down_config(layer.down, gate_up.device, self.dtype) is not None

    def _logits(self, h: torch.Tensor) -> torch.Tensor:
        hn = self._add_norm(h[None], self.final_norm, self.cfg.rms_norm_eps, None)
        return self.linear(hn, self.lm_head).sum(0).float()

    # ----------------------------------------------------------------- decode

    def decode(
        self,
        tokens: torch.Tensor,
        positions: torch.Tensor,
        rows: torch.Tensor,
        cache: PagedKVCache,
        shared: SharedPrefix | None = None,
    ) -> torch.Tensor:
        """Logits [B, V] float32 of one new token per row at `positions` [B] of the sequences
        in block-table `rows` [B] (int32); `shared`: rows whose first blocks are shared, whose
        attention reads them once per group (``kernels.attention``). Every shape is static: the
        engine captures it."""
        cfg = self.cfg
        h = self.embed.index_select(0, tokens)
        sms = torch.cuda.get_device_properties(h.device).multi_processor_count if h.is_cuda else 8
        dst = [cache.token_index(g, rows, positions) for g in range(cache.layout.groups)]
        longest = cache.layout.max_blocks * cache.layout.block_size
        for i, layer in enumerate(self.layers):
            kc, vc, table, g, window = cache.layer_cache(i)
            q, _, _ = self._qkv(layer, h, positions, cache=(kc, vc, dst[g]))
            splits = default_splits(window or longest, tokens.shape[0], cfg.num_kv_heads, sms)
            attn: torch.Tensor | attention.SplitAttention
            if self._merge_in_o(layer, tokens.shape[0], shared):
                attn = attention.decode_attention_unmerged(
                    q, kc, vc, table, rows, positions, window=window, splits=splits
                )
            else:
                attn = self._attention(
                    q, kc, vc, table, rows, positions, window=window, splits=splits, shared=shared
                )
            h = self._out_and_mlp(layer, attn, h)
        return self._logits(h)

    # ----------------------------------------------------------------- prefill

    def prefill(
        self,
        chunks: Sequence[tuple[torch.Tensor, int, int]],
        cache: PagedKVCache,
        *,
        all_logits: bool = False,
    ) -> torch.Tensor:
        """Run prompt chunks ``(token_ids [n], table row, first_position)`` of several sequences
        in one pass, writing their keys/values into the blocks of their table rows (which must
        already list a block for every position); logits [len(chunks), V] of each chunk's last
        token (or, with `all_logits`, [total tokens, V] of every token).

        A chunk attends to whatever its row's blocks hold before `first_position` (an earlier
        chunk, or blocks shared with another sequence of the same prefix)."""
        dev, lay = self.device, cache.layout
        bounds: list[tuple[int, int, int, int]] = []  # (start, end, row, first position)
        at = 0
        for ids, row, p0 in chunks:
            if p0 + ids.numel() > lay.max_blocks * lay.block_size:
                raise ValueError(f"row {row}: {p0 + ids.numel()} tokens exceed the cache's longest sequence")
            bounds.append((at, at + ids.numel(), row, p0))
            at += ids.numel()
        tokens = torch.cat([c[0] for c in chunks]).to(dev)
        # positions and table rows of every token, built on the host: one copy, not 2 per chunk
        host = torch.cat(
            [torch.stack([torch.arange(p0, p0 + b - a), torch.full((b - a,), r)]) for a, b, r, p0 in bounds],
            1,
        )
        positions, rows = host.to(torch.int32).to(dev).unbind(0)
        packed = pack_chunks(bounds, dev)
        dst = [cache.token_index(g, rows, positions) for g in range(lay.groups)]
        h = self.embed.index_select(0, tokens)
        for i, layer in enumerate(self.layers):
            kc, vc, table, g, window = cache.layer_cache(i)
            q, _, _ = self._qkv(layer, h, positions, cache=(kc, vc, dst[g]))
            # every chunk's keys are in the blocks now: one launch reads them (and any history)
            attn = self._prefill_attention(q, kc, vc, table, packed, window=window)
            h = self._out_and_mlp(layer, attn, h)
        if all_logits:
            return self._logits(h)
        last = torch.tensor([b - 1 for _, b, _, _ in bounds], device=dev)
        return self._logits(h.index_select(0, last))
