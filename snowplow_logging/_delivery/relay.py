"""The sink of the relays: payloads pushed in batches to something that will send them.

Redis, Celery and the SQLite spool do not speak HTTP to a collector; they hand
events on (issue #9). Each is a :class:`PushSink` built from what differs:
how one payload is encoded, how a batch is pushed, which errors are worth a
retry, what to do after ``fork`` and at close. Everything else is the engine's.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from snowplow_logging._checks import check_count, check_seconds
from snowplow_logging._delivery.engine import Settings
from snowplow_logging._delivery.sink import Attempt, Payload
from snowplow_logging._retry import Outcome, check_retry

__all__ = ["PushSink", "relay_settings"]

T = TypeVar("T")


def relay_settings(
    batch_size: object, flush_interval: object, max_queue: object, retry: object
) -> tuple[int, Settings]:
    """Check the settings every relay takes: its batch size and its engine's.

    Raises:
        ConfigurationError: a setting has a value that cannot work.
        ConfigurationTypeError: a setting has the wrong type.
    """
    settings = Settings(
        check_count("max_queue", max_queue),
        check_seconds("flush_interval", flush_interval, positive=True),
        check_retry(retry),
    )
    return check_count("batch_size", batch_size), settings


def _usable() -> bool:
    return True


def _released(deadline: float) -> bool:
    return True


class PushSink(Generic[T]):
    """Pushes up to ``batch_size`` encoded payloads at a time.

    Args:
        describe: where events go, for messages (never with credentials).
        batch_size: most payloads in one push.
        encode: one payload to what is pushed (raises: the payload fails alone).
        push: hands a batch on; returns how many of it were refused one by
            one (the rest count as sent); raises if the batch was not pushed.
        retryable: whether a push that raised may succeed later.
        after_fork: drops inherited connections in a forked child; False if
            the sink must not be used there.
        close: releases connections once the worker stopped; may send until
            the deadline; True if nothing was left behind.
    """

    def __init__(
        self,
        *,
        describe: str,
        batch_size: int,
        encode: Callable[[Payload], T],
        push: Callable[[list[T]], int],
        retryable: Callable[[Exception], bool],
        after_fork: Callable[[], bool] = _usable,
        close: Callable[[float], bool] = _released,
    ) -> None:
        self.describe = describe
        self.batch_size = batch_size
        self.prepare = encode
        self._push, self._retryable = push, retryable
        self.after_fork, self.close = after_fork, close

    def pack(self, ready: deque[T]) -> list[T]:
        """Up to ``batch_size`` items, oldest first."""
        return [ready.popleft() for _ in range(min(len(ready), self.batch_size))]

    def send(self, batch: Sequence[T]) -> Attempt:
        """Push ``batch``; a raised error is retried if ``retryable`` says so."""
        try:
            failed = self._push(list(batch))
        except Exception as exc:  # noqa: BLE001 - the worker must outlive any sink error
            return Attempt(
                Outcome.RETRY if self._retryable(exc) else Outcome.FAIL, repr(exc)
            )
        return Attempt(Outcome.SUCCESS, failed=failed)

    def payloads(self, batch: Sequence[T]) -> list[Payload]:
        """Relays take no callbacks: nothing to hand them."""
        return []
