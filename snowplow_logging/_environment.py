"""Settings from environment variables, read only where no value is given in code.

A twelve-factor deployment configures the collector without touching code or
logging files: ``SNOWPLOW_ENDPOINT=http://127.0.0.1:9090 python app.py``. The
names follow the convention of the tools our users run beside us (OpenTelemetry's
``OTEL_EXPORTER_OTLP_ENDPOINT`` and ``OTEL_SDK_DISABLED``, sentry's
``SENTRY_DSN``): the vendor's name as a prefix, then the setting's own name as
the constructors spell it, so that ``batch_size=`` is ``SNOWPLOW_BATCH_SIZE``.
``SNOWPLOW_`` is the name of the protocol and of its collector, which is what
these variables configure; the ``_ENDPOINT`` suffix is the word both the
official Snowplow trackers and our ``Emitter(endpoint)`` use for the collector
URL. ``SNOWPLOW_DISABLED`` mirrors ``OTEL_SDK_DISABLED``: a switch, off unless
set to a true value.

An explicit value (an argument, a ``dictConfig`` key) always wins; an empty
variable counts as unset, as in OpenTelemetry. The values are text and are
converted by the same checks as the arguments, so a bad one fails at
construction, naming the variable.
"""

from __future__ import annotations

import os
from types import MappingProxyType
from typing import Final, NamedTuple

__all__ = ["VARIABLES", "Setting", "read", "snapshot", "text"]

VARIABLES: Final = MappingProxyType(
    {
        "endpoint": "SNOWPLOW_ENDPOINT",
        "app_id": "SNOWPLOW_APP_ID",
        "namespace": "SNOWPLOW_NAMESPACE",
        "method": "SNOWPLOW_METHOD",
        "batch_size": "SNOWPLOW_BATCH_SIZE",
        "byte_limit": "SNOWPLOW_BYTE_LIMIT",
        "flush_interval": "SNOWPLOW_FLUSH_INTERVAL",
        "max_queue": "SNOWPLOW_MAX_QUEUE",
        "timeout": "SNOWPLOW_TIMEOUT",
        "disabled": "SNOWPLOW_DISABLED",
    }
)
"""Each setting read from the environment, with its variable."""


class Setting(NamedTuple):
    """A setting's value and the name to use for it in an error message."""

    name: str
    """The argument's name, or the variable's when the value came from it."""
    value: object
    """The given value, else the variable's text, else ``None``."""


def read(name: str, given: object) -> Setting:
    """``given`` if it is not ``None``, else the setting's variable, if set.

    Args:
        name: a key of :data:`VARIABLES`.
        given: the value passed in code or configuration, or ``None``.
    """
    if given is not None:
        return Setting(name, given)
    variable = VARIABLES[name]
    text = os.environ.get(variable)
    if not text:
        return Setting(name, None)
    return Setting(variable, text)


def text(name: str, given: str | None) -> str | None:
    """A text setting: ``given`` if not ``None``, else its variable, if set."""
    if given is not None:
        return given
    return os.environ.get(VARIABLES[name]) or None


def snapshot() -> tuple[tuple[str, str], ...]:
    """The variables set now, to tell whether two configurations are the same."""
    return tuple(
        (variable, os.environ[variable])
        for variable in VARIABLES.values()
        if os.environ.get(variable)
    )
