"""Events handed to an emitter unbuilt: what the caller's thread keeps, built later.

With :class:`~snowplow_logging.Emitter` (and the relays) the tracker does not
build a payload on the caller's thread: it queues what the payload will be
made of, and the emitter's worker thread calls ``build()``. The caller pays
for reading the clock, the bound context (:func:`~snowplow_logging.bind`) and
the current span's ids, and one object; joining entities, drawing the id and
encoding happen on the worker.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any, TypeAlias

from snowplow_logging import _format as fmt
from snowplow_logging import _protocol as proto
from snowplow_logging import _trace
from snowplow_logging._context import Bound
from snowplow_logging._delivery.engine import Engine
from snowplow_logging._delivery.sink import Pending
from snowplow_logging._events import Event, SelfDescribingJson
from snowplow_logging._protocol import Payload

__all__ = [
    "PendingEvent",
    "Submitted",
    "SubmittedParts",
    "build_parts",
    "event_time",
    "submitter",
]


class PendingEvent(partial[Payload]):
    """An event whose payload :meth:`build` makes later, on the emitter's thread.

    A ``functools.partial`` of the tracker's builder: made at C speed on the
    caller's thread, which is what keeps the call site cheap.
    """

    __slots__ = ()

    def build(self) -> Payload:
        """The event's payload (its id drawn now if the caller did not need it)."""
        return self()


SubmittedParts: TypeAlias = tuple[
    Callable[[Any], Payload],
    Event,
    int | str,
    tuple[SelfDescribingJson, ...],
    str | None,
    Bound | None,
    _trace.TraceIds | None,
]
"""The parts of a submitted event: :class:`Submitted` without its method."""


class Submitted(SubmittedParts):
    """What :meth:`Tracker.submit <snowplow_logging.Tracker.submit>` defers.

    ``(build, event, dtm, context, stamp, bound, trace)``: what builds the
    payload from these parts (:func:`build_parts` with the tracker's
    :meth:`PayloadBuilder.build_one <snowplow_logging._payloads.PayloadBuilder.build_one>`),
    the event, its time, the call's entities, the log line's time as text,
    what :func:`~snowplow_logging.bind` bound and the recording span's ids.

    Our own engine is handed these parts as a plain tuple
    (:data:`~snowplow_logging._delivery.sink.Parts`, a third of the cost);
    any other deferring emitter gets them as this tuple, whose :meth:`build`
    it calls. Until the worker builds it, every queued event keeps these
    alive, and the fewer objects they are, the less often and the less long
    the garbage collector runs on the logging thread.
    """

    __slots__ = ()

    def build(self) -> Payload:
        """The event's payload, its entities joined and its id drawn now."""
        return self[0](self)


def build_parts(build_one: Callable[..., Payload], parts: SubmittedParts) -> Payload:
    """The payload of :class:`Submitted` parts, plain or wrapped.

    Entities in order: the event's, the call's, the bound ones, the trace's.
    """
    _, event, dtm, context, stamp, bound, trace = parts
    entities = (*event.context, *context) if context else tuple(event.context)
    fields = None
    if bound is not None:
        entities = (*entities, *bound.context)
        fields = bound.fields
    if trace is not None:
        entities = (*entities, _trace.entity(trace))
    return build_one(event, dtm, entities, None, stamp, fields=fields)


def submitter(
    emitter: object, defer: Callable[[Pending], None] | None
) -> Callable[[SubmittedParts], None] | None:
    """Where :meth:`Tracker.submit` puts its parts, if the emitter defers.

    Our engine takes them plain; any other deferring emitter's ``defer`` gets
    them as :class:`Submitted`, which has the ``build()`` it calls.
    """
    if defer is None:
        return None
    if isinstance(emitter, Engine):
        return emitter.defer

    def submit(parts: SubmittedParts) -> None:
        defer(Submitted(parts))

    return submit


def event_time(created_ms: object) -> int | str:
    """The ``dtm`` of an event created at ``created_ms``, or now if ``None``.

    Raises:
        InvalidEventError: InvalidEventTypeError: not a plausible ms timestamp.
    """
    if created_ms is None:
        return time.time_ns() // 1_000_000
    if type(created_ms) is int and proto.MS_MIN <= created_ms <= proto.MS_MAX:
        return created_ms
    return fmt.format_timestamp("created_ms", created_ms) or ""
