"""The buffered emitter: a bounded queue drained by one worker thread per emitter.

``Emitter.input()`` runs on the caller's thread and only appends the payload to
a bounded deque under a short lock: no JSON, no I/O (PROTOCOL.md pitfall 14).
The sending itself is :class:`~snowplow_logging._worker.Worker`'s, on a named
daemon thread started by the first event.

Events are resolved in the order they were accepted, so ``flush()`` waits for a
count, not for a queue to empty. At interpreter exit one ``atexit`` hook closes
every live emitter against one shared deadline (:func:`set_exit_timeout`);
after ``os.fork()`` the child starts over with an empty queue and a new worker.
"""

from __future__ import annotations

import atexit
import itertools
import math
import os
import threading
import time
import weakref
from collections.abc import Mapping
from typing import Final, Self

import requests

from snowplow_logging._diagnostics import LOGGER
from snowplow_logging._exceptions import ConfigurationError, ConfigurationTypeError
from snowplow_logging._retry import Retry
from snowplow_logging._transport import (
    RequestsTransport,
    check_count,
    check_seconds,
    collector_url,
)
from snowplow_logging._worker import (
    Buffer,
    Deferred,
    FailureCallback,
    Payload,
    SuccessCallback,
    Worker,
)

__all__ = ["Emitter", "set_exit_timeout"]

_LIVE: Final[weakref.WeakSet[Emitter]] = weakref.WeakSet()
_NAMES: Final = itertools.count(1)
_exit_timeout = 5.0


def set_exit_timeout(timeout: float) -> None:
    """Set the deadline, shared by all emitters, for sending at interpreter exit.

    At exit every emitter that is still open is closed at once, each draining
    its queue on its own worker thread until ``timeout`` seconds (5 by default)
    have passed in total; what remains is counted in ``stats["dropped_unsent"]``
    and reported in a warning on the ``snowplow_logging`` logger. ``0`` does
    not wait at all.

    Raises:
        ConfigurationError: ``timeout`` is negative or not finite.

    .. versionadded:: 0.1.0
    """
    global _exit_timeout  # noqa: PLW0603 - one process-wide setting, read at exit
    _exit_timeout = check_seconds("timeout", timeout)


@atexit.register
def _close_all_at_exit() -> None:
    emitters = list(_LIVE)
    deadline = time.monotonic() + _exit_timeout
    for emitter in emitters:
        emitter._begin_close(deadline)  # noqa: SLF001 - all workers drain in parallel
    for emitter in emitters:
        emitter._finish_close(deadline)  # noqa: SLF001


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


