"""The buffered emitter: a bounded queue drained by one worker thread per emitter.

``Emitter.input()`` runs on the caller's thread and only appends the payload to
a bounded deque under a short lock: no JSON, no I/O (PROTOCOL.md pitfall 14).
The sending itself is :class:`~snowplow_logging._worker.Worker`'s, on a named
daemon thread started by the first event. The queue, flush, close, the exit
deadline and fork handling are :class:`~snowplow_logging._queued.QueuedEmitter`'s,
shared with the relays (Redis, Celery, spool).
"""

from __future__ import annotations

from collections.abc import Mapping

import requests

from snowplow_logging._checks import check_count, check_seconds
from snowplow_logging._exceptions import ConfigurationError, ConfigurationTypeError
from snowplow_logging._queued import QueuedEmitter, set_exit_timeout
from snowplow_logging._retry import Retry
from snowplow_logging._transport import RequestsTransport, collector_url
from snowplow_logging._worker import (
    Buffer,
    FailureCallback,
    Loop,
    SuccessCallback,
    Worker,
)

__all__ = ["Emitter", "set_exit_timeout"]


def _method(value: object) -> str:
    if not isinstance(value, str) or value.lower() not in {"post", "get"}:
        raise ConfigurationError(f"'method' must be 'post' or 'get' (got {value!r}).")
    return value.lower()


def _check_options(
    retry: object,
    on_success: object,
    on_failure: object,
    session: object,
    headers: object,
) -> Retry:
    if retry is not None and not isinstance(retry, Retry):
        raise ConfigurationTypeError(
            f"'retry' must be a Retry or None (got {retry!r})."
        )
    for name, value in (("on_success", on_success), ("on_failure", on_failure)):
        if value is not None and not callable(value):
            raise ConfigurationTypeError(
                f"'{name}' must be callable or None (got {value!r})."
            )
    if session is not None and not isinstance(session, requests.Session):
        raise ConfigurationTypeError(
            f"'session' must be a requests.Session or None (got {session!r})."
        )
    if headers is not None:
        # Header values may be credentials: name the offending key and the type,
        # never a value (issue #8).
        if not isinstance(headers, Mapping):
            msg = f"'headers' must be a mapping of str to str or None (got {type(headers).__name__})."
            raise ConfigurationTypeError(msg)
        for key, value in headers.items():
            if not isinstance(key, str) or not isinstance(value, str):
                shown = (
                    repr(key) if isinstance(key, str) else f"a {type(key).__name__} key"
                )
                msg = (
                    "'headers' must be a mapping of str to str or None "
                    f"(got {type(value).__name__} for {shown})."
                )
                raise ConfigurationTypeError(msg)
    return Retry() if retry is None else retry


class Emitter(QueuedEmitter):
    """Sends payloads to a Snowplow collector in the background.

    ``input()`` never blocks on the network and never raises: it appends to a
    queue holding at most ``max_queue`` events (waiting or being sent); when it
    is full, new events are dropped and counted (``dropped_queue_full``). A
    daemon thread named ``snowplow_logging.Emitter-N``, started by the first
    event, sends when a POST body is full (``batch_size`` events or
    ``byte_limit`` bytes), every ``flush_interval`` seconds, on :meth:`flush`
    and on :meth:`close`; with GET, each event as it comes.

    Emitters still open at interpreter exit are closed within one shared
    deadline (:func:`set_exit_timeout`). After ``os.fork()`` the child's emitter
    starts empty, with its own thread and connections; the parent sends what it
    had queued.

    Args:
        endpoint: the collector host, ``host:port`` or URL (https by default).
        method: ``"post"`` (batches) or ``"get"`` (one event per request).
        protocol: ``"http"`` or ``"https"`` for an endpoint without a scheme.
        port: the collector port, if not the scheme's default.
        batch_size: most events in one POST.
        byte_limit: most encoded bytes in one POST body; a larger event goes alone.
        flush_interval: seconds between timed sends of whatever is queued.
        max_queue: most events held (waiting or in flight); newer ones are dropped.
        timeout: connect and read timeout of each request, in seconds.
        retry: the retry policy; ``Retry.disabled()`` turns retry off.
        on_success: ``on_success(payloads)``, run on the worker thread.
        on_failure: ``on_failure(sent_count, failed_payloads)``, run on the
            worker thread when events fail for good.
        session: a ``requests.Session`` to send through (its adapters, auth,
            proxies and TLS settings); it is not closed by :meth:`close`.
            Without one the emitter keeps its own keep-alive HTTP/1.1
            connection, or uses ``requests`` when an environment proxy applies.
        headers: extra HTTP headers for every request.

    Raises:
        ConfigurationError: a setting has a value that cannot work.
        ConfigurationTypeError: a setting has the wrong type.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        endpoint: str,
        *,
        method: str = "post",
        protocol: str | None = None,
        port: int | None = None,
        batch_size: int = 500,
        byte_limit: int = 40_000,
        flush_interval: float = 1.0,
        max_queue: int = 10_000,
        timeout: float = 5.0,
        retry: Retry | None = None,
        on_success: SuccessCallback | None = None,
        on_failure: FailureCallback | None = None,
        session: requests.Session | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.method = _method(method)
        self._url, self._auth, self._display = collector_url(
            endpoint, method=self.method, protocol=protocol, port=port
        )
        self._batch_size = check_count("batch_size", batch_size)
        self._byte_limit = check_count("byte_limit", byte_limit)
        self._max_queue = check_count("max_queue", max_queue)
        self._interval = check_seconds("flush_interval", flush_interval, positive=True)
        self._timeout = check_seconds("timeout", timeout, positive=True)
        self._retry = _check_options(retry, on_success, on_failure, session, headers)
        self._on_success, self._on_failure = on_success, on_failure
        self._session, self._headers = session, headers
        self._transport: RequestsTransport | None = None
        self._activate()

    def _new_loop(self, buffer: Buffer, *, forked: bool) -> Loop:
        self._transport = RequestsTransport(
            self._url,
            method=self.method,
            session=self._session,
            headers=self._headers,
            auth=self._auth,
            timeout=self._timeout,
            fresh_connections=forked,  # the parent's pooled sockets are not ours
        )
        return Worker(
            buffer,
            self._transport,
            display=self._display,
            method=self.method,
            batch_size=min(self._batch_size, self._max_queue),  # wakes before full
            byte_limit=self._byte_limit,
            interval=self._interval,
            retry=self._retry,
            on_success=self._on_success,
            on_failure=self._on_failure,
        )

    def _describe(self) -> str:
        return f"collector {self._display}"

    def _release(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def __repr__(self) -> str:
        buffer = self._buffer  # no lock: a repr must never block
        return (
            f"<Emitter {self.method.upper()} {self._display} "
            f"queued={len(buffer.queue) + buffer.in_flight} closed={buffer.closed}>"
        )
