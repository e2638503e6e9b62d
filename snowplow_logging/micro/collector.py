"""The local collector as a Python object: :class:`MicroCollector`.

It owns the pieces: an :class:`~snowplow_logging.micro.IgluResolver`, an
:class:`~snowplow_logging.micro.store.EventStore` and, while running, a
:class:`~snowplow_logging.micro.server.CollectorServer` serving on a daemon
thread; its query methods read the store directly. See
:mod:`snowplow_logging.micro` for what the collector accepts and answers.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Final, Self

from snowplow_logging._diagnostics import counted
from snowplow_logging._exceptions import ConfigurationError, ConfigurationTypeError
from snowplow_logging.micro.events import BadEvent, GoodEvent
from snowplow_logging.micro.filters import EventFilter
from snowplow_logging.micro.intake import EventSink
from snowplow_logging.micro.server import DEFAULT_COOKIE, CollectorServer
from snowplow_logging.micro.store import EventStore
from snowplow_logging.micro.validate import IgluResolver

__all__ = ["DEFAULT_HISTORY", "DEFAULT_MAX_BODY_SIZE", "MicroCollector"]

DEFAULT_MAX_BODY_SIZE: Final = 2 * 1024 * 1024
"""The largest POST body accepted by default, in bytes: 2 MiB, past which the
collector Snowplow Micro runs answers 413."""
DEFAULT_HISTORY: Final = 10_000
"""How many good and how many bad events are kept by default."""


class MicroCollector:
    """A validating collector serving HTTP on a background thread.

    Use it as a context manager (or call :meth:`start` and :meth:`close`). All
    query methods are thread-safe and read the collector's memory directly.

    Args:
        host: the address to listen on; loopback by default.
        port: the port; 0 (the default) picks a free one, see :attr:`port`.
        schemas: Iglu static-registry directories with your own schemas
            (``schemas/<vendor>/<name>/jsonschema/<M-R-A>``), searched before the
            bundled ones.
        resolver: an :class:`~snowplow_logging.micro.IgluResolver` to share
            between collectors (its compiled validators are cached); ``schemas``
            is then ignored.
        history: events of each kind (good, bad) kept for queries; older ones are
            forgotten but still counted.
        max_body_size: the largest POST body accepted, in bytes; a larger one is
            answered 413, as the collector answers it, and recorded as a bad event.
        cookie: the name of the collector's cookie holding the network user id
            (``sp``, as the collector's default): read from each request, set on
            each answer and written as ``network_userid``; None for no cookie (a
            new network user id per request).
        on_event: called with each :class:`GoodEvent` or :class:`BadEvent` once
            stored, on the connection's thread; exceptions are swallowed.

    Raises:
        ImportError: ``jsonschema`` is missing; the message says what to install.
        ConfigurationError: a setting has a value that cannot work.
        ConfigurationTypeError: a setting has the wrong type.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        schemas: Iterable[str | os.PathLike[str]] = (),
        resolver: IgluResolver | None = None,
        history: int = DEFAULT_HISTORY,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        on_event: EventSink | None = None,
        cookie: str | None = DEFAULT_COOKIE,
    ) -> None:
        _check_int("port", port, low=0, high=65535)
        self._cookie = _check_cookie(cookie)
        _check_int("max_body_size", max_body_size, low=1)
        self._host = _check_host(host)
        self._on_event = _check_callable(on_event)
        directories = _directories(schemas)
        self._resolver = resolver if resolver is not None else IgluResolver(directories)
        self._store = EventStore(history=history)
        self._requested_port = port
        self._max_body_size = max_body_size
        self._server: CollectorServer | None = None
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        state = "running" if self._server is not None else "stopped"
        where = self._host if self._port is None else self.endpoint
        return f"<MicroCollector {where} {state}>"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> Self:
        """Bind the port and serve on a daemon thread; a no-op when running.

        Raises:
            OSError: the address cannot be bound (e.g. the port is taken).
        """
        with self._lock:
            if self._server is None:
                server = CollectorServer(
                    (self._host, self._requested_port),
                    resolver=self._resolver,
                    store=self._store,
                    max_body_size=self._max_body_size,
                    on_event=self._on_event,
                    cookie_name=self._cookie,
                )
                self._thread = threading.Thread(
                    target=server.serve_forever,
                    kwargs={"poll_interval": 0.05},
                    name=f"snowplow-micro:{server.server_address[1]}",
                    daemon=True,
                )
                self._thread.start()
                self._server = server
                self._port = int(server.server_address[1])
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Stop serving and close every connection. Idempotent; events stay queryable."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if thread is not None:
            thread.join(timeout)

    @property
    def port(self) -> int:
        """The port listened on (the real one when 0 was asked for); kept after close.

        Raises:
            RuntimeError: the collector was never started.
        """
        if self._port is None:
            msg = (
                "the collector has no port yet; use it in a 'with' block or start() it."
            )
            raise RuntimeError(msg)
        return self._port

    @property
    def host(self) -> str:
        """The address listened on."""
        return self._host

    @property
    def endpoint(self) -> str:
        """The collector URL for an emitter, e.g. ``http://127.0.0.1:51234``."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    @property
    def resolver(self) -> IgluResolver:
        """The schema resolver validating events."""
        return self._resolver

    def summary(self) -> dict[str, int]:
        """Counts since the last reset, as ``/micro/all``: ``{"total", "good", "bad"}``."""
        return self._store.summary()

    @property
    def cookie(self) -> str | None:
        """The network user id cookie's name (``sp``), or None when there is none."""
        return self._cookie

    def good(
        self,
        *,
        event_type: str | None = None,
        schema: str | None = None,
        app_id: str | None = None,
        contexts: Iterable[str] = (),
        limit: int | None = None,
    ) -> list[GoodEvent]:
        """The good events kept, oldest first, optionally filtered.

        (``/micro/good`` lists them newest first, as Snowplow Micro does.)

        Args:
            event_type: ``page_view``, ``page_ping``, ``struct``, ``unstruct``,
                ``transaction``, ``transaction_item``, or the tracker code (``pv``...).
            schema: the event's schema URI; built-in events have Enrich's
                (``iglu:com.snowplowanalytics.snowplow/page_view/jsonschema/1-0-0``,
                ``iglu:com.google.analytics/event/jsonschema/1-0-0`` for a
                structured event...).
            app_id: the ``aid`` sent.
            contexts: entity schema URIs the event must all carry.
            limit: at most this many, the most recent.
        """
        where = EventFilter(
            event_type=event_type,
            schema=schema,
            app_id=app_id,
            contexts=tuple(contexts),
            limit=limit,
        )
        return self._store.good(where)

    def bad(
        self,
        *,
        event_type: str | None = None,
        schema: str | None = None,
        app_id: str | None = None,
        limit: int | None = None,
    ) -> list[BadEvent]:
        """The bad events kept, oldest first, optionally filtered (see :meth:`good`)."""
        where = EventFilter(
            event_type=event_type, schema=schema, app_id=app_id, limit=limit
        )
        return self._store.bad(where)

    def reset(self) -> None:
        """Forget every event and zero the counts, as ``/micro/reset``."""
        self._store.reset()

    def wait_for(self, count: int, *, timeout: float = 5.0) -> dict[str, int]:
        """Block until ``count`` events (good or bad) arrived since the last reset.

        Waits on a condition the request threads signal; never polls.

        Returns:
            The summary (``{"total", "good", "bad"}``) once reached.

        Raises:
            TimeoutError: fewer than ``count`` events after ``timeout`` seconds;
                the message gives the counts and the first bad reasons.
        """
        _check_int("count", count, low=0)
        summary = self._store.wait_for(count, timeout=timeout)
        if summary is not None:
            return summary
        now = self._store.summary()
        reasons = [error for event in self._store.bad()[:3] for error in event.errors]
        msg = (
            f"waited {timeout:g} s for {counted(count, 'event')}; received {now['total']} "
            f"({now['good']} good, {now['bad']} bad)"
        )
        if reasons:
            msg += "; bad: " + "; ".join(reasons[:5])
        raise TimeoutError(msg)


