"""Which rows of a decode batch share their first KV blocks, for the decode attention's shared-
prefix path (``kernels.attention.SharedPrefix``).

Rows share blocks when their sequences took the same registered prompt blocks (the repeats of
one prompt, a common system prompt or few-shot block). Each row's key is its run of leading
blocks (first global group) that other sequences hold too (reference count above one); rows
with the same key form a group. So the 16 repeats of a prompt group over the whole prompt even
when every prompt of the run starts with the same system prompt, and prompts that share only
that system prompt group over it. A group's prefix is the longest run of leading blocks that
every member holds in every cache group of a kind (global layers; sliding layers, where a
released block, -1, ends the run), below the block that any member writes now. Groups larger
than ``max_members`` are cut into pieces, single rows are left alone, and at most
``max_groups`` groups are kept (those that save the most reads).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from evalkit.runners.torch_int4.kernels.attention import SharedPrefix
from evalkit.runners.torch_int4.transfer import upload


@dataclass(frozen=True)
class PrefixGroups:
    """The host form of ``SharedPrefix``: per group (table row, first member, members, global
    prefix tokens, sliding prefix tokens); the members, group after group; per batch row the
    prefix tokens it takes on global and on sliding layers."""

    groups: list[tuple[int, int, int, int, int]]
    members: list[int]
    skip: tuple[list[int], list[int]]

    def flat(self, max_groups: int, rows: int) -> list[int]:
        """``SharedPrefix``'s layout as one int32 list: groups [1 + 5 max_groups] (the count in
        use, then five rows, unused entries 0), members [rows] and skip [2, rows] (padded with 0)."""
        cols = [list(c) for c in zip(*self.groups, strict=True)] if self.groups else [[] for _ in range(5)]
        out = [len(self.groups)]
        for c in cols:
            out += c + [0] * (max_groups - len(c))
        out += self.members + [0] * (rows - len(self.members))
        for s in self.skip:
            out += s + [0] * (rows - len(s))
        return out


def _run(lists: Sequence[Sequence[int]], lead: Sequence[int], upto: int) -> int:
    """Leading entries (at most `upto`) every list shares with `lead`, none of them -1."""
    n = min(upto, len(lead))
    for j in range(n):
        if lead[j] < 0:
            return j
    for blocks in lists:
        if len(blocks) < n:
            n = len(blocks)
        if list(blocks[:n]) != list(lead[:n]):
            n = next(j for j in range(n) if blocks[j] != lead[j])
    return n


def find_groups(
    blocks: Sequence[Sequence[Sequence[int]]],
    rows: Sequence[int],
    positions: Sequence[int],
    sliding: Sequence[bool],
    refs: Sequence[int],
    *,
    block_size: int,
    max_members: int,
    max_groups: int,
) -> PrefixGroups | None:
    """Groups of the batch whose row b holds ``blocks[b][g]`` in cache group g (-1: released),
    sits in table row ``rows[b]`` and writes position ``positions[b]``; ``refs[block]``: the
    sequences holding a block. None when no two rows share a block."""
    glob = [g for g, s in enumerate(sliding) if not s]
    slid = [g for g, s in enumerate(sliding) if s]
    by_key: dict[tuple[int, ...], list[int]] = {}
    for b, per_group in enumerate(blocks):
        first = per_group[glob[0]]
        k = 0
        while k < len(first) and first[k] >= 0 and refs[first[k]] > 1:
            k += 1
        if k:
            by_key.setdefault(tuple(first[:k]), []).append(b)
    found: list[tuple[int, list[int], int, int]] = []
    for key, group in by_key.items():
        for at in range(0, len(group), max_members):
            piece = group[at : at + max_members]
            if len(piece) < 2:
                continue
            lead = blocks[piece[0]]
            upto = min([len(key)] + [positions[b] // block_size for b in piece])
            n_glob = min(_run([blocks[b][g] for b in piece], lead[g], upto) for g in glob)
            if n_glob == 0:
                continue
            n_slid = min((_run([blocks[b][g] for b in piece], lead[g], n_glob) for g in slid), default=0)
            found.append((len(piece) * n_glob, piece, n_glob, n_slid))
    if not found:
        return None
    found.sort(key=lambda f: -f[0])
    skip_g, skip_s = [0] * len(blocks), [0] * len(blocks)
    groups: list[tuple[int, int, int, int, int]] = []
    members: list[int] = []
    for _, piece, n_glob, n_slid in found[:max_groups]:
        groups.append((rows[piece[0]], len(members), len(piece), n_glob * block_size, n_slid * block_size))
        members += piece
        for b in piece:
            skip_g[b], skip_s[b] = n_glob * block_size, n_slid * block_size
    return PrefixGroups(groups, members, (skip_g, skip_s))


def shared_prefix_views(buffer: torch.Tensor, max_groups: int, rows: int, max_members: int) -> SharedPrefix:
    """The ``SharedPrefix`` of views into a flat int32 `buffer` in ``PrefixGroups.flat``'s
    layout (a CUDA graph reads the views; the engine copies each step's groups into it)."""
    n = 1 + 5 * max_groups
    return SharedPrefix(
        buffer[:n], buffer[n : n + rows], buffer[n + rows : n + 3 * rows].view(2, rows), max_members
    )


def to_device(found: PrefixGroups, max_members: int, device: torch.device) -> SharedPrefix:
    """The ``SharedPrefix`` of `found` (eager decode steps: shapes of this batch)."""
    g, rows = max(1, len(found.groups)), len(found.skip[0])
    buffer = upload(found.flat(g, rows), torch.int32, device)
    return shared_prefix_views(buffer, g, rows, max_members)
