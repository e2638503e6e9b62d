"""The HTTP emitter: the delivery engine holding an HTTP sink.

:class:`Emitter` checks its settings, then is an
:class:`~snowplow_logging._delivery.engine.Engine` (queue, worker thread,
flush, close, exit deadline, fork) with an
:class:`~snowplow_logging._delivery.http.HttpSink` to one collector.
"""

from __future__ import annotations

from collections.abc import Mapping

import requests

from snowplow_logging._checks import check_count, check_seconds
from snowplow_logging._delivery.engine import Engine, Settings
from snowplow_logging._delivery.exit import set_exit_timeout
from snowplow_logging._delivery.http import HttpItem, HttpSink
from snowplow_logging._delivery.transport import RequestsTransport
from snowplow_logging._delivery.url import collector_url
from snowplow_logging._delivery.worker import FailureCallback, SuccessCallback
from snowplow_logging._exceptions import ConfigurationError, ConfigurationTypeError
from snowplow_logging._retry import Retry, check_retry

__all__ = ["Emitter", "check_method", "set_exit_timeout"]


def check_method(value: object) -> str:
    """``'post'`` or ``'get'`` from ``value`` in any case, or raise."""
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
    return check_retry(retry)


class Emitter(Engine[HttpItem]):
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
            Without one the emitter keeps its own keep-alive session.
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
        self.method = check_method(method)
        url, auth, display = collector_url(
            endpoint, method=self.method, protocol=protocol, port=port
        )
        batch_size = check_count("batch_size", batch_size)
        byte_limit = check_count("byte_limit", byte_limit)
        max_queue = check_count("max_queue", max_queue)
        interval = check_seconds("flush_interval", flush_interval, positive=True)
        timeout = check_seconds("timeout", timeout, positive=True)
        policy = _check_options(retry, on_success, on_failure, session, headers)
        transport = RequestsTransport(
            url,
            method=self.method,
            session=session,
            headers=headers,
            auth=auth,
            timeout=timeout,
        )
        sink = HttpSink(
            transport,
            display=display,
            method=self.method,
            batch_size=min(batch_size, max_queue),  # wakes before full
            byte_limit=byte_limit,
            retry=policy,
        )
        super().__init__(
            sink,
            name="Emitter",
            settings=Settings(max_queue, interval, policy),
            on_success=on_success,
            on_failure=on_failure,
        )
        self._display = display

    def __repr__(self) -> str:
        buffer = self._buffer  # no lock: a repr must never block
        return (
            f"<Emitter {self.method.upper()} {self._display} "
            f"queued={len(buffer.queue) + buffer.in_flight} closed={buffer.closed}>"
        )
