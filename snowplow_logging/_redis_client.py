"""The Redis client both sides of the Redis relay use, and its settings.

The only module importing ``redis`` (``pip install 'snowplow-logging[redis]'``);
:mod:`snowplow_logging.redis` is the public face.
"""

from __future__ import annotations

from typing import Final

from snowplow_logging._delivery.url import redact
from snowplow_logging._exceptions import ConfigurationError, ConfigurationTypeError

try:
    import redis as _redis
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    msg = (
        "snowplow_logging.redis needs the redis package: "
        "pip install 'snowplow-logging[redis]'"
    )
    raise ImportError(msg) from exc

__all__ = ["DEFAULT_KEY", "RETRYABLE", "check_key", "client", "redis_module", "where"]

redis_module: Final = _redis
DEFAULT_KEY: Final = "snowplow_logging:events"
"""The Redis list both sides use unless told otherwise."""
RETRYABLE: Final = (_redis.ConnectionError, _redis.TimeoutError, OSError)
"""Errors after which the same command may succeed."""


def client(value: object) -> _redis.Redis:
    """A client from a ``redis://`` URL, or the client given.

    Raises:
        ConfigurationError: ConfigurationTypeError: neither.
    """
    if isinstance(value, str):
        try:
            return _redis.Redis.from_url(value)
        except ValueError:
            msg = f"'redis' must be a redis:// URL or a redis.Redis (got {redact(value)!r})."
            raise ConfigurationError(msg) from None
    if not isinstance(value, _redis.Redis):
        msg = f"'redis' must be a redis:// URL or a redis.Redis (got {type(value).__name__})."
        raise ConfigurationTypeError(msg)
    return value


def check_key(name: str, value: object) -> str:
    """A non-empty key name, or raise ``ConfigurationTypeError``."""
    if not isinstance(value, str) or not value:
        msg = f"'{name}' must be a non-empty string (got {value!r})."
        raise ConfigurationTypeError(msg)
    return value


def where(client: _redis.Redis) -> str:
    """``host:port/db`` of a client, never its password."""
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix:{kwargs['path']}/{kwargs.get('db', 0)}"
    return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"
