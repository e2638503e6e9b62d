"""The tracker: stamps ids and times on events and hands payloads to emitters.

Pure and synchronous: ``track()`` builds ``dict[str, str]`` payloads from an
already-validated event (docs/protocol.md sections 2-6) and calls ``input()`` on each
emitter. It does no I/O itself; sending belongs to the emitter.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Final, Self

from snowplow_logging import _format as fmt
from snowplow_logging import _payloads
from snowplow_logging import _protocol as proto
from snowplow_logging._checks import check_callable, check_setting
from snowplow_logging._context import Bound
from snowplow_logging._context import bound as _bound
from snowplow_logging._delivery.sink import Deferring, Pending
from snowplow_logging._diagnostics import RateLimitedLog
from snowplow_logging._emitters import EmitterLike, check_emitters, each, peek
from snowplow_logging._events import Event, SelfDescribingJson
from snowplow_logging._json import JsonDefault, JsonEncoding
from snowplow_logging._payloads import PayloadBuilder, event_id
from snowplow_logging._protocol import Payload
from snowplow_logging._subject import Subject
from snowplow_logging._version import TRACKER_VERSION

__all__ = [
    "EmitterLike",
    "Payload",
    "PendingEvent",
    "Tracker",
    "event_id",
]

_NAMESPACE_MAX: Final = proto.max_length(proto.NAMESPACE)
_APP_ID_MAX: Final = proto.max_length(proto.APP_ID)


class PendingEvent(partial[Payload]):
    """An event whose payload :meth:`build` makes later, on the emitter's thread.

    A ``functools.partial`` of the tracker's builder: made at C speed on the
    caller's thread, which is what keeps the call site cheap.
    """

    __slots__ = ()

    def build(self) -> Payload:
        """The event's payload (its id drawn now if the caller did not need it)."""
        return self()


class _Submitted(
    tuple[
        "Tracker",
        Event,
        int | str,
        tuple[SelfDescribingJson, ...],
        str | None,
        Bound | None,
    ]
):
    """What :meth:`Tracker.submit` defers: ``(tracker, event, dtm, context, stamp, bound)``.

    A ``PendingEvent`` for the integrations' hot path: one object, where a
    ``partial`` is three (itself, its arguments and its keywords), made as
    fast. Until the worker builds it, every queued event keeps these alive,
    and the fewer they are, the less often and the less long the garbage
    collector runs on the logging thread.
    """

    __slots__ = ()

    def build(self) -> Payload:
        """The event's payload, its entities joined and its id drawn now."""
        tracker, event, dtm, context, stamp, bound = self
        entities = (*event.context, *context) if context else tuple(event.context)
        fields = None
        if bound is not None:
            entities = (*entities, *bound.context)
            fields = bound.fields
        build = tracker._build_later  # noqa: SLF001 - the tracker's own builder
        return build(event, dtm, entities, None, stamp, fields=fields)


