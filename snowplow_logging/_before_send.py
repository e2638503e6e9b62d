"""The tracker's ``before_send`` hook: run on each payload, counted, never raising.

A hook receives the payload (``dict[str, str]``, the tracker's own: it may
change it in place) and returns it, a changed copy, or ``None`` to drop the
event. A dropped event is counted in ``stats["dropped_by_hook"]``. A hook that
raises, or returns something that is not a mapping of strings to strings,
drops the event too, counted in ``stats["hook_failed"]`` and reported (one
warning per hook and 30 s on the ``snowplow_logging`` logger); the application
and the emitter's worker never see the error.

Where it runs: on the thread that tracks the event, after the payload is built
there. Two reasons. A hook often decides from the caller's context (a consent
flag of the current request, a sampling decision per user): context variables
are only current on that thread. And an event dropped there never reaches the
emitter, whose counters and ``flush()`` then account for delivery alone.
The price is building the payload on the caller's thread instead of on the
emitter's worker (``benchmarks/bench_call_site.py`` measures it): trackers
without a hook keep the deferred, cheaper path.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import cast

from snowplow_logging._checks import check_callable
from snowplow_logging._diagnostics import RateLimitedLog
from snowplow_logging._protocol import Payload

__all__ = ["BeforeSend", "HookStage"]

BeforeSend = Callable[[Payload], Mapping[str, str] | None]
"""A ``before_send`` hook: the payload in; it, a changed copy or ``None`` out."""


class HookStage:
    """Runs one hook on payloads and counts what it drops.

    Args:
        hook: the user's ``before_send``.
        log: where a failing hook is reported (rate-limited).

    Raises:
        ConfigurationTypeError: ``hook`` is not callable.
    """

    __slots__ = ("_hook", "_log", "dropped", "failed")

    def __init__(self, hook: BeforeSend, log: RateLimitedLog) -> None:
        check_callable("before_send", hook)
        self._hook = hook
        self._log = log
        self.dropped = itertools.count()  # returned None; next() is atomic: no lock
        self.failed = itertools.count()  # raised, or returned something unusable

    def __call__(self, payload: Payload) -> Payload | None:
        """The payload to send, or ``None`` when the hook dropped the event."""
        try:
            result: object = self._hook(payload)
        except Exception as exc:  # noqa: BLE001 - counted and reported, never raised
            self._fail(f"raised {type(exc).__name__}: {exc}")
            return None
        if result is None:
            next(self.dropped)
            return None
        if type(result) is not dict:
            if not isinstance(result, Mapping):
                kind = type(result).__name__
                self._fail(f"returned {kind}, not a payload mapping or None")
                return None
            result = dict(result)
        sent: dict[object, object] = result
        for key, value in sent.items():
            if type(key) is not str or type(value) is not str:
                kind = type(value).__name__
                self._fail(f"returned a payload whose {key!r} is {kind}, not str")
                return None
        return cast("Payload", sent)

    def _fail(self, what: str) -> None:
        next(self.failed)
        self._log.warning(
            f"before_send:{id(self)}",
            "before_send hook %r %s; the event was dropped (counted in "
            "stats['hook_failed']).",
            self._hook,
            what,
        )
