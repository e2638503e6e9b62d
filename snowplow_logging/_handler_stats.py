"""What a handler counts beyond its hot path: records it drops, and its emitters' counters.

:class:`Drops` counts the records a handler cannot send, a record logged from
inside the handler (it could loop) and a record after ``close()``, and
reports each kind once on the library's logger. The emitters may be anyone's
(anything with ``input(payload)`` is one), so each is read defensively: a
missing or failing ``stats`` counts as nothing, and nothing here raises.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping

from snowplow_logging._delivery import exit as _exit
from snowplow_logging._diagnostics import LOGGER, counted
from snowplow_logging._emitters import peek

__all__ = ["Drops", "dropped_after_close", "emitter_stats"]


class Drops:
    """A handler's re-entered records and records after close, reported once each."""

    __slots__ = ("_late", "_reentrant", "_warned_late", "_warned_reentry")

    def __init__(self) -> None:
        # itertools.count: next() is atomic, so counting takes no lock.
        self._reentrant = itertools.count()
        self._late = itertools.count()
        self._warned_late = self._warned_reentry = False

    def stats(self) -> dict[str, int]:
        """``reentrant_dropped`` and ``after_close``, as the handler reports them."""
        return {
            "reentrant_dropped": peek(self._reentrant),
            "after_close": peek(self._late),
        }

    def reentered(self, handler: object) -> None:
        """Count a record dropped because it was logged from inside ``handler``."""
        next(self._reentrant)
        if not self._warned_reentry:
            self._warned_reentry = True
            LOGGER.warning(
                "Snowplow handler %r: a record logged from inside the handler (by "
                "an emitter, filter or event it called) was dropped, so that it "
                "cannot loop; later ones count in stats['reentrant_dropped'].",
                handler,
            )

    def after_close(self, handler: object, emitters: Iterable[object]) -> None:
        """Count a record handled after close; report once if any was dropped."""
        next(self._late)
        if self._warned_late or _exit.exited():  # the exit close reports its own
            return
        dropped = dropped_after_close(emitters)
        if dropped and not self._warned_late:
            self._warned_late = True
            LOGGER.warning(
                "Snowplow handler %r: dropped %s logged after the handler was "
                "closed (a logging reconfiguration?); later ones count in "
                "stats['after_close'] and stats['emitter_dropped_closed'].",
                handler,
                counted(dropped, "event"),
            )


def emitter_stats(emitters: Iterable[object]) -> dict[str, int]:
    """The sum of every emitter's ``stats``, each key prefixed ``emitter_``."""
    total: dict[str, int] = {}
    for emitter in emitters:
        stats = getattr(emitter, "stats", None)
        if isinstance(stats, Mapping):
            for key, value in stats.items():
                total[f"emitter_{key}"] = total.get(f"emitter_{key}", 0) + value
    return total


def dropped_after_close(emitters: Iterable[object]) -> int:
    """Events the closed emitters among ``emitters`` dropped for coming too late."""
    dropped = 0
    for emitter in emitters:
        try:  # someone else's emitter: anything may fail, nothing may raise here
            if getattr(emitter, "closed", False) is True:
                stats = getattr(emitter, "stats", {})
                dropped += int(stats.get("dropped_closed", 0))
        except Exception:  # noqa: BLE001, S112 - then it cannot tell: skip it
            continue
    return dropped
