"""The process-wide exit: every live emitter closed against one deadline.

Emitters register here when they are built. :func:`close_all` closes every
one still open, all draining in parallel on their own worker threads, within
one shared deadline (:func:`set_exit_timeout`, 5 s by default). It runs from
an ``atexit`` hook registered at import, and also where ``atexit`` never runs:

* in a ``multiprocessing`` child (``Process``, ``Pool`` and
  ``ProcessPoolExecutor`` workers, any start method), which leaves through
  ``os._exit``: from a ``multiprocessing.util.Finalize`` that the child's
  ``_exit_function`` runs after the target returns. The finalizer is armed
  by an after-fork callback (``util.register_after_fork``), which the child's
  bootstrap runs after it cleared the finalizers inherited from the parent,
  or directly when an emitter is first built inside a running child;
* in a ``multiprocessing.Pool`` worker stopped by ``Pool.terminate()`` (what
  ``with Pool() as pool:`` does on leaving the block): a SIGTERM handler,
  installed only there and only over the default action, has a watcher thread
  close every emitter, then ends the process by SIGTERM as before;
* in a Celery prefork child (billiard leaves through ``os._exit`` too): from
  the ``worker_process_shutdown`` signal, after the application's receivers.

:func:`close_from_signal` and :func:`defer_while_closing` serve the public
SIGTERM handler of :mod:`snowplow_logging.shutdown`. Closes run one at a
time; a signal that arrives while the main thread is in the exit close lets
it finish first.

Nothing here imports ``multiprocessing``, ``billiard`` or ``celery``: it only
acts when they are already imported, and never in the main process, whose
exit is ``atexit``'s alone.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable
from types import FrameType, ModuleType
from typing import Final, Protocol

from snowplow_logging._checks import check_seconds

__all__ = [
    "Closable",
    "close_all",
    "close_from_signal",
    "defer_while_closing",
    "exit_timeout",
    "exited",
    "flush_all",
    "note_ending_handler",
    "register",
    "set_exit_timeout",
]


class Closable(Protocol):
    """What the exit closes: a close in two steps, so that all drain at once."""

    def begin_close(self, deadline: float) -> None:
        """Stop accepting events and ask the worker to drain by ``deadline``."""

    def finish_close(self, deadline: float) -> bool:
        """Wait for the worker until ``deadline``; count and report what is left."""


_LIVE: Final[weakref.WeakSet[Closable]] = weakref.WeakSet()
_LOCK = threading.RLock()  # replaced in a forked child (a parent thread may hold it)
_CLOSING = threading.Lock()  # one close at a time: each reports what it dropped
_exit_timeout = 5.0
_exited = False  # the exit hook has run: later events cannot be sent

_SIGNAL_GRACE: Final = 0.5
"""Seconds a signal handler waits past the deadline for a close stuck on a lock."""
_LOGGER: Final = logging.getLogger("snowplow_logging")


def register(closable: Closable) -> None:
    """Close ``closable`` at exit (held weakly: a collected emitter is skipped)."""
    with _LOCK:
        _LIVE.add(closable)
    _watch_child_exit(direct=True)
    _watch_celery()


def exited() -> bool:
    """Whether the exit flush has run in this process."""
    return _exited


def exit_timeout() -> float:
    """The deadline set by :func:`set_exit_timeout`, in seconds."""
    return _exit_timeout


def set_exit_timeout(timeout: float) -> None:
    """Set the deadline, shared by all emitters, for sending at interpreter exit.

    At exit every emitter that is still open is closed at once, each draining
    its queue on its own worker thread until ``timeout`` seconds (5 by default)
    have passed in total; what remains is counted in ``stats["dropped_unsent"]``
    and reported in a warning on the ``snowplow_logging`` logger. ``0`` does
    not wait at all. The same deadline bounds the close when a
    ``multiprocessing`` or Celery child ends, and the helpers of
    :mod:`snowplow_logging.shutdown` when given no timeout.

    Raises:
        ConfigurationError: ``timeout`` is negative or not finite.

    .. versionadded:: 0.1.0
    """
    global _exit_timeout  # noqa: PLW0603 - one process-wide setting, read at exit
    _exit_timeout = check_seconds("timeout", timeout)


def _deadline(timeout: float | None) -> float:
    wait = _exit_timeout if timeout is None else timeout
    return math.inf if math.isinf(wait) else time.monotonic() + wait


def _live() -> list[Closable]:
    with _LOCK:
        return list(_LIVE)


def close_all(timeout: float | None = None, *, final: bool = True) -> bool:
    """Close every live emitter against one deadline; True if all finished in time.

    ``timeout`` defaults to the exit timeout. With ``final`` (the default) the
    process is taken to be ending: events tracked afterwards are reported as
    tracked after the exit flush.
    """
    return _close(_live(), _deadline(timeout), final=final)


def flush_all(timeout: float | None = None) -> bool:
    """Flush every live emitter against one deadline, leaving them open.

    The emitters flush in parallel, each waited for on a thread of its own.
    True if every event queued before the call was resolved in time.
    """
    return _flush(_live(), _deadline(timeout))


def _close(emitters: list[Closable], deadline: float, *, final: bool) -> bool:
    global _exited, _main_closing  # noqa: PLW0603 - set once, at exit
    if final:
        _exited = True
    remaining = deadline - time.monotonic()
    if not _CLOSING.acquire(
        timeout=-1 if math.isinf(remaining) else max(0.0, remaining)
    ):
        return False  # another close still runs, and reports, past the deadline
    on_main = threading.current_thread() is threading.main_thread()
    if on_main:
        _main_closing = True  # a SIGTERM now waits for this close
    try:
        for emitter in emitters:
            emitter.begin_close(deadline)  # all workers drain in parallel
        ok = True
        for emitter in emitters:
            ok = emitter.finish_close(deadline) and ok
    finally:
        _CLOSING.release()
        if on_main:
            _end_deferred_term()
    return ok


def _flush(emitters: list[Closable], deadline: float) -> bool:
    results: list[bool] = []

    def flush(emitter: object) -> None:
        _block_signals()
        method = getattr(emitter, "flush", None)
        if callable(method):
            remaining = max(0.0, deadline - time.monotonic())
            results.append(bool(method(None if math.isinf(remaining) else remaining)))

    threads = []
    for emitter in emitters:
        thread = threading.Thread(
            target=flush, args=(emitter,), name="snowplow_logging.flush", daemon=True
        )
        try:
            thread.start()
        except RuntimeError:  # interpreter shutdown: no new threads
            results.append(False)
        else:
            threads.append(thread)
    for thread in threads:
        remaining = deadline - time.monotonic()
        thread.join(None if math.isinf(remaining) else max(0.0, remaining))
    return len(results) == len(emitters) and all(results)


def close_from_signal(timeout: float | None = None, *, final: bool = True) -> bool:
    """:func:`close_all` (or :func:`flush_all` unless ``final``) for a signal handler.

    A signal handler runs on the main thread between two bytecodes, perhaps
    while that thread holds a lock of this module or of an emitter (in the
    middle of ``input()``, or of the exit close itself). The emitters are
    listed here (the module lock is reentrant) and closed on a helper thread
    waited for until the deadline plus a short grace, so the handler can
    never deadlock. True if everything finished in time.
    """
    emitters = _live()
    deadline = _deadline(timeout)
    done: list[bool] = []

    def run() -> None:
        _block_signals()
        done.append(
            _close(emitters, deadline, final=True)
            if final
            else _flush(emitters, deadline)
        )

    helper = threading.Thread(target=run, name="snowplow_logging.exit", daemon=True)
    try:
        helper.start()
    except RuntimeError:  # no new thread at interpreter shutdown: close here
        run()
        return done[0]
    remaining = deadline - time.monotonic()
    helper.join(None if math.isinf(remaining) else remaining + _SIGNAL_GRACE)
    if helper.is_alive() and final:  # stuck: nobody else will say so
        _LOGGER.warning(
            "Snowplow: the close on a signal did not finish by its deadline (the "
            "interrupted code held an emitter's lock?); %d emitters may have "
            "dropped what they still held.",
            len(emitters),
        )
    return bool(done and done[0])


def defer_while_closing(action: Callable[[], None]) -> bool:
    """Run ``action`` after the close the main thread is in, if it is in one.

    For a signal handler that interrupted that close (usually the exit close
    itself): ending the process now would drop what it is sending. Returns
    True if ``action`` was deferred; the first deferred action wins.
    """
    global _deferred  # noqa: PLW0603 - one pending action
    with _term_lock:
        if not _main_closing:
            return False
        if _deferred is None:
            _deferred = action
        return True


_ENDING_HANDLERS: Final[weakref.WeakSet[object]] = weakref.WeakSet()


def note_ending_handler(handler: object) -> None:
    """Mark a SIGTERM handler that closes and then ends the process like SIG_DFL.

    A ``multiprocessing.Pool`` worker that inherits one by fork takes it as
    the default action and installs its own close instead (see
    :func:`_close_on_sigterm`).
    """
    _ENDING_HANDLERS.add(handler)


# --- children that leave through os._exit -------------------------------------

_EXIT_PRIORITY: Final = 0
"""The finalizer's priority: after the positive ones, before children are joined."""

