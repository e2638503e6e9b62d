"""The exceptions ``snowplow_logging`` raises.

Every exception derives from :class:`SnowplowLoggingError` and from the builtin
exception it means, so ``except ValueError`` keeps working::

    SnowplowLoggingError
    ├── InvalidEventError(ValueError)       a field of an event or subject is wrong
    ├── InvalidEventTypeError(TypeError)    a field has the wrong Python type
    ├── ConfigurationError(ValueError)      a tracker, emitter or handler setting is wrong
    ├── ConfigurationTypeError(TypeError)   a setting has the wrong Python type
    └── ClosedError(RuntimeError)           the object was used after close()

Errors are raised when an event, subject or configuration is built, never at log
time: the logging integrations report problems through ``Handler.handleError``.
"""

from __future__ import annotations

__all__ = [
    "ClosedError",
    "ConfigurationError",
    "ConfigurationTypeError",
    "InvalidEventError",
    "InvalidEventTypeError",
    "SnowplowLoggingError",
]


class SnowplowLoggingError(Exception):
    """Base class of every exception raised by ``snowplow_logging``."""


class InvalidEventError(SnowplowLoggingError, ValueError):
    """A field of an event, entity or subject has a value the protocol refuses."""


class InvalidEventTypeError(SnowplowLoggingError, TypeError):
    """A field of an event, entity or subject has the wrong Python type."""


class ConfigurationError(SnowplowLoggingError, ValueError):
    """A tracker, emitter or handler setting has a value that cannot work."""


class ConfigurationTypeError(SnowplowLoggingError, TypeError):
    """A tracker, emitter or handler setting has the wrong Python type."""


class ClosedError(SnowplowLoggingError, RuntimeError):
    """An object was used after ``close()``."""