class Emitter:
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
        session: a ``requests.Session`` to send with (proxies, TLS, auth); it is
            not closed by :meth:`close`. By default the emitter owns one.
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
        self._reset(fresh_connections=False, closed=False)
        _LIVE.add(self)
        method_ref = weakref.WeakMethod(self._after_fork_in_child)

        def after_fork_in_child() -> None:
            method = method_ref()
            if method is not None:
                method()

        os.register_at_fork(after_in_child=after_fork_in_child)

    def _reset(self, *, fresh_connections: bool, closed: bool) -> None:
        """Set up a new buffer, transport and worker (again, in a forked child)."""
        self._pid = os.getpid()
        self._buffer = Buffer()
        self._buffer.closed = closed
        transport = RequestsTransport(
            self._url,
            method=self.method,
            session=self._session,
            headers=self._headers,
            auth=self._auth,
            timeout=self._timeout,
            fresh_connections=fresh_connections,
        )
        self._transport = transport
        self._worker = Worker(
            self._buffer,
            transport,
            display=self._display,
            method=self.method,
            batch_size=min(self._batch_size, self._max_queue),  # wakes before full
            byte_limit=self._byte_limit,
            interval=self._interval,
            retry=self._retry,
            on_success=self._on_success,
            on_failure=self._on_failure,
        )

    def _after_fork_in_child(self) -> None:
        # The parent keeps and sends what it queued; the child must not share its
        # lock, queue or pooled connections (PROTOCOL.md pitfall 3).
        self._reset(fresh_connections=True, closed=self._buffer.closed)

    def __repr__(self) -> str:
        buffer = self._buffer  # no lock: a repr must never block
        return (
            f"<Emitter {self.method.upper()} {self._display} "
            f"queued={len(buffer.queue) + buffer.in_flight} closed={buffer.closed}>"
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    accepts_deferred: Final = True
    """:meth:`input` also takes a no-argument callable returning the payload,
    called on the worker thread: :class:`~snowplow_logging.Tracker` uses it to
    build payloads off the caller's thread."""

    def input(self, payload: Payload | Deferred) -> None:
        """Queue one payload; the emitter now owns the dict. Never blocks or raises.

        Runs on the caller's thread: O(1) under a lock that no I/O ever holds.
        After :meth:`close`, or while ``max_queue`` events are held, the payload
        is dropped and counted. ``payload`` may also be a callable building it,
        called on the worker thread; if it raises, the event counts as failed.
        """
        if self._pid != os.getpid():  # a fork that skipped the at-fork hooks
            self._after_fork_in_child()
        buffer = self._buffer
        with buffer.lock:
            buffer.inputs += 1
            if buffer.closed:
                buffer.dropped_closed += 1
                return
            if len(buffer.queue) + buffer.in_flight >= self._max_queue:
                buffer.dropped_full += 1
                if buffer.drop_wakes:  # once per report, not once per drop
                    buffer.drop_wakes = False
                    buffer.wake.set()
                return
            if buffer.thread is None and not self._start_locked():
                return
            buffer.queue.append(payload)
            buffer.accepted += 1
            queued = len(buffer.queue)
        if queued >= buffer.wake_at and not buffer.wake.is_set():
            buffer.wake.set()

    def _start_locked(self) -> bool:
        thread = threading.Thread(
            target=self._worker.run,
            name=f"snowplow_logging.Emitter-{next(_NAMES)}",
            daemon=True,
        )
        try:
            thread.start()
        except RuntimeError:  # interpreter shutdown: no new threads (PEERS lesson 8)
            self._buffer.dropped_closed += 1
            return False
        self._buffer.thread = thread
        return True

    @property
    def stats(self) -> dict[str, int]:
        """A snapshot of the counters; ``inputs == sent + failed + dropped + queued``.

        ``inputs`` payloads given to :meth:`input`; ``queued`` held now (waiting
        or in flight); ``sent`` accepted by the collector (2xx); ``failed``
        refused for good (a no-retry status, ``max_attempts`` used up, or not
        encodable); ``dropped`` the sum of ``dropped_queue_full`` (queue full),
        ``dropped_closed`` (input after :meth:`close`, or when no thread can
        start at interpreter shutdown) and ``dropped_unsent`` (held when close
        or exit gave up); ``requests`` HTTP attempts made;
        ``retried`` attempts that were retries.
        """
        b = self._buffer
        with b.cond:
            return {
                "inputs": b.inputs,
                "queued": b.held(),
                "sent": b.sent,
                "failed": b.failed,
                "dropped": b.dropped_full + b.dropped_closed + b.dropped_unsent,
                "dropped_queue_full": b.dropped_full,
                "dropped_closed": b.dropped_closed,
                "dropped_unsent": b.dropped_unsent,
                "requests": b.requests,
                "retried": b.retried,
            }

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued so far and wait until it is delivered or failed.

        Blocks the caller, without using CPU, while the worker sends, respecting
        back-off. Called from a callback on the worker thread it only asks for a
        flush and returns False, since the worker cannot wait for itself.

        Args:
            timeout: seconds to wait at most; ``None`` waits until done.

        Returns:
            True if every event queued before the call was resolved in time.
        """
        if self._pid != os.getpid():
            self._after_fork_in_child()
        deadline = math.inf if timeout is None else time.monotonic() + timeout
        buffer = self._buffer
        with buffer.cond:
            target = buffer.accepted
            buffer.flush_upto = max(buffer.flush_upto, target)
        buffer.wake.set()
        if threading.current_thread() is buffer.thread:
            return False
        with buffer.cond:
            while buffer.accepted - buffer.held() < target:  # resolved in order
                remaining = deadline - time.monotonic()
                if buffer.abandoned or remaining <= 0:
                    return False
                buffer.cond.wait(None if math.isinf(remaining) else remaining)
        return True

    def close(self, timeout: float | None = 5.0) -> bool:
        """Stop accepting events, send what is queued, stop the worker. Idempotent.

        Later :meth:`input` calls are counted in ``dropped_closed``. Events still
        held when ``timeout`` expires, or whose next retry would come after it,
        are counted in ``dropped_unsent`` and reported in one warning.

        Args:
            timeout: seconds to wait at most; ``None`` waits until everything
                is delivered or failed, however long the collector is down.

        Returns:
            True if everything was delivered or failed before the timeout.
        """
        deadline = math.inf if timeout is None else time.monotonic() + timeout
        self._begin_close(deadline)
        return self._finish_close(deadline)

    def _begin_close(self, deadline: float) -> None:
        buffer = self._buffer
        with buffer.cond:
            buffer.closed = True
            buffer.deadline = min(deadline, buffer.deadline or math.inf)
        buffer.closing.set()
        buffer.wake.set()

    def _finish_close(self, deadline: float) -> bool:
        buffer = self._buffer
        thread = buffer.thread
        if thread is threading.current_thread():
            return False  # close() from a callback: the worker stops after it
        if thread is not None:
            remaining = deadline - time.monotonic()
            thread.join(None if math.isinf(remaining) else max(0.0, remaining))
        with buffer.cond:
            if buffer.held():
                buffer.abandon()
            unsent = 0 if buffer.reported else buffer.dropped_unsent
            buffer.reported = buffer.abandoned
        if unsent:
            LOGGER.warning(
                "Snowplow emitter %s: %d events could not be delivered before the "
                "close deadline and were dropped.",
                self._display,
                unsent,
            )
        if thread is None or not thread.is_alive():
            self._transport.close()
        return not buffer.abandoned
