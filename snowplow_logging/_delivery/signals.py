"""Closing from a signal handler, and on SIGTERM in a ``multiprocessing.Pool`` worker.

A Python signal handler runs on the main thread between two bytecodes,
perhaps while that thread holds a lock of :mod:`.closing` or of an emitter.
So a handler only lists the emitters and hands the close to a helper
thread, waited for until the deadline plus a short grace: it can never
deadlock.

:func:`close_from_signal`, :func:`defer_while_closing` and
:func:`note_ending_handler` serve the public SIGTERM handler of
:mod:`snowplow_logging.shutdown`. Closes run one at a time; a signal that
arrives while the main thread is in a close (the exit close, usually) lets
it finish first: what the handler would do next waits until that close ends
(:func:`~.closing.on_main_thread_close` says when).

:func:`close_on_sigterm` serves a ``multiprocessing.Pool`` worker stopped by
``Pool.terminate()`` (what ``with Pool() as pool:`` does on leaving the
block), where :mod:`.children` calls it: a SIGTERM handler, installed only
there and only over the default action, has a watcher thread close every
emitter, then ends the process by SIGTERM as before. Never on Windows,
where ``terminate()`` sends no signal.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable
from types import FrameType
from typing import Final

from snowplow_logging._delivery import closing

__all__ = [
    "close_from_signal",
    "close_on_sigterm",
    "defer_while_closing",
    "note_ending_handler",
]

_SIGNAL_GRACE: Final = 0.5
"""Seconds a signal handler waits past the deadline for a close stuck on a lock."""
_LOGGER: Final = logging.getLogger("snowplow_logging")


def close_from_signal(timeout: float | None = None, *, final: bool = True) -> bool:
    """:func:`~.closing.close_all` (or ``flush_all`` unless ``final``) for a signal handler.

    A signal handler runs on the main thread between two bytecodes, perhaps
    while that thread holds a lock of :mod:`.closing` or of an emitter (in the
    middle of ``input()``, or of the exit close itself). The emitters are
    listed here (the registry's lock is reentrant) and closed on a helper
    thread waited for until the deadline plus a short grace, so the handler
    can never deadlock. True if everything finished in time.
    """
    emitters = closing.live_emitters()
    deadline = closing.deadline_after(timeout)
    done: list[bool] = []

    def run() -> None:
        closing.block_signals()
        done.append(
            closing.close_emitters(emitters, deadline, final=True)
            if final
            else closing.flush_emitters(emitters, deadline)
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
    :func:`close_on_sigterm`).
    """
    _ENDING_HANDLERS.add(handler)


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


def close_on_sigterm() -> None:
    """Close before SIGTERM ends this process, a ``multiprocessing.Pool`` worker.

    Installs a SIGTERM handler only over the default action (or a handler
    marked by :func:`note_ending_handler`), only from the main thread and
    never on Windows; with it, unless another wakeup fd is set, the wakeup
    pipe and its watcher thread. On SIGTERM every emitter is closed within
    the exit timeout, then the process ends by SIGTERM.
    """
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
    closing.block_signals()
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
    closing.block_signals()
    try:
        closing.close_all()
    finally:
        _end_process()


def _begin_main_close() -> None:
    """A close started on the main thread: a SIGTERM now waits for it."""
    global _main_closing  # noqa: PLW0603 - set for the close's duration
    _main_closing = True


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


def _after_fork_in_child() -> None:
    global _term_lock  # noqa: PLW0603 - a parent thread may hold it
    _term_lock = threading.RLock()
    _forget_sigterm_in_child()


closing.on_main_thread_close(_begin_main_close, _end_deferred_term)
if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)
