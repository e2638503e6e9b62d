"""A batch job that logs events and exits without calling flush().

The handler flushes at exit (logging.shutdown), so every event is delivered while
the collector is up, and the job still exits within the deadline when it is down.

Run: SNOWPLOW_ENDPOINT=http://127.0.0.1:9090 python examples/batch_job.py 500
"""

from __future__ import annotations

import logging
import os
import sys

from snowplow_logging import SnowplowHandler, StructuredEvent

COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 200

log = logging.getLogger("nightly")
log.setLevel(logging.INFO)
log.addHandler(
    SnowplowHandler(
        endpoint=os.environ.get("SNOWPLOW_ENDPOINT", "http://127.0.0.1:9090"),
        app_id="nightly-export",
        flush_interval=60.0,  # long on purpose: only the exit flush sends the tail
    )
)

for row in range(COUNT):
    log.info(
        "exported",
        extra={"snowplow": StructuredEvent(category="export", action="row", value=row)},
    )
print(f"logged {COUNT} events; exiting without flush()")
