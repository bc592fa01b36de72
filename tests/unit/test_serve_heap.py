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


def test_serve_freezes_its_heap_once_the_server_is_up(monkeypatch):
    from jts_broker.cli import serve
    from jts_broker.cli.main import main

    calls: list[str] = []
    monkeypatch.setattr(serve, "freeze_startup_heap", lambda: calls.append("freeze") or 0)  # this test process stays unfrozen

    def stop_at_once(stop, banner):  # instead of waiting for a signal
        calls.append("serving" if "serving on" in banner else banner)
        stop()
        return 0

    monkeypatch.setattr(serve, "run_until_signalled", stop_at_once)
    assert main(["serve", "--port", "0", "--speed", "60"]) == 0
    assert calls == ["freeze", "serving"]  # frozen after the market is built and the port bound, before the banner