def _check_host(host: object) -> str:
    if not isinstance(host, str) or not host:
        msg = f"'host' must be a non-empty string (got {host!r})."
        raise ConfigurationTypeError(msg)
    return host


_COOKIE_NAME: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}")
"""An RFC 6265 cookie name: an HTTP token."""


def _check_cookie(cookie: object) -> str | None:
    if cookie is None:
        return None
    if not isinstance(cookie, str):
        msg = f"'cookie' must be a cookie name or None (got {cookie!r})."
        raise ConfigurationTypeError(msg)
    if _COOKIE_NAME.fullmatch(cookie) is None:
        msg = f"'cookie' must be a cookie name, an HTTP token (got {cookie!r})."
        raise ConfigurationError(msg)
    return cookie


def _check_callable(on_event: object) -> EventSink | None:
    if on_event is not None and not callable(on_event):
        msg = f"'on_event' must be callable or None (got {on_event!r})."
        raise ConfigurationTypeError(msg)
    return on_event


def _directories(schemas: object) -> list[Path]:
    if isinstance(schemas, str | os.PathLike):
        schemas = [schemas]
    if not isinstance(schemas, Iterable):
        msg = f"'schemas' must be a list of directories (got {schemas!r})."
        raise ConfigurationTypeError(msg)
    directories = [Path(directory) for directory in schemas]
    for directory in directories:
        if not directory.is_dir():
            msg = f"'schemas' must name directories (got {str(directory)!r})."
            raise ConfigurationError(msg)
    return directories


def _check_int(name: str, value: object, *, low: int, high: int | None = None) -> None:
    if type(value) is not int:
        msg = f"{name!r} must be an int (got {value!r})."
        raise ConfigurationTypeError(msg)
    if value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"between {low} and {high}"
        msg = f"{name!r} must be {bounds} (got {value})."
        raise ConfigurationError(msg)
