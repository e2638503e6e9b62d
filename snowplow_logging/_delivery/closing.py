"""Closing every live emitter against one deadline: the registry and the close.

Emitters are added here when they are built (by :func:`.exit.register`),
held weakly: a collected one is skipped. :func:`close_all` closes every one
still open, all draining in parallel on their own worker threads, within one
shared deadline (:func:`set_exit_timeout`, 5 s by default); :func:`flush_all`
flushes them and leaves them open. Closes run one at a time, each reporting
what it dropped. A final close marks the process as ended (:func:`exited`):
events tracked afterwards are reported as too late.

When the close runs is decided elsewhere: at ``atexit`` (:mod:`.exit`), when
a ``multiprocessing`` or Celery child ends (:mod:`.children`), on a signal
(:mod:`.signals`). A signal handler must list the emitters before it hands
the close to a thread, so the steps are public too: :func:`live_emitters`,
:func:`deadline_after`, :func:`close_emitters`, :func:`flush_emitters`.
:func:`on_main_thread_close` tells :mod:`.signals` when the main thread is in
a close, so that a signal interrupting it lets it finish first. Threads
started here block process-directed signals (:func:`block_signals`).
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
import weakref
from collections.abc import Callable
from typing import Final, Protocol

from snowplow_logging._checks import check_seconds

__all__ = [
    "Closable",
    "add",
    "block_signals",
    "close_all",
    "close_emitters",
    "deadline_after",
    "exit_timeout",
    "exited",
    "flush_all",
    "flush_emitters",
    "live_emitters",
    "on_main_thread_close",
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
_exited = False  # the final close has run: later events cannot be sent


def _nothing() -> None:
    """The main-thread close hooks until :func:`on_main_thread_close` sets them."""


_main_close_began: Callable[[], None] = _nothing
_main_close_ended: Callable[[], None] = _nothing


def add(closable: Closable) -> None:
    """Include ``closable`` in every later close (held weakly)."""
    with _LOCK:
        _LIVE.add(closable)


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


def deadline_after(timeout: float | None) -> float:
    """The monotonic time ``timeout`` seconds from now (``inf`` for an endless wait).

    ``None`` stands for the exit timeout.
    """
    wait = _exit_timeout if timeout is None else timeout
    return math.inf if math.isinf(wait) else time.monotonic() + wait


def live_emitters() -> list[Closable]:
    """The emitters still alive, listed now.

    The lock is reentrant: a signal handler that interrupted the main thread
    while it held it can still list them.
    """
    with _LOCK:
        return list(_LIVE)


def close_all(timeout: float | None = None, *, final: bool = True) -> bool:
    """Close every live emitter against one deadline; True if all finished in time.

    ``timeout`` defaults to the exit timeout. With ``final`` (the default) the
    process is taken to be ending: events tracked afterwards are reported as
    tracked after the exit flush.
    """
    return close_emitters(live_emitters(), deadline_after(timeout), final=final)


def flush_all(timeout: float | None = None) -> bool:
    """Flush every live emitter against one deadline, leaving them open.

    The emitters flush in parallel, each waited for on a thread of its own.
    True if every event queued before the call was resolved in time.
    """
    return flush_emitters(live_emitters(), deadline_after(timeout))


def on_main_thread_close(began: Callable[[], None], ended: Callable[[], None]) -> None:
    """Have ``began`` called when a close starts on the main thread, ``ended`` after.

    ``began`` runs once the close holds the one-close-at-a-time lock,
    ``ended`` once it has released it, even if the close raised. Set once, by
    :mod:`.signals`: a signal that interrupts the main thread's close (the
    exit close, usually) leaves what it would do until ``ended``.
    """
    global _main_close_began, _main_close_ended
    _main_close_began, _main_close_ended = began, ended


def close_emitters(emitters: list[Closable], deadline: float, *, final: bool) -> bool:
    """Close ``emitters`` by ``deadline`` (a monotonic time), all draining at once.

    Waits until the deadline for a close already running; False if it still
    runs then (it reports what it drops itself). With ``final`` the process
    is taken to be ending (see :func:`exited`). True if all finished in time.
    """
    global _exited  # noqa: PLW0603 - set once, at exit
    if final:
        _exited = True
    remaining = deadline - time.monotonic()
    if not _CLOSING.acquire(
        timeout=-1 if math.isinf(remaining) else max(0.0, remaining)
    ):
        return False  # another close still runs, and reports, past the deadline
    on_main = threading.current_thread() is threading.main_thread()
    if on_main:
        _main_close_began()  # a SIGTERM now waits for this close
    try:
        for emitter in emitters:
            emitter.begin_close(deadline)  # all workers drain in parallel
        ok = True
        for emitter in emitters:
            ok = emitter.finish_close(deadline) and ok
    finally:
        _CLOSING.release()
        if on_main:
            _main_close_ended()
    return ok


def flush_emitters(emitters: list[Closable], deadline: float) -> bool:
    """Flush ``emitters`` by ``deadline``, each on a thread of its own; leave them open.

    True if every event queued before the call was resolved in time.
    """
    results: list[bool] = []

    def flush(emitter: object) -> None:
        block_signals()
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


def block_signals() -> None:
    """Keep process-directed SIGTERM and SIGINT off this thread (they go to main)."""
    if hasattr(signal, "pthread_sigmask"):  # not on Windows
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})


def _after_fork_in_child() -> None:
    global _LOCK, _CLOSING  # noqa: PLW0603 - a parent thread may hold them
    _LOCK = threading.RLock()
    _CLOSING = threading.Lock()


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)
