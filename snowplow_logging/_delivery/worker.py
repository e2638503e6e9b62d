"""The worker thread of an engine: prepares, packs and sends batches to the sink.

:class:`Worker` runs on the engine's daemon thread only. It waits for work or
the timer, takes what is due from the :class:`~snowplow_logging._delivery.queue.Buffer`,
builds pending events and has the sink prepare them, sends batches with
retries and back-off (:class:`~snowplow_logging.Retry`), counts each event as
sent or failed in the order accepted, runs the user's callbacks, and reports
drops, failures and recoveries on the library's logger, rate-limited.
"""

from __future__ import annotations

import logging
import signal
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Final, Generic, TypeAlias, cast

from snowplow_logging._delivery.queue import Buffer
from snowplow_logging._delivery.sink import (
    Attempt,
    Item,
    Payload,
    Pending,
    Queued,
    Sink,
)
from snowplow_logging._diagnostics import RateLimitedLog, counted
from snowplow_logging._retry import Outcome, Retry

__all__ = ["FailureCallback", "SuccessCallback", "Worker"]

SuccessCallback: TypeAlias = Callable[[list[Payload]], object]
"""``on_success(payloads)``: called on the worker thread with delivered payloads."""
FailureCallback: TypeAlias = Callable[[int, list[Payload]], object]
"""``on_failure(sent_count, failed_payloads)``: called on the worker thread when
events fail for good; ``sent_count`` counts events delivered earlier in the same
send cycle."""


_PROCESS_SIGNALS: Final = frozenset(
    getattr(signal, name)
    for name in ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")
    if hasattr(signal, name)
)


def _block_process_signals() -> None:
    """Leave process-directed signals to the other threads (this one only sends).

    Python runs handlers on the main thread; a signal the kernel delivers to
    this thread would only wake the main thread late, while it waits on a lock.
    """
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, _PROCESS_SIGNALS)


