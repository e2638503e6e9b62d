"""Configure the handler with logging.config.dictConfig only: no handler code.

Run: SNOWPLOW_ENDPOINT=http://127.0.0.1:9090 python examples/dictconfig.py
"""

from __future__ import annotations

import logging
import logging.config
import os

from snowplow_logging import PageView, StructuredEvent

logging.config.dictConfig(
    {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "snowplow": {
                "class": "snowplow_logging.SnowplowHandler",
                "level": "INFO",
                "endpoint": os.environ.get(
                    "SNOWPLOW_ENDPOINT", "http://127.0.0.1:9090"
                ),
                "app_id": "shop",
                "namespace": "backend",
                "batch_size": 50,
                "flush_interval": 0.5,
                "capture_exceptions": True,
            },
            "console": {"class": "logging.StreamHandler", "level": "WARNING"},
        },
        "root": {"handlers": ["snowplow", "console"], "level": "INFO"},
    }
)

log = logging.getLogger("shop.web")
log.info(
    "page",
    extra={"snowplow": PageView(page_url="https://shop.test/", page_title="Home")},
)
log.info(
    "signup", extra={"snowplow": StructuredEvent(category="account", action="signup")}
)
