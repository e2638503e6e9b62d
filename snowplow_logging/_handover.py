"""A handler's tracker across a logging reconfiguration: retired, then adopted or closed.

``dictConfig`` and ``fileConfig`` close the old handlers while they hold
logging's module lock, and a thread that was logging may still reach them.
Closing there must not wait (the emitter's worker thread needs that lock to
log, as ``urllib3`` does), and must not lose what still arrives. So a handler
closed inside a reconfiguration *retires* its tracker (:func:`retire`): it
starts sending what is queued and puts its :class:`Lease` in a registry. A
handler built with the same tracker settings *adopts* it (:func:`adopt`),
with its connection and counters; otherwise a helper thread closes it as soon
as the reconfiguration is over.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING

from snowplow_logging._delivery.closing import block_signals

if TYPE_CHECKING:
    from snowplow_logging._tracker import Tracker

__all__ = ["Lease", "adopt", "holds_logging_lock", "retire"]


class Lease:
    """A handler's tracker, the settings it was built from, and who closes it.

    Args:
        tracker: the tracker.
        key: the tracker settings; a handler built with equal ones may adopt it.
        owned: whether the handler built the tracker and must close it.
        timeout: seconds a close waits for delivery.
    """

    __slots__ = ("closer", "key", "owned", "timeout", "tracker")

    def __init__(
        self, tracker: Tracker, key: object, *, owned: bool, timeout: float
    ) -> None:
        self.tracker = tracker
        self.key = key
        self.owned = owned
        self.timeout = timeout
        self.closer: threading.Thread | None = None


_RETIRED: list[Lease] = []
"""Leases of handlers closed by a reconfiguration whose tracker is still open: a
handler built with the same settings adopts one, else its closer closes it."""
_RETIRED_LOCK = threading.Lock()  # renewed in a forked child


def holds_logging_lock() -> bool:
    """Whether this thread holds logging's module lock (``dictConfig`` does)."""
    is_owned = getattr(getattr(logging, "_lock", None), "_is_owned", None)
    return callable(is_owned) and bool(is_owned())


def retire(lease: Lease) -> None:
    """Close inside a reconfiguration: start sending, then hand over or close later."""
    lease.tracker.flush(timeout=0.0)  # start sending what is queued; no wait
    if not lease.owned:
        return
    with _RETIRED_LOCK:
        if lease.closer is not None:
            return
        _RETIRED.append(lease)
        closer = threading.Thread(
            target=_close_retired,
            args=(lease,),
            name="snowplow_logging.handler-close",
            daemon=True,
        )
        lease.closer = closer
    try:
        closer.start()
    except RuntimeError:  # interpreter shutdown: the exit close has the emitter
        with _RETIRED_LOCK:
            if lease in _RETIRED:
                _RETIRED.remove(lease)


def adopt(key: object) -> Tracker | None:
    """The tracker of a retired handler built with the same settings, taken over."""
    with _RETIRED_LOCK:
        for index, old in enumerate(_RETIRED):
            try:
                same = bool(old.key == key)
            except Exception:  # noqa: BLE001 - an option's __eq__ failed: not the same
                same = False
            if same:
                del _RETIRED[index]
                old.owned = False  # handed over: the old handler closes nothing
                return old.tracker
    return None


def _close_retired(lease: Lease) -> None:
    """Close a retired tracker once the reconfiguration is over."""
    block_signals()
    lock = getattr(logging, "_lock", None)
    if lock is not None:
        with lock:  # held by the reconfiguration until it is done
            pass
    with _RETIRED_LOCK:
        if lease not in _RETIRED:
            return  # a handler with the same settings adopted the tracker
        _RETIRED.remove(lease)
    lease.tracker.close(timeout=lease.timeout)


def _after_fork_in_child() -> None:
    global _RETIRED_LOCK  # noqa: PLW0603 - a parent thread may hold it
    _RETIRED_LOCK = threading.Lock()
    _RETIRED.clear()  # their closers did not come along; the exit close has them


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)
