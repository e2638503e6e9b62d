"""A bounded queue and one daemon thread handing payload batches to a sink.

:class:`RelayEmitter` is the base of the emitters that do not speak HTTP to a
collector themselves but hand events to something that will (issue #9): a
Redis list, a Celery task, a spool file. The queue, ``flush()``, ``close()``,
the exit deadline and fork handling are
:class:`~snowplow_logging._queued.QueuedEmitter`'s, as for
:class:`~snowplow_logging.Emitter`; the loop and its back-off are
:class:`~snowplow_logging._worker.Loop`'s.

A subclass implements :meth:`RelayEmitter._push` (runs on the worker thread)
and :meth:`RelayEmitter._retryable`; a push that raises a retryable error is
retried with the :class:`~snowplow_logging.Retry` policy's back-off.
"""

from __future__ import annotations

from functools import partial

from snowplow_logging._checks import check_count, check_seconds
from snowplow_logging._diagnostics import RateLimitedLog
from snowplow_logging._exceptions import ConfigurationTypeError
from snowplow_logging._queued import QueuedEmitter
from snowplow_logging._retry import Outcome, Retry
from snowplow_logging._worker import Attempt, Buffer, Loop, Payload

__all__ = ["RelayEmitter"]


class RelayEmitter(QueuedEmitter):
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
        self._activate()

    def _new_loop(self, buffer: Buffer, *, forked: bool) -> Loop:
        if forked:
            self._forked()
        return _RelayLoop(self, buffer)

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

    def _describe(self) -> str:
        return type(self).__name__


class _RelayLoop(Loop):
    """Takes up to ``batch_size`` payloads and pushes them, with back-off."""

    def __init__(self, relay: RelayEmitter, buffer: Buffer) -> None:
        super().__init__(
            buffer,
            describe=relay._describe(),  # noqa: SLF001 - the loop is the relay's
            interval=relay._interval,  # noqa: SLF001
            retry=relay._retry,  # noqa: SLF001
        )
        self._relay = relay
        self._batch_size = relay._batch_size  # noqa: SLF001
        buffer.wake_at = self._batch_size

    def _drain(self) -> bool:
        buffer = self._buffer
        while True:
            with buffer.cond:
                if buffer.abandoned:
                    return False
                taken = self._take(0, self._batch_size)
                if taken is None:
                    return bool(buffer.queue) or buffer.deadline is None
            batch: list[Payload] = []
            if not self._build(taken, _as_is, batch.append):
                return False
            if (
                batch
                and self._deliver(len(batch), partial(self._attempt, batch)) is None
            ):
                return False

    def _attempt(self, batch: list[Payload]) -> Attempt:
        try:
            failed = self._relay._push(batch)  # noqa: SLF001
        except Exception as exc:  # noqa: BLE001 - the worker must outlive any sink error
            retry = self._relay._retryable(exc)  # noqa: SLF001
            return Attempt(Outcome.RETRY if retry else Outcome.FAIL, repr(exc))
        return Attempt(Outcome.SUCCESS, failed=failed)


def _as_is(payload: Payload) -> Payload:
    return payload
