"""The process-wide exit: every live emitter closed against one deadline.

Emitters register here when they are built. :func:`close_all` closes every
one still open, all draining in parallel on their own worker threads, within
one shared deadline (:func:`set_exit_timeout`, 5 s by default). It runs from
an ``atexit`` hook registered at import.
"""

from __future__ import annotations

import atexit
import math
import threading
import time
import weakref
from typing import Final, Protocol

from snowplow_logging._checks import check_seconds

__all__ = ["Closable", "close_all", "exited", "register", "set_exit_timeout"]


class Closable(Protocol):
    """What the exit closes: a close in two steps, so that all drain at once."""

    def begin_close(self, deadline: float) -> None:
        """Stop accepting events and ask the worker to drain by ``deadline``."""

    def finish_close(self, deadline: float) -> bool:
        """Wait for the worker until ``deadline``; count and report what is left."""


_LIVE: Final[weakref.WeakSet[Closable]] = weakref.WeakSet()
_LOCK: Final = threading.RLock()
_exit_timeout = 5.0
_exited = False  # the exit hook has run: later events cannot be sent


def register(closable: Closable) -> None:
    """Close ``closable`` at exit (held weakly: a collected emitter is skipped)."""
    with _LOCK:
        _LIVE.add(closable)


def exited() -> bool:
    """Whether the exit flush has run in this process."""
    return _exited


def set_exit_timeout(timeout: float) -> None:
    """Set the deadline, shared by all emitters, for sending at interpreter exit.

    At exit every emitter that is still open is closed at once, each draining
    its queue on its own worker thread until ``timeout`` seconds (5 by default)
    have passed in total; what remains is counted in ``stats["dropped_unsent"]``
    and reported in a warning on the ``snowplow_logging`` logger. ``0`` does
    not wait at all.

    Raises:
        ConfigurationError: ``timeout`` is negative or not finite.

    .. versionadded:: 0.1.0
    """
    global _exit_timeout  # noqa: PLW0603 - one process-wide setting, read at exit
    _exit_timeout = check_seconds("timeout", timeout)


def close_all(timeout: float | None = None, *, final: bool = True) -> bool:
    """Close every live emitter against one deadline; True if all finished in time.

    ``timeout`` defaults to the exit timeout. With ``final`` (the default) the
    process is taken to be ending: events tracked afterwards are reported as
    tracked after the exit flush.
    """
    global _exited  # noqa: PLW0603 - set once, at exit
    if final:
        _exited = True
    with _LOCK:
        emitters = list(_LIVE)
    wait = _exit_timeout if timeout is None else timeout
    deadline = math.inf if math.isinf(wait) else time.monotonic() + wait
    for emitter in emitters:
        emitter.begin_close(deadline)  # all workers drain in parallel
    ok = True
    for emitter in emitters:
        ok = emitter.finish_close(deadline) and ok
    return ok


atexit.register(close_all)
