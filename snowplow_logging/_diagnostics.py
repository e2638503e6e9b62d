"""The library's own reporting: rate-limited warnings on the ``snowplow_logging`` logger.

The library never logs once per event or request: each kind of problem is logged
at most once per interval, with the number of repeats it suppressed, so a root
handler cannot turn a collector outage into a flood (docs/protocol.md pitfall 4).
The library never configures logging; without handlers, Python's last-resort
handler prints WARNING and above to stderr.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Final

__all__ = ["LOGGER", "RateLimitedLog"]

LOGGER: Final = logging.getLogger("snowplow_logging")


class RateLimitedLog:
    """Log each distinct ``key`` at most once per ``interval`` seconds.

    Args:
        logger: where messages go.
        interval: the shortest time between two messages with the same key.
    """

    __slots__ = ("_interval", "_lock", "_logger", "_seen")

    def __init__(
        self, logger: logging.Logger = LOGGER, *, interval: float = 30.0
    ) -> None:
        self._logger = logger
        self._interval = interval
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[float, int]] = {}

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
            msg = f"{msg} (%d similar messages suppressed)"
            args = (*args, suppressed)
        self._logger.log(level, msg, *args)
        return True

    def warning(self, key: str, msg: str, *args: object) -> bool:
        """Log at WARNING, rate-limited by ``key``."""
        return self.log(logging.WARNING, key, msg, *args)

    def reset(self) -> None:
        """Forget what was logged, so the next message of each key is logged."""
        with self._lock:
            self._seen.clear()
