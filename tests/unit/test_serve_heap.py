"""`jts-broker serve` takes what it built at startup out of the garbage collector's walks."""

from __future__ import annotations

import gc

from jts_broker.cli.serve import freeze_startup_heap


class Bar:  # stands for a replayed market's immutable bars: tracked by the collector
    pass


def test_objects_alive_at_startup_are_frozen_and_later_ones_are_collected_as_ever():
    before = [Bar() for _ in range(1_000)]
    try:
        frozen = freeze_startup_heap()
        after = Bar()
        tracked = {id(o) for o in gc.get_objects()}
        assert frozen >= 1_000 and not any(id(b) in tracked for b in before)  # no full collection walks them again
        assert id(after) in tracked
        cycle: list[object] = []
        cycle.append(cycle)  # garbage made after startup is still found
        del cycle
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()  # this test process goes on as before
