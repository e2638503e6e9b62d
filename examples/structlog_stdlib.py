"""structlog through stdlib logging: one Snowplow event per tagged record.

structlog events and plain ``logging`` records both go through
``ProcessorFormatter``; the processor sits in the chain they share, and
``SnowplowHandler`` may be installed too without sending anything twice.

Run: SNOWPLOW_ENDPOINT=http://127.0.0.1:9090 python examples/structlog_stdlib.py
"""

from __future__ import annotations

import logging
import os
import sys

import structlog

from snowplow_logging import (
    Emitter,
    SelfDescribingJson,
    SnowplowHandler,
    StructuredEvent,
    Tracker,
)
from snowplow_logging.structlog import SnowplowProcessor

endpoint = os.environ.get("SNOWPLOW_ENDPOINT", "http://127.0.0.1:9090")
tracker = Tracker(emitters=Emitter(endpoint), app_id="shop")

shared: list[structlog.typing.Processor] = [
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso"),
    SnowplowProcessor(tracker, capture_exceptions=True),
]
structlog.configure(
    processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
    logger_factory=structlog.stdlib.LoggerFactory(),
    wrapper_class=structlog.stdlib.BoundLogger,
)
console = logging.StreamHandler(sys.stdout)
console.setFormatter(
    structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        foreign_pre_chain=shared,  # plain logging records run the processor too
    )
)
root = logging.getLogger()
root.addHandler(console)
# Optional: the handler and the processor agree, so each record is sent once.
root.addHandler(SnowplowHandler(tracker=tracker, capture_exceptions=True))
root.setLevel(logging.INFO)

log = structlog.get_logger("shop.checkout").bind(
    snowplow_context=SelfDescribingJson(
        schema="iglu:com.snowplowanalytics.snowplow/application/jsonschema/1-0-0",
        data={"version": "1.4.2"},
    )
)
log.info("order paid", snowplow=StructuredEvent(category="checkout", action="paid"))

legacy = logging.getLogger("shop.legacy")  # a plain stdlib logger
legacy.info(
    "coupon applied",
    extra={"snowplow": StructuredEvent(category="checkout", action="coupon")},
)
try:
    int("ten")
except ValueError:
    legacy.exception("bad quantity")  # sent once, as application_error 1-0-2
log.info("an ordinary log line: not sent to Snowplow")
# No flush needed: logging.shutdown() and the emitter deliver what is queued at exit.
