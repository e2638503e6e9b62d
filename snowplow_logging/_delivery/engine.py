"""The batching engine: a bounded queue drained by one worker thread into a sink.

:class:`Engine` keeps the promises every emitter makes, whatever its
destination (a :class:`~snowplow_logging._delivery.sink.Sink`):

* :meth:`Engine.put` runs on the caller's thread and only appends to a
  bounded deque under a short lock: no JSON, no I/O (docs/protocol.md
  pitfall 14), never raises; what does not fit, or comes after close, is
  dropped and counted;
* one named daemon thread, started by the first event, prepares, packs and
  sends batches, retrying with the :class:`~snowplow_logging.Retry` policy's
  back-off and resolving every event as sent or failed, in order;
* ``stats`` obey ``inputs == sent + failed + dropped + queued``;
* :meth:`Engine.flush` waits for a count, and for the callbacks of those events;
* :meth:`Engine.close` drains within a deadline and is idempotent; at
  interpreter exit :mod:`~snowplow_logging._delivery.exit` closes every live
  engine against one shared deadline;
* after ``os.fork()`` the child starts with an empty queue, a new thread and
  the sink's connections dropped; the parent keeps sending what it queued.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import time
import weakref
from typing import Final, Generic, NamedTuple, Self

from snowplow_logging._delivery import exit as _exit
from snowplow_logging._delivery.queue import Buffer
from snowplow_logging._delivery.sink import Item, Queued, Sink
from snowplow_logging._delivery.worker import FailureCallback, SuccessCallback, Worker
from snowplow_logging._diagnostics import LOGGER, RateLimitedLog, counted
from snowplow_logging._retry import Retry

__all__ = ["Engine", "FailureCallback", "Settings", "SuccessCallback"]

_NAMES: Final = itertools.count(1)


class Settings(NamedTuple):
    """An engine's checked settings."""

    max_queue: int
    """Most events held (waiting or in flight); newer ones are dropped and
    counted in ``dropped_queue_full``."""
    interval: float
    """Seconds between timed sends of whatever is queued."""
    retry: Retry
    """The retry policy."""


