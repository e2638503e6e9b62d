"""The Celery task an event is tracked in, as an entity bound for the task's run.

:func:`install_task_context` connects two receivers: on ``task_prerun`` the
task's entity (:data:`TASK_SCHEMA`: its registered name, its id and how many
times it was retried) is bound with :func:`~snowplow_logging.bind`, so every
event tracked while the task runs carries it, whichever front door tracks it;
on ``task_postrun`` (sent after a success, a failure or a retry) the binding
is reset. Both signals are sent on the thread that runs the task, in its
context, so concurrent tasks of a threads or gevent pool each see their own.

Receivers never raise into Celery: a task whose entity cannot be made (a
strange request object) runs without it, counted in :func:`task_stats`.
"""

from __future__ import annotations

import itertools
from typing import Any, Final

from snowplow_logging._context import Binding, bind
from snowplow_logging._diagnostics import RateLimitedLog
from snowplow_logging._emitters import peek
from snowplow_logging._events import SelfDescribingJson

__all__ = ["TASK_SCHEMA", "install_task_context", "task_entity", "task_stats"]

TASK_SCHEMA: Final = "iglu:io.github.snowplow-logging/celery_task/jsonschema/1-0-0"
"""The Iglu URI of the task entity, shipped in the package's ``schemas`` folder."""

_UID: Final = "snowplow_logging.task_context"
_NAME_MAX: Final = 1024
_ID_MAX: Final = 255
_RETRIES_MAX: Final = 2_147_483_647

# task id -> its bindings, innermost last (an eager retry runs inside the first run)
_BINDINGS: Final[dict[str, list[Binding]]] = {}
_bound = itertools.count()
_errors = itertools.count()
_LOG: Final = RateLimitedLog()


def install_task_context() -> None:
    """Attach the ``celery_task`` entity to every event tracked inside a Celery task.

    Call it once where the worker imports your Celery app (calling it again
    changes nothing). Works with every pool and with ``task_always_eager``.

    .. versionadded:: 0.1.0
    """
    from celery import signals  # noqa: PLC0415 - only snowplow_logging.celery calls this

    signals.task_prerun.connect(_task_started, weak=False, dispatch_uid=_UID)
    signals.task_postrun.connect(_task_finished, weak=False, dispatch_uid=_UID)


def task_stats() -> dict[str, int]:
    """Counters: ``tasks`` runs that got the entity, ``errors`` runs that could not."""
    return {"tasks": peek(_bound), "errors": peek(_errors)}


def task_entity(task: object, task_id: str) -> SelfDescribingJson:
    """The entity of one run of ``task`` (a Celery ``Task``), ``task_id`` its id."""
    name = getattr(task, "name", None)
    request = getattr(task, "request", None)
    retries = getattr(request, "retries", 0) or 0
    if type(retries) is not int or retries < 0:
        retries = 0
    return SelfDescribingJson(
        schema=TASK_SCHEMA,
        data={
            "name": str(name)[:_NAME_MAX],
            "id": str(task_id)[:_ID_MAX],
            "retries": min(retries, _RETRIES_MAX),
        },
    )


def _task_started(
    sender: object = None, task_id: str | None = None, task: Any = None, **_: object
) -> None:
    if task_id is None:
        return
    try:
        binding = bind(context=[task_entity(task or sender, task_id)])
    except Exception as exc:  # noqa: BLE001 - a receiver never fails the task
        _failed("bind", exc)
        return
    _BINDINGS.setdefault(task_id, []).append(binding)
    next(_bound)


def _task_finished(task_id: str | None = None, **_: object) -> None:
    if task_id is None:
        return
    stack = _BINDINGS.get(task_id)
    if not stack:
        return
    binding = stack.pop()
    if not stack:
        _BINDINGS.pop(task_id, None)
    try:
        binding.reset()
    except Exception as exc:  # noqa: BLE001 - another context: nothing to restore here
        _failed("reset", exc)


def _failed(step: str, exc: Exception) -> None:
    next(_errors)
    _LOG.warning(
        f"celery-task:{step}",
        "Celery task context: %s failed (%s: %s); the task runs without its entity.",
        step,
        type(exc).__name__,
        exc,
    )
