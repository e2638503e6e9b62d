"""Children that leave through ``os._exit``: the close armed where ``atexit`` never runs.

:func:`watch_child_exits` arranges for :func:`~.closing.close_all` to run

* in a ``multiprocessing`` child (``Process``, ``Pool`` and
  ``ProcessPoolExecutor`` workers, any start method), which leaves through
  ``os._exit``: from a ``multiprocessing.util.Finalize`` that the child's
  ``_exit_function`` runs after the target returns. The finalizer is armed
  by an after-fork callback (``util.register_after_fork``), which the child's
  bootstrap runs after it cleared the finalizers inherited from the parent,
  or directly when an emitter is first built inside a running child;
* in a ``multiprocessing.Pool`` worker, also on the SIGTERM that
  ``Pool.terminate()`` sends (:func:`~.signals.close_on_sigterm`);
* in a Celery prefork child (billiard leaves through ``os._exit`` too): from
  the ``worker_process_shutdown`` signal, after the application's receivers.

:mod:`.exit` calls it at import and whenever an emitter registers; after an
``os.fork()`` the child calls it again, as ``multiprocessing`` or ``celery``
may have been imported since.

Nothing here imports ``multiprocessing``, ``billiard`` or ``celery``: it only
acts when they are already imported, and never in the main process, whose
exit is ``atexit``'s alone.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType
from typing import Final

from snowplow_logging._delivery import closing, signals

__all__ = ["watch_child_exits"]

_EXIT_PRIORITY: Final = 0
"""The finalizer's priority: after the positive ones, before children are joined."""

_armed_pid = 0  # the process whose multiprocessing exit runs close_all
_callback_registered = False  # the after-fork callback (inherited by children)
_celery_hooked = False


class _Anchor:
    """What ``register_after_fork`` holds (weakly) for the after-fork callback."""

    __slots__ = ("__weakref__",)


_ANCHOR: Final = _Anchor()


def watch_child_exits(*, direct: bool) -> None:
    """Arrange the close at a ``multiprocessing`` or Celery child's exit, if there can be one.

    Does nothing until ``multiprocessing`` (or ``celery.signals``) is
    imported, and each hook is set once per process line. With ``direct``, a
    ``multiprocessing`` child already running (or a spawned Pool worker
    still being prepared) arms its own close now; without, only its future
    children are watched.
    """
    _watch_mp_exit(direct=direct)
    _watch_celery()


def _mp_util() -> ModuleType | None:
    """``multiprocessing.util`` if something imported it (it is never imported here)."""
    return sys.modules.get("multiprocessing.util")


def _in_mp_child() -> bool:
    """Whether this is a ``multiprocessing`` child past its bootstrap."""
    process = sys.modules.get("multiprocessing.process")
    return process is not None and process.parent_process() is not None


def _watch_mp_exit(*, direct: bool) -> None:
    """Arrange the close at a ``multiprocessing`` child's exit, if there can be one.

    The after-fork callback runs only in children, from their bootstrap; with
    ``direct``, a child already running arms its finalizer now.
    """
    global _callback_registered  # noqa: PLW0603 - once per process line
    util = _mp_util()
    if util is None:
        return
    if direct and _in_mp_child():
        _arm_child_exit(util)
    elif direct and _is_pool_worker():  # spawned: no after-fork callbacks run
        signals.close_on_sigterm()
    if not _callback_registered:  # children inherit the registry and the flag
        _callback_registered = True
        util.register_after_fork(_ANCHOR, _after_mp_bootstrap)


def _after_mp_bootstrap(_anchor: object) -> None:
    util = _mp_util()
    if util is not None:
        _arm_child_exit(util)


def _arm_child_exit(util: ModuleType) -> None:
    """Close at this child's exit: a finalizer, and SIGTERM in a Pool worker."""
    global _armed_pid  # noqa: PLW0603 - once per process
    pid = os.getpid()
    if _armed_pid == pid:
        return
    _armed_pid = pid
    util.Finalize(None, _close_at_child_exit, exitpriority=_EXIT_PRIORITY)
    if _is_pool_worker():
        signals.close_on_sigterm()


def _close_at_child_exit() -> None:
    if os.getpid() == _armed_pid:  # not in a plain fork of this child
        closing.close_all()


def _is_pool_worker() -> bool:
    """Whether this child runs ``multiprocessing.pool.worker``, which terminate kills.

    Past the bootstrap the target tells; in a spawned child still being
    prepared (its target not yet unpickled) the name the pool gave it does.
    """
    process = sys.modules.get("multiprocessing.process")
    if process is None:
        return False
    current = process.current_process()
    if process.parent_process() is None:
        return bool(getattr(current, "_inheriting", False)) and (
            "PoolWorker-" in current.name
        )
    pool = sys.modules.get("multiprocessing.pool")
    target = getattr(current, "_target", None)
    return pool is not None and target is getattr(pool, "worker", object())


_CELERY_UID: Final = "snowplow_logging.exit"


def _watch_celery() -> None:
    """Close when a Celery prefork child ends (it leaves through ``os._exit``)."""
    global _celery_hooked  # noqa: PLW0603 - once per process line
    celery_signals = sys.modules.get("celery.signals")
    if _celery_hooked or celery_signals is None:
        return
    _celery_hooked = True
    celery_signals.worker_process_shutdown.connect(
        _on_celery_child_exit, weak=False, dispatch_uid=_CELERY_UID
    )
    celery_signals.worker_process_init.connect(
        _on_celery_child_start, weak=False, dispatch_uid=_CELERY_UID
    )


def _on_celery_child_start(**_: object) -> None:
    """In a new prefork child: close after the application's own shutdown receivers.

    Receivers run in the order they were connected, and ours was connected
    when the library was imported, before the application's: connected again
    now, it runs last, so what they log is sent too.
    """
    celery_signals = sys.modules.get("celery.signals")
    if celery_signals is None:
        return
    shutdown = celery_signals.worker_process_shutdown
    shutdown.disconnect(_on_celery_child_exit, dispatch_uid=_CELERY_UID)
    shutdown.connect(_on_celery_child_exit, weak=False, dispatch_uid=_CELERY_UID)


def _on_celery_child_exit(**_: object) -> None:
    closing.close_all()


def _after_fork_in_child() -> None:
    watch_child_exits(direct=False)


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)
