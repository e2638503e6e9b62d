"""Send Snowplow analytics events through the logging you already have.

The public API; implementation lives in private modules. ``import
snowplow_logging`` never imports structlog and never configures logging.
"""

from __future__ import annotations

from snowplow_logging._context import Binding, bind
from snowplow_logging._ecommerce import EcommerceTransaction, EcommerceTransactionItem
from snowplow_logging._emitter import Emitter, set_exit_timeout
from snowplow_logging._events import (
    Event,
    PagePing,
    PageView,
    ScreenView,
    SelfDescribing,
    SelfDescribingJson,
    StructuredEvent,
)
from snowplow_logging._exceptions import (
    ClosedError,
    ConfigurationError,
    ConfigurationTypeError,
    InvalidEventError,
    InvalidEventTypeError,
    SnowplowLoggingError,
)
from snowplow_logging._handler import SnowplowHandler
from snowplow_logging._retry import Retry
from snowplow_logging._subject import Subject
from snowplow_logging._tracker import EmitterLike, Payload, Tracker
from snowplow_logging._version import __version__
from snowplow_logging.shutdown import (
    SnowplowLifespan,
    close_all,
    install_sigterm_handler,
)

__all__ = [
    "Binding",
    "ClosedError",
    "ConfigurationError",
    "ConfigurationTypeError",
    "EcommerceTransaction",
    "EcommerceTransactionItem",
    "Emitter",
    "EmitterLike",
    "Event",
    "InvalidEventError",
    "InvalidEventTypeError",
    "PagePing",
    "PageView",
    "Payload",
    "Retry",
    "ScreenView",
    "SelfDescribing",
    "SelfDescribingJson",
    "SnowplowHandler",
    "SnowplowLifespan",
    "SnowplowLoggingError",
    "StructuredEvent",
    "Subject",
    "Tracker",
    "__version__",
    "bind",
    "close_all",
    "install_sigterm_handler",
    "set_exit_timeout",
]
