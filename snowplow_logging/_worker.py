"""The emitter's worker thread and the state it shares with the caller threads.

:class:`Buffer` is that state: the bounded queue and the counters, all guarded
by one condition whose lock is only ever held for O(1) or O(batch) work, never
across I/O. :class:`Worker` runs on the emitter's daemon thread: it takes
payloads from the buffer, encodes them (compact UTF-8 JSON for POST, a
percent-encoded query for GET), packs POST bodies up to ``byte_limit`` encoded
bytes, stamps ``stm`` at every attempt, retries with back-off and resolves each
event as sent or failed, in the order the events were accepted.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Final, NamedTuple, TypeAlias, TypeVar
from urllib.parse import quote

from snowplow_logging import _protocol as p
from snowplow_logging._diagnostics import RateLimitedLog
from snowplow_logging._retry import Outcome, Retry, parse_retry_after
from snowplow_logging._transport import RequestsTransport, TransportError

__all__ = [
    "Attempt",
    "Buffer",
    "Deferred",
    "FailureCallback",
    "Loop",
    "Payload",
    "SuccessCallback",
    "Worker",
]

Payload: TypeAlias = dict[str, str]
"""One event on the wire: protocol field names to string values."""
Deferred: TypeAlias = Callable[[], Payload]
"""A payload still to be built: the tracker hands these over so that building
the dict and its JSON happens on the worker thread, not at the call site."""
SuccessCallback: TypeAlias = Callable[[list[Payload]], object]
"""``on_success(payloads)``: called on the worker thread with delivered payloads."""
FailureCallback: TypeAlias = Callable[[int, list[Payload]], object]
"""``on_failure(sent_count, failed_payloads)``: called on the worker thread when
events fail for good; ``sent_count`` counts events delivered earlier in the same
send cycle (the official tracker's shape)."""
_T = TypeVar("_T")
_Item: TypeAlias = tuple[Payload, str, str, int]
"""An encoded event: its payload, its wire text before and after the ``stm``
value, and (POST) the encoded size of that text."""


def _json_encoder() -> Callable[[Payload], str]:
    """Compact UTF-8 JSON for one flat payload (PROTOCOL.md 1.2), built once.

    ``JSONEncoder.encode`` builds a C encoder on every call, a third of its
    cost for a small dict; this keeps one, where the C accelerator exists.
    """
    encoder = json.JSONEncoder(
        ensure_ascii=False, separators=(",", ":"), check_circular=False
    )
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return encoder.encode
    chunks = make(
        None,
        encoder.default,
        json.encoder.encode_basestring,
        None,
        ":",
        ",",
        False,
        False,
        True,
    )  # markers, default, encoder, indent, separators, sort_keys, skipkeys, allow_nan
    join = "".join
    return lambda payload: join(chunks(payload, 0))


_ENCODE: Final = _json_encoder()
_BODY_HEAD: Final = f'{{"schema":"{p.PAYLOAD_DATA_SCHEMA}","data":['
_BODY_TAIL: Final = "]}"
_STM_HEAD: Final = f'{{"{p.SENT_TSTAMP}":"'
_LAST_FIELDS: Final = frozenset({p.CONTEXT, p.CONTEXT_ENCODED})
_NEEDS_QUOTING: Final = re.compile(r"[^A-Za-z0-9_.~-]").search
"""Whether ``quote(text, safe="")`` would change ``text``: most values (ids,
numbers, base64url entities) pass unchanged, and a regex scan is ten times
cheaper than the call."""


def _encode_post(payload: Payload) -> _Item:
    """The payload as a JSON object without its opening brace, and its size.

    The body puts ``{"stm":"<ms>"`` before it at each attempt, so the text is
    encoded once and its size known before the event joins a body.
    """
    payload.pop(p.SENT_TSTAMP, None)  # ours to mutate; stamped per attempt
    text = _ENCODE(payload)
    rest = "," + text[1:] if len(text) > 2 else text[1:]  # noqa: PLR2004 - "{}"
    return payload, rest, "", len(rest) if rest.isascii() else len(rest.encode())


def _encode_get(payload: Payload) -> _Item:
    """The query string before and after the ``stm`` value (PROTOCOL.md 1.3)."""
    payload.pop(p.SENT_TSTAMP, None)
    head: list[str] = []
    tail: list[str] = []
    unsafe = _NEEDS_QUOTING
    for key, value in payload.items():
        if unsafe(key):
            key = quote(key, safe="")  # noqa: PLW2901 - its quoted form from here on
        pair = f"{key}={quote(value, safe='') if unsafe(value) else value}"
        (tail if key in _LAST_FIELDS else head).append(pair)  # co/cx go last
    head.append(f"{p.SENT_TSTAMP}=")
    return payload, "&".join(head), "&".join(["", *tail]), 0


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
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.queue: deque[Payload | Deferred] = deque()
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


class Attempt(NamedTuple):
    """How one attempt to hand over a batch went."""

    outcome: Outcome
    reason: str = ""  # why it did not succeed, for messages
    retry_after: float | None = None  # seconds the receiver asked us to wait
    failed: int = 0  # on success: items refused one by one (e.g. not encodable)


class Loop:
    """The loop run by an emitter's thread; every method runs on that thread.

    It waits for work or the timer, asks :meth:`_drain` to send what is due,
    backs off between failed attempts (:meth:`_deliver`) and reports drops,
    failures and recoveries, rate-limited. Subclasses take batches from the
    buffer and say how one attempt is made.

    Args:
        buffer: the state shared with the caller threads.
        describe: where events go, without credentials, for messages.
        interval: seconds between timed sends.
        retry: the retry policy.
    """

    def __init__(
        self, buffer: Buffer, *, describe: str, interval: float, retry: Retry
    ) -> None:
        self._buffer = buffer
        self._describe = describe
        self._interval, self._retry = interval, retry
        self._failures = 0  # consecutive failed attempts, for back-off
        self._reported_drops = 0
        self.notices = RateLimitedLog()

    def run(self) -> None:
        """Wait for work or the timer, send what is due; return once closed."""
        buffer = self._buffer
        next_tick = time.monotonic() + self._interval
        while True:
            wait = next_tick - time.monotonic()
            if wait > 0:
                buffer.wake.wait(wait)
            buffer.wake.clear()
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + self._interval
                with buffer.cond:
                    buffer.flush_upto = max(buffer.flush_upto, buffer.accepted)
            self._report_drops()
            try:
                if not self._drain():
                    break
            except Exception as exc:  # noqa: BLE001 - the worker must outlive its own bugs
                self.notices.warning("internal", "Snowplow emitter error: %r", exc)
                if buffer.closing.is_set():  # no retry loop while closing
                    with buffer.cond:
                        buffer.abandon()
                    break
                if buffer.closing.wait(self._interval):
                    buffer.wake.set()
        self._stopped()

    def _drain(self) -> bool:
        """Send what is due; False once the worker should stop."""
        raise NotImplementedError

    def _stopped(self) -> None:
        """Hook: the loop has ended."""

    def _take(self, ready: int, most: int) -> list[Payload | Deferred] | None:
        """Take up to ``most`` queued events if a batch is due (under the lock).

        ``ready`` counts events taken earlier and not sent yet. Returns ``None``
        when nothing is due: the queue is empty, or holds less than a batch
        and no flush, tick or close asks for it.
        """
        buffer = self._buffer
        pending = len(buffer.queue) + ready
        # Partial batches go out when flushed, timed or closing.
        due = buffer.deadline is not None or (buffer.taken - ready < buffer.flush_upto)
        if not pending or (not due and pending < buffer.wake_at):
            return None
        count = min(len(buffer.queue), max(0, most))
        taken = [buffer.queue.popleft() for _ in range(count)]
        buffer.taken += count
        buffer.in_flight += count
        return taken

    def _build(
        self,
        taken: list[Payload | Deferred],
        convert: Callable[[Payload], _T],
        out: Callable[[_T], object],
    ) -> bool:
        """Build each taken payload, ``convert`` it and hand it to ``out``.

        Deferred payloads are called here; one that raises, or fails to
        convert, counts as failed alone.

        Returns:
            False if close() gave up meanwhile: the rest is not built.
        """
        buffer = self._buffer
        for payload in taken:
            if buffer.abandoned:  # these count as unsent already: stop building
                return False
            try:
                out(convert(payload if payload.__class__ is dict else payload()))  # type: ignore[operator]
            except Exception as exc:  # noqa: BLE001 - a bad payload must not stop the others
                self._settle(0, 1)
                self.notices.warning(
                    "encode", "Dropped a payload that cannot be encoded: %r", exc
                )
        return not buffer.abandoned

    def _deliver(
        self,
        count: int,
        attempt: Callable[[], Attempt],
        settled: Callable[[bool], object] | None = None,
    ) -> Outcome | None:
        """Attempt to hand over a batch of ``count`` events until it is settled.

        ``settled(sent)`` runs once the events are counted (so it may queue
        more) and before a flush() waiting for them returns: a caller of
        flush() sees the user's callbacks done.

        Returns:
            ``Outcome.SUCCESS`` or ``Outcome.FAIL`` once the events are counted
            as sent or failed; ``None`` if closing gave up first (the worker
            should stop).
        """
        buffer = self._buffer
        attempts = 0
        while True:
            attempts += 1
            result = attempt()
            with buffer.cond:
                buffer.requests += 1
                buffer.retried += attempts > 1
            if result.outcome is Outcome.SUCCESS:
                self._settle(
                    count - result.failed,
                    result.failed,
                    None if settled is None else partial(settled, True),
                )
                if self._failures:
                    self._failures = 0
                    self.notices.log(
                        logging.INFO,
                        "recovered",
                        "Snowplow %s reachable again.",
                        self._describe,
                    )
                return Outcome.SUCCESS
            if result.outcome is Outcome.FAIL or attempts == self._retry.max_attempts:
                self._settle(
                    0, count, None if settled is None else partial(settled, False)
                )
                self.notices.warning(
                    "failed",
                    "Snowplow %s: %d events failed (%s) and were dropped.",
                    self._describe,
                    count,
                    result.reason,
                )
                return Outcome.FAIL
            self._failures += 1
            if self._failures == 1:
                self.notices.warning(
                    "unreachable",
                    "Snowplow %s unreachable (%s); retrying with back-off.",
                    self._describe,
                    result.reason,
                )
            if not self._backoff(self._retry.delay(self._failures, result.retry_after)):
                return None

    def _settle(
        self, sent: int, failed: int, then: Callable[[], object] | None = None
    ) -> None:
        """Count a batch's events as sent or failed, and wake flush() callers.

        ``then()`` runs between the two: after the counts, so that it may queue
        more events; before the wake-up, so that flush() returns after it.
        """
        buffer = self._buffer
        with buffer.cond:
            if buffer.abandoned:  # close() gave up on these; the late answer wins
                buffer.dropped_unsent -= sent + failed
            else:
                buffer.in_flight -= sent + failed
            buffer.sent += sent
            buffer.failed += failed
            if then is None:
                buffer.notify_flushers()
                return
            buffer.settling = sent + failed  # flush() waits for then() too
        try:
            then()
        finally:
            with buffer.cond:
                buffer.settling = 0
                buffer.notify_flushers()

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
                "Snowplow %s: queue full; %d new events dropped so far.",
                self._describe,
                dropped,
            ):
                self._buffer.drop_wakes = True  # the next drop may wake us again


