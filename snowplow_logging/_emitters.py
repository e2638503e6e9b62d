"""The emitters a tracker hands payloads to: checked, then flushed and closed together.

Anything with ``input(payload)`` is an emitter (:class:`EmitterLike`); its
optional ``flush`` and ``close`` are called with a share of one deadline, and
one that raises never stops the others.
"""

from __future__ import annotations

import inspect
import itertools
import time
from collections.abc import Callable, Sequence
from typing import Protocol, TypeAlias, runtime_checkable

from snowplow_logging._diagnostics import RateLimitedLog
from snowplow_logging._exceptions import ConfigurationTypeError
from snowplow_logging._protocol import Payload

__all__ = ["EmitterLike", "Emitters", "check_emitters", "each", "peek"]


@runtime_checkable
class EmitterLike(Protocol):
    """Anything with ``input(payload)`` is an emitter.

    ``input`` is called on the thread that tracks the event and receives a dict
    it owns (the tracker gives every emitter its own copy). It should return
    quickly; optional ``flush(timeout=None) -> bool`` and ``close(timeout=None)``
    methods are called by :meth:`Tracker.flush` and :meth:`Tracker.close`.
    """

    def input(self, payload: Payload) -> None:
        """Accept one payload for sending."""


class _Hook:
    """A bound ``flush``/``close`` of an emitter and whether it takes a timeout."""

    __slots__ = ("call", "takes_timeout")

    def __init__(self, call: Callable[..., object]) -> None:
        self.call = call
        try:
            params = list(inspect.signature(call).parameters.values())
        except (TypeError, ValueError):
            params = []
        self.takes_timeout = any(
            param.name == "timeout" or param.kind is inspect.Parameter.VAR_KEYWORD
            for param in params
        )

    def __call__(self, timeout: float | None) -> object:
        if self.takes_timeout:
            return self.call(timeout=timeout)
        return self.call()


def _hook(emitter: object, name: str) -> _Hook | None:
    call = getattr(emitter, name, None)
    return _Hook(call) if callable(call) else None


Emitters: TypeAlias = tuple[tuple[EmitterLike, _Hook | None, _Hook | None], ...]
"""Each emitter with its ``flush`` and ``close`` hooks."""


def check_emitters(emitters: object) -> Emitters:
    """One emitter or a non-empty sequence of them, each with its hooks.

    Raises:
        ConfigurationTypeError: not emitters.
    """
    items = [emitters] if isinstance(emitters, EmitterLike) else emitters
    if not isinstance(items, Sequence) or isinstance(items, str | bytes) or not items:
        msg = (
            "'emitters' must be an emitter (an object with input(payload)) or a "
            f"non-empty sequence of them (got {emitters!r})."
        )
        raise ConfigurationTypeError(msg)
    out = []
    for index, emitter in enumerate(items):
        if not isinstance(emitter, EmitterLike) or not callable(emitter.input):
            msg = (
                f"'emitters[{index}]' must have an input(payload) method "
                f"(got {type(emitter).__name__})."
            )
            raise ConfigurationTypeError(msg)
        out.append((emitter, _hook(emitter, "flush"), _hook(emitter, "close")))
    return tuple(out)


def each(
    emitters: Emitters, which: str, timeout: float | None, notices: RateLimitedLog
) -> bool:
    """Call every emitter's ``flush`` or ``close`` (``which``) within one deadline."""
    deadline = None if timeout is None else time.monotonic() + timeout
    ok = True
    for emitter, flush_hook, close_hook in emitters:
        hook = flush_hook if which == "flush" else close_hook
        if hook is None:
            continue
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            result = hook(remaining)
        except Exception as exc:  # noqa: BLE001 - one emitter must not stop the others
            ok = False
            notices.warning(
                f"lifecycle:{id(emitter)}",
                "Emitter %r raised in %s(): %s: %s",
                emitter,
                which,
                type(exc).__name__,
                exc,
            )
            continue
        if result is False:
            ok = False
    return ok


def peek(counter: itertools.count[int]) -> int:
    """The next value an ``itertools.count`` would return, without consuming it."""
    return int(repr(counter)[6:-1])
