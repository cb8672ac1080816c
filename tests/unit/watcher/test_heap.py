"""The watcher's heap: a settle collects and freezes what survives, a batch freezes what it left
alive, and a full settle comes again only when idle and ``every`` seconds after the last."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from kposture.watcher.heap import Heap


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Iterator[Clock]:
    yield Clock()
    gc.unfreeze()


class Node:
    def __init__(self) -> None:
        self.me = self


def test_settle_collects_cycles_and_freezes_the_rest(clock: Clock) -> None:
    heap = Heap(every=60, clock=clock)
    heap.settle()  # a cycle frozen earlier is collected by the next settle
    cycle = weakref.ref(Node())
    gc.freeze()
    assert cycle() is not None
    heap.settle()
    assert cycle() is None
    assert gc.get_freeze_count() > 0
    heap.release()
    assert gc.get_freeze_count() == 0


def test_a_batch_freezes_what_it_left_and_settles_only_when_idle_and_due(clock: Clock) -> None:
    heap = Heap(every=60, clock=clock)
    heap.settle()
    before = gc.get_freeze_count()
    left = [[i] for i in range(1000)]  # a batch's survivors
    heap.after_batch(idle=True)
    assert heap.settles == 1
    assert gc.get_freeze_count() >= before + len(left)
    clock.now += 60
    heap.after_batch(idle=False)  # events are waiting: not now
    assert heap.settles == 1
    heap.after_batch(idle=True)
    assert heap.settles == 2


def test_no_settle_before_the_first(clock: Clock) -> None:
    heap = Heap(every=0, clock=clock)
    heap.after_batch(idle=True)
    assert heap.settles == 0
