"""``SnowplowHandler``: tagged stdlib log records become Snowplow events.

The handler runs on the thread that logs. An untagged record costs one attribute
lookup and is ignored; a tagged one is handed to the tracker, which builds the
payload and enqueues it on the emitter: no JSON of the record, no network, no
handler lock. Records of ``snowplow_logging``, ``urllib3``, ``requests`` and
``http.client`` are never sent, and re-entry is stopped
(:mod:`~snowplow_logging._reentry`), so the library's own logging can never
loop back into it. ``emit()`` never raises: problems go to
``Handler.handleError``, which respects ``logging.raiseExceptions``. Inside a
logging reconfiguration ``flush()`` and ``close()`` wait for nothing and the
tracker is handed over (:mod:`~snowplow_logging._handover`); records reaching
a handler after its tracker was closed are dropped, counted and reported once.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import math
from collections.abc import Mapping
from typing import Any, Final, Literal

from pythonjsonlogger.core import BaseJsonFormatter

from snowplow_logging import _environment as env
from snowplow_logging._app_error import application_error
from snowplow_logging._emitters import peek
from snowplow_logging._events import Event
from snowplow_logging._handler_settings import (
    TrackerSettings,
    application_entity,
    check_options,
    make_tracker,
)
from snowplow_logging._handler_stats import Drops, emitter_stats
from snowplow_logging._handover import Lease, adopt, holds_logging_lock, retire
from snowplow_logging._record_entity import error_site, record_entity
from snowplow_logging._reentry import GUARD, in_signal_handler
from snowplow_logging._tags import (
    CLAIMS,
    EXCEPTION,
    IGNORED_LOGGERS,
    IGNORED_NAMES,
    Tag,
    claim,
    from_structlog,
    learn_ignored,
)
from snowplow_logging._tags import events as _events
from snowplow_logging._tracker import Tracker

__all__ = ["IGNORED_LOGGERS", "SnowplowHandler", "Tag"]


_ms: Final = math.floor
"""A record's time in ms: ``floor`` is ``int`` for the positive times that are
valid, at half the cost (no argument parsing), and raises the same errors."""


class SnowplowHandler(logging.Handler):
    """A logging handler that sends tagged records as Snowplow events.

    Build it around a tracker, or from plain settings (what
    ``logging.config.dictConfig`` passes)::

        SnowplowHandler(tracker=tracker)
        SnowplowHandler(endpoint="https://collector.example.com", app_id="shop")

    A record is sent when it carries the tag attribute (``extra={"snowplow": ...}``):
    an event, a ``SelfDescribingJson`` or a ``{"schema": ..., "data": ...}`` dict
    (a self-describing event), or a list of these. The event's ``dtm`` is the
    record's creation time.

    Beside ``snowplow_logging.structlog.SnowplowProcessor``, each record is sent
    once: records made by structlog are the processor's, and a record the
    processor already sent inside a ``ProcessorFormatter`` is not sent again.

    With ``endpoint`` left out, ``SNOWPLOW_ENDPOINT`` is read, and likewise
    ``app_id``, ``namespace`` and the emitter's settings (see ``Emitter``).
    Numbers and bools may be strings (``"500"``, ``"true"``), as configuration
    files give them; a misspelt setting is answered with the closest name.

    Args:
        level: the handler's level.
        tracker: the tracker events go to. Mutually exclusive with ``endpoint``.
        endpoint: the collector URL; the handler then builds and owns a tracker
            and an :class:`~snowplow_logging.Emitter`.
        app_id: the application id (``aid``), with ``endpoint``.
        namespace: the tracker namespace (``tna``), with ``endpoint``.
        method: ``"post"`` (batched) or ``"get"``, with ``endpoint``.
        platform: the platform code, ``"srv"`` by default, with ``endpoint``.
        encode_base64: base64 entities and events (default), with ``endpoint``.
        tag: the record attribute holding the events, ``"snowplow"`` by default.
        capture_exceptions: also send an ``application_error`` event for records
            at ERROR or above that carry ``exc_info``.
        app_version: attach the ``application`` entity with this version to
            every event.
        record_entity_schema: attach an entity describing the log record, under
            this Iglu URI (the package ships a schema for it,
            ``snowplow_logging/schemas/.../log_record/jsonschema/1-0-0``).
        record_entity_formatter: python-json-logger settings for that entity:
            a ``JsonFormatter`` (or any ``BaseJsonFormatter``) or the keyword
            arguments of one (``{"fmt": "%(levelname)s %(message)s",
            "rename_fields": {...}, "static_fields": {...}}``). Default: level,
            logger name, message and extras.
        flush_timeout: seconds ``flush()`` and ``close()`` wait for delivery.
        emitter_options: further settings of the ``Emitter`` built from
            ``endpoint`` (``batch_size``, ``flush_interval``, ``retry``,
            ``disabled``...).

    Raises:
        ConfigurationError: a setting has a value that cannot work.
        ConfigurationTypeError: a setting has the wrong type.
    """

    def __init__(
        self,
        level: int | str = logging.NOTSET,
        *,
        tracker: Tracker | None = None,
        endpoint: str | None = None,
        app_id: str | None = None,
        namespace: str | None = None,
        method: Literal["post", "get"] | None = None,
        platform: str = "srv",
        encode_base64: bool = True,
        tag: str = "snowplow",
        capture_exceptions: bool = False,
        app_version: str | None = None,
        record_entity_schema: str | None = None,
        record_entity_formatter: BaseJsonFormatter | Mapping[str, object] | None = None,
        flush_timeout: float = 5.0,
        **emitter_options: object,
    ) -> None:
        # Check everything before Handler.__init__ registers the handler for
        # logging.shutdown(): a half-built handler must never be flushed at exit.
        options = check_options(tag, capture_exceptions, flush_timeout)
        context = application_entity(app_version)
        entity = record_entity(record_entity_schema, record_entity_formatter, tag)
        settings = TrackerSettings(app_id, namespace, platform, encode_base64)
        if method is not None:
            emitter_options["method"] = method
        key = (endpoint, settings, sorted(emitter_options.items()), env.snapshot())
        built = (None if tracker is not None else adopt(key)) or make_tracker(
            tracker, endpoint, settings, emitter_options, _SETTINGS
        )
        super().__init__(level)
        self.tracker = built
        self.tag = options.tag
        self.capture_exceptions = options.capture_exceptions
        self.flush_timeout = options.flush_timeout
        self._context = context
        self._record_entity = entity
        # itertools.count: next() is atomic, so counting takes no lock.
        self._records = itertools.count()
        self._events = itertools.count()
        self._errors = itertools.count()
        self._drops = Drops()  # re-entered records and records after close
        # Who closes the tracker; a handler built later with the same key may
        # adopt it after a reconfiguration.
        self._lease = Lease(
            built, key, owned=tracker is None, timeout=self.flush_timeout
        )
        self._closing = False  # close() has begun: records now count as late
        # handle() skips emit() (one call less per record) unless a subclass
        # overrides it, and filter() while there are no filters to run.
        cls = type(self)
        self._own_emit = cls.emit is _EMIT  # not a mock patched onto the class
        self._own_filter = cls.filter is logging.Filterer.filter

    def __repr__(self) -> str:
        level = logging.getLevelName(self.level)
        return f"<{type(self).__name__} {self.tracker!r} tag={self.tag!r} ({level})>"

    @property
    def stats(self) -> dict[str, int]:
        """A snapshot of counters.

        ``records`` handled, ``events`` tracked, ``errors`` reported through
        ``handleError``, ``reentrant_dropped`` records logged from inside the
        handler (not by a signal handler: those are sent after), ``after_close``
        records handled after :meth:`close` (sent if the tracker was still
        open, else counted in ``emitter_dropped_closed`` and reported once);
        plus the tracker's counters (prefixed ``tracker_``) and the sum of the
        emitters' (prefixed ``emitter_``).
        """
        stats = {
            "records": peek(self._records),
            "events": peek(self._events),
            "errors": peek(self._errors),
            **self._drops.stats(),
        }
        stats.update({f"tracker_{k}": v for k, v in self.tracker.stats.items()})
        stats.update(emitter_stats(self.tracker.emitters))
        return stats

    def handle(self, record: logging.LogRecord) -> bool:
        """Send the record if it is tagged (or an exception to capture).

        Untagged records cost one attribute lookup. No handler lock is taken:
        the tracker and emitter are thread-safe and never block on I/O.
        Unless a subclass overrides :meth:`emit`, its body runs here, without
        the call; ``filter()`` is skipped while there are no filters (unless
        a subclass overrides it).
        """
        tagged = record.__dict__.get(self.tag)
        if tagged is None and not (
            self.capture_exceptions
            and record.exc_info
            and record.levelno >= logging.ERROR
        ):
            return False
        name: object = record.name  # makeLogRecord() leaves the name None
        ignored = IGNORED_NAMES.get(name) if type(name) is str else None
        if ignored or (ignored is None and learn_ignored(name)):
            return False
        if (self.filters or not self._own_filter) and not self.filter(record):
            return False
        if not self._own_emit:
            self.emit(record)
            return True
        # emit()'s body, inline (one call less per record), with the common
        # case, one event and nothing else to attach, inline too.
        busy = GUARD.busy
        if busy[0]:
            self._reentered(record, tagged, busy)
            return True
        busy[0] = True
        try:
            if (
                isinstance(tagged, Event)
                and self._record_entity is None
                and not self.capture_exceptions
            ):
                next(self._records)
                tracker = self.tracker
                if not CLAIMS.active or CLAIMS.first(record, tracker, self.tag):
                    tracker.submit(tagged, _ms(record.created * 1000), self._context)
                    next(self._events)
            else:
                self._emit(record, tagged)
        except Exception:  # noqa: BLE001 - logging must never raise into the application
            next(self._errors)
            self.handleError(record)
        finally:
            busy[0] = False  # first: a signal handler logging after this sends itself
            # After the submit: a drop by a close that came in between shows here.
            if busy[1] is not None or self._closing:
                self._after_call(busy)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        """Track the record's events. Never raises; errors go to ``handleError``."""
        busy = GUARD.busy
        tagged = record.__dict__.get(self.tag)
        if busy[0]:
            self._reentered(record, tagged, busy)
            return
        busy[0] = True
        try:
            self._emit(record, tagged)
        except Exception:  # noqa: BLE001 - logging must never raise into the application
            next(self._errors)
            self.handleError(record)
        finally:
            busy[0] = False
            if busy[1] is not None or self._closing:
                self._after_call(busy)

    def _after_call(self, busy: list[Any]) -> None:
        """After a record: send what a signal handler deferred; count a late one."""
        while busy[1] is not None:  # a signal may defer more while these are sent
            deferred, busy[1] = busy[1], None
            for send, record, tagged in deferred:
                send(record, tagged)
        if self._closing:
            self._drops.after_close(self, self.tracker.emitters)

    def _send_deferred_record(self, record: logging.LogRecord, tagged: object) -> None:
        """Send a record a signal handler logged while this thread was busy here."""
        busy = GUARD.busy
        busy[0] = True
        try:
            self._emit(record, tagged)
        except Exception:  # noqa: BLE001 - logging must never raise into the application
            next(self._errors)
            self.handleError(record)
        finally:
            busy[0] = False
        if self._closing:
            self._drops.after_close(self, self.tracker.emitters)

    def _reentered(
        self, record: logging.LogRecord, tagged: object, busy: list[Any]
    ) -> None:
        """A record logged while this thread is inside the handler: defer or drop.

        A signal handler that interrupted the handler on the main thread is not
        a loop: its record is sent once the interrupted call is done. Anything
        else (an emitter, filter or event that logs) is dropped and counted,
        and reported once.
        """
        try:
            deferred = in_signal_handler(_HANDLE_CODE, self._OWN_CODES)
        except Exception:  # noqa: BLE001 - a handler's odd attributes: not one we know
            deferred = False
        if deferred:
            if busy[1] is None:
                busy[1] = []
            busy[1].append((self._send_deferred_record, record, tagged))
            return
        self._drops.reentered(self)

    def _emit(self, record: logging.LogRecord, tagged: object) -> None:
        next(self._records)
        events = [tagged] if isinstance(tagged, Event) else _events(tagged)
        if events and not claim(record, self.tracker, self.tag):
            events = []  # SnowplowProcessor in a ProcessorFormatter sent them (#7)
        context = self._context
        if self._record_entity is not None:
            context = (*context, self._record_entity(record))
        created_ms = _ms(record.created * 1000)
        send = self.tracker.submit
        counter = self._events
        for event in events:
            send(event, created_ms, context)  # the id is drawn on the worker thread
            next(counter)
        # Last, so that a failure building it cannot take the tagged events along.
        if (
            self.capture_exceptions
            and record.exc_info
            and record.exc_info[1] is not None
            and record.levelno >= logging.ERROR
            and not from_structlog(record)  # SnowplowProcessor's to send (#7)
            and claim(record, self.tracker, EXCEPTION)
        ):
            send(
                application_error(record.exc_info, error_site(record)),
                created_ms,
                context,
            )
            next(counter)

    def flush(self, timeout: float | None = None) -> bool:  # type: ignore[override]
        """Wait for queued events to be delivered; the emitter's ``flush``.

        Args:
            timeout: seconds to wait at most; ``None`` waits ``flush_timeout``
                (``logging.shutdown()`` calls ``flush()``: it must end).

        Returns:
            True if every event queued before the call was delivered or
            failed in time. Inside a logging reconfiguration (this thread holds
            logging's module lock) it only starts sending, without waiting:
            the worker thread may need that lock to log.
        """
        wait = self.flush_timeout if timeout is None else timeout
        return self.tracker.flush(timeout=0.0 if holds_logging_lock() else wait)

    def close(self) -> None:
        """Deliver what is queued within ``flush_timeout``, then close.

        A tracker the handler built from ``endpoint`` is closed; a tracker given
        to it is only flushed, since other code may still use it. Idempotent.

        Inside a logging reconfiguration (``dictConfig``, ``fileConfig``)
        nothing waits, and a tracker the handler built stays open for the
        records still reaching it: a ``SnowplowHandler`` the reconfiguration
        builds with the same tracker settings (``endpoint``, ``app_id``,
        ``namespace``, ``platform``, ``method``, ``encode_base64``, emitter
        options, ``SNOWPLOW_*`` variables) takes it over, with its connection
        and counters; otherwise it is closed (within ``flush_timeout``) once
        the reconfiguration is over. Records handled after the tracker is
        closed are dropped, counted (``stats["after_close"]``,
        ``stats["emitter_dropped_closed"]``) and reported once.
        """
        self._closing = True
        lease = self._lease
        try:
            if holds_logging_lock():
                retire(lease)
            elif lease.owned:
                self.tracker.close(timeout=self.flush_timeout)
            else:
                self.tracker.flush(timeout=self.flush_timeout)
        finally:
            super().close()

    _OWN_CODES: Final = frozenset(
        {handle.__code__, emit.__code__, _send_deferred_record.__code__}
    )
    """The code of every method a record can be inside: where a re-entered
    record's stack walk stops (:func:`~snowplow_logging._reentry.in_signal_handler`)."""


_EMIT: Final = SnowplowHandler.emit
"""The class's own ``emit``, as defined: what ``handle()`` may run inline."""
_HANDLE_CODE: Final = SnowplowHandler.handle.__code__
_SETTINGS: Final = frozenset(inspect.signature(SnowplowHandler).parameters) - {
    "emitter_options"
}
"""The handler's own settings, suggested for a misspelt one."""
