"""Plain-PyTorch versions of every kernel of the fast path, with the same signatures.

The fast model runs on them where Triton cannot run natively (a CPU), and the kernel
tests compare each Triton kernel (interpreted on CPU, compiled on GPU) with its twin here.
They follow the reference model's roundings (``model.py``), not the kernels' fusions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from evalkit.runners.torch_int4.gptq import unpack_int4_cols, unpack_int4_rows
from evalkit.runners.torch_int4.kernels.attention import SharedPrefix
from evalkit.runners.torch_int4.kernels.prefill_attention import PackedChunks
from evalkit.runners.torch_int4.kernels.w4a16 import W4Weight


def dense_weight(w: W4Weight, dtype: torch.dtype) -> torch.Tensor:
    """[N, K] in `dtype`, rows in ``perm`` order (what ``w4a16.dequantize`` returns)."""
    k, n = w.in_features, w.out_features
    q = unpack_int4_rows(w.qweight)[:k]
    zeros = unpack_int4_cols(w.qzeros)[:, :n] + w.zero_offset
    g = torch.arange(k, device=q.device) // w.group_size
    return (w.scales.float()[g] * (q - zeros[g]).float()).t().to(dtype).contiguous()


_DENSE: dict[int, tuple[W4Weight, torch.Tensor]] = {}


def w4_matmul(x: torch.Tensor, w: W4Weight, *, dest: torch.Tensor | None = None) -> torch.Tensor:
    """[1, M, N] float32: x @ W with the dequantized weight (kept after the first call); `dest`:
    x's column c was written at column dest[c] (``glue.silu_mul``'s order), taken back here."""
    if dest is not None:
        x = x.index_select(1, dest)
    if w.perm is not None:
        x = x.index_select(1, w.perm)
    hit = _DENSE.get(id(w))
    if hit is None or hit[0] is not w:
        hit = _DENSE[id(w)] = (w, dense_weight(w, torch.float32))
    return F.linear(x.float(), hit[1])[None]


def _round(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return x.to(dtype).float()


def _rms(x: torch.Tensor, weight: torch.Tensor, eps: float, dtype: torch.dtype) -> torch.Tensor:
    xn = _round(x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps), dtype)
    return _round(weight.float() * xn, dtype)


def qkv_post(
    parts: torch.Tensor,
    *,
    num_heads: int,
    num_kv_heads: int,
    head_dim: int,
    q_norm: torch.Tensor,
    k_norm: torch.Tensor,
    eps: float,
    inv_freq: torch.Tensor | None,
    positions: torch.Tensor,
    dtype: torch.dtype,
    cache: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x = _round(parts.float().sum(0), dtype)
    t = x.shape[0]
    hq, hk = num_heads * head_dim, num_kv_heads * head_dim
    q = _rms(x[:, :hq].view(t, num_heads, head_dim), q_norm, eps, dtype)
    k = _rms(x[:, hq : hq + hk].view(t, num_kv_heads, head_dim), k_norm, eps, dtype)
    v = x[:, hq + hk :].reshape(t, num_kv_heads, head_dim)
    if inv_freq is not None:
        angle = positions.float()[:, None] * inv_freq.float()[None, :]
        cos = _round(angle.cos(), dtype).repeat(1, 2)[:, None]
        sin = _round(angle.sin(), dtype).repeat(1, 2)[:, None]

        def rope(z: torch.Tensor) -> torch.Tensor:
            z1, z2 = z.chunk(2, dim=-1)
            return z * cos + torch.cat((-z2, z1), dim=-1) * sin

        q, k = rope(q), rope(k)
    q, k, v = q.to(dtype), k.to(dtype), v.to(dtype)
    if cache is not None:
        kc, vc, dst = cache
        keep = dst >= 0
        kc.flatten(0, 1)[dst[keep].long()] = k[keep]
        vc.flatten(0, 1)[dst[keep].long()] = v[keep]
    return q, k, v


def add_norm(parts: torch.Tensor, weight: torch.Tensor, eps: float, h: torch.Tensor | None) -> torch.Tensor:
    dtype = weight.dtype
    y = _rms(_round(parts.float().sum(0), dtype), weight, eps, dtype)
    if h is None:
        return y.to(dtype)
    h.copy_((h.float() + y).to(dtype))
    return h


def add_norm_ordered(
    parts: torch.Tensor, weight: torch.Tensor, eps: float, h: torch.Tensor, dest: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    h = add_norm(parts, weight, eps, h)
    copy = torch.empty_like(h)
    copy[:, dest] = h
    return h, copy


def silu_mul(parts: torch.Tensor, dtype: torch.dtype, dest: torch.Tensor | None = None) -> torch.Tensor:
    x = _round(parts.float().sum(0), dtype)
    g, u = x.chunk(2, dim=-1)
    y = (_round(F.silu(g), dtype) * u).to(dtype)
    if dest is None:
        return y
    out = torch.empty_like(y)
    out[:, dest] = y
    return out


def decode_attention(
    q: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    table: torch.Tensor,
    rows: torch.Tensor,
    positions: torch.Tensor,
    *,
    window: int | None,
    splits: int,
    shared: SharedPrefix | None = None,
) -> torch.Tensor:
    """Row by row. With `shared`, a row of a group reads its first ``skip`` keys through the
    group's table row (what the kernel's prefix pass reads), the rest through its own."""
    b, h, d = q.shape
    bs = keys.shape[1]
    groups = h // keys.shape[2]
    out = torch.empty((b, h, d), dtype=q.dtype, device=q.device)
    via = [int(r) for r in rows]  # the table row each row's prefix keys come from
    skip = [0] * b
    if shared is not None:
        kind = 0 if window is None else 1
        used, g = int(shared.groups[0]), shared.groups[1:].view(5, -1).tolist()
        members = shared.members.tolist()
        for gi in range(used):
            for m in members[g[1][gi] : g[1][gi] + g[2][gi]]:
                via[m] = g[0][gi]
        skip = shared.skip[kind].tolist()
    for r in range(b):
        pos = int(positions[r])
        kpos = torch.arange(0 if window is None else max(0, pos - window + 1), pos + 1, device=q.device)
        flat = table[int(rows[r]), kpos // bs].long() * bs + kpos % bs
        if skip[r]:
            pre = kpos < skip[r]
            flat[pre] = table[via[r], kpos[pre] // bs].long() * bs + kpos[pre] % bs
        k = keys.flatten(0, 1)[flat].float().repeat_interleave(groups, dim=1)  # [n, H, D]
        v = values.flatten(0, 1)[flat].float().repeat_interleave(groups, dim=1)
        scores = torch.einsum("hd,nhd->hn", q[r].float(), k) * d**-0.5
        out[r] = torch.einsum("hn,nhd->hd", scores.softmax(-1), v).to(q.dtype)
    return out.view(b, h * d)


def prefill_attention(
    q: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    table: torch.Tensor,
    chunks: PackedChunks,
    *,
    window: int | None,
) -> torch.Tensor:
    """Chunk by chunk: gather the chunk's keys (history and its own, already in the blocks)
    through its table row, expand them to the query heads, one SDPA call."""
    t, h, d = q.shape
    bs = keys.shape[1]
    groups = h // keys.shape[2]
    out = torch.empty((t, h, d), dtype=q.dtype, device=q.device)
    for a, b, row, p0 in chunks.bounds:
        n = b - a
        lo = 0 if window is None else max(0, p0 - window + 1)
        kpos = torch.arange(lo, p0 + n, device=q.device)
        flat = table[row, kpos // bs].long() * bs + kpos % bs
        k = keys.flatten(0, 1).index_select(0, flat).transpose(0, 1).repeat_interleave(groups, dim=0)
        v = values.flatten(0, 1).index_select(0, flat).transpose(0, 1).repeat_interleave(groups, dim=0)
        mask = None
        if lo < p0 or (window is not None and n > window):
            qpos = torch.arange(p0, p0 + n, device=q.device)
            mask = kpos[None, :] <= qpos[:, None]
            if window is not None:
                mask &= kpos[None, :] > qpos[:, None] - window
        o = F.scaled_dot_product_attention(
            q[a:b].transpose(0, 1)[None],
            k[None],
            v[None],
            attn_mask=mask,
            is_causal=mask is None,
            scale=d**-0.5,
        )
        out[a:b] = o[0].transpose(0, 1)
    return out.view(t, h * d)
