"""The small fused kernels between the linears of an EXAONE 4 layer.

Each one adds the split-K partial sums ``[S, T, N]`` of the linear before it (in a fixed
order: reproducible) and does what the reference model does next, rounding to the
activation dtype where the reference materialises a tensor in that dtype:

- ``qkv_post``: per head, q/k RMSNorm, RoPE on sliding layers, and the key/value write into
  the layer's paged cache at each token's flat index ``block * block_size + offset`` (given by
  the caller from the block table; a negative index skips the token);
- ``add_norm``: ``h += RMSNorm(o)`` (the post-attention and post-feed-forward norms) or a
  plain RMSNorm (the final norm); ``add_norm_ordered`` also writes the new h in the input order
  of the next linear's kernel (``w4a16.input_order``), which then skips its own copy;
- ``silu_mul``: ``silu(gate) * up`` from the fused gate/up projection (in the next kernel's
  input order when given one).

Triton builds a kernel again for an integer argument that is 1 or a multiple of 16 where it
was neither before; the token count T only bounds a loop and scales a stride, so it is left
unspecialised: a prefill pass of a new size does not stop for a build that warmup did not do.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from triton.language.extra.cuda import gdc_launch_dependents, gdc_wait

from evalkit.runners.torch_int4.kernels import pdl


@triton.jit
def _sum_parts(ptr, S, stride_s, offs, mask):
    acc = tl.load(ptr + offs, mask=mask, other=0.0).to(tl.float32)
    for s in range(1, S):
        acc += tl.load(ptr + s * stride_s + offs, mask=mask, other=0.0).to(tl.float32)
    return acc


@triton.jit(do_not_specialize=["T"])  # one build for every token count (see module doc)
def _qkv_post_kernel(
    part_ptr, S, T, NQKV,
    q_ptr, k_ptr, v_ptr,
    qn_ptr, kn_ptr, inv_freq_ptr, pos_ptr, dst_ptr, kc_ptr, vc_ptr, eps,
    H: tl.constexpr, HKV: tl.constexpr, D: tl.constexpr, ROPE: tl.constexpr, WRITE: tl.constexpr,
    PDL: tl.constexpr,
):  # fmt: skip
    if PDL:  # launched early (programmatic dependent launch): let the next start, wait for parts
        gdc_launch_dependents()
        gdc_wait()
    t = tl.program_id(0)
    head = tl.program_id(1)
    HALF: tl.constexpr = D // 2
    d = tl.arange(0, HALF)
    dtype = q_ptr.dtype.element_ty
    base = t * NQKV + head * D
    # Projection outputs exist in the activation dtype in the reference: round once here.
    x1 = _sum_parts(part_ptr, S, T * NQKV, base + d, d < HALF).to(dtype).to(tl.float32)
    x2 = _sum_parts(part_ptr, S, T * NQKV, base + HALF + d, d < HALF).to(dtype).to(tl.float32)
    if head < H + HKV:
        var = (tl.sum(x1 * x1, axis=0) + tl.sum(x2 * x2, axis=0)) / D
        r = 1.0 / tl.sqrt(var + eps)
        if head < H:
            w1 = tl.load(qn_ptr + d).to(tl.float32)
            w2 = tl.load(qn_ptr + HALF + d).to(tl.float32)
        else:
            w1 = tl.load(kn_ptr + d).to(tl.float32)
            w2 = tl.load(kn_ptr + HALF + d).to(tl.float32)
        x1 = (w1 * (x1 * r).to(dtype).to(tl.float32)).to(dtype).to(tl.float32)
        x2 = (w2 * (x2 * r).to(dtype).to(tl.float32)).to(dtype).to(tl.float32)
        if ROPE:
            pos = tl.load(pos_ptr + t).to(tl.float32)
            angle = pos * tl.load(inv_freq_ptr + d)
            c = tl.cos(angle).to(dtype).to(tl.float32)
            sn = tl.sin(angle).to(dtype).to(tl.float32)
            y1 = x1 * c - x2 * sn
            y2 = x2 * c + x1 * sn
            x1, x2 = y1, y2
    if head < H:
        out = q_ptr + (t * H + head) * D
        tl.store(out + d, x1.to(dtype))
        tl.store(out + HALF + d, x2.to(dtype))
    else:
        if head < H + HKV:
            kh = head - H
            out = k_ptr + (t * HKV + kh) * D
            cache = kc_ptr
        else:
            kh = head - H - HKV
            out = v_ptr + (t * HKV + kh) * D
            cache = vc_ptr
        tl.store(out + d, x1.to(dtype))
        tl.store(out + HALF + d, x2.to(dtype))
        if WRITE:
            idx = tl.load(dst_ptr + t).to(tl.int64)
            dst = cache + (idx * HKV + kh) * D
            keep = d < tl.where(idx >= 0, HALF, 0)
            tl.store(dst + d, x1.to(dtype), mask=keep)
            tl.store(dst + HALF + d, x2.to(dtype), mask=keep)


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
    """q [T, H, D], k, v [T, Hkv, D] from the q|k|v projection's partials [S, T, NQKV].

    `inv_freq` None = no RoPE (global layers). `cache` = (keys, values, dst): the layer's
    paged storage [blocks, block_size, Hkv, D] and each token's flat index [T] into it
    (``block * block_size + offset``; negative = not written).
    """
    s, t, nqkv = parts.shape
    dev = parts.device
    q = torch.empty((t, num_heads, head_dim), dtype=dtype, device=dev)
    k = torch.empty((t, num_kv_heads, head_dim), dtype=dtype, device=dev)
    v = torch.empty((t, num_kv_heads, head_dim), dtype=dtype, device=dev)
    if cache is not None:
        kc, vc, dst = cache
    else:
        kc, vc, dst = k, v, positions
    freq = inv_freq if inv_freq is not None else q_norm
    _qkv_post_kernel[(t, num_heads + 2 * num_kv_heads)](
        parts, s, t, nqkv, q, k, v, q_norm, k_norm, freq, positions, dst, kc, vc, eps,
        H=num_heads, HKV=num_kv_heads, D=head_dim, ROPE=inv_freq is not None, WRITE=cache is not None,
        **pdl.launch(dev, t),
    )  # fmt: skip
    return q, k, v


@triton.jit(do_not_specialize=["T"])  # one build for every token count (see module doc)
def _add_norm_kernel(
    part_ptr, S, T, N, h_ptr, out_ptr, w_ptr, eps, dest_ptr, copy_ptr,
    BLOCK: tl.constexpr, ADD: tl.constexpr, COPY: tl.constexpr, PDL: tl.constexpr,
):  # fmt: skip
    if PDL:  # launched early (programmatic dependent launch): let the next start, wait for parts
        gdc_launch_dependents()
        gdc_wait()
    t = tl.program_id(0)
    c = tl.arange(0, BLOCK)
    mask = c < N
    dtype = out_ptr.dtype.element_ty
    x = _sum_parts(part_ptr, S, T * N, t * N + c, mask).to(dtype).to(tl.float32)
    var = tl.sum(x * x, axis=0) / N
    xn = (x / tl.sqrt(var + eps)).to(dtype).to(tl.float32)
    y = (tl.load(w_ptr + c, mask=mask, other=0.0).to(tl.float32) * xn).to(dtype).to(tl.float32)
    if ADD:
        y = y + tl.load(h_ptr + t * N + c, mask=mask, other=0.0).to(tl.float32)
    tl.store(out_ptr + t * N + c, y.to(dtype), mask=mask)
    if COPY:  # the same row again, column c at dest[c]
        tl.store(copy_ptr + t * N + tl.load(dest_ptr + c, mask=mask, other=0), y.to(dtype), mask=mask)


def add_norm(parts: torch.Tensor, weight: torch.Tensor, eps: float, h: torch.Tensor | None) -> torch.Tensor:
    """``h + RMSNorm(sum(parts))`` written into `h` (returned), or, with `h` None, a new
    ``RMSNorm(sum(parts))`` in the weight's dtype."""
    s, t, n = parts.shape
    out = h if h is not None else torch.empty((t, n), dtype=weight.dtype, device=parts.device)
    _add_norm_kernel[(t,)](
        parts, s, t, n, out, out, weight, eps, out, out,
        BLOCK=triton.next_power_of_2(n), ADD=h is not None, COPY=False, num_warps=8 if n >= 2048 else 4,
        **pdl.launch(parts.device, t),
    )  # fmt: skip
    return out


