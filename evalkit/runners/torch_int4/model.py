"""The EXAONE 4 decoder in plain PyTorch (docs/exaone4-architecture.md#decoder-layer), gpt-fast style.

One layer, in order (no pre-norm anywhere):

    q, k, v = q_proj(h), k_proj(h), v_proj(h)        per-head views
    q, k = q_norm(q), k_norm(k)                        RMSNorm over head_dim, per head
    sliding layer: q, k = rope(q, k); window W         global layer: no RoPE, full causal
    h = h + post_attention_layernorm(o_proj(attn(q, k, v)))
    h = h + post_feedforward_layernorm(down(silu(gate(h)) * up(h)))

then a final RMSNorm and an untied lm_head. Module names mirror the HF checkpoint
(``model.layers.0.self_attn.q_proj`` ...) so weights load by name. The linear layers
are built as ``nn.Linear`` placeholders; the loader swaps in a ``QuantLinear`` or a
dense ``nn.Linear`` per checkpoint.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from evalkit.runners.torch_int4.config import FULL, SLIDING, Exaone4Config, LayerType, RopeConfig
from evalkit.runners.torch_int4.kv_cache import KVCache


class RMSNorm(nn.Module):
    """RMSNorm as EXAONE 4 computes it: normalise in float32, cast back, then scale."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        # Cast before the weight multiply (not after): that is where HF rounds in bf16.
        return self.weight * xf.to(x.dtype)


# --------------------------------------------------------------------------- RoPE


def rope_inv_freq(rope: RopeConfig, head_dim: int) -> torch.Tensor:
    """Inverse frequencies [head_dim / 2] in float32, with llama3 rescaling if configured.

    llama3 (docs/exaone4-architecture.md#rope): wavelengths longer than ``original_max / low_freq_factor``
    are slowed by ``factor``, shorter than ``original_max / high_freq_factor`` are kept,
    and the band in between is interpolated smoothly.
    """
    exponents = torch.arange(0, head_dim, 2, dtype=torch.int64, device="cpu").float() / head_dim
    inv_freq = 1.0 / (rope.theta**exponents)
    if rope.rope_type == "default":
        return inv_freq
    old_len = rope.original_max_position_embeddings
    low_wavelen = old_len / rope.low_freq_factor
    high_wavelen = old_len / rope.high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > low_wavelen, inv_freq / rope.factor, inv_freq)
    smooth = (old_len / wavelen - rope.low_freq_factor) / (rope.high_freq_factor - rope.low_freq_factor)
    smoothed = (1 - smooth) * scaled / rope.factor + smooth * scaled
    in_band = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
    return torch.where(in_band, smoothed, scaled)


def rope_cos_sin(
    inv_freq: torch.Tensor, positions: torch.Tensor, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin [B, T, head_dim] for integer `positions` [B, T]; computed in float32."""
    freqs = positions.float()[..., None] * inv_freq.float()
    emb = torch.cat((freqs, freqs), dim=-1)  # neox layout: the two halves share a frequency
    return emb.cos().to(dtype), emb.sin().to(dtype)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x [B, T, H, D] neox-style: pairs are (i, i + D/2), not adjacent dims."""
    x1, x2 = x.chunk(2, dim=-1)
    rotated = torch.cat((-x2, x1), dim=-1)
    return x * cos[:, :, None] + rotated * sin[:, :, None]


# --------------------------------------------------------------------------- masks


def attention_mask(
    start: torch.Tensor, first_slot: int, num_queries: int, window: int | None, groups: int
) -> torch.Tensor:
    """Which key slots each query slot may see: bool [B, 1, groups * T, S], True = attend.

    Key s is visible to query q of row b when it is a real token (s >= start[b]),
    causal (s <= q) and, on sliding layers, inside the window (s > q - window, HF's
    ``kv_idx > q_idx - W``). A padding query sees only itself, so its softmax stays
    finite (its output is never used). Rows repeat `groups` times because attention
    folds the query heads that share one KV head into the query axis.
    """
    device = start.device
    q = torch.arange(first_slot, first_slot + num_queries, device=device)[None, :, None]
    s = torch.arange(first_slot + num_queries, device=device)[None, None, :]
    allowed = (s >= start[:, None, None]) & (s <= q)
    if window is not None:
        allowed &= s > q - window
    allowed |= s == q
    return allowed[:, None].repeat(1, 1, groups, 1)


# --------------------------------------------------------------------------- layers


class Attention(nn.Module):
    """Grouped-query attention with per-head QK RMSNorm; RoPE only when given cos/sin."""

    def __init__(self, cfg: Exaone4Config):
        super().__init__()
        self.num_heads, self.num_kv_heads, self.head_dim = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
        self.q_proj: nn.Module = nn.Linear(cfg.hidden_size, cfg.num_heads * cfg.head_dim, bias=False)
        self.k_proj: nn.Module = nn.Linear(cfg.hidden_size, cfg.num_kv_heads * cfg.head_dim, bias=False)
        self.v_proj: nn.Module = nn.Linear(cfg.hidden_size, cfg.num_kv_heads * cfg.head_dim, bias=False)
        self.o_proj: nn.Module = nn.Linear(cfg.num_heads * cfg.head_dim, cfg.hidden_size, bias=False)
        self.q_norm = RMSNorm(cfg.head_dim, cfg.rms_norm_eps)
        self.k_norm = RMSNorm(cfg.head_dim, cfg.rms_norm_eps)

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor] | None,
        mask: torch.Tensor,
        cache: KVCache,
        layer: int,
    ) -> torch.Tensor:
        b, t, _ = x.shape
        q = self.q_norm(self.q_proj(x).view(b, t, self.num_heads, self.head_dim))
        k = self.k_norm(self.k_proj(x).view(b, t, self.num_kv_heads, self.head_dim))
        v = self.v_proj(x).view(b, t, self.num_kv_heads, self.head_dim)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        # The cache holds keys after norm and RoPE, as attention consumes them.
        keys, values = cache.write(layer, k.transpose(1, 2), v.transpose(1, 2))
        # GQA without copying K/V: query head h = kv * groups + g (HF's repeat_kv order),
        # so [B, H, T, D] -> [B, Hkv, groups * T, D] puts each group beside its KV head.
        groups = self.num_heads // self.num_kv_heads
        q = q.transpose(1, 2).reshape(b, self.num_kv_heads, groups * t, self.head_dim)
        out = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, scale=self.head_dim**-0.5)
        out = out.reshape(b, self.num_heads, t, self.head_dim).transpose(1, 2).reshape(b, t, -1)
        return self.o_proj(out)


