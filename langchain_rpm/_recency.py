"""Time on history items: parsing timestamps, chronological order, recency weights and the recent window.

An item may carry a ``time`` (ISO 8601 text, or a number of seconds since 1970; LaMP's ``date`` key is
read as it). Order is by time; an item without one keeps its place after the timed item before it
(so a history with no times keeps its given order). Recency weights decay exponentially with an
item's *age in interactions* (how many items came after it), not in days: ``weight = 0.5 ** (age /
half_life)``, so the newest item weighs 1 and the one ``half_life`` items older weighs 1/2.

Example:
    >>> from langchain_rpm.types import HistoryItem
    >>> items = [HistoryItem(id="b", input="x", response="1", time=parse_time("2024-05-02")),
    ...          HistoryItem(id="a", input="y", response="2", time=parse_time(1704067200))]
    >>> [item.id for item in chronological(items)]
    ['a', 'b']
    >>> recency_weights(["a", "b", "c"], half_life=1.0)
    {'a': 0.25, 'b': 0.5, 'c': 1.0}
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol, TypeVar


class Timed(Protocol):
    """Anything with an optional ``time`` (history items and stored examples)."""

    @property
    def time(self) -> datetime | None:
        """When it happened, if known."""


T = TypeVar("T", bound=Timed)


def parse_time(value: object, *, lamp_date: bool = False) -> datetime:
    """A timestamp from ISO 8601 text (a date alone is midnight; no zone means UTC) or epoch seconds.

    ``lamp_date``: the value is a LaMP ``date``, which may also be a year (``2008`` or ``"2008"``) or a
    year and month (``"2008-05"``); a number there is a year, not epoch seconds. Raises ``ValueError``
    with a one-line reason; callers add which item it was.

    Example:
        >>> parse_time("2024-03-01T12:30:00+02:00").isoformat()
        '2024-03-01T10:30:00+00:00'
        >>> parse_time(2008, lamp_date=True).isoformat(), parse_time("2011-03", lamp_date=True).isoformat()
        ('2008-01-01T00:00:00+00:00', '2011-03-01T00:00:00+00:00')
        >>> parse_time("20 March").isoformat()
        Traceback (most recent call last):
        ...
        ValueError: '20 March' is not an ISO 8601 time (e.g. 2024-03-01 or 2024-03-01T12:30:00Z) nor epoch seconds
    """
    partial = re.fullmatch(r"(\d{4})(?:-(\d{1,2}))?", str(value).strip()) if lamp_date else None
    if partial and not isinstance(value, bool | float):
        try:
            return datetime(int(partial[1]), int(partial[2] or 1), 1, tzinfo=UTC)
        except ValueError:
            raise ValueError(f"{value!r} is not a date such as 2011-03-25, 2011-03 or a year") from None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            moment = datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{value!r} is out of range for epoch seconds") from None
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            moment = datetime.fromtimestamp(float(text), UTC) if _is_number(text) else datetime.fromisoformat(text)
        except (OverflowError, OSError, ValueError):
            raise ValueError(
                f"{value!r} is not an ISO 8601 time (e.g. 2024-03-01 or 2024-03-01T12:30:00Z) nor epoch seconds"
            ) from None
    else:
        raise ValueError(f"a time is ISO 8601 text or epoch seconds, got {type(value).__name__}")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def chronological(items: Sequence[T]) -> list[T]:
    """``items`` oldest first: by time, ties and untimed items in their given order (see the module doc).

    Example:
        >>> from langchain_rpm.types import HistoryItem
        >>> items = [HistoryItem(id=i, input="x", response="1", time=t) for i, t in
        ...          [("late", parse_time(200)), ("untimed", None), ("early", parse_time(100))]]
        >>> [item.id for item in chronological(items)]
        ['early', 'late', 'untimed']
    """
    keys: list[tuple[float, int]] = []
    last = float("-inf")
    for position, item in enumerate(items):
        if item.time is not None:
            last = item.time.timestamp()
        keys.append((last, position))
    order = sorted(range(len(items)), key=lambda i: keys[i])
    return [items[i] for i in order]


def recency_weights(ordered_ids: Sequence[str], half_life: float | None) -> dict[str, float]:
    """Each id's weight ``0.5 ** (age / half_life)`` (age = items after it); all 1.0 when ``half_life`` is None.

    ``ordered_ids`` are oldest first (:func:`chronological`).

    Example:
        >>> recency_weights(["old", "new"], None)
        {'old': 1.0, 'new': 1.0}
    """
    last = len(ordered_ids) - 1
    if half_life is None:
        return dict.fromkeys(ordered_ids, 1.0)
    return {item_id: 0.5 ** ((last - i) / half_life) for i, item_id in enumerate(ordered_ids)}


def recent_ids(ordered_ids: Sequence[str], window: int) -> list[str]:
    """The ``window`` newest ids (all of them when there are fewer).

    Example:
        >>> recent_ids(["a", "b", "c"], 2)
        ['b', 'c']
    """
    return list(ordered_ids[-window:]) if window > 0 else []
