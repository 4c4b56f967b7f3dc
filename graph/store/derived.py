"""The one cache of what is derived from the data: typed entries per data version, built once, bounded per kind.

Everything the service computes from loaded data (the folded pairs of each run, the facts of a data
version and of its views, projections, answers, export manifests) lives here, keyed by
``(kind, version, key)``. :meth:`Derived.get_or_build` builds a missing entry at most once at a time
per key (other keys are not held up), and keeps it only while its version is still wanted, so a build
that a commit overtook never evicts newer entries. Each kind declares its bound; entries of a version
no longer current are dropped by :meth:`Derived.keep`.

Readers never take a lock: a lookup is one dictionary read.
"""

from __future__ import annotations

import enum
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

__all__ = ["Derived", "Kind", "View", "is_current"]

T = TypeVar("T")


class Kind(enum.Enum):
    """What an entry is, with the most entries of its kind kept (None: as many as there are runs current)."""

    RUN = None  # the folded pairs of one run of a source, keyed by run id (version unused)
    FACTS = 4  # the facts of a data version, per view
    PSEUDONYMS = 2  # the readers' pseudonyms of a data version
    PROJECTION = 8  # a networkx projection of some facts
    ANSWER = 512  # an HTTP answer's body, by view and request path
    MANIFEST = 64  # an export's manifest, by view and request path

    def __init__(self, bound: int | None) -> None:
        self.bound = bound


class View(enum.Enum):
    """Whose view of the data a derived entry belongs to."""

    REAL = ""
    PSEUDONYMISED = "~pseudonymised"

    @property
    def suffix(self) -> str:
        """What a view's facts add to the data version they were built from (their ``Facts.version``)."""
        return self.value


def is_current(version: str, data_version: str) -> bool:
    """Whether facts of `version` (a data version and a view's suffix) are of the data version `data_version`:
    the one test of whether an entry built from them may be kept, for every kind and view.

    Parameters
    ----------
    version : str
        A version of the facts (``Facts.version``): a data version followed by a view's suffix (:class:`View`).
    data_version : str
        The store's data version now.
    """
    return any(version == data_version + view.suffix for view in View)


class Derived:
    """Entries by kind, each kind an insertion-ordered map of ``(version, key)`` to value, oldest first."""

    def __init__(self) -> None:
        self._entries: dict[Kind, OrderedDict[tuple[str, Hashable], Any]] = {kind: OrderedDict() for kind in Kind}
        self._lock = threading.Lock()  # guards writes; reads go without
        self._building: dict[tuple[Kind, str, Hashable], threading.Lock] = {}

    def get(self, kind: Kind, version: str, key: Hashable = None) -> Any:
        """The entry, or None.

        Parameters
        ----------
        kind : Kind
            What is looked up.
        version : str
            The data version (or run id, for :attr:`Kind.RUN`) it belongs to.
        key : hashable
            What tells entries of one kind and version apart (a view, a projection's key, a request path).
        """
        return self._entries[kind].get((version, key))

    def put(self, kind: Kind, version: str, key: Hashable, value: Any) -> None:
        """Keep `value`, dropping the oldest entries of its kind beyond the kind's bound.

        Parameters
        ----------
        kind, version, key
            As for :meth:`get`.
        value
            What is kept.
        """
        with self._lock:
            entries = self._entries[kind]
            entries[(version, key)] = value
            entries.move_to_end((version, key))
            while kind.bound is not None and len(entries) > kind.bound:
                entries.popitem(last=False)

    def get_or_build(self, kind: Kind, version: str, key: Hashable, build: Callable[[], T],
                     keep: Callable[[], bool] = lambda: True) -> T:
        """The entry, built by `build` if missing; one build at a time per entry, others wait for it.

        Parameters
        ----------
        kind, version, key
            As for :meth:`get`.
        build : callable
            Makes the value (called with no lock held but the entry's own).
        keep : callable
            Asked once the value is built: whether it is still worth keeping (false when a commit made
            its version stale while it was built; the value is returned all the same).
        """
        found = self.get(kind, version, key)
        if found is not None:
            return found  # type: ignore[no-any-return]
        with self._lock:
            lock = self._building.setdefault((kind, version, key), threading.Lock())
        try:
            with lock:
                found = self.get(kind, version, key)
                if found is not None:
                    return found  # type: ignore[no-any-return]
                built = build()
                if keep():
                    self.put(kind, version, key, built)
                return built
        finally:
            with self._lock:
                self._building.pop((kind, version, key), None)

    def keep(self, version: str, runs: Iterable[str]) -> bool:
        """Drop every entry not of data `version` (in any view) and every run not in `runs`.

        Parameters
        ----------
        version : str
            The data version now current.
        runs : iterable of str
            The runs current in it.

        Returns
        -------
        Whether anything was dropped.
        """
        wanted = {version + view.suffix for view in View}
        current = set(runs)
        dropped = False
        with self._lock:
            for kind, entries in self._entries.items():
                stale = [k for k in entries if (k[0] not in current if kind is Kind.RUN else k[0] not in wanted)]
                for k in stale:
                    del entries[k]
                dropped = dropped or bool(stale)
        return dropped

    def clear(self) -> None:
        """Forget everything (the next request rebuilds what it needs)."""
        with self._lock:
            for entries in self._entries.values():
                entries.clear()

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._entries.values())
