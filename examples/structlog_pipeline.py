"""Send Snowplow events from a structlog pipeline: tag an event with snowplow=...

Run: SNOWPLOW_ENDPOINT=http://127.0.0.1:9090 python examples/structlog_pipeline.py
"""

from __future__ import annotations

import os

import structlog

from snowplow_logging import (
    Emitter,
    PageView,
    SelfDescribingJson,
    StructuredEvent,
    Tracker,
)
from snowplow_logging.structlog import SnowplowProcessor

endpoint = os.environ.get("SNOWPLOW_ENDPOINT", "http://127.0.0.1:9090")
tracker = Tracker(emitters=Emitter(endpoint), app_id="shop")
structlog.configure(
    processors=[
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso"),  # becomes the events' dtm
        SnowplowProcessor(tracker, capture_exceptions=True),
        structlog.processors.format_exc_info,
        structlog.processors.JSONRenderer(),
    ]
)
log = structlog.get_logger()

# Entities bound in the context go on every event sent from it.
structlog.contextvars.bind_contextvars(
    snowplow_context=SelfDescribingJson(
        schema="iglu:com.snowplowanalytics.snowplow/application/jsonschema/1-0-0",
        data={"version": "1.4.2"},
    )
)
log.info(
    "order paid",
    snowplow=StructuredEvent(category="checkout", action="paid", value=30),
)
log.bind(user="u-42").info(
    "cart shown", snowplow=PageView(page_url="https://shop.test/cart")
)
log.info("an ordinary log line: not sent to Snowplow")


def charge(amount: float) -> None:
    if amount <= 0:
        msg = f"cannot charge {amount}"
        raise ValueError(msg)


try:
    charge(-5)
except ValueError:
    log.exception("payment failed")  # sent as application_error 1-0-2
# No flush needed: the emitter sends what is queued when the interpreter exits.