def add_norm_ordered(
    parts: torch.Tensor, weight: torch.Tensor, eps: float, h: torch.Tensor, dest: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``add_norm`` into `h`, and a copy of the new `h` with column c at column dest[c] (the input
    order of the next linear's kernel, ``w4a16.input_order``): (h, the copy)."""
    s, t, n = parts.shape
    copy = torch.empty_like(h)
    _add_norm_kernel[(t,)](
        parts, s, t, n, h, h, weight, eps, dest, copy,
        BLOCK=triton.next_power_of_2(n), ADD=True, COPY=True, num_warps=8 if n >= 2048 else 4,
        **pdl.launch(parts.device, t),
    )  # fmt: skip
    return h, copy


@triton.jit(do_not_specialize=["T"])  # one build for every token count (see module doc)
def _silu_mul_kernel(
    part_ptr, S, T, INTER, out_ptr, dest_ptr, BLOCK: tl.constexpr, ORDER: tl.constexpr, PDL: tl.constexpr
):
    if PDL:  # launched early (programmatic dependent launch): let the next start, wait for parts
        gdc_launch_dependents()
        gdc_wait()
    t = tl.program_id(0)
    c = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = c < INTER
    dtype = out_ptr.dtype.element_ty
    g = _sum_parts(part_ptr, S, T * 2 * INTER, t * 2 * INTER + c, mask).to(dtype).to(tl.float32)
    u = _sum_parts(part_ptr, S, T * 2 * INTER, t * 2 * INTER + INTER + c, mask).to(dtype).to(tl.float32)
    act = (g / (1.0 + tl.exp(-g))).to(dtype).to(tl.float32)
    oc = tl.load(dest_ptr + c, mask=mask, other=0) if ORDER else c
    tl.store(out_ptr + t * INTER + oc, (act * u).to(dtype), mask=mask)


def silu_mul(parts: torch.Tensor, dtype: torch.dtype, dest: torch.Tensor | None = None) -> torch.Tensor:
    """``silu(gate) * up`` [T, I] from the gate|up projection's partials [S, T, 2I]; with `dest`,
    column c is written at column dest[c] (the next linear's input order, ``w4a16.input_order``)."""
    s, t, n2 = parts.shape
    inter = n2 // 2
    out = torch.empty((t, inter), dtype=dtype, device=parts.device)
    block = 1024
    _silu_mul_kernel[(t, triton.cdiv(inter, block))](
        parts,
        s,
        t,
        inter,
        out,
        out if dest is None else dest,
        BLOCK=block,
        ORDER=dest is not None,
        **pdl.launch(parts.device, t),
    )
    return out
