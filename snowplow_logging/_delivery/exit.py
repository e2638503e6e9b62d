"""The process-wide exit: every live emitter closed against one deadline.

Emitters :func:`register` here when they are built. :func:`close_all` closes
every one still open, all draining in parallel on their own worker threads,
within one shared deadline (:func:`set_exit_timeout`, 5 s by default). It
runs from an ``atexit`` hook registered at import, and also where ``atexit``
never runs: when a ``multiprocessing`` child, a ``multiprocessing.Pool``
worker stopped by ``terminate()`` or a Celery prefork child ends
(:mod:`.children`, armed at import and whenever an emitter registers), and
from the helpers of :mod:`snowplow_logging.shutdown` (on SIGTERM through
:func:`close_from_signal` and :func:`defer_while_closing`, at an ASGI
lifespan's shutdown, or called directly).

This module is the one the rest of the package uses: the engine registers
and asks :func:`exited`, the public API reaches :func:`set_exit_timeout` and
the shutdown helpers here. The work is done below it, in modules that
import one way (children → signals → closing):

* :mod:`.closing`: the registry of live emitters and the close and flush
  against one deadline, one close at a time;
* :mod:`.signals`: closing from a signal handler, and on SIGTERM in a
  ``multiprocessing.Pool`` worker;
* :mod:`.children`: children that leave through ``os._exit``
  (``multiprocessing`` and Celery).
"""

from __future__ import annotations

import atexit

from snowplow_logging._delivery import children, closing
from snowplow_logging._delivery.closing import (
    Closable,
    close_all,
    exit_timeout,
    exited,
    flush_all,
    set_exit_timeout,
)
from snowplow_logging._delivery.signals import (
    close_from_signal,
    defer_while_closing,
    note_ending_handler,
)

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


def register(closable: Closable) -> None:
    """Close ``closable`` at exit (held weakly: a collected emitter is skipped).

    Also arms the close at this process's end where ``atexit`` does not run,
    if ``multiprocessing`` or ``celery`` was imported since (see
    :func:`~.children.watch_child_exits`).
    """
    closing.add(closable)
    children.watch_child_exits(direct=True)


atexit.register(close_all)
children.watch_child_exits(direct=True)