_armed_pid = 0  # the process whose multiprocessing exit runs close_all
_callback_registered = False  # the after-fork callback (inherited by children)
_celery_hooked = False


class _Anchor:
    """What ``register_after_fork`` holds (weakly) for the after-fork callback."""

    __slots__ = ("__weakref__",)


_ANCHOR: Final = _Anchor()


def _mp_util() -> ModuleType | None:
    """``multiprocessing.util`` if something imported it (it is never imported here)."""
    return sys.modules.get("multiprocessing.util")


def _in_mp_child() -> bool:
    """Whether this is a ``multiprocessing`` child past its bootstrap."""
    process = sys.modules.get("multiprocessing.process")
    return process is not None and process.parent_process() is not None


def _watch_child_exit(*, direct: bool) -> None:
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
        _close_on_sigterm()
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
        _close_on_sigterm()


def _close_at_child_exit() -> None:
    if os.getpid() == _armed_pid:  # not in a plain fork of this child
        close_all()


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


# Pool.terminate() sends SIGTERM to workers that may be idle with events still
# queued. A Python signal handler runs only on the main thread, and only once
# that thread reaches the next bytecode: an idle worker's main thread blocks in
# a semaphore, and when the kernel hands the signal to another thread (the
# emitter's), it may never get there. So the handler does no work itself: the
# C-level handler also writes the signal number to a wakeup pipe, and a watcher
# thread reading it closes every emitter, then ends the process. The main
# thread is never blocked by the close, whatever lock it holds.

