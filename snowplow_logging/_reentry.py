"""Re-entry into the handler: a per-thread guard, and whether a signal handler re-entered.

A record logged while the same thread is inside ``SnowplowHandler`` (an
emitter, a filter or an event's code that logs) could loop, so the handler
drops it. One exception: a Python signal handler that interrupted the handler
on the main thread (a SIGTERM handler logging its last event before
``sys.exit``) is not a loop, and its record is sent once the interrupted call
returns. :func:`in_signal_handler` tells the two apart by walking the stack
from the re-entered call to the interrupted one, looking for the code of a
signal handler installed with :func:`signal.signal`.
"""

from __future__ import annotations

import functools
import inspect
import signal
import threading
import types
from collections.abc import Callable
from typing import Any, Final, TypeAlias

__all__ = ["GUARD", "Deferred", "Guard", "in_signal_handler"]

Deferred: TypeAlias = tuple[Callable[[Any, object], None], Any, object]
"""A record a signal handler logged: ``(send, record, tagged)``."""


class Guard(threading.local):
    """Per thread: ``busy[0]`` is True while this thread is inside the handler.

    One list per thread, read once per record and then flipped in place: an
    item store costs a sixth of setting an attribute of a ``threading.local``.
    ``busy[1]`` is ``None``, or the records (:data:`Deferred`) a signal handler
    logged while the thread was inside the handler (the main thread: signal
    handlers run only there), sent as soon as the call they interrupted is done.
    """

    def __init__(self) -> None:
        self.busy: list[Any] = [False, None]


GUARD: Final = Guard()
_MAX_WRAPPERS: Final = 4


def _code_of(handler: object) -> types.CodeType | None:
    """The code a Python signal handler runs first.

    A function, a method, a ``functools.partial`` or a callable object.
    """
    for _ in range(_MAX_WRAPPERS):
        if isinstance(handler, functools.partial):
            handler = handler.func
            continue
        code = getattr(getattr(handler, "__func__", handler), "__code__", None)
        if isinstance(code, types.CodeType):
            return code
        handler = type(handler).__call__ if callable(handler) else None
    return None


def _signal_handler_codes() -> set[types.CodeType]:
    codes = set()
    for signum in signal.valid_signals():
        try:
            code = _code_of(signal.getsignal(signum))
        except (OSError, ValueError):
            continue
        if code is not None:
            codes.add(code)
    return codes


def in_signal_handler(
    entry: types.CodeType, own: frozenset[types.CodeType], depth: int = 2
) -> bool:
    """Whether a Python signal handler runs between here and the call it interrupted.

    Only on the main thread: signal handlers run nowhere else.

    Args:
        entry: the code of the handler's ``handle()``, where a record enters.
        own: the code of every handler method a record can be inside
            (``entry`` among them).
        depth: frames between this call and the re-entered handler method.
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    codes = _signal_handler_codes()
    if not codes:
        return False
    # Out of the re-entered call (up to its handle(): a subclass's emit() may
    # come between), then up to the call it interrupted.
    frame = inspect.currentframe()
    for _ in range(depth):
        frame = frame.f_back if frame is not None else None
    entered = frame is not None and frame.f_code is entry
    frame = frame.f_back if frame is not None else None
    while frame is not None:
        code = frame.f_code
        if code in codes:
            return True
        if code in own:
            if entered or code is not entry:
                return False  # the interrupted call: no signal handler between
            entered = True
        frame = frame.f_back
    return False
