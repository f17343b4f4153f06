"""Temperature, top-p and the draw in one kernel, without sorting the vocabulary.

``sampling.token_probs`` defines top-p on the row sorted by logit (ties: lower token id first):
a token stays while the mass before it is below p. The kept set is therefore every token above
one threshold value v*, plus the first few tokens (by id) *at* v*:

- ``S(v)`` = mass of the tokens strictly above v falls as v grows, and changes only at the
  row's own values, so v* = the smallest value with ``S(v*) < p`` is found by searching the
  float's monotone integer key: each pass over the row sums the mass above eight keys at once
  (eight accumulators in the load's own layout: no layout conversion) and keeps the interval
  between the last key that fails and the first that holds (9-way, at most 11 passes for 32
  bits);
- the ``c`` tokens tied at v* keep their place in the sorted order while
  ``S(v*) + t * e(v*) < p`` (t = 0, 1, ...), so the first ``ceil((p - S(v*)) / e(v*))`` of them
  by id stay (at least one: the most likely token always does).

Then the inverse-CDF draw of ``sampling.draw`` over the kept tokens in id order, in float64:
the first token whose cumulative weight exceeds ``u * total``. One program per row, its
passes over the row in a fixed order: the result does not depend on the other rows, and a
request keeps its one uniform number per token. Masses are summed in another order than the
sort's cumulative sum, so a boundary token can differ by rounding, as between the candidate
and full-sort paths of ``token_probs``. Rows with a top-k filter stay on ``token_probs``.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from evalkit.runners.torch_int4.transfer import upload


@triton.jit
def _key(x):
    """The float's bits as an int32 that orders like the floats (-0.0 and +0.0: one key)."""
    bits = x.to(tl.int32, bitcast=True)
    key = tl.where(bits < 0, bits ^ 0x7FFFFFFF, bits)
    return tl.where(x == 0.0, 0, key)


@triton.jit
def _value(key):
    """The float of a key (the inverse of ``_key``)."""
    bits = tl.where(key < 0, key ^ 0x7FFFFFFF, key)
    return bits.to(tl.float32, bitcast=True)


@triton.jit
def _mass_above(x, m, key, k1, k2, k3, k4, k5, k6, k7, k8, a1, a2, a3, a4, a5, a6, a7, a8):
    """The eight running sums of exp(x - m) over the elements whose key is above k1 .. k8."""
    e = tl.exp(x - m)
    a1 += tl.where(key > k1, e, 0.0)
    a2 += tl.where(key > k2, e, 0.0)
    a3 += tl.where(key > k3, e, 0.0)
    a4 += tl.where(key > k4, e, 0.0)
    a5 += tl.where(key > k5, e, 0.0)
    a6 += tl.where(key > k6, e, 0.0)
    a7 += tl.where(key > k7, e, 0.0)
    a8 += tl.where(key > k8, e, 0.0)
    return a1, a2, a3, a4, a5, a6, a7, a8


@triton.jit
def _narrow(k, s, pz, lo, hi, s_hi):
    """Key k with mass s above it: the first key that holds (s < p Z) becomes hi (the keys come
    largest first), one that fails raises lo."""
    holds = s < pz
    return tl.where(holds, lo, tl.maximum(lo, k)), tl.where(holds, k, hi), tl.where(holds, s, s_hi)


@triton.jit
def _kept(x, k, star, ties, seen, mask):
    """Weights exp(x) of the kept elements of a block (above the key star; at it, the first
    `ties` by id: `seen` of them came in earlier blocks), and the tied count so far."""
    tie = (k == star) & mask
    n_tie = tl.sum(tie.to(tl.int32), axis=0)
    kept = k > star
    if n_tie > 0:  # only blocks holding the threshold value rank their ties
        rank = seen + tl.cumsum(tie.to(tl.int32), axis=0) - 1
        kept = kept | (tie & (rank.to(tl.float32) < ties))
    return kept, seen + n_tie


