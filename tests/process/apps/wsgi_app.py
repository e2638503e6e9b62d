"""A WSGI app logging one Snowplow event per request, for gunicorn --preload.

The collector is $SNOWPLOW_URL. Set up at import, so in the gunicorn master
with ``--preload``; each forked worker starts with an empty queue and sends
its own events. The flush interval is 60 s: a worker's events leave when it
ends (recycled by ``--max-requests``, or stopped).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from itertools import count

from snowplow_logging import SnowplowHandler, StructuredEvent

log = logging.getLogger("wsgi_app")
log.addHandler(
    SnowplowHandler(
        endpoint=os.environ["SNOWPLOW_URL"], app_id="wsgi", flush_interval=60.0
    )
)
log.setLevel(logging.INFO)
log.propagate = False
_served = count()


def app(
    environ: dict[str, object], start_response: Callable[..., object]
) -> Iterable[bytes]:
    n = next(_served)
    event = StructuredEvent(category="wsgi", action=str(environ["PATH_INFO"]), value=n)
    log.info("request", extra={"snowplow": event})
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
