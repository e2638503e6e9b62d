"""Events through Redis: :class:`RedisEmitter` pushes, :class:`RedisWorker` ships.

The only module importing ``redis`` (``pip install 'snowplow-logging[redis]'``).
A fleet of processes hands payloads, as compact JSON text, to one Redis list;
dedicated workers move them to a collector (issue #9)::

    app ─ RedisEmitter ─RPUSH─▶ key ─(batch script, BLMOVE)─▶ key:processing:NAME
                                         RedisWorker ─ Emitter ─▶ collector,
                                         then LPOP/LREM once the collector accepted

Delivery from the list is at least once: a worker moves each event atomically to
its own processing list and removes it only after the collector accepted it, so
a worker killed at any moment finds its events there when it restarts under the
same name, and sends them again (a few may arrive twice). Events the collector
refuses for good, and list items that are not payloads, go to a dead-letter list.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Mapping
from functools import partial
from typing import Final, cast

from snowplow_logging._checks import check_count, check_seconds
from snowplow_logging._delivery.engine import Engine
from snowplow_logging._delivery.relay import PushSink, relay_settings
from snowplow_logging._diagnostics import RateLimitedLog
from snowplow_logging._emitter import Emitter
from snowplow_logging._exceptions import (
    ClosedError,
    ConfigurationError,
    ConfigurationTypeError,
)
from snowplow_logging._json import dumps_compact
from snowplow_logging._protocol import Payload
from snowplow_logging._retry import Retry

try:
    import redis as _redis
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    msg = (
        "snowplow_logging.redis needs the redis package: "
        "pip install 'snowplow-logging[redis]'"
    )
    raise ImportError(msg) from exc

__all__ = ["DEFAULT_KEY", "RedisEmitter", "RedisWorker"]

DEFAULT_KEY: Final = "snowplow_logging:events"
"""The Redis list both sides use unless told otherwise."""
_RETRYABLE: Final = (_redis.ConnectionError, _redis.TimeoutError, OSError)
_Raw = bytes | str
_MOST_PER_CALL: Final = 1000  # Lua's unpack() has a stack limit near 8000

# Moves up to ARGV[1] items from the head of KEYS[1] to the tail of KEYS[2], as
# one atomic step (a script runs alone): a batch in one round trip, where
# pipelined LMOVEs cost a command per event.
_TAKE_LUA: Final = """
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items > 0 then
  redis.call('LTRIM', KEYS[1], #items, -1)
  redis.call('RPUSH', KEYS[2], unpack(items))
end
return items
"""
# Removes each item ARGV[2..] once from KEYS[1], from its head when it is there
# (the emitter resolves events in order, so that is the usual case and costs
# O(1)), and appends it to KEYS[2] if ARGV[1] is '1'.
_SETTLE_LUA: Final = """
for i = 2, #ARGV do
  local item = ARGV[i]
  if redis.call('LINDEX', KEYS[1], 0) == item then
    redis.call('LPOP', KEYS[1])
  else
    redis.call('LREM', KEYS[1], 1, item)
  end
  if ARGV[1] == '1' then
    redis.call('RPUSH', KEYS[2], item)
  end
end
return #ARGV - 1
"""


def _client(value: object) -> _redis.Redis:
    if isinstance(value, str):
        try:
            return _redis.Redis.from_url(value)
        except ValueError as exc:
            msg = f"'redis' must be a redis:// URL or a redis.Redis (got {value!r})."
            raise ConfigurationError(msg) from exc
    if not isinstance(value, _redis.Redis):
        msg = f"'redis' must be a redis:// URL or a redis.Redis (got {value!r})."
        raise ConfigurationTypeError(msg)
    return value


def _key(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        msg = f"'{name}' must be a non-empty string (got {value!r})."
        raise ConfigurationTypeError(msg)
    return value


def _where(client: _redis.Redis) -> str:
    """``host:port/db`` of a client, never its password."""
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix:{kwargs['path']}/{kwargs.get('db', 0)}"
    return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"


class RedisEmitter(Engine[str]):
    """Pushes payloads onto a Redis list from a background thread.

    ``input()`` only appends to a bounded in-memory queue (O(1), never blocks on
    Redis, never raises); a daemon thread named
    ``snowplow_logging.RedisEmitter-N``, started by the first event, encodes
    each payload as compact UTF-8 JSON and appends up to ``batch_size`` of them
    with one ``RPUSH`` (one round trip), when a batch is full, every
    ``flush_interval`` seconds, on :meth:`flush` and on :meth:`close`. While
    Redis is unreachable the batch is retried with back-off; while
    ``max_queue`` events are held new ones are dropped and counted. ``stats``
    has :attr:`Emitter.stats <snowplow_logging.Emitter.stats>`'s keys, ``sent``
    counting payloads Redis stored; a push whose reply was lost may be retried
    and stored twice. Emitters still open at exit share
    :func:`~snowplow_logging.set_exit_timeout`'s deadline; a forked child starts
    empty with its own thread and connections.

    Args:
        redis: a ``redis.Redis`` client, or a ``redis://`` URL to build one.
        key: the list to append to.
        batch_size: most payloads in one ``RPUSH``.
        flush_interval: seconds between timed pushes.
        max_queue: most payloads held in memory (waiting or being pushed).
        retry: back-off while Redis is unreachable; ``Retry.disabled()`` fails
            a batch at its first error. Other Redis errors (a key of the wrong
            type) fail the batch at once.

    Raises:
        ConfigurationError: a setting has a value that cannot work.
        ConfigurationTypeError: a setting has the wrong type.

    .. versionadded:: 0.2.0
    """

    def __init__(
        self,
        redis: _redis.Redis | str,
        *,
        key: str = DEFAULT_KEY,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        max_queue: int = 10_000,
        retry: Retry | None = None,
    ) -> None:
        self._redis = _client(redis)
        self._owns_client = isinstance(redis, str)
        self.key = _key("key", key)
        settings = relay_settings(
            batch_size=batch_size,
            flush_interval=flush_interval,
            max_queue=max_queue,
            retry=retry,
        )
        sink = PushSink(
            describe=f"Redis {_where(self._redis)} list {self.key!r}",
            batch_size=settings.batch_size,
            encode=dumps_compact,
            push=self._push,
            retryable=_retryable,
            after_fork=self._forked,
            close=self._release,
        )
        super().__init__(
            sink,
            name="RedisEmitter",
            max_queue=settings.max_queue,
            interval=settings.interval,
            retry=settings.retry,
        )

    def _push(self, texts: list[str]) -> int:
        self._redis.rpush(self.key, *texts)
        return 0

    def _forked(self) -> bool:
        # redis-py's pool notices the new pid; drop the parent's sockets anyway.
        self._redis.connection_pool.reset()
        return True

    def _release(self, deadline: float) -> bool:
        if self._owns_client:
            self._redis.close()
        return True


def _retryable(exc: Exception) -> bool:
    return isinstance(exc, _RETRYABLE)


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
    atomic script (``LRANGE``, ``LTRIM``, ``RPUSH``), or one with ``BLMOVE``
    while the list is empty and gives them to an
    :class:`~snowplow_logging.Emitter`. Its callbacks, on the emitter's thread,
    remove (``LPOP``, or ``LREM`` when out of order) each event the collector accepted, and move those it
    refused for good to ``dead_letter_key``. At most ``max_in_flight`` events
    are held at once, so several workers on one list share the load.
    :meth:`stop` (thread- and signal-safe) ends the loop; the emitter then
    drains for at most ``drain_timeout`` seconds and what it could not deliver
    stays in the processing list for the next run.

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

    .. versionadded:: 0.2.0
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
        self._redis = _client(redis)
        self._owns_client = isinstance(redis, str)
        self.key = _key("key", key)
        self.name = _key("name", socket.gethostname() if name is None else name)
        self.processing_key = f"{self.key}:processing:{self.name}"
        self.dead_letter_key = (
            f"{self.key}:failed"
            if dead_letter_key == ""
            else None
            if dead_letter_key is None
            else _key("dead_letter_key", dead_letter_key)
        )
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
        self._take_script = self._redis.register_script(_TAKE_LUA)
        self._settle_script = self._redis.register_script(_SETTLE_LUA)
        self._cond = threading.Condition(threading.Lock())
        self._raws: dict[str, list[_Raw]] = {}  # eid -> list items in flight
        self._in_flight = 0
        self._stop = threading.Event()
        self._ran = False
        self._notices = RateLimitedLog()
        self._counts = dict.fromkeys(
            ("taken", "recovered", "sent", "failed", "invalid", "redis_errors"), 0
        )

    def __repr__(self) -> str:
        return (
            f"<RedisWorker {self.name!r} {_where(self._redis)} list {self.key!r} "
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
            True if every event taken was resolved within ``drain_timeout``.

        Raises:
            ClosedError: ``run()`` was called before; its emitter is closed.
        """
        with self._cond:
            if self._ran:
                msg = "RedisWorker.run() runs once; create a new RedisWorker."
                raise ClosedError(msg)
            self._ran = True
        try:
            recovered = False
            while not self._stop.is_set():
                if not recovered:
                    recovered = self._guarded(self._recover)
                    continue
                room = self._wait_for_room()
                if room:
                    self._guarded(partial(self._take, room))
        finally:
            drained = self.emitter.close(self._drain_timeout)
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
        raws: list[_Raw] = self._redis.lrange(self.processing_key, 0, -1)
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

    def _take(self, room: int) -> None:
        """Move a batch to the processing list; block up to block_timeout if empty."""
        keys = [self.key, self.processing_key]
        count = min(room, self._batch_size, _MOST_PER_CALL)
        raws: list[_Raw] = self._take_script(keys=keys, args=[count])
        if not raws:
            # redis-py annotates the timeout as int; Redis >= 6 takes fractions.
            wait = cast("int", self._block_timeout)
            first = self._redis.blmove(self.key, self.processing_key, wait)
            if first is None:
                return
            raws = [first]
        with self._cond:
            self._counts["taken"] += len(raws)
        for raw in raws:
            self._feed(raw)

    def _feed(self, raw: _Raw) -> None:
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

    def _claim(self, payloads: list[Payload]) -> list[_Raw]:
        """The list items of resolved payloads, no longer in flight."""
        raws: list[_Raw] = []
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

    def _settle(self, raws: list[_Raw], *, dead: bool) -> None:
        """Remove items from the processing list; to the dead letters if ``dead``."""
        if not raws:
            return
        dead_letters = self.dead_letter_key if dead else None
        keys = [self.processing_key, dead_letters or self.processing_key]
        flag = "0" if dead_letters is None else "1"
        try:
            for start in range(0, len(raws), _MOST_PER_CALL):
                chunk = raws[start : start + _MOST_PER_CALL]
                self._settle_script(keys=keys, args=[flag, *chunk])
        except _redis.RedisError as exc:
            # They stay in the processing list: the next run sends them again.
            with self._cond:
                self._counts["redis_errors"] += 1
            self._notices.warning(
                "settle",
                "Snowplow worker %s: could not remove %d delivered events from "
                "%r (%r); a restart will send them again.",
                self.name,
                len(raws),
                self.processing_key,
                exc,
            )
