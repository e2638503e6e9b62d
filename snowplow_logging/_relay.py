"""A bounded queue and one daemon thread handing payload batches to a sink.

:class:`RelayEmitter` is the base of the emitters that do not speak HTTP to a
collector themselves but hand events to something that will (issue #9): a
Redis list, a Celery task. It keeps the promises of
:class:`~snowplow_logging.Emitter`: ``input()`` only appends to a bounded deque
under a short lock (no JSON, no I/O, never raises), drops are counted, the
stats obey ``inputs == sent + failed + dropped + queued``, ``flush()`` returns
whether everything queued before it was resolved in time, ``close()`` drains
within a deadline and is idempotent, emitters still open at exit share
:func:`~snowplow_logging.set_exit_timeout`'s deadline, and after ``os.fork()``
the child starts empty with its own thread.

A subclass implements :meth:`RelayEmitter._push` (runs on the worker thread)
and :meth:`RelayEmitter._retryable`; a push that raises a retryable error is
retried with the :class:`~snowplow_logging.Retry` policy's back-off.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import threading
import time
import weakref
from collections import deque
from typing import Final, Self

from snowplow_logging import _emitter
from snowplow_logging._diagnostics import LOGGER, RateLimitedLog
from snowplow_logging._exceptions import ConfigurationTypeError
from snowplow_logging._retry import Retry
from snowplow_logging._tracker import Payload
from snowplow_logging._transport import check_count, check_seconds

__all__ = ["RelayEmitter"]

_NAMES: Final = itertools.count(1)


class RelayEmitter:
    """Queues payloads and pushes them in batches from a daemon thread.

    Args:
        batch_size: most payloads in one push.
        flush_interval: seconds between timed pushes of whatever is queued.
        max_queue: most payloads held (waiting or being pushed); newer ones
            are dropped and counted in ``dropped_queue_full``.
        retry: the back-off policy for retryable push errors;
            ``Retry.disabled()`` fails a batch at its first error.

    Raises:
        ConfigurationError: a setting has a value that cannot work.
        ConfigurationTypeError: a setting has the wrong type.
    """

    def __init__(
        self,
        *,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        max_queue: int = 10_000,
        retry: Retry | None = None,
    ) -> None:
        self._batch_size = check_count("batch_size", batch_size)
        self._interval = check_seconds("flush_interval", flush_interval, positive=True)
        self._max_queue = check_count("max_queue", max_queue)
        given: object = retry  # checked at run time: dictConfig passes anything
        if given is not None and not isinstance(given, Retry):
            msg = f"'retry' must be a Retry or None (got {retry!r})."
            raise ConfigurationTypeError(msg)
        self._retry = Retry() if retry is None else retry
        self._notices = RateLimitedLog()
        self._reset(closed=False)
        # One exit deadline for every emitter: the Emitter's atexit hook closes
        # whatever is in this set through _begin_close/_finish_close.
        _emitter._LIVE.add(self)  # type: ignore[arg-type]  # noqa: SLF001
        method_ref = weakref.WeakMethod(self._after_fork_in_child)

        def after_fork_in_child() -> None:
            method = method_ref()
            if method is not None:
                method()

        os.register_at_fork(after_in_child=after_fork_in_child)

    def _reset(self, *, closed: bool) -> None:
        """Fresh state: at construction, and in a forked child."""
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._queue: deque[Payload] = deque()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._give_up = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = closed
        self._deadline: float | None = None
        self._abandoned = self._reported = False
        self._accepted = self._flush_upto = self._in_flight = 0
        self._inputs = self._sent = self._failed = self._requests = self._retried = 0
        self._dropped_full = self._dropped_closed = self._dropped_unsent = 0
        self._failures = 0  # consecutive failed attempts, for back-off
        self._reported_drops = 0

    def _after_fork_in_child(self) -> None:
        # The parent pushes what it queued; the child must not share its lock,
        # its queue or its connections.
        self._reset(closed=self._closed)
        self._forked()

    def _forked(self) -> None:
        """Hook: drop connections inherited from the parent (runs in the child)."""

    def _push(self, batch: list[Payload]) -> int:
        """Hand ``batch`` to the sink; runs on the worker thread.

        Returns:
            How many payloads failed for good (e.g. could not be encoded); the
            rest count as sent.

        Raises:
            Exception: the whole batch was not pushed; retried if
                :meth:`_retryable` says so, failed otherwise.
        """
        raise NotImplementedError

    def _retryable(self, exc: Exception) -> bool:
        """Whether a push that raised ``exc`` may succeed later."""
        return isinstance(exc, OSError)

    def _close_sink(self) -> None:
        """Hook: release the sink's resources once the worker has stopped."""

    def _describe(self) -> str:
        """Where payloads go, for messages (never with credentials)."""
        return type(self).__name__

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self._describe()} "
            f"queued={len(self._queue) + self._in_flight} closed={self._closed}>"
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def input(self, payload: Payload) -> None:
        """Queue one payload; the emitter now owns the dict. Never blocks or raises.

        Runs on the caller's thread: O(1) under a lock that no I/O ever holds.
        After :meth:`close`, or while ``max_queue`` payloads are held, the
        payload is dropped and counted.
        """
        if self._pid != os.getpid():  # a fork that skipped the at-fork hooks
            self._after_fork_in_child()
        with self._lock:
            self._inputs += 1
            if self._closed:
                self._dropped_closed += 1
                return
            if len(self._queue) + self._in_flight >= self._max_queue:
                self._dropped_full += 1
                return
            if self._thread is None and not self._start_locked():
                return
            self._queue.append(payload)
            self._accepted += 1
            queued = len(self._queue)
        if queued >= self._batch_size and not self._wake.is_set():
            self._wake.set()

    def _start_locked(self) -> bool:
        thread = threading.Thread(
            target=self._run,
            name=f"snowplow_logging.{type(self).__name__}-{next(_NAMES)}",
            daemon=True,
        )
        try:
            thread.start()
        except RuntimeError:  # interpreter shutdown: no new threads (PEERS lesson 8)
            self._dropped_closed += 1
            return False
        self._thread = thread
        return True

    @property
    def stats(self) -> dict[str, int]:
        """A snapshot of the counters; ``inputs == sent + failed + dropped + queued``.

        The keys are :attr:`Emitter.stats <snowplow_logging.Emitter.stats>`'s:
        ``sent`` counts payloads the sink accepted, ``requests`` push attempts
        and ``retried`` the attempts that were retries.
        """
        with self._lock:
            return {
                "inputs": self._inputs,
                "queued": len(self._queue) + self._in_flight,
                "sent": self._sent,
                "failed": self._failed,
                "dropped": self._dropped_full
                + self._dropped_closed
                + self._dropped_unsent,
                "dropped_queue_full": self._dropped_full,
                "dropped_closed": self._dropped_closed,
                "dropped_unsent": self._dropped_unsent,
                "requests": self._requests,
                "retried": self._retried,
            }

    def flush(self, timeout: float | None = None) -> bool:
        """Push everything queued so far and wait until it is pushed or failed.

        Blocks the caller without using CPU. Called on the worker thread it
        only asks for a flush and returns False.

        Args:
            timeout: seconds to wait at most; ``None`` waits until done.

        Returns:
            True if every payload queued before the call was resolved in time.
        """
        if self._pid != os.getpid():
            self._after_fork_in_child()
        deadline = math.inf if timeout is None else time.monotonic() + timeout
        with self._lock:
            target = self._accepted
            self._flush_upto = max(self._flush_upto, target)
        self._wake.set()
        if threading.current_thread() is self._thread:
            return False
        with self._cond:
            while self._accepted - len(self._queue) - self._in_flight < target:
                remaining = deadline - time.monotonic()
                if self._abandoned or remaining <= 0:
                    return False
                self._cond.wait(None if math.isinf(remaining) else remaining)
        return True

    def close(self, timeout: float | None = 5.0) -> bool:
        """Stop accepting payloads, push what is queued, stop the thread. Idempotent.

        Later :meth:`input` calls count in ``dropped_closed``; payloads still
        held when ``timeout`` expires count in ``dropped_unsent`` and are
        reported in one warning.

        Args:
            timeout: seconds to wait at most; ``None`` waits until done.

        Returns:
            True if everything was pushed or failed before the timeout.
        """
        deadline = math.inf if timeout is None else time.monotonic() + timeout
        self._begin_close(deadline)
        return self._finish_close(deadline)

    def _begin_close(self, deadline: float) -> None:
        with self._lock:
            self._closed = True
            self._deadline = min(deadline, self._deadline or math.inf)
        self._closing.set()
        self._wake.set()

    def _finish_close(self, deadline: float) -> bool:
        thread = self._thread
        if thread is threading.current_thread():
            return False
        if thread is not None:
            remaining = deadline - time.monotonic()
            thread.join(None if math.isinf(remaining) else max(0.0, remaining))
        with self._cond:
            if len(self._queue) + self._in_flight:
                self._abandon_locked()
            unsent = 0 if self._reported else self._dropped_unsent
            self._reported = self._abandoned
        if unsent:
            LOGGER.warning(
                "Snowplow %s: %d events could not be pushed before the close "
                "deadline and were dropped.",
                self._describe(),
                unsent,
            )
        if thread is None or not thread.is_alive():
            self._close_sink()
        return not self._abandoned

    def _abandon_locked(self) -> None:
        if not self._abandoned:
            self._abandoned = True
            self._dropped_unsent += len(self._queue) + self._in_flight
            self._queue.clear()
            self._in_flight = 0
            self._give_up.set()
            self._cond.notify_all()

    def _run(self) -> None:
        """The worker thread: wait for a full batch, a flush or the timer."""
        next_tick = time.monotonic() + self._interval
        while True:
            wait = next_tick - time.monotonic()
            if wait > 0:
                self._wake.wait(wait)
            self._wake.clear()
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + self._interval
                with self._lock:
                    self._flush_upto = max(self._flush_upto, self._accepted)
            self._report_drops()
            if not self._drain():
                return

    def _drain(self) -> bool:
        """Push every batch that is due; False once the thread should stop."""
        while True:
            with self._lock:
                if self._abandoned:
                    return False
                if not self._queue:
                    return self._deadline is None
                taken = self._accepted - len(self._queue)
                due = self._deadline is not None or taken < self._flush_upto
                if not due and len(self._queue) < self._batch_size:
                    return True
                count = min(len(self._queue), self._batch_size)
                batch = [self._queue.popleft() for _ in range(count)]
                self._in_flight += count
            if not self._deliver(batch):
                return False

    def _deliver(self, batch: list[Payload]) -> bool:
        """Push one batch until it succeeds or fails for good; False to stop."""
        attempts = 0
        while True:
            attempts += 1
            try:
                failed = self._push(batch)
            except Exception as exc:  # noqa: BLE001 - the worker must outlive any sink error
                retry, reason = self._retryable(exc), repr(exc)
            else:
                retry, reason = False, ""
            with self._lock:
                self._requests += 1
                self._retried += attempts > 1
            if not reason:
                self._resolve(len(batch) - failed, failed)
                if self._failures:
                    self._failures = 0
                    self._notices.log(
                        logging.INFO,
                        "recovered",
                        "Snowplow %s reachable again.",
                        self._describe(),
                    )
                return True
            if retry and self._abandoned:
                return False  # close() gave up on this batch: nothing to report
            if not retry or attempts == self._retry.max_attempts:
                self._resolve(0, len(batch))
                self._notices.warning(
                    "failed",
                    "Snowplow %s: %d events failed (%s) and were dropped.",
                    self._describe(),
                    len(batch),
                    reason,
                )
                return True
            self._failures += 1
            if self._failures == 1:
                self._notices.warning(
                    "unreachable",
                    "Snowplow %s unreachable (%s); retrying with back-off.",
                    self._describe(),
                    reason,
                )
            if not self._backoff(self._retry.delay(self._failures)):
                return False

    def _backoff(self, delay: float) -> bool:
        """Wait ``delay`` seconds; False if closing cannot wait that long."""
        until = time.monotonic() + delay
        while True:
            with self._cond:
                if self._deadline is not None and until >= self._deadline:
                    self._abandon_locked()  # the retry would come after the deadline
                if self._abandoned:
                    return False
            self._report_drops()
            remaining = until - time.monotonic()
            if remaining <= 0:
                return True
            closing = self._closing.is_set()
            (self._give_up if closing else self._closing).wait(remaining)

    def _resolve(self, sent: int, failed: int) -> None:
        with self._cond:
            if self._abandoned:  # close() gave up on these; the late answer wins
                self._dropped_unsent -= sent + failed
            else:
                self._in_flight -= sent + failed
            self._sent += sent
            self._failed += failed
            self._cond.notify_all()

    def _report_drops(self) -> None:
        dropped = self._dropped_full
        if dropped > self._reported_drops:
            self._reported_drops = dropped
            self._notices.warning(
                "queue_full",
                "Snowplow %s: queue full; %d new events dropped so far.",
                self._describe(),
                dropped,
            )
