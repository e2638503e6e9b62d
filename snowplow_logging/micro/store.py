"""The local collector's memory: a bounded, thread-safe history of good and bad events.

Request threads call :meth:`EventStore.add`; readers (the REST endpoints, tests)
query and wait on the same :class:`threading.Condition`, so a test can wait for
events without polling. Counts keep counting after the history is full.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import TypeVar

from snowplow_logging._exceptions import ConfigurationError, ConfigurationTypeError
from snowplow_logging.micro.events import BadEvent, GoodEvent
from snowplow_logging.micro.filters import EventFilter

__all__ = ["EventStore"]


class EventStore:
    """Good and bad events, newest kept, oldest dropped past ``history``.

    Args:
        history: how many events of each kind (good, bad) to keep; 0 keeps none
            but still counts them.

    Raises:
        ConfigurationError: ``history`` is negative.
    """

    def __init__(self, *, history: int = 10_000) -> None:
        if type(history) is not int:
            msg = f"'history' must be an int (got {history!r})."
            raise ConfigurationTypeError(msg)
        if history < 0:
            msg = f"'history' must be >= 0 (got {history})."
            raise ConfigurationError(msg)
        self._changed = threading.Condition()
        self._good: deque[GoodEvent] = deque(maxlen=history)
        self._bad: deque[BadEvent] = deque(maxlen=history)
        self._good_count = 0
        self._bad_count = 0

    def __repr__(self) -> str:
        return f"<EventStore good={self._good_count} bad={self._bad_count}>"

    def add(self, good: Sequence[GoodEvent], bad: Sequence[BadEvent]) -> None:
        """Keep the events of one request and wake every waiter."""
        with self._changed:
            self._good.extend(good)
            self._bad.extend(bad)
            self._good_count += len(good)
            self._bad_count += len(bad)
            self._changed.notify_all()

    def summary(self) -> dict[str, int]:
        """Counts since the last reset: ``{"total", "good", "bad"}``."""
        with self._changed:
            return self._summary()

    def _summary(self) -> dict[str, int]:
        good, bad = self._good_count, self._bad_count
        return {"total": good + bad, "good": good, "bad": bad}

    def good(self, where: EventFilter | None = None) -> list[GoodEvent]:
        """The good events kept, oldest first, filtered by ``where``."""
        with self._changed:
            events = list(self._good)
        return _select(events, where)

    def bad(self, where: EventFilter | None = None) -> list[BadEvent]:
        """The bad events kept, oldest first, filtered by ``where``."""
        with self._changed:
            events = list(self._bad)
        return _select(events, where)

    def reset(self) -> None:
        """Forget every event and zero the counts."""
        with self._changed:
            self._good.clear()
            self._bad.clear()
            self._good_count = self._bad_count = 0
            self._changed.notify_all()

    def wait_for(self, count: int, *, timeout: float) -> dict[str, int] | None:
        """Block until at least ``count`` events (good or bad) arrived since the reset.

        Returns:
            The summary once reached, or None if ``timeout`` seconds passed first.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._good_count + self._bad_count < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._changed.wait(remaining)
            return self._summary()


_Kept = TypeVar("_Kept", GoodEvent, BadEvent)


def _select(events: list[_Kept], where: EventFilter | None) -> list[_Kept]:
    if where is None:
        return events
    kept = [event for event in events if where.keeps(event)]
    if where.limit is not None:
        kept = kept[len(kept) - where.limit :] if where.limit else []
    return kept
