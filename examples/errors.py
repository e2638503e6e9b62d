"""Exceptions logged at ERROR become application_error events (capture_exceptions).

Run: SNOWPLOW_ENDPOINT=http://127.0.0.1:9090 python examples/errors.py
"""

from __future__ import annotations

import logging
import os

from snowplow_logging import SnowplowHandler

logging.getLogger().addHandler(
    SnowplowHandler(
        endpoint=os.environ.get("SNOWPLOW_ENDPOINT", "http://127.0.0.1:9090"),
        app_id="shop",
        capture_exceptions=True,
        app_version="1.4.2",
    )
)
log = logging.getLogger("shop.payments")


def charge(amount: float) -> None:
    if amount <= 0:
        msg = f"cannot charge {amount}"
        raise ValueError(msg)


try:
    charge(-5)
except ValueError:
    log.exception("payment failed")  # sent as application_error 1-0-2
log.warning("a warning without an exception is not sent")