class Tracker:
    """Turns events into protocol-exact payloads and hands them to emitters.

    Args:
        emitters: one emitter or a sequence of them; anything with
            ``input(payload: dict[str, str])`` is an emitter. A failing emitter
            never stops the others.
        namespace: the tracker namespace (``tna``).
        app_id: the application id (``aid``).
        subject: default subject fields for every event; a per-event subject
            overrides only the fields it sets.
        platform: the platform code (``p``), ``"srv"`` by default.
        encode_base64: send entities and self-describing events as base64
            (``cx``/``ue_px``, the default) or as plain JSON (``co``/``ue_pr``).
        json_encoder: a ``default=`` function for values ``json`` cannot encode,
            tried before the built-in handling of datetimes, ``Decimal``, ``UUID``,
            enums and sets. What neither handles is sent as ``str(value)`` and
            counted in ``stats["encoding_fallbacks"]``.

    Raises:
        ConfigurationError: a setting has a value that cannot work.
        ConfigurationTypeError: a setting has the wrong type.
    """

    __slots__ = (
        "__weakref__",
        "_builder",
        "_closed",
        "_common",
        "_defer_to",
        "_emitters",
        "_encoding",
        "_lock",
        "_log",
        "_stats",
        "_tracked",
        "app_id",
        "namespace",
        "subject",
    )

    def __init__(
        self,
        *,
        emitters: EmitterLike | Sequence[EmitterLike],
        namespace: str | None = None,
        app_id: str | None = None,
        subject: Subject | None = None,
        platform: str = "srv",
        encode_base64: bool = True,
        json_encoder: JsonDefault | None = None,
    ) -> None:
        self._emitters = check_emitters(emitters)
        # A single emitter that builds payloads itself (ours) gets pending events.
        only = self._emitters[0][0]
        self._defer_to: Callable[[Pending], None] | None = (
            only.defer
            if len(self._emitters) == 1 and isinstance(only, Deferring)
            else None
        )
        common = {
            proto.TRACKER_VERSION: TRACKER_VERSION,
            proto.NAMESPACE: check_setting(
                fmt.format_text, "namespace", namespace, max_length=_NAMESPACE_MAX
            ),
            proto.APP_ID: check_setting(
                fmt.format_text, "app_id", app_id, max_length=_APP_ID_MAX
            ),
            proto.PLATFORM: check_setting(fmt.format_platform, "platform", platform),
        }
        check_setting(fmt.check_instance, "subject", subject, Subject, optional=True)
        check_setting(fmt.check_instance, "encode_base64", encode_base64, bool)
        check_callable("json_encoder", json_encoder)
        self.namespace = namespace or None
        self.app_id = app_id or None
        self.subject = subject
        self._common: dict[str, str] = {
            k: v for k, v in common.items() if v is not None
        }
        if subject is not None:
            self._common.update(subject._fields)
        self._encoding = JsonEncoding(json_encoder)
        self._builder = PayloadBuilder(
            self._common, encode_base64=encode_base64, encoding=self._encoding
        )
        self._lock = threading.RLock()  # reentrant: a signal handler may track
        _TRACKERS.add(self)
        self._log = RateLimitedLog()
        self._closed = False
        self._stats = {"emitter_errors": 0, "encoding_failures": 0}
        self._tracked = itertools.count()  # next() is atomic: no lock on the hot path

    def __repr__(self) -> str:
        return (
            f"<Tracker namespace={self.namespace!r} app_id={self.app_id!r} "
            f"emitters={len(self._emitters)}>"
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def emitters(self) -> tuple[EmitterLike, ...]:
        """The emitters payloads go to."""
        return tuple(emitter for emitter, _, _ in self._emitters)

    @property
    def stats(self) -> dict[str, int]:
        """A snapshot of counters.

        ``tracked`` payloads handed to emitters, ``emitter_errors`` exceptions
        raised by an emitter's ``input``, ``encoding_failures`` events dropped
        because their JSON could not be encoded, ``encoding_fallbacks`` values
        sent as ``str(value)``.
        """
        with self._lock:
            stats = dict(self._stats)
        stats["tracked"] = peek(self._tracked)
        stats["encoding_fallbacks"] = self._encoding.fallbacks
        return stats

    def track(
        self,
        event: Event,
        *,
        created_ms: int | None = None,
        context: Sequence[SelfDescribingJson] = (),
    ) -> str:
        """Build the event's payloads and hand them to every emitter.

        Runs on the caller's thread: formatting was done when the event was
        built, so this only adds ids and timestamps, encodes JSON entities and
        calls each emitter's ``input()``.

        Args:
            event: the event to send.
            created_ms: the creation time (``dtm``) in milliseconds since the
                epoch; now by default. Integrations pass the log record's time.
            context: extra entities for this call, added after the event's own.

        Returns:
            The event id (``eid``); for a transaction, the ``tr`` event's id.

        Raises:
            InvalidEventTypeError: ``event`` is not an event.
            InvalidEventError: ``created_ms`` is not a plausible ms timestamp.
        """
        checked: object = event
        if not isinstance(checked, Event):
            fmt.check_instance("event", checked, Event)
        dtm = _event_time(created_ms)
        entities = (*event.context, *context) if context else tuple(event.context)
        fields = None
        bound = _bound()
        if bound is not None:  # snowplow_logging.bind() in this context
            entities = (*entities, *bound.context)
            fields = bound.fields
        if self._defer_to is not None and len(event._parts) == 1:  # noqa: SLF001 - the events' own reader
            # Our Emitter builds the payload on its worker thread: the caller
            # only pays for an id and a queue append (issue #6's call-site cost).
            eid = _payloads.event_id()
            self._defer(self._defer_to, event, dtm, entities, eid=eid, fields=fields)
            return eid
        try:
            payloads = self._builder.build(event, str(dtm), entities, None, fields)
        except (ValueError, TypeError, RecursionError) as exc:
            self._encoding_failed(exc, len(event._parts))  # noqa: SLF001 - the events' own reader
            return ""
        for payload in payloads:
            self._emit(payload)
        return payloads[0][proto.EVENT_ID]

    def submit(
        self,
        event: Event,
        created_ms: int | None = None,
        context: tuple[SelfDescribingJson, ...] = (),
        stamp: str | None = None,
    ) -> None:
        """:meth:`track` without the event id, for integrations.

        The logging handler and the structlog processor call this: they have no
        use for the id, so with an emitter that builds payloads on its own
        thread (:class:`~snowplow_logging.Emitter` and the relays) the caller
        only reads the clock and enqueues; the id is drawn, the entities
        joined, the payload built and ``stamp`` read on the worker thread.

        Args:
            event: the event to send, already checked to be an :class:`Event`.
            created_ms: the creation time (``dtm``) in milliseconds since the
                epoch; now by default.
            context: extra entities, added after the event's own.
            stamp: the log line's time as text: when
                :func:`~snowplow_logging._format.iso_ms` can read it, it is the
                event time instead of ``created_ms``.

        Raises:
            InvalidEventError: ``created_ms`` is not a plausible ms timestamp.

        .. versionadded:: 0.2.0
        """
        defer_to = self._defer_to
        if defer_to is None or len(event._parts) != 1:  # noqa: SLF001 - the events' own reader
            if stamp is not None:
                created_ms = fmt.iso_ms(stamp) or created_ms
            self.track(event, created_ms=created_ms, context=context)
            return
        # The caller's share, kept to the least: _event_time's common case
        # inline, one tuple queued, the entities joined on the worker.
        if type(created_ms) is int and proto.MS_MIN <= created_ms <= proto.MS_MAX:
            dtm: int | str = created_ms
        else:
            dtm = _event_time(created_ms)
        if type(context) is not tuple:
            context = tuple(context)  # the caller may change its own sequence
        try:
            defer_to(_Submitted((self, event, dtm, context, stamp, _bound())))
        except Exception as exc:  # noqa: BLE001 - reported and counted, never raised
            self._emitter_failed(self._emitters[0][0], exc)
        next(self._tracked)

    def _defer(
        self,
        defer_to: Callable[[Pending], None],
        event: Event,
        dtm: int | str,
        entities: tuple[SelfDescribingJson, ...],
        *,
        eid: str | None,
        stamp: str | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> None:
        """Hand the single emitter an event it builds on its worker thread."""
        try:
            defer_to(
                PendingEvent(
                    self._build_later, event, dtm, entities, eid, stamp, fields=fields
                )
            )
        except Exception as exc:  # noqa: BLE001 - reported and counted, never raised
            self._emitter_failed(self._emitters[0][0], exc)
        next(self._tracked)

    def _encoding_failed(self, exc: BaseException, count: int) -> None:
        with self._lock:
            self._stats["encoding_failures"] += count
        self._log.warning(
            "encoding",
            "Dropped an event whose JSON could not be encoded: %s: %s",
            type(exc).__name__,
            exc,
        )

    def _build_later(
        self,
        event: Event,
        dtm: int | str,
        entities: tuple[SelfDescribingJson, ...],
        eid: str | None,
        stamp: str | None = None,
        *,
        fields: Mapping[str, str] | None = None,
    ) -> Payload:
        """Build a one-part event's payload; runs on the emitter's worker thread.

        ``eid`` is ``None`` when the caller did not need the id: it is drawn
        here. A readable ``stamp`` (see :meth:`submit`) replaces ``dtm``;
        ``fields`` are bound subject fields (see :func:`~snowplow_logging.bind`).
        """
        if stamp is not None:
            dtm = fmt.iso_ms(stamp) or dtm
        try:
            return self._builder.build(event, str(dtm), entities, eid, fields)[0]
        except (ValueError, TypeError, RecursionError) as exc:
            self._encoding_failed(exc, 1)
            raise

    def _emit(self, payload: Payload) -> None:
        emitters = self._emitters
        if len(emitters) == 1:
            emitter = emitters[0][0]
            try:
                emitter.input(payload)
            except Exception as exc:  # noqa: BLE001 - reported and counted, never raised
                self._emitter_failed(emitter, exc)
        else:
            last = len(emitters) - 1
            for index, (emitter, _, _) in enumerate(emitters):
                try:
                    emitter.input(payload if index == last else dict(payload))
                except Exception as exc:  # noqa: BLE001 - one emitter must not stop the others
                    self._emitter_failed(emitter, exc)
        next(self._tracked)

    def _emitter_failed(self, emitter: EmitterLike, exc: Exception) -> None:
        with self._lock:
            self._stats["emitter_errors"] += 1
        self._log.warning(
            f"input:{id(emitter)}",
            "Emitter %r raised in input(); the event was not handed to it: %s: %s",
            emitter,
            type(exc).__name__,
            exc,
        )

    def flush(self, timeout: float | None = None) -> bool:
        """Flush every emitter, sharing one deadline.

        Args:
            timeout: seconds to wait in total; ``None`` waits until done.

        Returns:
            True if every emitter finished in time (emitters without ``flush``
            count as finished).
        """
        return each(self._emitters, "flush", timeout, self._log)

    def close(self, timeout: float | None = None) -> bool:
        """Flush and close every emitter, sharing one deadline. Idempotent.

        Returns:
            True if every emitter closed in time.
        """
        if self._closed:
            return True
        self._closed = True
        return each(self._emitters, "close", timeout, self._log)


def _event_time(created_ms: object) -> int | str:
    """The ``dtm`` of an event created at ``created_ms``, or now if ``None``.

    Raises:
        InvalidEventError: InvalidEventTypeError: not a plausible ms timestamp.
    """
    if created_ms is None:
        return time.time_ns() // 1_000_000
    if type(created_ms) is int and proto.MS_MIN <= created_ms <= proto.MS_MAX:
        return created_ms
    return fmt.format_timestamp("created_ms", created_ms) or ""


_TRACKERS: Final[weakref.WeakSet[Tracker]] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # Another thread of the parent may have held a tracker's lock at fork.
    for tracker in list(_TRACKERS):
        tracker._lock = threading.RLock()  # noqa: SLF001 - the class's own at-fork reset


os.register_at_fork(after_in_child=_after_fork_in_child)
