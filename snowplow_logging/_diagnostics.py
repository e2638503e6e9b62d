"""The library's own reporting: rate-limited warnings on the ``snowplow_logging`` logger.

The library never logs once per event or request: each kind of problem is logged
at most once per interval, with the number of repeats it suppressed, so a root
handler cannot turn a collector outage into a flood (docs/protocol.md pitfall 4).
The library never configures logging; without handlers, Python's last-resort
handler prints WARNING and above to stderr.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from typing import Final

__all__ = ["LOGGER", "RateLimitedLog", "counted"]

LOGGER: Final = logging.getLogger("snowplow_logging")


class RateLimitedLog:
    """Log each distinct ``key`` at most once per ``interval`` seconds.

    Args:
        logger: where messages go.
        interval: the shortest time between two messages with the same key.
    """

    __slots__ = ("__weakref__", "_interval", "_lock", "_logger", "_seen")

    def __init__(
        self, logger: logging.Logger = LOGGER, *, interval: float = 30.0
    ) -> None:
        self._logger = logger
        self._interval = interval
        # Reentrant: a signal handler may log while its thread holds the lock;
        # renewed in a forked child, where another thread may have held it.
        self._lock = threading.RLock()
        self._seen: dict[str, tuple[float, int]] = {}
        _LOGS.add(self)

    def log(self, level: int, key: str, msg: str, *args: object) -> bool:
        """Log ``msg % args`` unless ``key`` was logged within the interval.

        Returns:
            True if the message was logged, False if it was suppressed.
        """
        now = time.monotonic()
        with self._lock:
            last, suppressed = self._seen.get(key, (-self._interval - 1.0, 0))
            if now - last < self._interval:
                self._seen[key] = (last, suppressed + 1)
                return False
            self._seen[key] = (now, 0)
        if suppressed:
            msg = f"{msg} (%s suppressed)"
            args = (*args, counted(suppressed, "similar message"))
        self._logger.log(level, msg, *args)
        return True

    def warning(self, key: str, msg: str, *args: object) -> bool:
        """Log at WARNING, rate-limited by ``key``."""
        return self.log(logging.WARNING, key, msg, *args)

    def renew_lock(self) -> None:
        """A fresh lock for a forked child, where another thread may have held it."""
        self._lock = threading.RLock()

    def reset(self) -> None:
        """Forget what was logged, so the next message of each key is logged."""
        with self._lock:
            self._seen.clear()


_LOGS: Final[weakref.WeakSet[RateLimitedLog]] = weakref.WeakSet()


def counted(count: int, noun: str) -> str:
    """``"1 event"``, ``"2 events"``: a count and its noun, plural unless one."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _after_fork_in_child() -> None:
    for log in list(_LOGS):
        log.renew_lock()


os.register_at_fork(after_in_child=_after_fork_in_child)