_term_lock = threading.RLock()  # reentrant: the handler may interrupt its holder
_term_started = False
_main_closing = False  # the main thread is closing (the exit close, usually)
_deferred: Callable[[], None] | None = None  # what a signal left for after that close
_wakeup: tuple[int, int] | None = None  # this process's wakeup pipe (read, write)


def _close_on_sigterm() -> None:
    """Close before SIGTERM ends this Pool worker; only over the default action."""
    global _wakeup  # noqa: PLW0603 - one pipe per worker process
    if sys.platform == "win32":  # terminate() is TerminateProcess there: no signal
        return
    if threading.current_thread() is not threading.main_thread():
        return
    current = signal.getsignal(signal.SIGTERM)
    if current is not signal.SIG_DFL and current not in _ENDING_HANDLERS:
        return
    signal.signal(signal.SIGTERM, _pool_worker_sigterm)
    read, write = os.pipe()
    os.set_blocking(write, False)
    previous = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    if previous != -1:  # someone else's wakeup fd: the handler alone will do
        signal.set_wakeup_fd(previous)
        os.close(read)
        os.close(write)
        return
    _wakeup = (read, write)
    watcher = threading.Thread(
        target=_watch_wakeup, args=(read,), name="snowplow_logging.sigterm"
    )
    watcher.daemon = True
    watcher.start()


def _pool_worker_sigterm(signum: int, frame: FrameType | None) -> None:
    signal.signal(signum, signal.SIG_DFL)  # a second SIGTERM ends it at once
    _start_term_close(inline=False)