class Worker(Loop):
    """The HTTP worker: encodes events, packs requests, sends them to a collector.

    Args:
        buffer: the state shared with the caller threads.
        transport: sends one request.
        display: the collector URL without credentials, for messages.
        method: ``"post"`` or ``"get"``.
        batch_size: most events per POST; byte_limit: most bytes per POST body.
        interval: seconds between timed sends.
        retry: the retry policy.
        on_success: on_failure: the user's callbacks, or ``None``.
    """

    def __init__(
        self,
        buffer: Buffer,
        transport: RequestsTransport,
        *,
        display: str,
        method: str,
        batch_size: int,
        byte_limit: int,
        interval: float,
        retry: Retry,
        on_success: SuccessCallback | None,
        on_failure: FailureCallback | None,
    ) -> None:
        super().__init__(
            buffer, describe=f"collector {display}", interval=interval, retry=retry
        )
        self._transport = transport
        self._get = method == "get"
        self._batch_size, self._byte_limit = batch_size, byte_limit
        self._on_success, self._on_failure = on_success, on_failure
        self._encode = _encode_get if self._get else _encode_post
        self._ready: deque[_Item] = deque()  # taken and encoded, not yet sent
        self._cycle_sent = 0
        buffer.wake_at = 1 if self._get else batch_size

    def _stopped(self) -> None:
        self._ready.clear()

    def _drain(self) -> bool:
        buffer, ready = self._buffer, self._ready
        self._cycle_sent = 0
        while True:
            with buffer.cond:
                if buffer.abandoned:
                    return False
                taken = self._take(len(ready), self._batch_size - len(ready))
                if taken is None:
                    return bool(ready or len(buffer.queue)) or buffer.deadline is None
            if not self._build(taken, self._encode, self._ready.append):
                return False
            if ready and not self._send(self._next_request()):
                return False

    def _next_request(self) -> list[_Item]:
        ready = self._ready
        if self._get:
            return [ready.popleft()]
        # Sizes are checked before adding (PROTOCOL.md pitfall 12). The body is
        # head + items joined by "," + tail, each item led by '{"stm":"<ms>"'.
        per_item = len(_STM_HEAD) + len(str(time.time_ns() // 1_000_000)) + 2
        budget = self._byte_limit - len(_BODY_HEAD) - len(_BODY_TAIL) + 1
        items: list[_Item] = []
        total = 0
        while ready:
            if len(items) == self._batch_size:
                self._buffer.wake_at = self._batch_size
                break
            size = ready[0][3] + per_item
            if items and total + size > budget:
                self._buffer.wake_at = len(items)  # wake when a full body is queued
                break
            items.append(ready.popleft())
            total += size
        return items

    def _render(self, items: list[_Item], stm: str) -> tuple[bytes | None, str]:
        """The request body (POST) or query string (GET) with this attempt's stm."""
        if self._get:
            _, prefix, suffix, _ = items[0]
            return None, f"{prefix}{stm}{suffix}"
        head = f'{_STM_HEAD}{stm}"'
        rests = f",{head}".join(item[1] for item in items)
        return f"{_BODY_HEAD}{head}{rests}{_BODY_TAIL}".encode(), ""

    def _send(self, items: list[_Item]) -> bool:
        """Send one request until it succeeds or fails for good; False to stop."""
        stm = ""

        def attempt() -> Attempt:
            nonlocal stm
            stm = str(time.time_ns() // 1_000_000)  # each attempt, in full ms
            body, query = self._render(items, stm)
            try:
                response = self._transport.send(body, query)
            except TransportError as exc:
                return Attempt(Outcome.RETRY, str(exc))
            except Exception as exc:  # noqa: BLE001 - a broken session is a failed attempt
                return Attempt(Outcome.RETRY, repr(exc))
            outcome = self._retry.classify(response.status)
            retry_after = None
            if outcome is Outcome.RETRY:
                retry_after = parse_retry_after(response.retry_after)
            return Attempt(outcome, f"HTTP {response.status}", retry_after)

        def settled(sent: bool) -> None:
            self._callback(items, stm, sent=sent)

        has_callbacks = self._on_success is not None or self._on_failure is not None
        outcome = self._deliver(len(items), attempt, settled if has_callbacks else None)
        return outcome is not None

    def _callback(self, items: list[_Item], stm: str, *, sent: bool) -> None:
        if sent:
            self._cycle_sent += len(items)
        if (self._on_success if sent else self._on_failure) is None:
            return
        payloads = [item[0] for item in items]
        for payload in payloads:
            payload[p.SENT_TSTAMP] = stm
        try:
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
