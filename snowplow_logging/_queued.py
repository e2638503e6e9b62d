"""What every queued emitter shares: the call site, flush, close, exit and fork.

:class:`QueuedEmitter` is the base of :class:`~snowplow_logging.Emitter` (HTTP
to a collector) and of the relays (Redis, Celery, the spool file). It keeps
their common promises:

* ``input()`` runs on the caller's thread and only appends to a bounded deque
  under a short lock: no JSON, no I/O (PROTOCOL.md pitfall 14), never raises;
  what does not fit, or comes after ``close()``, is dropped and counted;
* one named daemon thread per emitter, started by the first event, runs the
  subclass's :class:`~snowplow_logging._worker.Loop`;
* ``stats`` obey ``inputs == sent + failed + dropped + queued``;
* ``flush()`` waits for a count, not for an empty queue: events are resolved
  in the order they were accepted;
* ``close()`` drains within a deadline and is idempotent;
* at interpreter exit one ``atexit`` hook closes every live emitter against
  one shared deadline (:func:`set_exit_timeout`);
* after ``os.fork()`` the child starts over with an empty queue and a new
  thread, and the parent keeps sending what it had queued.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import time
import weakref
from typing import Final, Self

from snowplow_logging._delivery import exit as _exit
from snowplow_logging._delivery.exit import set_exit_timeout
from snowplow_logging._diagnostics import LOGGER
from snowplow_logging._worker import Buffer, Deferred, Loop, Payload

__all__ = ["QueuedEmitter", "set_exit_timeout"]

_NAMES: Final = itertools.count(1)


class QueuedEmitter:
    """A bounded queue drained by one daemon thread; the base of every emitter.

    A subclass checks its settings, sets ``_max_queue``, then calls
    :meth:`_activate`; it builds its worker loop in :meth:`_new_loop`, names its
    destination in :meth:`_describe` and releases its connections in
    :meth:`_release`.
    """

    _max_queue: int

    accepts_deferred: Final = True
    """:meth:`input` also takes a no-argument callable returning the payload,
    called on the worker thread: :class:`~snowplow_logging.Tracker` uses it to
    build payloads off the caller's thread."""

    def _activate(self) -> None:
        """Start the state, join the exit deadline and watch for fork."""
        self._reset(closed=False, forked=False)
        _exit.register(self)
        method_ref = weakref.WeakMethod(self._after_fork_in_child)

        def after_fork_in_child() -> None:
            method = method_ref()
            if method is not None:
                method()

        os.register_at_fork(after_in_child=after_fork_in_child)

    def _reset(self, *, closed: bool, forked: bool) -> None:
        """Set up a new buffer and worker loop (again, in a forked child)."""
        self._pid = os.getpid()
        buffer = Buffer()
        buffer.closed = closed
        self._buffer = buffer
        self._loop = self._new_loop(buffer, forked=forked)

    def _after_fork_in_child(self) -> None:
        # The parent keeps and sends what it queued; the child must not share
        # its lock, queue or connections (PROTOCOL.md pitfall 3).
        self._reset(closed=self._buffer.closed, forked=True)

    def _new_loop(self, buffer: Buffer, *, forked: bool) -> Loop:
        """The worker loop over ``buffer``; ``forked`` in a forked child."""
        raise NotImplementedError

    def _describe(self) -> str:
        """Where events go, for messages (never with credentials)."""
        raise NotImplementedError

    def _release(self) -> None:
        """Hook: close connections once the worker thread has stopped."""

    def __repr__(self) -> str:
        buffer = self._buffer  # no lock: a repr must never block
        return (
            f"<{type(self).__name__} {self._describe()} "
            f"queued={len(buffer.queue) + buffer.in_flight} closed={buffer.closed}>"
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

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
        with buffer.lock:  # counts only drops: Buffer derives inputs and accepted
            if buffer.closed:
                buffer.dropped_closed += 1
                if not _exit.exited() or buffer.late_reported:
                    return
                buffer.late_reported = True
                queued = -1  # report it, outside the lock
            elif len(buffer.queue) + buffer.in_flight >= self._max_queue:
                buffer.dropped_full += 1
                if buffer.drop_wakes:  # once per report, not once per drop
                    buffer.drop_wakes = False
                    buffer.wake.set()
                return
            else:
                if buffer.thread is None and not self._start_locked():
                    return
                buffer.queue.append(payload)
                queued = len(buffer.queue)
        if queued < 0:
            LOGGER.warning(
                "Snowplow %s: an event was tracked after the exit flush and dropped "
                "(from an atexit function registered before snowplow_logging was "
                "imported?); later ones count in stats['dropped_closed'].",
                self._describe(),
            )
            return
        if queued >= buffer.wake_at and not buffer.wake.is_set():
            buffer.wake.set()

    def _start_locked(self) -> bool:
        thread = threading.Thread(
            target=self._loop.run,
            name=f"snowplow_logging.{type(self).__name__}-{next(_NAMES)}",
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
        or in flight); ``sent`` accepted by the destination; ``failed``
        refused for good (a no-retry answer, ``max_attempts`` used up, or not
        encodable); ``dropped`` the sum of ``dropped_queue_full`` (queue full),
        ``dropped_closed`` (input after :meth:`close`, or when no thread can
        start at interpreter shutdown) and ``dropped_unsent`` (held when close
        or exit gave up); ``requests`` attempts made; ``retried`` attempts that
        were retries.
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

        Later :meth:`input` calls are counted in ``dropped_closed``. Events still
        held when ``timeout`` expires, or whose next retry would come after it,
        are counted in ``dropped_unsent`` and reported in one warning.

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
        buffer = self._buffer
        with buffer.cond:
            buffer.closed = True
            buffer.deadline = min(deadline, buffer.deadline or math.inf)
        buffer.closing.set()
        buffer.wake.set()

    def finish_close(self, deadline: float) -> bool:
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
                "Snowplow %s: %d events could not be delivered before the "
                "close deadline and were dropped.",
                self._describe(),
                unsent,
            )
        if thread is None or not thread.is_alive():
            self._release()
        return not buffer.abandoned
