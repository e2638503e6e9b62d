"""Events through Redis: :class:`RedisEmitter` pushes, :class:`RedisWorker` ships.

The Redis relay (``pip install 'snowplow-logging[redis]'``; only its modules import ``redis``).
A fleet of processes hands payloads, as compact JSON text, to one Redis list;
dedicated workers move them to a collector (issue #9)::

    app ─ RedisEmitter ─RPUSH─▶ key ─(batch script, BLMOVE)─▶ key:processing:NAME
                                         RedisWorker ─ Emitter ─▶ collector,
                                         then LPOP/LREM once the collector accepted

Delivery from the list is at least once: a worker moves each event atomically to
its own processing list and removes it only after the collector accepted it
(each move named in ``key:takes:NAME``, so that a move whose reply was lost is
asked again and returns the batch it moved), so
a worker killed at any moment finds its events there when it restarts under the
same name, and sends them again (a few may arrive twice). Events the collector
refuses for good, and list items that are not payloads, go to a dead-letter list.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from snowplow_logging._delivery.engine import Engine
from snowplow_logging._delivery.relay import PushSink, relay_settings
from snowplow_logging._json import dumps_compact
from snowplow_logging._redis_client import (
    DEFAULT_KEY,
    RETRYABLE,
    check_key,
    client,
    redis_module,
    where,
)
from snowplow_logging._redis_worker import RedisWorker
from snowplow_logging._retry import Retry

__all__ = ["DEFAULT_KEY", "RedisEmitter", "RedisWorker"]

_redis = redis_module


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

    .. versionadded:: 0.1.0
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
        self._redis = client(redis)
        self._owns_client = isinstance(redis, str)
        self.key = check_key("key", key)
        batch, settings = relay_settings(batch_size, flush_interval, max_queue, retry)
        sink = PushSink(
            describe=f"Redis {where(self._redis)} list {self.key!r}",
            batch_size=batch,
            encode=dumps_compact,
            push=self._push,
            retryable=_retryable,
            after_fork=self._forked,
            close=self._release,
        )
        super().__init__(sink, name="RedisEmitter", settings=settings)

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
    return isinstance(exc, RETRYABLE)
