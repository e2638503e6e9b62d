"""Send Snowplow events from stdlib logging: tag a record with extra={"snowplow": ...}.

Run: SNOWPLOW_ENDPOINT=http://127.0.0.1:9090 python examples/logging_basic.py
"""

from __future__ import annotations

import logging
import os

from snowplow_logging import SelfDescribingJson, SnowplowHandler, StructuredEvent

handler = SnowplowHandler(
    endpoint=os.environ.get("SNOWPLOW_ENDPOINT", "http://127.0.0.1:9090"),
    app_id="shop",
    app_version="1.4.2",
)
log = logging.getLogger("shop")
log.addHandler(handler)
log.setLevel(logging.INFO)

log.info(
    "order paid",
    extra={"snowplow": StructuredEvent(category="checkout", action="paid", value=30)},
)
log.info(
    "link followed",
    extra={
        "snowplow": SelfDescribingJson(
            schema="iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1",
            data={"targetUrl": "https://shop.test/help"},
        )
    },
)
log.info("an ordinary log line: not sent to Snowplow")
# No flush needed: logging.shutdown() at exit delivers what is queued.