class MLP(nn.Module):
    """SwiGLU feed-forward: down(silu(gate(x)) * up(x))."""

    def __init__(self, cfg: Exaone4Config):
        super().__init__()
        self.gate_proj: nn.Module = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj: nn.Module = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj: nn.Module = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    """Attention then MLP, each followed by its own RMSNorm *before* the residual add."""

    def __init__(self, cfg: Exaone4Config):
        super().__init__()
        self.self_attn = Attention(cfg)
        self.mlp = MLP(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_feedforward_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(
        self,
        h: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor] | None,
        mask: torch.Tensor,
        cache: KVCache,
        layer: int,
    ) -> torch.Tensor:
        h = h + self.post_attention_layernorm(self.self_attn(h, rope, mask, cache, layer))
        return h + self.post_feedforward_layernorm(self.mlp(h))


class Decoder(nn.Module):
    """Embeddings, the layer stack and the final norm (HF's ``model.*`` weights)."""

    def __init__(self, cfg: Exaone4Config):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.num_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


class Exaone4LM(nn.Module):
    """EXAONE 4 causal LM: token ids + KV cache in, next-token logits out."""

    inv_freq: torch.Tensor

    def __init__(self, cfg: Exaone4Config, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.cfg = cfg
        self.dtype = dtype  # compute dtype of activations, weights and the KV cache
        self.model = Decoder(cfg)
        self.lm_head: nn.Module = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        # Explicit CPU device: the loader builds this module under the meta device.
        self.register_buffer("inv_freq", rope_inv_freq(cfg.rope, cfg.head_dim), persistent=False)

    @property
    def device(self) -> torch.device:
        """Where the weights live."""
        return self.model.embed_tokens.weight.device

    def new_cache(self, start: torch.Tensor, capacity: int) -> KVCache:
        """An empty cache for rows whose first real token sits at slot ``start[b]``."""
        return KVCache(
            num_layers=self.cfg.num_layers,
            start=start,
            num_kv_heads=self.cfg.num_kv_heads,
            head_dim=self.cfg.head_dim,
            capacity=capacity,
            dtype=self.dtype,
            device=self.device,
        )

    def forward(self, input_ids: torch.Tensor, cache: KVCache, *, all_logits: bool = False) -> torch.Tensor:
        """Run `input_ids` [B, T] at the cache's next T slots; float32 logits [B, T or 1, V].

        Prefill passes the whole left-padded prompt (or a chunk of it), decode one token
        per row. Only the last position's logits are computed unless `all_logits`.
        """
        cfg = self.cfg
        t = input_ids.shape[1]
        cache.reserve(t)
        first = cache.length
        slots = torch.arange(first, first + t, device=input_ids.device)
        positions = (slots[None, :] - cache.start[:, None]).clamp_min(0)
        rope = rope_cos_sin(self.inv_freq, positions, self.dtype)
        masks: dict[LayerType, torch.Tensor] = {
            FULL: attention_mask(cache.start, first, t, None, cfg.num_groups)
        }
        if SLIDING in cfg.layer_types:
            masks[SLIDING] = attention_mask(cache.start, first, t, cfg.sliding_window, cfg.num_groups)

        h = self.model.embed_tokens(input_ids)
        for i, layer in enumerate(self.model.layers):
            h = layer(h, rope if cfg.uses_rope(i) else None, masks[cfg.layer_types[i]], cache, i)
        cache.advance(t)
        h = self.model.norm(h if all_logits else h[:, -1:])
        logits: torch.Tensor = self.lm_head(h)
        return logits.float()
