"""Partial dates (``2016``, ``2016-03``, ``2016-03-01``, a date-time) as the intervals they can mean."""

from __future__ import annotations

import re

__all__ = ["lower", "upper", "overlap"]

_DAY = re.compile(r"^-?[0-9]{4}(?:-[0-9]{2}(?:-[0-9]{2})?)?")


def _day(date: str | None) -> str | None:
    """The date part of a date, year-month, year or date-time, without time or timezone."""
    found = _DAY.match(date) if date else None
    return found.group(0) if found else None


def lower(date: str | None) -> str | None:
    """The first day a partial date (``2016``, ``2016-03``, ``2016-03-01``, a date-time) can mean."""
    day = _day(date)
    return day + "-01-01"[len(day.lstrip("-")) - 4:] if day and len(day.lstrip("-")) < 10 else day


def upper(date: str | None) -> str | None:
    """The last day a partial date can mean (months end on the 31st: only the order matters)."""
    day = _day(date)
    return day + "-12-31"[len(day.lstrip("-")) - 4:] if day and len(day.lstrip("-")) < 10 else day


def overlap(a: tuple[str | None, str | None], b: tuple[str | None, str | None]) -> tuple[str | None, str | None] | None:
    """The overlap of two intervals of partial dates (None ends are open), or None if they are disjoint.

    Parameters
    ----------
    a, b : tuple of (str or None, str or None)
        ``(start, end)`` as partial dates (``2016``, ``2016-03``...); None for an open end.

    Returns
    -------
    ``(first day, last day)`` as full dates (either None where both intervals are open at that end), or None.
    """
    lo = max((x for x in (lower(a[0]), lower(b[0])) if x), default=None)
    hi = min((x for x in (upper(a[1]), upper(b[1])) if x), default=None)
    if lo and hi and lo > hi:
        return None
    return lo, hi
