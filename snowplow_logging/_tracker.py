"""The tracker: stamps ids and times on events and hands payloads to emitters.

Pure and synchronous: ``track()`` builds ``dict[str, str]`` payloads from an
already-validated event (docs/protocol.md sections 2-6) and calls ``input()`` on each
emitter. It does no I/O itself; sending belongs to the emitter.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Final, Self

from snowplow_logging import _format as fmt
from snowplow_logging import _payloads, _pending, _trace
from snowplow_logging import _protocol as proto
from snowplow_logging._before_send import BeforeSend, HookStage
from snowplow_logging._checks import check_callable, check_setting
from snowplow_logging._context import bound as _bound
from snowplow_logging._delivery.sink import Deferring, Pending
from snowplow_logging._diagnostics import RateLimitedLog
from snowplow_logging._ecommerce import EcommerceTransaction
from snowplow_logging._emitters import EmitterLike, check_emitters, each, peek
from snowplow_logging._events import Event, SelfDescribingJson
from snowplow_logging._json import JsonDefault, JsonEncoding
from snowplow_logging._payloads import PayloadBuilder, event_id
from snowplow_logging._pending import PendingEvent, event_time
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
_current_ids: Final = _trace.current_ids
_modules: Final = sys.modules
_OTEL_TRACE: Final = _trace.OTEL_TRACE


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
        before_send: a hook called with each payload (``dict[str, str]``) just
            before it goes to the emitters; it returns the payload, a changed
            copy, or ``None`` to drop the event (counted in
            ``stats["dropped_by_hook"]``). A hook that raises drops the event,
            counted in ``stats["hook_failed"]`` and reported once. It runs on the
            tracking thread, where the caller's context variables are current;
            with a hook, payloads are built there too. Ready hooks:
            :mod:`snowplow_logging.hooks`.
        trace_context: attach the ``trace`` entity (trace id and span id) to
            events tracked while an OpenTelemetry span is recording (the
            default; nothing happens unless the application uses OpenTelemetry).

    Raises:
        ConfigurationError: a setting has a value that cannot work.
        ConfigurationTypeError: a setting has the wrong type.
    """

    __slots__ = (
        "__weakref__",
        "_build_one",
        "_build_parts",
        "_builder",
        "_closed",
        "_common",
        "_defer_to",
        "_emitter_errors",
        "_emitters",
        "_encoding",
        "_hook",
        "_log",
        "_submit_to",
        "_trace",
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
        before_send: BeforeSend | None = None,
        trace_context: bool = True,
    ) -> None:
        self._emitters = check_emitters(emitters)
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
        check_setting(fmt.check_instance, "trace_context", trace_context, bool)
        check_callable("json_encoder", json_encoder)
        self._log = RateLimitedLog()
        self._hook = None if before_send is None else HookStage(before_send, self._log)
        # A single emitter that builds payloads itself (ours) gets pending
        # events, unless a hook must see each payload on the caller's thread.
        only = self._emitters[0][0]
        self._defer_to: Callable[[Pending], None] | None = (
            only.defer
            if len(self._emitters) == 1
            and isinstance(only, Deferring)
            and self._hook is None
            else None
        )
        self._trace: Callable[[], _trace.TraceIds | None] | None = (
            _current_ids if trace_context else None
        )
        self.namespace = namespace or None
        self.app_id = app_id or None
        self.subject = subject
        self._common: dict[str, str] = {
            k: v for k, v in common.items() if v is not None
        }
        if subject is not None:
            self._common.update(subject.fields)
        self._encoding = JsonEncoding(json_encoder)
        self._builder = PayloadBuilder(
            self._common,
            encode_base64=encode_base64,
            encoding=self._encoding,
            log=self._log,
        )
        self._build_one = self._builder.build_one
        self._build_parts = partial(_pending.build_parts, self._build_one)
        self._submit_to = _pending.submitter(only, self._defer_to)
        self._closed = False
        # itertools.count: next() is atomic, so counting takes no lock (and a
        # signal handler tracking on a thread inside the tracker cannot deadlock).
        self._emitter_errors = itertools.count()
        self._tracked = itertools.count()

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
        sent as ``str(value)``, ``dropped_by_hook`` events the ``before_send``
        hook dropped, ``hook_failed`` events dropped because it raised.
        """
        hook = self._hook
        return {
            "tracked": peek(self._tracked),
            "emitter_errors": peek(self._emitter_errors),
            "encoding_failures": peek(self._builder.failures),
            "encoding_fallbacks": self._encoding.fallbacks,
            "dropped_by_hook": 0 if hook is None else peek(hook.dropped),
            "hook_failed": 0 if hook is None else peek(hook.failed),
        }

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
            The event id (``eid``); for a transaction, the ``tr`` event's id;
            ``""`` if the event was dropped (its JSON could not be encoded, or
            the ``before_send`` hook dropped it).

        Raises:
            InvalidEventTypeError: ``event`` is not an event.
            InvalidEventError: ``created_ms`` is not a plausible ms timestamp.
        """
        checked: object = event
        if not isinstance(checked, Event):
            fmt.check_instance("event", checked, Event)
        dtm = event_time(created_ms)
        entities = (*event.context, *context) if context else tuple(event.context)
        fields = None
        bound = _bound()
        if bound is not None:  # snowplow_logging.bind() in this context
            entities = (*entities, *bound.context)
            fields = bound.fields
        ids = None if self._trace is None else self._trace()
        if ids is not None:  # an OpenTelemetry span is recording
            entities = (*entities, _trace.entity(ids))
        if self._defer_to is not None and not isinstance(event, EcommerceTransaction):
            # Our Emitter builds the payload on its worker thread: the caller
            # only pays for an id and a queue append (issue #6's call-site cost).
            eid = _payloads.event_id()
            self._defer(self._defer_to, event, dtm, entities, eid=eid, fields=fields)
            return eid
        try:
            payloads = self._builder.build(event, str(dtm), entities, None, fields)
        except _payloads.BuildError as exc:
            self._builder.failed(exc, len(_payloads.event_parts(event)[0]))
            return ""
        eid = ""
        for index, payload in enumerate(payloads):
            sent = payload if self._hook is None else self._hook(payload)
            if sent is not None:
                self._emit(sent)
                if index == 0:
                    eid = sent.get(proto.EVENT_ID, "")
        return eid

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
        only reads the clock, the bound context and the span, and enqueues;
        the id is drawn, the entities joined, the payload built and ``stamp``
        read on the worker thread.

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

        .. versionadded:: 0.1.0
        """
        submit_to = self._submit_to
        if submit_to is None or isinstance(event, EcommerceTransaction):
            if stamp is not None:
                created_ms = fmt.iso_ms(stamp) or created_ms
            self.track(event, created_ms=created_ms, context=context)
            return
        # The caller's share, kept to the least: event_time's common case
        # inline, one tuple queued, the entities joined on the worker.
        if type(created_ms) is int and proto.MS_MIN <= created_ms <= proto.MS_MAX:
            dtm: int | str = created_ms
        else:
            dtm = event_time(created_ms)
        if type(context) is not tuple:
            context = tuple(context)  # the caller may change its own sequence
        # No span can exist until the application imported OpenTelemetry: one
        # dictionary lookup instead of the probe's call.
        trace = self._trace if _OTEL_TRACE in _modules else None
        try:
            submit_to(
                (
                    self._build_parts,
                    event,
                    dtm,
                    context,
                    stamp,
                    _bound(),
                    None if trace is None else trace(),
                )
            )
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
                    self._build_one, event, dtm, entities, eid, stamp, fields=fields
                )
            )
        except Exception as exc:  # noqa: BLE001 - reported and counted, never raised
            self._emitter_failed(self._emitters[0][0], exc)
        next(self._tracked)

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
        next(self._emitter_errors)
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
