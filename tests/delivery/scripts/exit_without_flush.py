"""Track events and exit without flush or close: the atexit hook must send them.

Usage: exit_without_flush.py URL COUNT EXIT_TIMEOUT METHOD [EMITTERS]
"""

from __future__ import annotations

import sys

import snowplow_logging
from snowplow_logging import Emitter, StructuredEvent, Tracker

url, count, exit_timeout, method = sys.argv[1:5]
emitters = int(sys.argv[5]) if len(sys.argv) > 5 else 1
snowplow_logging.set_exit_timeout(float(exit_timeout))
tracker = Tracker(
    emitters=[Emitter(url, method=method, flush_interval=60.0) for _ in range(emitters)]
)
for n in range(int(count)):
    tracker.track(StructuredEvent(category="batch-job", action=f"step-{n}"))
