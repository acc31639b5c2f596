"""The activation placement (ooc_sdk/lower/memplan.py): valid, never below the lower bound, and
stopped early at a target only when the tightest placement is within it."""

from __future__ import annotations

import random

from ooc_sdk.lower.memplan import Buffer, lower_bound, place


def _random_buffers(rng: random.Random) -> list[Buffer]:
    out = []
    for i in range(rng.randint(1, 40)):
        first = rng.randint(0, 30)
        out.append(Buffer([i], rng.randint(1, 64) * 4, first, first + rng.randint(0, 8)))
    return out


def _overlaps(buffers: list[Buffer], offsets: dict[int, int]) -> list[tuple[int, int]]:
    bad = []
    for i, a in enumerate(buffers):
        for b in buffers[i + 1 :]:
            live = a.first <= b.last and b.first <= a.last
            oa, ob = offsets[a.tensors[0]], offsets[b.tensors[0]]
            if live and oa < ob + b.size and ob < oa + a.size:
                bad.append((a.tensors[0], b.tensors[0]))
    return bad


def test_placements_are_valid_and_a_target_changes_only_when_to_stop() -> None:
    rng = random.Random(7)
    for _ in range(120):
        buffers = _random_buffers(rng)
        offsets, arena, _ = place(buffers)
        assert not _overlaps(buffers, offsets)
        assert arena >= lower_bound(buffers)
        assert arena == max(offsets[b.tensors[0]] + b.size for b in buffers)
        target = rng.randint(arena // 2, arena * 2)
        t_offsets, t_arena, _ = place(buffers, target)
        assert not _overlaps(buffers, t_offsets)
        if arena <= target:
            assert t_arena <= target  # a placement within the target is found
        else:
            assert t_arena == arena  # none within it: the tightest, as without a target


def test_disjoint_lifetimes_share_memory() -> None:
    buffers = [Buffer([0], 400, 0, 1), Buffer([1], 400, 2, 3), Buffer([2], 100, 1, 2)]
    offsets, arena, _ = place(buffers)
    assert arena == lower_bound(buffers) == 500
    assert offsets[0] == offsets[1]
