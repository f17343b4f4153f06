"""Paged key/value cache of the fast engine: memory by actual length, shared prefixes.

Layers are grouped so that every group holds the same number of layers (``members``): the
global layers in groups of ``members``, the sliding layers likewise (EXAONE-4.0-32B: 16 global
layers = 1 group, 48 sliding layers = 3 groups of 16). One *block* is ``block_size`` tokens of
the ``members`` layers of one group, so all groups draw on one pool of equal blocks
(``keys[m]`` [blocks + 1, block_size, Hkv, D] is member m's storage in every group; the last
block is scratch, written by the padding rows of a CUDA-graph batch).

A sequence has, per group, a list of blocks: logical block j (tokens j*bs .. j*bs+bs-1) is
entry j. On a sliding group the engine releases the blocks that lie wholly before the window of
every token still to come, so a sequence holds about ``window / bs + 1`` blocks of each sliding
group (plus the chunk being prefilled). The device copy of every sequence's lists is
``tables[g]`` [rows + 1, max_blocks] (int32), one row per running sequence (the last row is
scratch), which the kernels read; entries of released blocks are never read.

Blocks are reference counted. A *full* block of prompt tokens is registered under the hash of
all token ids up to its end; a later sequence with the same tokens takes the registered blocks
(refcount + 1) instead of computing them. Only full blocks are shared and a block is written
only while its tokens are computed, so a shared block is never written: copy-on-write without
a copy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from evalkit.runners.torch_int4.config import SLIDING, Exaone4Config
from evalkit.runners.torch_int4.kv_cache import kv_shape
from evalkit.runners.torch_int4.transfer import upload

DEFAULT_BLOCK_SIZE = 32


@dataclass(frozen=True)
class CacheLayout:
    """How the layers of a model map onto groups of equal blocks."""

    block_size: int
    group_of_layer: tuple[int, ...]
    member_of_layer: tuple[int, ...]
    group_sliding: tuple[bool, ...]
    members: int
    window_blocks: int  # blocks of a sliding group one sequence holds in steady state
    max_blocks: int  # table entries (the longest sequence)
    bytes_per_block: int

    @classmethod
    def build(
        cls, cfg: Exaone4Config, max_seq_len: int, dtype: torch.dtype, block_size: int = DEFAULT_BLOCK_SIZE
    ) -> CacheLayout:
        if block_size < 16 or block_size & (block_size - 1):
            raise ValueError(f"block_size {block_size} must be a power of two >= 16")
        glob = [i for i, t in enumerate(cfg.layer_types) if t != SLIDING or cfg.sliding_window is None]
        slid = [i for i in range(cfg.num_layers) if i not in glob]
        members = math.gcd(len(glob), len(slid)) or max(len(glob), len(slid))
        group_of, member_of = [0] * cfg.num_layers, [0] * cfg.num_layers
        sliding: list[bool] = []
        for layers, is_sliding in ((glob, False), (slid, True)):
            for start in range(0, len(layers), members):
                for m, layer in enumerate(layers[start : start + members]):
                    group_of[layer], member_of[layer] = len(sliding), m
                sliding.append(is_sliding)
        max_blocks = -(-max_seq_len // block_size)
        window = cfg.sliding_window or max_seq_len
        window_blocks = min(-(-window // block_size) + 1, max_blocks)
        per_token = kv_shape(cfg, dtype).layer_token_bytes()
        return cls(
            block_size=block_size,
            group_of_layer=tuple(group_of),
            member_of_layer=tuple(member_of),
            group_sliding=tuple(sliding),
            members=members,
            window_blocks=window_blocks,
            max_blocks=max_blocks,
            bytes_per_block=block_size * members * per_token,
        )

    @property
    def groups(self) -> int:
        return len(self.group_sliding)

    def blocks_for(self, tokens: int) -> int:
        """Blocks one unshared sequence of `tokens` tokens holds."""
        n = -(-tokens // self.block_size)
        return sum(min(n, self.window_blocks) if s else n for s in self.group_sliding)

    def bytes_for(self, tokens: int) -> int:
        return self.blocks_for(tokens) * self.bytes_per_block


@dataclass(frozen=True)
class CachePlan:
    """What the engine sized at start (reported in its log and by the runner)."""

    layout: CacheLayout
    num_blocks: int
    cache_bytes: int
    max_seqs: int
    max_seq_len: int

    def sequences_at(self, tokens: int) -> int:
        """Sequences of `tokens` tokens the cache holds at once (capped by ``max_seqs``)."""
        return min(self.max_seqs, self.num_blocks // max(1, self.layout.blocks_for(tokens)))

    def tokens(self) -> int:
        """Tokens of every layer the cache holds (short sequences: each token in every group)."""
        return self.num_blocks * self.layout.block_size // self.layout.groups

    def summary(self) -> str:
        gib = 1024**3
        typical = ", ".join(f"{self.sequences_at(t)} x {t:,}" for t in (1024, 4096, 32768, self.max_seq_len))
        return (
            f"KV cache {self.cache_bytes / gib:.1f} GiB = {self.num_blocks:,} blocks of "
            f"{self.layout.block_size} tokens ({self.tokens():,} tokens at every layer); "
            f"sequences at once (cap {self.max_seqs}): {typical}"
        )


class BlockPool:
    """Free list, reference counts and the prefix registry of the cache's blocks.

    A released block that holds a registered prefix is kept as it is (``cached``, oldest
    first) until a fresh block is needed: until then a later sequence with that prefix can
    still take it (a sliding layer's first blocks leave the window early, a prompt's last
    repeat may come after the first finished)."""

    def __init__(self, num_blocks: int):
        self.free: list[int] = list(range(num_blocks - 1, -1, -1))
        self.cached: dict[int, None] = {}  # unreferenced registered blocks, oldest first
        self.refs = [0] * num_blocks
        self.hash_of: dict[int, int] = {}  # block -> prefix hash it holds
        self.by_hash: dict[int, list[int]] = {}  # prefix hash -> block per group (-1: none)
        self.ready: set[int] = set()  # registered blocks whose keys/values are computed

    @property
    def available(self) -> int:
        return len(self.free) + len(self.cached)

    def take(self) -> int:
        if self.free:
            block = self.free.pop()
        else:
            block = next(iter(self.cached))
            del self.cached[block]
            self.forget(block)
        self.refs[block] = 1
        return block

    def share(self, block: int) -> None:
        if self.refs[block] == 0:
            del self.cached[block]
        self.refs[block] += 1

    def release(self, block: int) -> None:
        self.refs[block] -= 1
        if self.refs[block] == 0:
            if block in self.ready:
                self.cached[block] = None
            else:
                self.forget(block)
                self.free.append(block)

    def drop_cached(self) -> None:
        """Free every cached block: later sequences compute their prompts again (benchmarks
        that run one workload twice, each from a cold cache)."""
        for block in list(self.cached):
            self.forget(block)
            self.free.append(block)
        self.cached.clear()

    def forget(self, block: int) -> None:
        """`block` is about to hold other tokens: it no longer serves its prefix."""
        self.ready.discard(block)
        h = self.hash_of.pop(block, None)
        if h is not None:
            entry = self.by_hash.get(h)
            if entry is not None:
                entry[:] = [-1 if b == block else b for b in entry]

    def register(self, h: int, group: int, groups: int, block: int) -> None:
        entry = self.by_hash.setdefault(h, [-1] * groups)
        old = entry[group]
        if old >= 0 and self.hash_of.get(old) == h and old != block:
            return  # another sequence registered these tokens first; keep its block
        entry[group] = block
        self.hash_of[block] = h

    def lookup(self, h: int, group: int) -> int:
        """The live block holding prefix `h` in `group`, or -1."""
        entry = self.by_hash.get(h)
        if entry is None:
            return -1
        b = entry[group]
        return b if b >= 0 and self.hash_of.get(b) == h else -1


def prefix_hashes(ids: Sequence[int], block_size: int, full_blocks: int) -> list[int]:
    """Hash of tokens 0..(j+1)*bs-1 for each of the first `full_blocks` blocks (a chain)."""
    out: list[int] = []
    h = 0
    for j in range(full_blocks):
        h = hash((h, tuple(ids[j * block_size : (j + 1) * block_size])))
        out.append(h)
    return out


class PagedKVCache:
    """The block storage of every layer and the device block tables (see the module docstring)."""

    def __init__(
        self,
        cfg: Exaone4Config,
        layout: CacheLayout,
        num_blocks: int,
        rows: int,
        dtype: torch.dtype,
        device: torch.device,
    ):
        self.cfg, self.layout, self.num_blocks, self.rows = cfg, layout, num_blocks, rows
        shape = (num_blocks + 1, layout.block_size, cfg.num_kv_heads, cfg.head_dim)
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(layout.members)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(layout.members)]
        self.tables = torch.full(
            (layout.groups, rows + 1, layout.max_blocks), num_blocks, dtype=torch.int32, device=device
        )
        self._pending: list[tuple[int, int, int, int]] = []

    @property
    def scratch_row(self) -> int:
        return self.rows

    def layer_cache(self, layer: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int, int | None]:
        """(keys, values, table, group, window) of one layer, for the attention kernels."""
        lay = self.layout
        g, m = lay.group_of_layer[layer], lay.member_of_layer[layer]
        window = self.cfg.sliding_window if lay.group_sliding[g] else None
        return self.keys[m], self.values[m], self.tables[g], g, window

    def set_entry(self, group: int, row: int, col: int, block: int) -> None:
        """Queue a table write; ``flush`` sends the queued ones to the device in one copy."""
        self._pending.append((group, row, col, block))

    def flush(self) -> None:
        if not self._pending:
            return
        t = upload(self._pending, torch.long, self.tables.device).t()
        self._pending.clear()
        self.tables.index_put_((t[0], t[1], t[2]), t[3].to(torch.int32))

    def token_index(self, group: int, rows: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Flat index (block * block_size + offset) of each (row, position) in `group`'s storage."""
        bs = self.layout.block_size
        pos = positions.long()
        block = self.tables[group][rows.long(), pos // bs].long()
        return block * bs + pos % bs

    @classmethod
    def contiguous(
        cls,
        cfg: Exaone4Config,
        rows: int,
        max_len: int,
        dtype: torch.dtype,
        device: torch.device,
        block_size: int = DEFAULT_BLOCK_SIZE,
    ) -> PagedKVCache:
        """A cache in which row r owns blocks r*n .. r*n+n-1 of every group outright (no engine
        managing blocks: scoring one prompt, checks and benchmarks of the model alone)."""
        layout = CacheLayout.build(cfg, max_len, dtype, block_size)
        n = layout.max_blocks
        cache = cls(cfg, layout, rows * n * layout.groups, rows, dtype, device)
        blocks = torch.arange(rows * n * layout.groups, dtype=torch.int32, device=device)
        cache.tables[:, :rows] = blocks.view(layout.groups, rows, n)
        return cache
