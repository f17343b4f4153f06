"""Temperature, top-p and the draw in one kernel, without sorting the vocabulary.

``sampling.token_probs`` defines top-p on the row sorted by logit (ties: lower token id first):
a token stays while the mass before it is below p. The kept set is therefore every token above
one threshold value v*, plus the first few tokens (by id) *at* v*:

- ``S(v)`` = mass of the tokens strictly above v falls as v grows, and changes only at the
  row's own values, so v* = the smallest value with ``S(v*) < p`` is found by searching the
  float's monotone integer key: each pass over the row sums the mass above ``T`` keys at once
  and keeps the interval between the last key that fails and the first that holds
  ((T + 1)-way, at most eight passes for 32 bits);
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
def _top_p_draw_kernel(
    x_ptr, stride, V, temp_ptr, p_ptr, u_ptr, out_ptr,
    BLOCK: tl.constexpr, T: tl.constexpr,
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
    lo_key = tl.min(kmin, axis=0).to(tl.int64) - 1
    zacc = tl.zeros([BLOCK], tl.float32)
    for start in range(0, V, BLOCK):
        mask = start + offs < V
        x = tl.load(base + start + offs, mask=mask, other=float("-inf")) / temp
        zacc += tl.exp(x - m)
    pz = p * tl.sum(zacc, axis=0)

    # The search for v*: S(lo) >= p Z (assumed: lo is below every value), S(hi) < p Z.
    hi_key = _key(m).to(tl.int64)
    s_hi = 0.0
    if p >= 1.0:  # no filter: every token stays
        hi_key = lo_key + 1
        s_hi = float("-inf")  # keeps every tie below
    js = tl.arange(1, T + 1).to(tl.int64)
    while hi_key - lo_key > 1:
        keys = (lo_key + (hi_key - lo_key) * js // (T + 1)).to(tl.int32)
        acc = tl.zeros([BLOCK, T], tl.float32)
        for start in range(0, V, BLOCK):
            mask = start + offs < V
            x = tl.load(base + start + offs, mask=mask, other=float("-inf")) / temp
            e = tl.exp(x - m)
            acc += tl.where(_key(x)[:, None] > keys[None, :], e[:, None], 0.0)
        s = tl.sum(acc, axis=0)
        holds = s < pz
        # s falls as the key grows: the first key that holds has the largest s of those that do
        new_hi = tl.min(tl.where(holds, keys.to(tl.int64), hi_key), axis=0)
        s_hi = tl.max(tl.where(holds, s, s_hi), axis=0)
        lo_key = tl.max(tl.where(holds, lo_key, keys.to(tl.int64)), axis=0)
        hi_key = new_hi
    star = hi_key.to(tl.int32)
    e_star = tl.exp(_value(star) - m)
    ties = tl.maximum(tl.ceil((pz - s_hi) / e_star), 1.0)  # inf (all) when e* underflows

    # Pass: total kept weight (float64). Last pass: the first token past u * total.
    total = tl.zeros([BLOCK], tl.float64)
    seen = 0.0
    for start in range(0, V, BLOCK):
        mask = start + offs < V
        x = tl.load(base + start + offs, mask=mask, other=float("-inf")) / temp
        k = _key(x)
        tie = (k == star) & mask
        rank = seen + tl.cumsum(tie.to(tl.float32), axis=0) - 1.0
        seen += tl.sum(tie.to(tl.float32), axis=0)
        kept = (k > star) | (tie & (rank < ties))
        total += tl.where(kept, tl.exp(x - m), 0.0).to(tl.float64)
    target = u * tl.sum(total, axis=0)
    run = tl.sum(tl.zeros([BLOCK], tl.float64), axis=0)
    seen = 0.0
    chosen = V
    last = 0
    for start in range(0, V, BLOCK):
        mask = start + offs < V
        x = tl.load(base + start + offs, mask=mask, other=float("-inf")) / temp
        k = _key(x)
        tie = (k == star) & mask
        rank = seen + tl.cumsum(tie.to(tl.float32), axis=0) - 1.0
        seen += tl.sum(tie.to(tl.float32), axis=0)
        w = tl.where((k > star) | (tie & (rank < ties)), tl.exp(x - m), 0.0).to(tl.float64)
        cdf = run + tl.cumsum(w, axis=0)
        run += tl.sum(w, axis=0)
        idx = start + offs
        chosen = tl.minimum(chosen, tl.min(tl.where((cdf > target) & (w > 0), idx, V), axis=0))
        last = tl.maximum(last, tl.max(tl.where(w > 0, idx, 0), axis=0))
    # Rounding can leave u * total at or past the last step: the last token with weight.
    tl.store(out_ptr + row, tl.where(chosen < V, chosen, last).to(tl.int64))


def top_p_draw(
    logits: torch.Tensor,
    temperature: torch.Tensor,
    top_p: torch.Tensor,
    uniforms: torch.Tensor,
    *,
    block: int = 1024,
    thresholds: int = 16,
) -> torch.Tensor:
    """One token per row of float32 `logits` [B, V]: temperature, top-p (1 = off), then the
    inverse-CDF draw with ``uniforms[b]`` (float64, on any device). Returns int64 [B]."""
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
        BLOCK=block, T=thresholds, num_warps=8,
    )  # fmt: skip
    return out
