"""What every test app shares: its handler, logger, user id callback and barrier.

The collector is ``$SNOWPLOW_URL``. The handler sends about every 50 ms; the
apps' ``/flush`` waits for delivery. ``X-User: raise`` makes the user id
callback raise, as an authentication backend that is down would.
"""

from __future__ import annotations

import logging
import os
import threading

from snowplow_logging import SnowplowHandler, StructuredEvent

TRUSTED_PROXIES = ["127.0.0.1"]


def handler(app_id: str, *loggers: str) -> SnowplowHandler:
    """A SnowplowHandler on ``loggers`` (at INFO, not propagating)."""
    snowplow = SnowplowHandler(
        endpoint=os.environ["SNOWPLOW_URL"],
        app_id=app_id,
        flush_interval=0.05,
        capture_exceptions=True,
    )
    for name in loggers:
        log = logging.getLogger(name)
        log.addHandler(snowplow)
        log.setLevel(logging.INFO)
        log.propagate = False
    return snowplow


def track(log: logging.Logger, category: str, label: str) -> None:
    """Log the request's tagged event."""
    event = StructuredEvent(category=category, action=label)
    log.info(label, extra={"snowplow": event})


def user_from_header(value: object) -> str | None:
    """The user id from ``X-User``; ``raise`` raises."""
    if value == "raise":
        msg = "the authentication backend is down"
        raise RuntimeError(msg)
    return value if isinstance(value, str) else None


OVERLAP = threading.Barrier(2, timeout=10)
"""Two ``/overlap`` requests meet here before they log (threaded servers)."""
