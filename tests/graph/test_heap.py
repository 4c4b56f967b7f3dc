"""Builds keep the cycle collector off while they run, freeze what they built, and always turn it back on."""

from __future__ import annotations

import gc
import threading

import pytest

from graph.store import heap


def test_a_build_pauses_collection_and_freezes_what_it_built() -> None:
    assert gc.isenabled()
    try:
        with heap.building():
            assert not gc.isenabled()
            with heap.building():  # nested (or another thread's) build: still off when the inner one ends
                pass
            assert not gc.isenabled()
            kept = [[i] for i in range(1000)]
        assert gc.isenabled() and gc.get_freeze_count() >= len(kept)
        heap.dropped()
        assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()


def test_a_failed_build_turns_collection_back_on() -> None:
    with pytest.raises(RuntimeError), heap.building():
        raise RuntimeError("failed")
    assert gc.isenabled()
    gc.unfreeze()


def test_overlapping_builds_in_two_threads() -> None:
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        with heap.building():
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    inside.wait(10)
    with heap.building():
        pass
    assert not gc.isenabled()  # the other thread is still building
    release.set()
    thread.join(10)
    assert gc.isenabled()
    gc.unfreeze()
