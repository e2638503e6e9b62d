"""The consuming side of the Redis relay: :class:`RedisWorker` ships a list to a collector."""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from typing import cast

from snowplow_logging._checks import check_count, check_seconds
from snowplow_logging._diagnostics import LOGGER, RateLimitedLog, counted
from snowplow_logging._emitter import Emitter
from snowplow_logging._exceptions import (
    ClosedError,
)
from snowplow_logging._protocol import Payload
from snowplow_logging._redis_client import (
    DEFAULT_KEY,
    check_key,
    client,
    redis_module,
    where,
)
from snowplow_logging._redis_moves import ProcessingList, Raw
from snowplow_logging._retry import Retry

__all__ = ["RedisWorker"]

_redis = redis_module


def _payload(text: str) -> Payload | None:
    """The payload in one list item, or None if it is not a Snowplow payload."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("eid"), str):
        return None
    if not all(isinstance(v, str) for v in value.values()):
        return None
    return cast("Payload", value)


class RedisWorker:
    """Ships events from a Redis list to a collector, at least once.

    :meth:`run` (blocking, on the calling thread) first re-sends what its
    processing list ``<key>:processing:<name>`` still holds from an earlier run,
    then moves events into that list, up to ``batch_size`` at once with one
    atomic script (``LRANGE``, ``LTRIM``, ``RPUSH``), and gives them to an
    :class:`~snowplow_logging.Emitter`. While the list is empty it waits with a
    ``BLMOVE`` of the list onto itself (the same end: nothing changes), then
    moves with the script. Its callbacks, on the emitter's thread, remove
    (``LPOP``, or ``LREM`` when out of order) each event the collector
    accepted, and move those it refused for good to ``dead_letter_key``. At
    most ``max_in_flight`` events are held at once, so several workers on one
    list share the load. :meth:`stop` (thread- and signal-safe) ends the loop;
    the emitter then drains for at most ``drain_timeout`` seconds and what it
    could not deliver stays in the processing list for the next run.

    A move whose reply is lost (the connection reset or timed out after the
    script ran) strands nothing: each move has a name of its own, kept with its
    size in ``<key>:takes:<name>``, and the same move asked again, by redis-py's
    own retry or by the worker after the error, returns the batch it moved
    instead of moving another.

    Give every worker a ``name`` of its own that it keeps across restarts: a
    worker recovers only its own processing list.

    Args:
        redis: a ``redis.Redis`` client, or a ``redis://`` URL to build one. Its
            socket timeout, if any, must exceed ``block_timeout``.
        endpoint: the collector, as for :class:`~snowplow_logging.Emitter`.
        key: the list producers push to.
        name: this worker's name (default: the host name).
        dead_letter_key: where refused events and unreadable items go
            (default ``<key>:failed``); ``None`` drops them.
        max_in_flight: most events taken from the list and not yet resolved.
        block_timeout: seconds one ``BLMOVE`` waits; bounds how long
            :meth:`stop` takes to be noticed.
        drain_timeout: seconds :meth:`run` waits, once stopped, for delivery.
        method: batch_size: byte_limit: flush_interval: timeout: retry:
            headers: the :class:`~snowplow_logging.Emitter`'s options.

    Raises:
        ConfigurationError: a setting has a value that cannot work.
        ConfigurationTypeError: a setting has the wrong type.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        redis: _redis.Redis | str,
        *,
        endpoint: str,
        key: str = DEFAULT_KEY,
        name: str | None = None,
        dead_letter_key: str | None = "",
        max_in_flight: int = 1000,
        block_timeout: float = 1.0,
        drain_timeout: float = 10.0,
        method: str = "post",
        batch_size: int = 500,
        byte_limit: int = 40_000,
        flush_interval: float = 1.0,
        timeout: float = 5.0,
        retry: Retry | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._redis = client(redis)
        self._owns_client = isinstance(redis, str)
        self.key = check_key("key", key)
        self.name = check_key("name", socket.gethostname() if name is None else name)
        dead_letters = (
            f"{self.key}:failed"
            if dead_letter_key == ""
            else None
            if dead_letter_key is None
            else check_key("dead_letter_key", dead_letter_key)
        )
        self._lists = ProcessingList(
            self._redis, key=self.key, name=self.name, dead_letter_key=dead_letters
        )
        self.processing_key = self._lists.processing_key
        self.takes_key = self._lists.takes_key
        self.dead_letter_key = dead_letters
        self._max_in_flight = check_count("max_in_flight", max_in_flight)
        self._batch_size = check_count("batch_size", batch_size)
        self._block_timeout = check_seconds(
            "block_timeout", block_timeout, positive=True
        )
        self._drain_timeout = check_seconds("drain_timeout", drain_timeout)
        self.emitter = Emitter(
            endpoint,
            method=method,
            batch_size=batch_size,
            byte_limit=byte_limit,
            flush_interval=flush_interval,
            max_queue=self._max_in_flight,
            timeout=timeout,
            retry=retry,
            headers=headers,
            on_success=self._delivered,
            on_failure=self._refused,
        )
        self._cond = threading.Condition(threading.Lock())
        self._raws: dict[str, list[Raw]] = {}  # eid -> list items in flight
        self._in_flight = 0
        self._recovered = False
        self._unsettled: Counter[Raw] = Counter()  # resolved, removal failed
        self._stop = threading.Event()
        self._ran = False
        self._notices = RateLimitedLog()
        self._counts = dict.fromkeys(
            ("taken", "recovered", "sent", "failed", "invalid", "redis_errors"), 0
        )

    def __repr__(self) -> str:
        return (
            f"<RedisWorker {self.name!r} {where(self._redis)} list {self.key!r} "
            f"in_flight={self._in_flight}>"
        )

    @property
    def stats(self) -> dict[str, int]:
        """Counters of this run.

        ``taken`` items moved from the list, ``recovered`` items found in the
        processing list at start, ``sent`` removed after the collector
        accepted them, ``failed`` refused by the collector for good (moved to
        the dead-letter list), ``invalid`` items that are not payloads,
        ``in_flight`` held now, ``redis_errors`` failed Redis calls.
        """
        with self._cond:
            return {**self._counts, "in_flight": self._in_flight}

    def stop(self) -> None:
        """Ask :meth:`run` to stop taking events; safe from a signal handler."""
        self._stop.set()

    def run(self) -> bool:
        """Move and send events until :meth:`stop`, then drain and return.

        Blocks the calling thread. Redis outages are retried with back-off.

        Returns:
            True if every event taken was resolved within ``drain_timeout``
            and the processing list holds none that this run could still
            send (a batch whose move went unanswered, or items it never
            read); those stay there for the next run.

        Raises:
            ClosedError: ``run()`` was called before; its emitter is closed.
        """
        with self._cond:
            if self._ran:
                msg = "RedisWorker.run() runs once; create a new RedisWorker."
                raise ClosedError(msg)
            self._ran = True
        finished = False
        try:
            while not self._stop.is_set():
                if not self._recovered:
                    self._recovered = self._guarded(self._recover)
                    continue
                if not self._lists.move_pending:
                    room = self._wait_for_room()
                    if not room:
                        continue
                    self._lists.plan_move(min(room, self._batch_size))
                self._guarded(self._take)  # an error leaves the move to ask again
            if self._lists.move_pending:  # stopped before the move was answered
                self._guarded(self._move_batch)
            finished = True
        finally:
            drained = self.emitter.close(self._drain_timeout)
            if drained and finished:
                drained = self._left_nothing()
            if self._owns_client:
                self._redis.close()
        return drained

    def _guarded(self, step: Callable[[], object]) -> bool:
        """Run one Redis step; on a Redis error count it, back off, return False."""
        try:
            step()
        except _redis.RedisError as exc:
            with self._cond:
                self._counts["redis_errors"] += 1
            self._notices.warning(
                "redis", "Snowplow worker %s: Redis error %r", self.name, exc
            )
            self._stop.wait(self._block_timeout)
            return False
        return True

    def _recover(self) -> None:
        """Re-send what the processing list holds from an earlier run."""
        raws = self._lists.items()
        with self._cond:
            self._counts["recovered"] += len(raws)
        for raw in raws:
            if not self._wait_for_room():
                return  # stopped: the rest stays for the next run
            self._feed(raw)

    def _wait_for_room(self) -> int:
        """Block until fewer than ``max_in_flight`` are held; 0 once stopped."""
        with self._cond:
            while self._in_flight >= self._max_in_flight:
                if self._stop.is_set():
                    return 0
                self._cond.wait(self._block_timeout)
            return 0 if self._stop.is_set() else self._max_in_flight - self._in_flight

    def _take(self) -> None:
        """Make the pending move; if it found nothing, wait up to block_timeout."""
        if not self._move_batch():
            self._lists.wait(self._block_timeout)

    def _move_batch(self) -> int:
        """Ask the pending move and feed what it moved; the number of items."""
        raws = self._lists.move()
        with self._cond:
            self._counts["taken"] += len(raws)
        for raw in raws:
            self._feed(raw)
        return len(raws)

    def _left_nothing(self) -> bool:
        """Whether the processing list holds only what this run failed to remove."""
        if self._lists.move_pending:
            LOGGER.warning(
                "Snowplow worker %s: a batch moved to %r went unanswered; it "
                "stays there for the next run.",
                self.name,
                self.processing_key,
            )
            return False
        try:
            raws = self._lists.items_if_any()
        except _redis.RedisError as exc:
            with self._cond:
                self._counts["redis_errors"] += 1
            LOGGER.warning(
                "Snowplow worker %s: could not read %r at the end (%r).",
                self.name,
                self.processing_key,
                exc,
            )
            return self._recovered  # every batch moved was answered and resolved
        with self._cond:
            left = sum((Counter(raws) - self._unsettled).values())
        if left:
            LOGGER.warning(
                "Snowplow worker %s: %s this run did not send stay in %r "
                "for the next run.",
                self.name,
                counted(left, "event"),
                self.processing_key,
            )
        return not left

    def _feed(self, raw: Raw) -> None:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        payload = _payload(text)
        if payload is None:
            with self._cond:
                self._counts["invalid"] += 1
            self._notices.warning(
                "invalid",
                "Snowplow worker %s: an item of %r is not a payload: %.80r",
                self.name,
                self.key,
                text,
            )
            self._settle([raw], dead=True)
            return
        with self._cond:
            self._raws.setdefault(payload["eid"], []).append(raw)
            self._in_flight += 1
        self.emitter.input(payload)

    def _claim(self, payloads: list[Payload]) -> list[Raw]:
        """The list items of resolved payloads, no longer in flight."""
        raws: list[Raw] = []
        with self._cond:
            for payload in payloads:
                items = self._raws.get(payload.get("eid", ""))
                if items:
                    raws.append(items.pop(0))
                    if not items:
                        del self._raws[payload["eid"]]
            self._in_flight -= len(raws)
            self._cond.notify_all()
        return raws

    def _delivered(self, payloads: list[Payload]) -> None:
        """``on_success``, on the emitter's thread: the collector has them."""
        raws = self._claim(payloads)
        with self._cond:
            self._counts["sent"] += len(raws)
        self._settle(raws, dead=False)

    def _refused(self, sent_count: int, payloads: list[Payload]) -> None:
        """``on_failure``, on the emitter's thread: refused for good."""
        raws = self._claim(payloads)
        with self._cond:
            self._counts["failed"] += len(raws)
        self._settle(raws, dead=True)

    def _settle(self, raws: list[Raw], *, dead: bool) -> None:
        """Remove items from the processing list; to the dead letters if ``dead``."""
        if not raws:
            return
        try:
            self._lists.settle(raws, dead=dead)
        except _redis.RedisError as exc:
            # They stay in the processing list: the next run sends them again.
            with self._cond:
                self._counts["redis_errors"] += 1
                self._unsettled.update(raws)
            self._notices.warning(
                "settle",
                "Snowplow worker %s: could not remove %s from "
                "%r (%r); a restart will send them again.",
                self.name,
                counted(len(raws), "delivered event"),
                self.processing_key,
                exc,
            )
