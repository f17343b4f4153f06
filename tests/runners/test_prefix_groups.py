"""Which rows of a decode batch share a prefix (``prefix_groups.find_groups``), on block lists."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import torch

from evalkit.runners.torch_int4.prefix_groups import PrefixGroups, find_groups, to_device

SLIDING = (False, True)  # cache group 0 global, group 1 sliding
BS = 16


def refs_of(blocks: Sequence[Sequence[Sequence[int]]]) -> list[int]:
    """Reference counts as the pool keeps them: one per sequence holding a block."""
    count = Counter(b for row in blocks for per_group in row for b in per_group if b >= 0)
    return [count[i] for i in range(100)]


def find(blocks: list[list[list[int]]], positions: list[int], **kw: int) -> PrefixGroups | None:
    limits = {"max_members": 8, "max_groups": 4, **kw}
    rows = list(range(len(blocks)))
    return find_groups(blocks, rows, positions, SLIDING, refs_of(blocks), block_size=BS, **limits)


def test_rows_are_grouped_by_their_deepest_shared_run() -> None:
    """Rows 0, 2, 4 repeat one prompt (blocks 10, 11, 12); rows 1 and 3 repeat another (10,
    20): every prompt starts with the same system-prompt block 10, yet the repeats group over
    their whole shared prompt. Row 5 is alone; on the sliding group row 4 has released its
    first block (-1), so its group shares nothing there."""
    blocks = [
        [[10, 11, 12, 50], [30, 31, 32, 60]],
        [[10, 20, 51], [40, 41, 61]],
        [[10, 11, 12, 52], [30, 31, 32, 62]],
        [[10, 20, 53], [40, 41, 63]],
        [[10, 11, 12, 54], [-1, 31, 32, 64]],
        [[70, 71], [80, 81]],
    ]
    rows = [7, 3, 5, 0, 2, 1]
    positions = [60, 40, 55, 33, 62, 25]
    found = find_groups(
        blocks, rows, positions, SLIDING, refs_of(blocks), block_size=BS, max_members=8, max_groups=4
    )
    assert found is not None
    # the larger saving first: 3 rows x 3 blocks, then 2 rows x 2 blocks
    assert found.groups == [(7, 0, 3, 48, 0), (3, 3, 2, 32, 32)]
    assert found.members == [0, 2, 4, 1, 3]
    assert found.skip == ([48, 32, 48, 32, 48, 0], [0, 32, 0, 32, 0, 0])
    columns = [[7, 3], [0, 3], [3, 2], [48, 32], [0, 32]]  # 2 groups in use, 5 rows of 4 entries
    per_row = [[0, 2, 4, 1, 3], [48, 32, 48, 32, 48], [0, 32, 0, 32, 0]]  # members, skips
    want = [2] + [v for c in columns for v in [*c, 0, 0]] + [v for r in per_row for v in [*r, 0]]
    assert found.flat(4, 6) == want
    shared = to_device(found, 8, torch.device("cpu"))
    assert shared.max_groups == 2 and shared.groups[1:].view(5, 2).tolist()[2] == [3, 2]
    assert shared.skip.tolist() == [list(s) for s in found.skip]
    # prompts that share only the system-prompt block group over it
    only_system = [blocks[0], blocks[1], blocks[5]]
    found = find(only_system, [60, 40, 25])
    assert found is not None and found.groups == [(0, 0, 2, 16, 0)] and found.members == [0, 1]


def test_prefix_stops_below_the_block_a_row_writes_and_limits_hold() -> None:
    """Identical lists: the prefix ends below the block of the lowest position; a group larger
    than max_members is cut (a piece of one row is left alone); max_groups keeps the best."""
    same = [[1, 2, 3, 4], [5, 6, 7, 8]]
    found = find([same, same], [40, 63])
    assert found is not None and found.groups == [(0, 0, 2, 32, 32)]  # position 40 writes block 2
    cut = find([same] * 5, [63] * 5, max_members=2)
    assert cut is not None and [g[2] for g in cut.groups] == [2, 2] and cut.members == [0, 1, 2, 3]
    assert cut.skip[0] == [48, 48, 48, 48, 0]
    one = find([same] * 5, [63] * 5, max_members=2, max_groups=1)
    assert one is not None and len(one.groups) == 1
    assert find([same, [[9, 2], [5, 6]]], [63, 63]) is None  # no common first block
    assert find([same], [63]) is None
    assert find([same, same], [63, 5]) is None  # a row still inside its first block
