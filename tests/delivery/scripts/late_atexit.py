"""An atexit function registered before snowplow_logging is imported tracks events.

atexit runs functions last-registered first, so this one runs after the
library's exit flush: its events cannot be sent, and the library says so.

Usage: late_atexit.py URL
"""

from __future__ import annotations

import atexit
import sys


def track_late() -> None:
    for n in range(2):
        TRACKER.track(StructuredEvent(category="exit", action=f"late-{n}"))


atexit.register(track_late)

from snowplow_logging import Emitter, StructuredEvent, Tracker  # noqa: E402

TRACKER = Tracker(emitters=Emitter(sys.argv[1], flush_interval=60.0))
TRACKER.track(StructuredEvent(category="exit", action="in-time"))
