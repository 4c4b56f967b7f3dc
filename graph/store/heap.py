"""Keeping Python's cycle collector off the large structures the service builds and keeps.

Facts and projections of a real dataset are millions of dictionaries, tuples and
records that live as long as their data version. CPython's cycle collector
scans every tracked object in each full collection, and building them triggers
many collections: on Chicago, a third of the co-accusal projection's build and
two thirds of a co-accused answer's time went to scanning them again and again.

So a build runs with automatic collection off (:func:`building`) and ends by
freezing what is alive into the collector's permanent generation
(``gc.freeze``), where later collections do not look. Reference counting still
frees frozen objects that are no longer used; only cycles among them would
stay, so when a cache drops what it built, :func:`dropped` unfreezes
everything and the next full collection finds them.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["building", "dropped"]

_lock = threading.Lock()
_builds = 0
_was_enabled = True


@contextmanager
def building() -> Iterator[None]:
    """Build something large and long-lived: no automatic collection meanwhile, then freeze the heap."""
    global _builds, _was_enabled
    with _lock:
        if _builds == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _builds += 1
    try:
        yield
    finally:
        with _lock:
            _builds -= 1
            if _builds == 0:
                gc.freeze()
                if _was_enabled:
                    gc.enable()


def dropped() -> None:
    """A cache let go of built structures: let the collector look at everything again."""
    gc.unfreeze()
