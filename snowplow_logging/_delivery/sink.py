"""The seam between the engine and a destination: :class:`Sink`, and what crosses it.

The engine (:class:`~snowplow_logging._delivery.engine.Engine`) owns the queue,
the worker thread, retry timing, counting and callbacks. A sink knows one
destination: how to turn a payload into what it sends (:meth:`Sink.prepare`),
how many prepared items go in one batch (:meth:`Sink.pack`), how to send a
batch and what happened (:meth:`Sink.send`), and what to do after ``fork`` and
at close. Every sink method runs on the engine's worker thread, except
:meth:`Sink.after_fork` (in the forked child) and :meth:`Sink.close`.

What callers hand the engine is a :data:`Payload`, or a :class:`Pending` event
whose payload is built on the worker thread, or (from the tracker, for the
engine alone) the same pending event as plain :data:`Parts`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol, TypeAlias, TypeVar, runtime_checkable

from snowplow_logging._protocol import Payload
from snowplow_logging._retry import Outcome

__all__ = [
    "Attempt",
    "Deferring",
    "Item",
    "Parts",
    "Payload",
    "Pending",
    "Queued",
    "Sink",
]

Item = TypeVar("Item")


class Pending(Protocol):
    """An event whose payload is made later, on the emitter's worker thread."""

    def build(self) -> Payload:
        """The event's payload; raising counts the event as failed."""
        ...


Parts: TypeAlias = tuple[Callable[[Any], Payload], *tuple[object, ...]]
"""A pending event as a plain tuple whose first item builds it: ``parts[0](parts)``.

What :meth:`Tracker.submit <snowplow_logging.Tracker.submit>` queues on an
engine directly: a tuple costs the caller's thread about a third of an object
with a ``build()`` method. Every other deferring emitter is given the same
parts wrapped as a :class:`Pending`, whose ``build()`` makes that call.
"""

Queued: TypeAlias = Payload | Pending | Parts
"""What an engine's queue holds: a built payload, or an event to build."""


@runtime_checkable
class Deferring(Protocol):
    """An emitter that also takes :class:`Pending` events (and builds them itself)."""

    def input(self, payload: Payload) -> None:
        """Queue one built payload."""

    def defer(self, pending: Pending) -> None:
        """Queue one pending event, built on the worker thread."""


class Attempt(NamedTuple):
    """How one attempt to hand over a batch went."""

    outcome: Outcome
    reason: str = ""
    """Why it did not succeed, for messages (never with credentials)."""
    retry_after: float | None = None
    """Seconds the destination asked us to wait before the next attempt."""
    failed: int = 0
    """On success: items the destination refused one by one."""


class Sink(Protocol[Item]):
    """One destination of an engine; see the module docstring for the threads."""

    @property
    def describe(self) -> str:
        """Where events go, for messages, without credentials."""
        ...

    @property
    def batch_size(self) -> int:
        """Items worth waking the worker for (one for GET, a full body for POST)."""
        ...

    def prepare(self, payload: Payload) -> Item:
        """Turn one payload the engine now owns into a sendable item.

        Raises:
            Exception: the payload cannot be sent (it fails alone).
        """
        ...

    def pack(self, ready: deque[Item]) -> list[Item]:
        """Take the next batch off ``ready`` (never empty when called)."""
        ...

    def send(self, batch: Sequence[Item]) -> Attempt:
        """Make one attempt to hand over ``batch``; never raises."""
        ...

    def payloads(self, batch: Sequence[Item]) -> list[Payload]:
        """The payloads of ``batch`` as last sent, for the user's callbacks."""
        ...

    def after_fork(self) -> bool:
        """Drop what the parent's connections left (in a forked child).

        Returns:
            False if this sink must not be used in the child: the engine stays
            closed there.
        """
        ...

    def close(self, deadline: float) -> bool:
        """Release connections once the worker has stopped.

        May still send until ``deadline`` (a monotonic time). Returns True if
        nothing was left behind.
        """
        ...