class Engine(Generic[Item]):
    """A bounded queue and one daemon thread handing batches to ``sink``.

    Args:
        sink: the destination.
        name: the emitter's class name, for the worker thread's name.
        settings: the queue bound, the timer and the retry policy.
        on_success: on_failure: the user's callbacks, or ``None``.
    """

    def __init__(
        self,
        sink: Sink[Item],
        *,
        name: str,
        settings: Settings,
        on_success: SuccessCallback | None = None,
        on_failure: FailureCallback | None = None,
    ) -> None:
        self.sink = sink
        self._name = name
        self._max_queue = settings.max_queue
        self._interval, self._retry = settings.interval, settings.retry
        self._on_success, self._on_failure = on_success, on_failure
        self.notices = RateLimitedLog()
        self._released: bool | None = None  # what sink.close() said, once called
        self._reset(closed=False)
        _exit.register(self)
        method_ref = weakref.WeakMethod(self._after_fork_in_child)

        def after_fork_in_child() -> None:
            method = method_ref()
            if method is not None:
                method()

        os.register_at_fork(after_in_child=after_fork_in_child)

    def _reset(self, *, closed: bool) -> None:
        """Start with a new buffer and worker state (again, in a forked child)."""
        self._pid = os.getpid()
        self._report_lock = threading.Lock()  # new in a child: a thread may hold it
        buffer = Buffer()
        buffer.closed = closed
        self._buffer = buffer
        self._worker = Worker(
            buffer,
            self.sink,
            interval=self._interval,
            retry=self._retry,
            on_success=self._on_success,
            on_failure=self._on_failure,
            notices=self.notices,
        )

    def _after_fork_in_child(self) -> None:
        # The parent keeps and sends what it queued; the child must not share
        # its lock, queue or connections (docs/protocol.md pitfall 3).
        usable = self.sink.after_fork()
        self._reset(closed=self._buffer.closed or not usable)

    def __repr__(self) -> str:
        buffer = self._buffer  # no lock: a repr must never block
        return (
            f"<{self._name} {self.sink.describe} "
            f"queued={len(buffer.queue) + buffer.in_flight} closed={buffer.closed}>"
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- the caller's side -------------------------------------------------

    def put(self, item: Queued) -> None:
        """Queue one payload or pending event; the engine now owns it.

        Runs on the caller's thread: O(1) under a lock that no I/O ever holds;
        never blocks or raises. After close, or while ``max_queue`` events are
        held, the event is dropped and counted.
        """
        if self._pid != os.getpid():  # a fork that skipped the at-fork hooks
            self._after_fork_in_child()
        buffer = self._buffer
        lock = buffer.lock
        # acquire() inside the ``try`` (half the cost of ``with`` on this
        # path): a signal handler runs at the end of the acquire call, inside
        # the ``try``, so one that raises there still releases the lock. If it
        # raised while acquire() waited, nothing is held: release() says so
        # with RuntimeError, which is dropped so that the handler's own
        # exception goes on.
        try:
            lock.acquire()  # counts only drops: Buffer derives inputs and accepted
            queue = buffer.queue
            if buffer.closed:
                buffer.dropped_closed += 1
                if not _exit.exited() or buffer.late_reported:
                    return
                buffer.late_reported = True
                queued = -1  # report it, outside the lock
            elif len(queue) + buffer.in_flight >= self._max_queue:
                buffer.dropped_full += 1
                if buffer.drop_wakes:  # once per report, not once per drop
                    buffer.drop_wakes = False
                    buffer.wake_worker()
                return
            else:
                if buffer.thread is None and not self._start_locked():
                    return
                queue.append(item)
                queued = len(queue)
                if queued >= buffer.wake_at and not buffer.woken:
                    buffer.wake_worker()
        finally:
            try:  # noqa: SIM105 - contextlib.suppress is a ``with``: what this avoids
                lock.release()
            except RuntimeError:  # acquire() was interrupted: not held
                pass
        if queued < 0:
            LOGGER.warning(
                "Snowplow %s: an event was tracked after this process's final flush "
                "(at exit, a child's end, SIGTERM or lifespan shutdown) and dropped; "
                "later ones count in stats['dropped_closed'].",
                self.sink.describe,
            )
            return

    input = put
    """Queue one built payload (see :meth:`put`); the emitter now owns the dict."""
    defer = put
    """Queue one pending event, built on the worker thread (see :meth:`put`)."""

    def _start_locked(self) -> bool:
        thread = threading.Thread(
            target=self._worker.run,
            name=f"snowplow_logging.{self._name}-{next(_NAMES)}",
            daemon=True,
        )
        try:
            thread.start()
        except RuntimeError:  # interpreter shutdown: no new threads
            self._buffer.dropped_closed += 1
            return False
        self._buffer.thread = thread
        return True

    @property
    def stats(self) -> dict[str, int]:
        """A snapshot of the counters; ``inputs == sent + failed + dropped + queued``.

        ``inputs`` events given to the emitter; ``queued`` held now (waiting
        or in flight); ``sent`` accepted by the destination; ``failed``
        refused for good (a no-retry answer, ``max_attempts`` used up, or not
        encodable); ``dropped`` the sum of ``dropped_queue_full`` (queue full),
        ``dropped_closed`` (after close, or when no thread can start at
        interpreter shutdown) and ``dropped_unsent`` (held when close or exit
        gave up); ``requests`` attempts made; ``retried`` attempts that were
        retries.
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

    @property
    def closed(self) -> bool:
        """Whether close has begun: new events are dropped."""
        return self._buffer.closed

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued so far and wait until it is delivered or failed.

        Blocks the caller, without using CPU, while the worker sends, respecting
        back-off. Called from a callback on the worker thread it only asks for a
        flush and returns False, since the worker cannot wait for itself.

        Args:
            timeout: seconds to wait at most; ``None`` waits until done.

        Returns:
            True if every event queued before the call was resolved in time,
            its callbacks returned.
        """
        if self._pid != os.getpid():
            self._after_fork_in_child()
        deadline = math.inf if timeout is None else time.monotonic() + timeout
        buffer = self._buffer
        with buffer.cond:
            target = buffer.accepted
            buffer.flush_upto = max(buffer.flush_upto, target)
            buffer.wake_worker()
        if threading.current_thread() is buffer.thread:
            return False
        with buffer.cond:
            buffer.flush_waits.append(target)
            try:
                while buffer.resolved() < target:  # events resolve in order
                    remaining = deadline - time.monotonic()
                    if buffer.abandoned or remaining <= 0:
                        return False
                    buffer.cond.wait(None if math.isinf(remaining) else remaining)
            finally:
                buffer.flush_waits.remove(target)
        return True

    def close(self, timeout: float | None = 5.0) -> bool:
        """Stop accepting events, send what is queued, stop the worker. Idempotent.

        Later events are counted in ``dropped_closed``. Events still held when
        ``timeout`` expires, or whose next retry would come after it, are
        counted in ``dropped_unsent`` and reported in one warning.

        Args:
            timeout: seconds to wait at most; ``None`` waits until everything
                is delivered or failed, however long the destination is down.

        Returns:
            True if everything was delivered or failed before the timeout.
        """
        deadline = math.inf if timeout is None else time.monotonic() + timeout
        self.begin_close(deadline)
        return self.finish_close(deadline)

    def begin_close(self, deadline: float) -> None:
        """Stop accepting events; the worker drains until ``deadline`` (monotonic)."""
        buffer = self._buffer
        with buffer.cond:
            buffer.closed = True
            buffer.deadline = min(deadline, buffer.deadline or math.inf)
            buffer.closing.set()
            buffer.wake_worker()

    def finish_close(self, deadline: float) -> bool:
        """Wait for the worker until ``deadline``; count and report what is left."""
        buffer = self._buffer
        thread = buffer.thread
        if thread is threading.current_thread():
            return False  # close() from a callback: the worker stops after it
        with buffer.cond:  # an earlier close (the exit's) set the deadline that holds
            deadline = min(deadline, buffer.deadline or math.inf)
        if thread is not None:
            remaining = deadline - time.monotonic()
            thread.join(None if math.isinf(remaining) else max(0.0, remaining))
        with self._report_lock:  # a concurrent close returns after the report
            with buffer.cond:
                if buffer.held():
                    buffer.abandon()
                unsent = 0 if buffer.reported else buffer.dropped_unsent
            if unsent:
                LOGGER.warning(
                    "Snowplow %s: %s could not be delivered before the "
                    "close deadline, dropped.",
                    self.sink.describe,
                    counted(unsent, "event"),
                )
            with buffer.cond:
                buffer.reported = buffer.abandoned
        if self._released is None and (thread is None or not thread.is_alive()):
            self._released = self.sink.close(deadline)  # once, after the worker
        return not buffer.abandoned and self._released is not False
