"""What a transport tells the sink: a response's status, or that none came.

Kept apart from :mod:`snowplow_logging._delivery.transport` so that the sink and
the engine can name these without importing ``requests``: ``requests`` (about
a third of ``import snowplow_logging``'s time) is imported when the first
emitter is built, not when the package is.
"""

from __future__ import annotations

from typing import NamedTuple

from snowplow_logging._exceptions import SnowplowLoggingError

__all__ = ["Response", "TransportError"]


class TransportError(SnowplowLoggingError, OSError):
    """A request got no HTTP response: refused, reset, timed out, DNS, TLS."""


class Response(NamedTuple):
    """What the engine needs from a response: the status and ``Retry-After``."""

    status: int
    retry_after: str | None
