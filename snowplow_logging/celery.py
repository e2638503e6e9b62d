"""Events through Celery: task entities, and :class:`CeleryEmitter` sending batches as tasks.

The only module importing ``celery`` (``pip install 'snowplow-logging[celery]'``).

:func:`install_task_context` attaches a ``celery_task`` entity (the task's
name, id and retries, :data:`TASK_SCHEMA`) to every event tracked while a task
runs in this process, through ``task_prerun``/``task_postrun`` and
:func:`~snowplow_logging.bind`. Prefork children close their emitters on
``worker_process_shutdown`` without it (the library does that on its own).

The application process queues payloads in memory and a background thread
sends each batch as one ``snowplow_logging.deliver`` task; a Celery worker runs
the task, which sends the batch with an :class:`~snowplow_logging.Emitter` (one
per worker process and collector) and finishes once the collector answered
(issue #9). Importing this module registers the task with every Celery app, so
a worker needs ``include=["snowplow_logging.celery"]`` (or ``imports``) in its
app's configuration.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import threading
from typing import Final

from snowplow_logging._delivery.engine import Engine
from snowplow_logging._delivery.relay import PushSink, relay_settings
from snowplow_logging._delivery.url import collector_url
from snowplow_logging._emitter import Emitter, check_method
from snowplow_logging._exceptions import ConfigurationTypeError
from snowplow_logging._protocol import Payload
from snowplow_logging._retry import Retry

try:
    import celery
    from kombu.exceptions import OperationalError
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    msg = (
        "snowplow_logging.celery needs the celery package: "
        "pip install 'snowplow-logging[celery]'"
    )
    raise ImportError(msg) from exc

from snowplow_logging._celery_tasks import (
    TASK_SCHEMA,
    install_task_context,
    task_stats,
)

__all__ = [
    "TASK_NAME",
    "TASK_SCHEMA",
    "CeleryEmitter",
    "deliver",
    "install_task_context",
    "task_stats",
]

TASK_NAME: Final = "snowplow_logging.deliver"
"""The name of the task that delivers a batch."""
DELIVERY_TIMEOUT: Final = 60.0
"""Seconds a task waits for the collector before it returns anyway; the worker
process's emitter keeps retrying what is left."""

_EMITTERS: dict[tuple[str, str], Emitter] = {}
_EMITTERS_LOCK: Final = threading.Lock()


def _emitter_for(endpoint: str, method: str) -> Emitter:
    with _EMITTERS_LOCK:
        emitter = _EMITTERS.get((endpoint, method))
        if emitter is None:
            emitter = _EMITTERS[endpoint, method] = Emitter(endpoint, method=method)
        return emitter


@celery.shared_task(name=TASK_NAME, ignore_result=True)
def deliver(endpoint: str, payloads: list[Payload], method: str = "post") -> bool:
    """Send a batch to the collector; runs in the Celery worker.

    Args:
        endpoint: the collector, as for :class:`~snowplow_logging.Emitter`.
        payloads: the batch.
        method: ``"post"`` or ``"get"``.

    Returns:
        True once the collector accepted or refused every event of the batch
        (and of other batches queued in this process before it), False if
        :data:`DELIVERY_TIMEOUT` passed first.
    """
    emitter = _emitter_for(endpoint, method)
    for payload in payloads:
        emitter.input(dict(payload))
    return emitter.flush(timeout=DELIVERY_TIMEOUT)


class CeleryEmitter(Engine[Payload]):
    """Sends payloads to a collector through Celery tasks.

    ``input()`` only appends to a bounded in-memory queue (O(1), never blocks
    on the broker, never raises); a daemon thread sends up to ``batch_size``
    payloads as one :func:`deliver` task, every ``flush_interval`` seconds, on
    :meth:`flush` and on :meth:`close`, retrying with back-off while the broker
    is unreachable. ``stats`` has :attr:`Emitter.stats
    <snowplow_logging.Emitter.stats>`'s keys; ``sent`` counts payloads handed
    to the broker (with ``task_always_eager``, delivered by the task). The
    endpoint travels in each task message: keep credentials out of it unless
    the broker is trusted.

    Args:
        app: the Celery application to send tasks with.
        endpoint: the collector the workers send to.
        queue: the Celery queue for the tasks; ``None`` uses the app's routing.
        method: ``"post"`` or ``"get"``, used by the workers.
        batch_size: most payloads in one task.
        flush_interval: seconds between timed sends.
        max_queue: most payloads held in memory.
        retry: back-off while the broker is unreachable.

    Raises:
        ConfigurationError: a setting has a value that cannot work.
        ConfigurationTypeError: a setting has the wrong type.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        app: celery.Celery,
        *,
        endpoint: str,
        queue: str | None = None,
        method: str = "post",
        batch_size: int = 500,
        flush_interval: float = 1.0,
        max_queue: int = 10_000,
        retry: Retry | None = None,
    ) -> None:
        given: object = app
        if not isinstance(given, celery.Celery):
            msg = f"'app' must be a celery.Celery (got {app!r})."
            raise ConfigurationTypeError(msg)
        queue_given: object = queue
        if queue_given is not None and (not isinstance(queue_given, str) or not queue):
            msg = f"'queue' must be a non-empty string or None (got {queue!r})."
            raise ConfigurationTypeError(msg)
        self._app, self._task_queue = app, queue
        self._endpoint, self._method = endpoint, check_method(method)
        _, _, display = collector_url(endpoint, method=self._method)
        batch, settings = relay_settings(batch_size, flush_interval, max_queue, retry)
        sink = PushSink(
            describe=f"Celery app {app.main!r} to {display}",
            batch_size=batch,
            encode=_as_is,
            push=self._push,
            retryable=_retryable,
        )
        super().__init__(sink, name="CeleryEmitter", settings=settings)

    def _push(self, batch: list[Payload]) -> int:
        task = self._app.tasks[TASK_NAME]
        args = (self._endpoint, batch, self._method)
        if self._task_queue is None:
            task.apply_async(args=args)
        else:
            task.apply_async(args=args, queue=self._task_queue)
        return 0


def _as_is(payload: Payload) -> Payload:
    return payload


def _retryable(exc: Exception) -> bool:
    return isinstance(exc, OperationalError | OSError)