def _watch_wakeup(read: int) -> None:
    _block_signals()
    while True:
        try:
            data = os.read(read, 64)
        except OSError:
            return
        if not data:
            return
        if signal.SIGTERM in data and signal.getsignal(signal.SIGTERM) in {
            _pool_worker_sigterm,
            signal.SIG_DFL,  # our handler ran first and restored it
        }:
            _start_term_close(inline=True)
            return


def _start_term_close(*, inline: bool) -> None:
    global _term_started, _deferred  # noqa: PLW0603 - once per process
    with _term_lock:
        if _term_started:
            return
        _term_started = True
        if defer_while_closing(_end_process):  # that close ends the process after
            return
    if inline:
        _term_close()
        return
    closer = threading.Thread(target=_term_close, name="snowplow_logging.sigterm")
    closer.daemon = True
    try:
        closer.start()
    except RuntimeError:  # interpreter shutdown: the exit close is still to come
        with _term_lock:
            _deferred = _deferred or _end_process


def _term_close() -> None:
    _block_signals()
    try:
        close_all()
    finally:
        _end_process()


def _end_deferred_term() -> None:
    """After a close on the main thread: run what a signal left for after it."""
    global _main_closing, _deferred  # noqa: PLW0603 - reset after the close
    with _term_lock:
        _main_closing = False
        action, _deferred = _deferred, None
    if action is not None:
        action()


def _end_process() -> None:
    """End this process by signal: SIGTERM once its default action is back."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        os.kill(os.getpid(), signal.SIGTERM)  # delivered to a thread not blocking it
    else:  # the main thread never ran the handler (stuck in C code)
        os.kill(os.getpid(), signal.SIGKILL)


def _block_signals() -> None:
    """Keep process-directed SIGTERM and SIGINT off this thread (they go to main)."""
    if hasattr(signal, "pthread_sigmask"):  # not on Windows
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})


def _forget_sigterm_in_child() -> None:
    """A fork of a Pool worker is not one: drop its SIGTERM handler and pipe."""
    global _wakeup, _term_started, _main_closing, _deferred  # noqa: PLW0603 - reset
    _term_started = _main_closing = False
    _deferred = None
    if _wakeup is None:
        return
    read, write = _wakeup
    _wakeup = None
    current = signal.set_wakeup_fd(-1)
    if current != write:  # not ours any more: put it back
        signal.set_wakeup_fd(current)
    os.close(read)
    os.close(write)
    if signal.getsignal(signal.SIGTERM) is _pool_worker_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


_CELERY_UID: Final = "snowplow_logging.exit"


def _watch_celery() -> None:
    """Close when a Celery prefork child ends (it leaves through ``os._exit``)."""
    global _celery_hooked  # noqa: PLW0603 - once per process line
    signals = sys.modules.get("celery.signals")
    if _celery_hooked or signals is None:
        return
    _celery_hooked = True
    signals.worker_process_shutdown.connect(
        _on_celery_child_exit, weak=False, dispatch_uid=_CELERY_UID
    )
    signals.worker_process_init.connect(
        _on_celery_child_start, weak=False, dispatch_uid=_CELERY_UID
    )


def _on_celery_child_start(**_: object) -> None:
    """In a new prefork child: close after the application's own shutdown receivers.

    Receivers run in the order they were connected, and ours was connected
    when the library was imported, before the application's: connected again
    now, it runs last, so what they log is sent too.
    """
    signals = sys.modules.get("celery.signals")
    if signals is None:
        return
    shutdown = signals.worker_process_shutdown
    shutdown.disconnect(_on_celery_child_exit, dispatch_uid=_CELERY_UID)
    shutdown.connect(_on_celery_child_exit, weak=False, dispatch_uid=_CELERY_UID)


def _on_celery_child_exit(**_: object) -> None:
    close_all()


def _after_fork_in_child() -> None:
    global _LOCK, _CLOSING, _term_lock  # noqa: PLW0603 - a parent thread may hold them
    _LOCK = threading.RLock()
    _CLOSING = threading.Lock()
    _term_lock = threading.RLock()
    _forget_sigterm_in_child()
    _watch_child_exit(direct=False)
    _watch_celery()


atexit.register(close_all)
if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)
_watch_child_exit(direct=True)
_watch_celery()
