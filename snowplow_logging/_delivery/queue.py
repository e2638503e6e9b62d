"""The state an engine's caller threads share with its worker: :class:`Buffer`.

One condition guards the bounded queue and every counter; its lock is only
ever held for O(1) or O(batch) work, never across I/O. Events leave the queue
in the order they were accepted, are *taken* by the worker, then *resolved*
(sent, failed, or dropped unsent), and ``flush()`` waits for a count.
"""

from __future__ import annotations

import threading
from collections import deque

from snowplow_logging._delivery.sink import Queued

__all__ = ["Buffer"]


class Buffer:
    """Queue and counters shared by the caller threads and the worker.

    Every field is read and written under ``cond``, except ``wake_at`` (an int
    the worker tunes and callers read), ``drop_wakes`` and the events. Accepted
    events leave in order: ``taken`` by the worker, then resolved. ``input()``
    only appends, so whatever leaves ``queue`` must be counted in ``taken`` (or
    ``cleared``): :attr:`accepted` and :attr:`inputs` are derived from them.
    """

    def __init__(self) -> None:
        # Callers take ``lock`` directly (C-level, no Condition wrapper call);
        # the worker waits and notifies through ``cond`` over the same lock.
        # Reentrant: a signal handler that logs runs on the thread holding it.
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.queue: deque[Queued] = deque()
        self.wake = threading.Event()  # work is due
        self.closing = threading.Event()  # close() has begun
        self.give_up = threading.Event()  # close() gave up on what is left
        self.thread: threading.Thread | None = None
        self.closed = False
        self.deadline: float | None = None
        self.abandoned = False
        self.reported = False  # the unsent count was logged
        self.late_reported = False  # an input after the exit flush was logged
        self.flush_upto = 0
        self.flush_waits: list[int] = []  # targets flush() callers wait for
        self.settling = 0  # events counted whose callbacks have not returned yet
        self.wake_at = 1
        self.woken = False  # wake set since the worker cleared it: wake_worker()
        self.drop_wakes = True  # a drop wakes the worker to report it
        self.taken = self.in_flight = self.cleared = 0  # cleared: by abandon()
        self.sent = self.failed = self.requests = self.retried = 0
        self.dropped_full = self.dropped_closed = self.dropped_unsent = 0

    @property
    def accepted(self) -> int:
        """Events input() queued: taken by the worker, waiting, or cleared (under ``cond``)."""
        return self.taken + len(self.queue) + self.cleared

    @property
    def inputs(self) -> int:
        """Payloads given to input(): accepted or dropped there (call under ``cond``)."""
        return self.accepted + self.dropped_full + self.dropped_closed

    def held(self) -> int:
        """Events accepted and not yet resolved (call under ``cond``)."""
        return len(self.queue) + self.in_flight

    def resolved(self) -> int:
        """Events accepted and resolved, their callbacks returned (under ``cond``).

        Events resolve in the order they were accepted, so flush() compares
        this count with the number accepted when it was called.
        """
        return self.accepted - len(self.queue) - self.in_flight - self.settling

    def notify_flushers(self) -> None:
        """Wake flush() callers whose events are all resolved (call under ``cond``).

        Only then: waking a waiter per settled batch would cost two context
        switches per GET request.
        """
        if self.flush_waits and self.resolved() >= min(self.flush_waits):
            self.cond.notify_all()

    def wake_worker(self) -> None:
        """Set ``wake`` unless ``woken`` says it is set (call under ``lock``).

        Callers read the plain ``woken``, not the Event's Python-level
        ``is_set()``. Both are set under the lock, and the worker clears
        ``woken`` under it after clearing ``wake``, before it takes events:
        no wake is lost, and a signal handler that interrupts this
        thread inside ``wake.set()`` (which holds the Event's own,
        non-reentrant lock) finds ``woken`` true and does not enter it again.
        """
        if not self.woken:
            self.woken = True
            self.wake.set()

    def abandon(self) -> None:
        """Count everything still held as unsent and stop (call under ``cond``)."""
        if not self.abandoned:
            self.abandoned = True
            self.dropped_unsent += self.held()
            self.cleared += len(self.queue)
            self.queue.clear()
            self.in_flight = 0
            self.give_up.set()
            self.cond.notify_all()