@triton.jit
def _top_p_draw_kernel(
    x_ptr, stride, V, temp_ptr, p_ptr, u_ptr, out_ptr,
    BLOCK: tl.constexpr,
):  # fmt: skip
    row = tl.program_id(0)
    base = x_ptr + row.to(tl.int64) * stride
    temp = tl.load(temp_ptr + row)
    p = tl.load(p_ptr + row)
    u = tl.load(u_ptr + row)
    offs = tl.arange(0, BLOCK)

    # Pass 1: the largest value and the smallest key. Pass 2: Z = sum of exp(x - max).
    vmax = tl.full([BLOCK], float("-inf"), tl.float32)
    kmin = tl.full([BLOCK], 2147483647, tl.int32)
    for start in range(0, V, BLOCK):
        mask = start + offs < V
        x = tl.load(base + start + offs, mask=mask, other=float("-inf")) / temp
        vmax = tl.maximum(vmax, x)
        kmin = tl.where(mask, tl.minimum(kmin, _key(x)), kmin)
    m = tl.max(vmax, axis=0)
    lo = tl.min(kmin, axis=0).to(tl.int64) - 1
    zacc = tl.zeros([BLOCK], tl.float32)
    for start in range(0, V, BLOCK):
        mask = start + offs < V
        x = tl.load(base + start + offs, mask=mask, other=float("-inf")) / temp
        zacc += tl.exp(x - m)
    pz = p * tl.sum(zacc, axis=0)

    # The search for v*: S(lo) >= p Z (assumed: lo is below every value), S(hi) < p Z; each
    # pass sums the mass above eight keys inside (lo, hi) in eight accumulators of one layout.
    hi = _key(m).to(tl.int64)
    s_hi = 0.0
    if p >= 1.0:  # no filter: every token stays
        hi = lo + 1
        s_hi = float("-inf")  # keeps every tie below
    while hi - lo > 1:
        n = hi - lo
        k1 = (lo + n * 1 // 9).to(tl.int32)
        k2 = (lo + n * 2 // 9).to(tl.int32)
        k3 = (lo + n * 3 // 9).to(tl.int32)
        k4 = (lo + n * 4 // 9).to(tl.int32)
        k5 = (lo + n * 5 // 9).to(tl.int32)
        k6 = (lo + n * 6 // 9).to(tl.int32)
        k7 = (lo + n * 7 // 9).to(tl.int32)
        k8 = (lo + n * 8 // 9).to(tl.int32)
        a1 = tl.zeros([BLOCK], tl.float32)
        a2 = tl.zeros([BLOCK], tl.float32)
        a3 = tl.zeros([BLOCK], tl.float32)
        a4 = tl.zeros([BLOCK], tl.float32)
        a5 = tl.zeros([BLOCK], tl.float32)
        a6 = tl.zeros([BLOCK], tl.float32)
        a7 = tl.zeros([BLOCK], tl.float32)
        a8 = tl.zeros([BLOCK], tl.float32)
        for start in range(0, V, BLOCK):
            mask = start + offs < V
            x = tl.load(base + start + offs, mask=mask, other=float("-inf")) / temp
            a1, a2, a3, a4, a5, a6, a7, a8 = _mass_above(
                x, m, _key(x), k1, k2, k3, k4, k5, k6, k7, k8, a1, a2, a3, a4, a5, a6, a7, a8
            )
        new_lo, new_hi, new_s = lo, hi, s_hi
        new_lo, new_hi, new_s = _narrow(k8.to(tl.int64), tl.sum(a8, axis=0), pz, new_lo, new_hi, new_s)
        new_lo, new_hi, new_s = _narrow(k7.to(tl.int64), tl.sum(a7, axis=0), pz, new_lo, new_hi, new_s)
        new_lo, new_hi, new_s = _narrow(k6.to(tl.int64), tl.sum(a6, axis=0), pz, new_lo, new_hi, new_s)
        new_lo, new_hi, new_s = _narrow(k5.to(tl.int64), tl.sum(a5, axis=0), pz, new_lo, new_hi, new_s)
        new_lo, new_hi, new_s = _narrow(k4.to(tl.int64), tl.sum(a4, axis=0), pz, new_lo, new_hi, new_s)
        new_lo, new_hi, new_s = _narrow(k3.to(tl.int64), tl.sum(a3, axis=0), pz, new_lo, new_hi, new_s)
        new_lo, new_hi, new_s = _narrow(k2.to(tl.int64), tl.sum(a2, axis=0), pz, new_lo, new_hi, new_s)
        new_lo, new_hi, new_s = _narrow(k1.to(tl.int64), tl.sum(a1, axis=0), pz, new_lo, new_hi, new_s)
        lo, hi, s_hi = new_lo, new_hi, new_s
    star = hi.to(tl.int32)
    e_star = tl.exp(_value(star) - m)
    ties = tl.maximum(tl.ceil((pz - s_hi) / e_star), 1.0)  # inf (all) when e* underflows

    # Pass: total kept weight (float64). Last pass: the block where the running weight passes
    # u * total, and in it (one cumulative sum) the first token past it.
    total = tl.zeros([BLOCK], tl.float64)
    seen = 0
    for start in range(0, V, BLOCK):
        mask = start + offs < V
        x = tl.load(base + start + offs, mask=mask, other=float("-inf")) / temp
        kept, seen = _kept(x, _key(x), star, ties, seen, mask)
        total += tl.where(kept, tl.exp(x - m), 0.0).to(tl.float64)
    target = u * tl.sum(total, axis=0)
    run = tl.sum(tl.zeros([BLOCK], tl.float64), axis=0)
    seen = 0
    chosen = V
    last = 0
    for start in range(0, V, BLOCK):
        mask = start + offs < V
        x = tl.load(base + start + offs, mask=mask, other=float("-inf")) / temp
        kept, seen = _kept(x, _key(x), star, ties, seen, mask)
        w = tl.where(kept, tl.exp(x - m), 0.0).to(tl.float64)
        idx = start + offs
        block_total = tl.sum(w, axis=0)
        if (chosen == V) & (run + block_total > target):
            cdf = run + tl.cumsum(w, axis=0)
            chosen = tl.min(tl.where((cdf > target) & (w > 0), idx, V), axis=0)
        run += block_total
        last = tl.maximum(last, tl.max(tl.where(w > 0, idx, 0), axis=0))
    # Rounding can leave u * total at or past the last step: the last token with weight.
    tl.store(out_ptr + row, tl.where(chosen < V, chosen, last).to(tl.int64))


def top_p_draw(
    logits: torch.Tensor,
    temperature: torch.Tensor,
    top_p: torch.Tensor,
    uniforms: torch.Tensor,
    *,
    block: int = 2048,
    num_warps: int = 8,
) -> torch.Tensor:
    """One token per row of float32 `logits` [B, V]: temperature, top-p (1 = off), then the
    inverse-CDF draw with ``uniforms[b]`` (float64, on any device). Returns int64 [B]. The
    default block and warps were the fastest measured (H200, 256 x 102,400: 0.94 ms)."""
    rows, vocab = logits.shape
    out = torch.empty(rows, dtype=torch.long, device=logits.device)
    if rows == 0:
        return out
    logits = logits.float()
    if logits.stride(-1) != 1:
        logits = logits.contiguous()
    on_host = uniforms.device != logits.device
    u = upload(uniforms, torch.float64, logits.device) if on_host else uniforms.to(torch.float64)
    _top_p_draw_kernel[(rows,)](
        logits, logits.stride(0), vocab,
        temperature.float().contiguous(), top_p.float().contiguous(), u, out,
        BLOCK=block, num_warps=num_warps,
    )  # fmt: skip
    return out
