"""Per-layer key/value tensors for a left-padded batch of sequences.

Slots, not positions: every row of the batch shares slot indices 0..length-1, and a row
whose prompt is shorter than the longest one starts with padding. ``start[b]`` is the
first real slot of row b, so its token at slot s has position ``s - start[b]`` (RoPE
positions start at 0 at the first real token) and slots before ``start[b]`` are never
attended to. The sliding window ``kv > q - W`` reads the same in slots as in positions,
because within one row the two differ by a constant.

Storage is one [B, Hkv, capacity, D] tensor per layer for keys and one for values; it
grows by doubling, and shrinks when finished rows leave the batch. (A later ring buffer
for sliding layers replaces only this module and the mask built from it.)
"""

from __future__ import annotations

import torch

from evalkit.kv_planning import KVShape
from evalkit.runners.torch_int4.config import SLIDING, Exaone4Config


def kv_shape(cfg: Exaone4Config, dtype: torch.dtype) -> KVShape:
    """The KV cache's shape for `cfg` stored in `dtype`; a layer counts as sliding when it is
    one and the model has a window (the paged cache groups layers by the same rule)."""
    sliding = 0 if cfg.sliding_window is None else sum(t == SLIDING for t in cfg.layer_types)
    return KVShape(
        num_layers=cfg.num_layers,
        num_kv_heads=cfg.num_kv_heads,
        head_dim=cfg.head_dim,
        dtype_bytes=torch.finfo(dtype).bits // 8,
        sliding_layers=sliding,
        sliding_window=cfg.sliding_window,
    )


class KVCache:
    """Keys and values of every layer for the rows of one batch."""

    def __init__(
        self,
        *,
        num_layers: int,
        start: torch.Tensor,
        num_kv_heads: int,
        head_dim: int,
        capacity: int,
        dtype: torch.dtype,
        device: torch.device,
    ):
        batch = start.shape[0]
        shape = (batch, num_kv_heads, max(capacity, 1), head_dim)
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(num_layers)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(num_layers)]
        self.start = start.to(device=device, dtype=torch.long)
        self.length = 0  # slots filled so far, the same for every row

    @property
    def batch_size(self) -> int:
        """Rows currently in the batch."""
        return self.start.shape[0]

    @property
    def capacity(self) -> int:
        """Slots allocated per row."""
        return self.keys[0].shape[2]

    def reserve(self, new_slots: int) -> None:
        """Make room for `new_slots` more slots, doubling the allocation when it runs out."""
        need = self.length + new_slots
        if need <= self.capacity:
            return
        capacity = max(need, 2 * self.capacity)
        for cache in (self.keys, self.values):
            for i, old in enumerate(cache):
                grown = old.new_zeros((*old.shape[:2], capacity, old.shape[3]))
                grown[:, :, : self.length] = old[:, :, : self.length]
                cache[i] = grown

    def write(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store k, v [B, Hkv, T, D] at the next T slots; return all keys and values so far.

        Every layer writes the same slots during one forward; ``advance`` moves on after.
        """
        end = self.length + k.shape[2]
        self.keys[layer][:, :, self.length : end] = k
        self.values[layer][:, :, self.length : end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def advance(self, new_slots: int) -> None:
        """Mark `new_slots` slots as filled (called once per forward, after every layer wrote)."""
        self.length += new_slots

    def keep_rows(self, rows: torch.Tensor) -> None:
        """Keep only `rows` (indices into the batch), so finished sequences stop costing compute.

        Slots that are padding in every remaining row are dropped as well.
        """
        rows = rows.to(self.start.device)
        start = self.start.index_select(0, rows)
        drop = int(start.min()) if rows.numel() else 0
        for cache in (self.keys, self.values):
            for i, old in enumerate(cache):
                cache[i] = old.index_select(0, rows)[:, :, drop:].contiguous()
        self.start = start - drop
        self.length -= drop
