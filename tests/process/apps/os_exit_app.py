"""Log five events, then leave through ``os._exit``: with or without close_all().

Usage: os_exit_app.py close|plain. The collector is $SNOWPLOW_URL. Nothing
runs after ``os._exit``, so without ``close_all()`` the queue is lost with the
process: the library cannot see that ending coming.
"""

from __future__ import annotations

import logging
import os
import sys

from snowplow_logging import SnowplowHandler, StructuredEvent, close_all

log = logging.getLogger("os_exit_app")
log.addHandler(
    SnowplowHandler(
        endpoint=os.environ["SNOWPLOW_URL"], app_id="os-exit", flush_interval=60.0
    )
)
log.setLevel(logging.INFO)
log.propagate = False

for n in range(5):
    event = StructuredEvent(category="app", action=f"work-{n}")
    log.info("work", extra={"snowplow": event})
if sys.argv[1] == "close":
    os._exit(0 if close_all() else 1)
os._exit(0)
