"""RULER's needle keys: every "adjective-noun" pair of the wonderwords lists, sorted and
deduplicated, as `sorted(set(f"{adj}-{noun}" ...))` gives them (6.2M strings).

Building that list takes about a minute of CPU, yet sampling only needs its length and
its k-th item (`random.choice`), so `PairList` computes items on demand. Most blocks
"adj-*" are contiguous in the sorted order, since "-" sorts before every letter; only
adjectives whose "adj-" is a prefix of another adjective (e.g. "well" and "well-known")
can interleave, and those few groups are merged and sorted explicitly.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import overload


class PairList(Sequence[str]):
    """The sorted, deduplicated list of f"{adj}-{noun}", indexable without materialising it."""

    def __init__(self, adjectives: Sequence[str], nouns: Sequence[str]):
        self._nouns = sorted(set(nouns))
        heads = sorted({f"{a}-" for a in adjectives})
        # Group heads where one is a prefix of a later one: their strings can interleave.
        groups: list[list[str]] = []
        for h in heads:
            if groups and h.startswith(groups[-1][0]):
                groups[-1].append(h)
            else:
                groups.append([h])
        self._blocks: list[str | list[str]] = []  # a head (contiguous block) or merged strings
        starts = [0]
        for g in groups:
            if len(g) == 1:
                self._blocks.append(g[0])
                starts.append(starts[-1] + len(self._nouns))
            else:
                merged = sorted({h + n for h in g for n in self._nouns})
                self._blocks.append(merged)
                starts.append(starts[-1] + len(merged))
        self._starts = starts

    def __len__(self) -> int:
        return self._starts[-1]

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        b = bisect.bisect_right(self._starts, i) - 1
        block, off = self._blocks[b], i - self._starts[b]
        return block[off] if isinstance(block, list) else block + self._nouns[off]