class Worker(Generic[Item]):
    """The loop an engine's thread runs over one buffer (a new one after fork).

    Args:
        buffer: the state shared with the caller threads.
        sink: the destination.
        interval: seconds between timed sends.
        retry: the retry policy.
        on_success: on_failure: the user's callbacks, or ``None``.
        notices: the engine's rate-limited log.
    """

    def __init__(
        self,
        buffer: Buffer,
        sink: Sink[Item],
        *,
        interval: float,
        retry: Retry,
        on_success: SuccessCallback | None,
        on_failure: FailureCallback | None,
        notices: RateLimitedLog,
    ) -> None:
        self._buffer, self.sink = buffer, sink
        self._interval, self._retry = interval, retry
        self._on_success, self._on_failure = on_success, on_failure
        self.notices = notices
        self._ready: deque[Item] = deque()  # prepared, not yet sent
        self._sending: list[Item] = []  # the batch being sent
        self._failures = 0  # consecutive failed attempts, for back-off
        self._reported_drops = 0
        self._cycle_sent = 0
        buffer.wake_at = sink.batch_size

    def run(self) -> None:
        """Wait for work or the timer, send what is due; return once closed."""
        _block_process_signals()
        buffer = self._buffer
        next_tick = time.monotonic() + self._interval
        while True:
            wait = next_tick - time.monotonic()
            if wait > 0:
                buffer.wake.wait(wait)
            buffer.wake.clear()
            with buffer.cond:  # after the clear, under the lock: see Buffer.wake_worker
                buffer.woken = False
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + self._interval
                with buffer.cond:
                    buffer.flush_upto = max(buffer.flush_upto, buffer.accepted)
            self._report_drops()
            try:
                if not self._drain():
                    break
            except BaseException as exc:  # noqa: BLE001 - the worker must outlive its own bugs
                self.notices.warning("internal", "Snowplow emitter error: %r", exc)
                self._fail_stuck()
                if buffer.closing.is_set():  # no retry loop while closing
                    with buffer.cond:
                        buffer.abandon()
                    break
                if buffer.closing.wait(self._interval):
                    buffer.wake.set()
        self._ready.clear()

    def _drain(self) -> bool:
        """Prepare and send what is due; False once the worker should stop."""
        buffer, ready, sink = self._buffer, self._ready, self.sink
        self._cycle_sent = 0
        while True:
            with buffer.cond:
                if buffer.abandoned:
                    return False
                taken = self._take(len(ready), sink.batch_size - len(ready))
                if taken is None:
                    return bool(ready or buffer.queue) or buffer.deadline is None
            if not self._prepare(taken):
                return False
            if ready:
                batch = sink.pack(ready)
                if ready:  # cut short: a batch is full at this many events
                    buffer.wake_at = max(1, len(batch))
                self._sending = batch
                if not self._send(batch):
                    return False
                self._sending = []
                # A steady load may never let the worker idle: report between sends.
                self._report_drops()

    def _fail_stuck(self) -> None:
        """Count what an internal error left prepared or half sent as failed.

        Otherwise the same events would meet the same error at every round,
        and a flush() waiting for them would never return.
        """
        stuck = len(self._sending) + len(self._ready)
        self._sending = []
        self._ready.clear()
        if stuck:
            self._settle(0, stuck)

    def _take(self, ready: int, most: int) -> list[Queued] | None:
        """Take up to ``most`` queued events if a batch is due (under the lock).

        ``ready`` counts events prepared earlier and not sent yet. Returns
        ``None`` when nothing is due: the queue is empty, or holds less than a
        batch and no flush, tick or close asks for it.
        """
        buffer = self._buffer
        pending = len(buffer.queue) + ready
        due = buffer.deadline is not None or (buffer.taken - ready < buffer.flush_upto)
        if not pending or (not due and pending < buffer.wake_at):
            return None
        count = min(len(buffer.queue), max(0, most))
        taken = [buffer.queue.popleft() for _ in range(count)]
        buffer.taken += count
        buffer.in_flight += count
        return taken

    def _prepare(self, taken: list[Queued]) -> bool:
        """Build pending events and prepare each for the sink.

        One that raises counts as failed alone. Returns False if close gave up
        meanwhile: the rest is not built.
        """
        buffer, prepare, out = self._buffer, self.sink.prepare, self._ready.append
        for item in taken:
            if buffer.abandoned:  # these count as unsent already: stop building
                return False
            payload: Payload | None = None
            try:
                if isinstance(item, dict):
                    payload = item
                elif type(item) is tuple:  # Parts: the tracker's, unwrapped
                    payload = item[0](item)
                else:  # a Pending, which may be a tuple subclass (Submitted is)
                    payload = cast("Pending", item).build()
                out(prepare(payload))
            except BaseException as exc:  # noqa: BLE001 - a bad payload (even one raising SystemExit from __str__) must not stop the others
                # A payload the sink refuses (one too long for a GET, say) goes
                # to on_failure like any failed event; one that could not be
                # built has no payload to give.
                self._settle(0, 1, unprepared=() if payload is None else (payload,))
                self.notices.warning(
                    "encode", "Dropped a payload that cannot be encoded: %r", exc
                )
        return not buffer.abandoned

    def _send(self, batch: list[Item]) -> bool:
        """Send one batch until it succeeds or fails for good; False to stop."""
        buffer, sink, count = self._buffer, self.sink, len(batch)
        attempts = 0
        while True:
            attempts += 1
            try:
                result = sink.send(batch)
            except Exception as exc:  # noqa: BLE001 - a broken sink is a failed attempt
                result = Attempt(Outcome.RETRY, repr(exc))
            with buffer.cond:
                buffer.requests += 1
                buffer.retried += attempts > 1
            if result.outcome is Outcome.SUCCESS:
                self._settle(count - result.failed, result.failed, batch, ok=True)
                if self._failures:
                    self._failures = 0
                    self.notices.log(
                        logging.INFO,
                        "recovered",
                        "Snowplow %s reachable again.",
                        sink.describe,
                    )
                return True
            if result.outcome is Outcome.FAIL or attempts == self._retry.max_attempts:
                self._settle(0, count, batch, ok=False)
                self.notices.warning(
                    "failed",
                    "Snowplow %s: %s failed (%s), dropped.",
                    sink.describe,
                    counted(count, "event"),
                    result.reason,
                )
                return True
            self._failures += 1
            if self._failures == 1:
                self.notices.warning(
                    "unreachable",
                    "Snowplow %s unreachable (%s); retrying with back-off.",
                    sink.describe,
                    result.reason,
                )
            if not self._backoff(self._retry.delay(self._failures, result.retry_after)):
                return False

    def _settle(
        self,
        sent: int,
        failed: int,
        batch: Sequence[Item] = (),
        *,
        ok: bool = False,
        unprepared: Sequence[Payload] = (),
    ) -> None:
        """Count a batch's events as sent or failed, and wake flush() callers.

        The user's callback for ``batch`` runs between the two: after the
        counts, so that it may queue more events; before the wake-up, so that
        flush() returns after it.
        """
        if ok:
            self._cycle_sent += sent
        callback = self._on_success if ok else self._on_failure
        buffer = self._buffer
        with buffer.cond:
            if buffer.abandoned:  # close() gave up on these; the late answer wins
                buffer.dropped_unsent -= sent + failed
            else:
                buffer.in_flight -= sent + failed
            buffer.sent += sent
            buffer.failed += failed
            if callback is None or not (batch or unprepared):
                buffer.notify_flushers()
                return
            buffer.settling = sent + failed  # flush() waits for the callback too
        try:
            self._callback(batch, ok, unprepared)
        finally:
            with buffer.cond:
                buffer.settling = 0
                buffer.notify_flushers()

    def _callback(
        self, batch: Sequence[Item], sent: bool, unprepared: Sequence[Payload] = ()
    ) -> None:
        try:
            payloads = list(unprepared) if unprepared else self.sink.payloads(batch)
            if sent and self._on_success is not None:
                self._on_success(payloads)
            elif not sent and self._on_failure is not None:
                self._on_failure(self._cycle_sent, payloads)
        except Exception as exc:  # noqa: BLE001 - a user callback must not kill the worker
            self.notices.warning(
                "callback",
                "A Snowplow emitter callback raised %s: %s",
                type(exc).__name__,
                exc,
            )

    def _backoff(self, delay: float) -> bool:
        """Wait ``delay`` seconds; False if closing cannot wait that long."""
        buffer = self._buffer
        until = time.monotonic() + delay
        while True:
            with buffer.cond:
                if buffer.deadline is not None and until >= buffer.deadline:
                    buffer.abandon()  # the retry would come after the deadline
                if buffer.abandoned:
                    return False
            self._report_drops()  # an outage is when the queue fills up
            remaining = until - time.monotonic()
            if remaining <= 0:
                return True
            # Before close, wake on close to check its deadline; after, on give-up.
            closing = buffer.closing.is_set()
            (buffer.give_up if closing else buffer.closing).wait(remaining)

    def _report_drops(self) -> None:
        dropped = self._buffer.dropped_full
        if dropped > self._reported_drops:
            self._reported_drops = dropped
            if self.notices.warning(
                "queue_full",
                "Snowplow %s: queue full; %s dropped so far.",
                self.sink.describe,
                counted(dropped, "new event"),
            ):
                self._buffer.drop_wakes = True  # the next drop may wake us again
