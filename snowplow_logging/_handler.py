"""``SnowplowHandler``: tagged stdlib log records become Snowplow events.

The handler runs on the thread that logs. An untagged record costs one attribute
lookup and is ignored; a tagged one is handed to the tracker, which builds the
payload and enqueues it on the emitter: no JSON of the record, no network, no
handler lock. Records of ``snowplow_logging``, ``urllib3``, ``requests`` and
``http.client`` are never sent, and a thread-local guard stops re-entry, so the
library's own logging can never loop back into it; a record logged by a signal
handler that interrupted the handler on the main thread is sent once the
interrupted call is done. ``emit()`` never raises: problems go to
``Handler.handleError``, which respects ``logging.raiseExceptions``.

A logging reconfiguration (``dictConfig``, ``fileConfig``) closes the old
handlers while it holds logging's module lock, and a thread that was logging
may still reach them. There ``flush()`` and ``close()`` wait for nothing (the
worker thread cannot log, as ``urllib3`` does, until the lock is free, so
waiting stalled it for ``flush_timeout``), and an old handler's tracker stays
open: a handler built with the same settings takes it over, otherwise it is
closed once the reconfiguration is over. Records that reach a handler after
its tracker was closed are dropped, counted and reported once.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import os
import signal
import sys
import threading
import types
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal

from pythonjsonlogger.core import BaseJsonFormatter
from pythonjsonlogger.json import JsonFormatter

from snowplow_logging import _format as fmt
from snowplow_logging import _protocol as proto
from snowplow_logging._app_error import ErrorSite, application_error, native_thread_id
from snowplow_logging._checks import check_setting
from snowplow_logging._delivery import exit as _exit
from snowplow_logging._delivery.closing import block_signals
from snowplow_logging._diagnostics import LOGGER
from snowplow_logging._emitter import Emitter
from snowplow_logging._emitters import peek
from snowplow_logging._events import Event, SelfDescribingJson
from snowplow_logging._exceptions import (
    ConfigurationError,
    ConfigurationTypeError,
    SnowplowLoggingError,
)
from snowplow_logging._tags import (
    CLAIMS,
    EXCEPTION,
    IGNORED_CHILDREN,
    IGNORED_LOGGERS,
    Tag,
    claim,
    from_structlog,
)
from snowplow_logging._tags import events as _events
from snowplow_logging._tracker import Tracker

__all__ = ["IGNORED_LOGGERS", "SnowplowHandler", "Tag"]


class _Guard(threading.local):
    """Per thread: ``busy[0]`` is True while this thread is inside the handler.

    One list per thread, read once per record and then flipped in place: an
    item store costs a sixth of setting an attribute of a ``threading.local``.
    ``busy[1]`` is ``None``, or the records a signal handler logged while the
    thread was inside the handler (the main thread: signal handlers run only
    there), sent as soon as the call they interrupted is done.
    """

    def __init__(self) -> None:
        self.busy: list[Any] = [False, None]


_GUARD: Final = _Guard()
_ms: Final = math.floor
"""A record's time in ms: ``floor`` is ``int`` for the positive times that are
valid, at half the cost (no argument parsing), and raises the same errors."""


class _RecordEntity:
    """Builds the log-record entity with a python-json-logger formatter's settings."""

    __slots__ = ("formatter", "schema", "tag")

    def __init__(self, schema: str, formatter: BaseJsonFormatter, tag: str) -> None:
        self.schema = schema
        self.formatter = formatter
        self.tag = tag

    def __call__(self, record: logging.LogRecord) -> SelfDescribingJson:
        formatter = self.formatter
        # The steps of BaseJsonFormatter.format, stopping before serialisation.
        message: dict[str, object] = {}
        if isinstance(record.msg, dict):
            message = dict(record.msg)
            record.message = ""
        else:
            record.message = record.getMessage()
        if "asctime" in formatter._required_fields:  # noqa: SLF001 - pjl's own field list
            record.asctime = formatter.formatTime(record, formatter.datefmt)
        if record.exc_info and not message.get("exc_info"):
            message["exc_info"] = formatter.formatException(record.exc_info)
        data: dict[str, object] = {}
        formatter.add_fields(data, record, message)
        data = dict(formatter.process_log_record(data))
        data.pop(self.tag, None)
        try:
            return SelfDescribingJson(schema=self.schema, data=data)
        except SnowplowLoggingError:
            return SelfDescribingJson(schema=self.schema, data=_sanitise(data))


def _sanitise(value: object) -> dict[str, object]:
    """Make record data JSON-safe: non-finite floats and bad text become strings."""

    def fix(item: object) -> object:
        if isinstance(item, float) and not math.isfinite(item):
            return str(item)
        if isinstance(item, str):
            return item.encode("utf-8", "replace").decode("utf-8")
        if isinstance(item, Mapping):
            return {str(fix(k)): fix(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [fix(v) for v in item]
        return item

    fixed = fix(value)
    return fixed if isinstance(fixed, dict) else {}


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
        emitter_options: further keyword arguments for the ``Emitter`` built
            from ``endpoint`` (``batch_size``, ``flush_interval``, ``timeout``...).

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
        method: Literal["post", "get"] = "post",
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
        _check_options(tag, capture_exceptions, flush_timeout)
        context = _application_entity(app_version)
        record_entity = _record_entity(
            record_entity_schema, record_entity_formatter, tag
        )
        settings: dict[str, object] = {
            "app_id": app_id,
            "namespace": namespace,
            "platform": platform,
            "encode_base64": encode_base64,
        }
        options = sorted(emitter_options.items())
        key = (endpoint, method, sorted(settings.items()), options)
        built = (None if tracker is not None else _adopt(key)) or self._make_tracker(
            tracker, endpoint, settings, method, emitter_options
        )
        super().__init__(level)
        self.tracker = built
        self._owns_tracker = tracker is None
        self.tag = tag
        self.capture_exceptions = capture_exceptions
        self.flush_timeout = float(flush_timeout)
        self._context = context
        self._record_entity = record_entity
        # itertools.count: next() is atomic, so counting takes no lock.
        self._records = itertools.count()
        self._events = itertools.count()
        self._errors = itertools.count()
        self._reentrant = itertools.count()
        self._late = itertools.count()
        self._key = key  # what a handler built later must match to take the tracker
        self._closing = False  # close() has begun: records now count as late
        self._closer: threading.Thread | None = None  # closes it after a reconfig
        self._warned_late = self._warned_reentry = False
        # handle() skips emit() (one call less per record) unless a subclass
        # overrides it, and filter() while there are no filters to run.
        cls = type(self)
        self._own_emit = cls.emit is _EMIT  # not a mock patched onto the class
        self._own_filter = cls.filter is logging.Filterer.filter

    @staticmethod
    def _make_tracker(
        tracker: Tracker | None,
        endpoint: str | None,
        settings: dict[str, object],
        method: str,
        emitter_options: dict[str, object],
    ) -> Tracker:
        if tracker is not None:
            if endpoint is not None or emitter_options:
                extra = sorted(["endpoint"] if endpoint is not None else []) + sorted(
                    emitter_options
                )
                msg = f"give either 'tracker' or 'endpoint' with emitter settings, not both (got tracker and {', '.join(extra)})."
                raise ConfigurationError(msg)
            fmt.check_instance("tracker", tracker, Tracker)
            return tracker
        if endpoint is None:
            msg = (
                "'endpoint' (the collector URL) or 'tracker' is required (got neither)."
            )
            raise ConfigurationError(msg)
        try:
            emitter = Emitter(endpoint, method=method, **emitter_options)  # type: ignore[arg-type]
        except TypeError as exc:
            if isinstance(exc, SnowplowLoggingError):
                raise
            msg = f"unknown SnowplowHandler setting: {exc}"
            raise ConfigurationTypeError(msg) from None
        return Tracker(emitters=emitter, **settings)  # type: ignore[arg-type]

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
            "reentrant_dropped": peek(self._reentrant),
            "after_close": peek(self._late),
        }
        stats.update({f"tracker_{k}": v for k, v in self.tracker.stats.items()})
        for emitter in self.tracker.emitters:
            emitter_stats = getattr(emitter, "stats", None)
            if isinstance(emitter_stats, Mapping):
                for key, value in emitter_stats.items():
                    stats[f"emitter_{key}"] = stats.get(f"emitter_{key}", 0) + value
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
        if name in IGNORED_LOGGERS or (
            isinstance(name, str) and name.startswith(IGNORED_CHILDREN)
        ):
            return False
        if (self.filters or not self._own_filter) and not self.filter(record):
            return False
        if not self._own_emit:
            self.emit(record)
            return True
        # emit()'s body, inline (one call less per record), with the common
        # case, one event and nothing else to attach, inline too.
        busy = _GUARD.busy
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
        busy = _GUARD.busy
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
            for handler, record, tagged in deferred:
                handler._send_deferred_record(record, tagged)  # noqa: SLF001 - the same class, another instance
        if self._closing:
            self._after_close()

    def _send_deferred_record(self, record: logging.LogRecord, tagged: object) -> None:
        """Send a record a signal handler logged while this thread was busy here."""
        busy = _GUARD.busy
        busy[0] = True
        try:
            self._emit(record, tagged)
        except Exception:  # noqa: BLE001 - logging must never raise into the application
            next(self._errors)
            self.handleError(record)
        finally:
            busy[0] = False
        if self._closing:
            self._after_close()

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
            deferred = _in_signal_handler()
        except Exception:  # noqa: BLE001 - a handler's odd attributes: not one we know
            deferred = False
        if deferred:
            if busy[1] is None:
                busy[1] = []
            busy[1].append((self, record, tagged))
            return
        next(self._reentrant)
        if not self._warned_reentry:
            self._warned_reentry = True
            LOGGER.warning(
                "Snowplow handler %r: a record logged from inside the handler (by "
                "an emitter, filter or event it called) was dropped, so that it "
                "cannot loop; later ones count in stats['reentrant_dropped'].",
                self,
            )

    def _after_close(self) -> None:
        """A record handled after close(): count it; report once if any was dropped."""
        next(self._late)
        if self._warned_late or _exit.exited():  # the exit close reports its own
            return
        dropped = 0
        for emitter in self.tracker.emitters:
            try:  # someone else's emitter: anything may fail, nothing may raise here
                if getattr(emitter, "closed", False) is True:
                    stats = emitter.stats  # type: ignore[attr-defined]
                    dropped += int(stats.get("dropped_closed", 0))
            except Exception:  # noqa: BLE001, S112 - then it cannot tell: skip it
                continue
        if dropped and not self._warned_late:
            self._warned_late = True
            LOGGER.warning(
                "Snowplow handler %r: %d events logged after the handler was closed "
                "(a logging reconfiguration?) were dropped; later ones count in "
                "stats['after_close'] and stats['emitter_dropped_closed'].",
                self,
                dropped,
            )

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
            send(application_error(record.exc_info, _site(record)), created_ms, context)
            next(counter)

    def flush(self) -> None:
        """Wait up to ``flush_timeout`` for queued events to be delivered.

        Inside a logging reconfiguration (this thread holds logging's module
        lock) it only starts sending, without waiting: the worker thread may
        need that lock to log.
        """
        timeout = 0.0 if _holds_logging_lock() else self.flush_timeout
        self.tracker.flush(timeout=timeout)

    def close(self) -> None:
        """Deliver what is queued within ``flush_timeout``, then close.

        A tracker the handler built from ``endpoint`` is closed; a tracker given
        to it is only flushed, since other code may still use it. Idempotent.

        Inside a logging reconfiguration (``dictConfig``, ``fileConfig``: this
        thread holds logging's module lock) nothing waits, and a tracker the
        handler built stays open for the records still reaching it: a
        ``SnowplowHandler`` the reconfiguration builds with the same tracker
        settings (``endpoint``, ``app_id``, ``namespace``, ``platform``,
        ``method``, ``encode_base64``, emitter options) takes it over, with
        its connection and counters; otherwise a helper thread closes it
        (within ``flush_timeout``) as soon as the reconfiguration is over.
        Records handled after the tracker is closed are dropped, counted
        (``stats["after_close"]``, ``stats["emitter_dropped_closed"]``) and
        reported once on the ``snowplow_logging`` logger.
        """
        self._closing = True
        try:
            if _holds_logging_lock():
                self._retire()
            elif self._owns_tracker:
                self.tracker.close(timeout=self.flush_timeout)
            else:
                self.tracker.flush(timeout=self.flush_timeout)
        finally:
            super().close()

    def _retire(self) -> None:
        """Close inside a reconfiguration: start sending, hand over or close later."""
        self.tracker.flush(timeout=0.0)  # start sending what is queued; no wait
        if not self._owns_tracker:
            return
        with _RETIRED_LOCK:
            if self._closer is not None:
                return
            _RETIRED.append(self)
            closer = threading.Thread(
                target=_close_retired,
                args=(self,),
                name="snowplow_logging.handler-close",
                daemon=True,
            )
            self._closer = closer
        try:
            closer.start()
        except RuntimeError:  # interpreter shutdown: the exit close has the emitter
            with _RETIRED_LOCK:
                if self in _RETIRED:
                    _RETIRED.remove(self)


_EMIT: Final = SnowplowHandler.emit
"""The class's own ``emit``, as defined: what ``handle()`` may run inline."""

_RETIRED: list[SnowplowHandler] = []
"""Handlers closed by a reconfiguration whose own tracker is still open: a handler
built with the same settings takes one over, else its closer closes it."""
_RETIRED_LOCK = threading.Lock()  # renewed in a forked child


def _holds_logging_lock() -> bool:
    """Whether this thread holds logging's module lock (``dictConfig`` does)."""
    is_owned = getattr(getattr(logging, "_lock", None), "_is_owned", None)
    return callable(is_owned) and bool(is_owned())


def _adopt(key: object) -> Tracker | None:
    """The tracker of a retired handler built with the same settings, taken over."""
    with _RETIRED_LOCK:
        for index, old in enumerate(_RETIRED):
            try:
                same = bool(old._key == key)  # noqa: SLF001 - the class's own registry
            except Exception:  # noqa: BLE001 - an option's __eq__ failed: not the same
                same = False
            if same:
                del _RETIRED[index]
                old._owns_tracker = False  # noqa: SLF001 - handed over
                return old.tracker
    return None


def _close_retired(handler: SnowplowHandler) -> None:
    """Close a retired handler's tracker once the reconfiguration is over."""
    block_signals()
    lock = getattr(logging, "_lock", None)
    if lock is not None:
        with lock:  # held by the reconfiguration until it is done
            pass
    with _RETIRED_LOCK:
        if handler not in _RETIRED:
            return  # a handler with the same settings took the tracker over
        _RETIRED.remove(handler)
    handler.tracker.close(timeout=handler.flush_timeout)


def _code_of(handler: object) -> types.CodeType | None:
    """The code a Python signal handler runs first.

    A function, a method, a ``functools.partial`` or a callable object.
    """
    for _ in range(4):
        if isinstance(handler, functools.partial):
            handler = handler.func
            continue
        code = getattr(getattr(handler, "__func__", handler), "__code__", None)
        if isinstance(code, types.CodeType):
            return code
        handler = type(handler).__call__ if callable(handler) else None
    return None


def _in_signal_handler() -> bool:
    """Whether a Python signal handler runs between here and the call it interrupted.

    Only on the main thread: signal handlers run nowhere else.
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    codes = set()
    for signum in signal.valid_signals():
        try:
            code = _code_of(signal.getsignal(signum))
        except (OSError, ValueError):
            continue
        if code is not None:
            codes.add(code)
    if not codes:
        return False
    # Out of the re-entered call (up to its handle(): a subclass's emit() may
    # come between), then up to the call it interrupted.
    frame: types.FrameType | None = sys._getframe(2)  # noqa: SLF001 - handle()/emit()
    entered = frame is not None and frame.f_code is _HANDLE_CODE
    frame = frame.f_back if frame is not None else None
    while frame is not None:
        code = frame.f_code
        if code in codes:
            return True
        if code in _OWN_CODES:
            if entered or code is not _HANDLE_CODE:
                return False  # the interrupted call: no signal handler between
            entered = True
        frame = frame.f_back
    return False


_HANDLE_CODE: Final = SnowplowHandler.handle.__code__
_OWN_CODES: Final = frozenset(
    {
        _HANDLE_CODE,
        SnowplowHandler.emit.__code__,
        SnowplowHandler._send_deferred_record.__code__,  # noqa: SLF001 - the class's own code object
    }
)


def _after_fork_in_child() -> None:
    global _RETIRED_LOCK  # noqa: PLW0603 - a parent thread may hold it
    _RETIRED_LOCK = threading.Lock()
    _RETIRED.clear()  # their closers did not come along; the exit close has them


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _check_options(
    tag: object, capture_exceptions: object, flush_timeout: object
) -> None:
    if not isinstance(tag, str) or not tag.isidentifier():
        msg = f"'tag' must be a record attribute name such as 'snowplow' (got {tag!r})."
        raise ConfigurationError(msg)
    if not isinstance(capture_exceptions, bool):
        msg = f"'capture_exceptions' must be a bool (got {capture_exceptions!r})."
        raise ConfigurationTypeError(msg)
    if (
        isinstance(flush_timeout, bool)
        or not isinstance(flush_timeout, int | float)
        or flush_timeout < 0
    ):
        msg = (
            f"'flush_timeout' must be a number of seconds >= 0 (got {flush_timeout!r})."
        )
        raise ConfigurationError(msg)


def _site(record: logging.LogRecord) -> ErrorSite:
    return ErrorSite(
        message=record.getMessage(),
        file_name=record.filename,
        line_number=record.lineno,
        class_name=f"{record.name}.{record.funcName}"
        if record.funcName
        else record.name,
        thread_name=record.threadName,
        thread_id=native_thread_id(record.thread),
        is_fatal=record.levelno >= logging.CRITICAL,
    )


def _application_entity(version: str | None) -> tuple[SelfDescribingJson, ...]:
    if version is None:
        return ()
    checked = check_setting(
        fmt.format_text, "app_version", version, required=True, max_length=255
    )
    return (
        SelfDescribingJson(schema=proto.APPLICATION_SCHEMA, data={"version": checked}),
    )


def _record_entity(
    schema: str | None, formatter: object, tag: str
) -> Callable[[logging.LogRecord], SelfDescribingJson] | None:
    if schema is None:
        if formatter is not None:
            msg = "'record_entity_formatter' needs 'record_entity_schema', the entity's Iglu URI (got none)."
            raise ConfigurationError(msg)
        return None
    check_setting(fmt.check_iglu_uri, "record_entity_schema", schema)
    if isinstance(formatter, BaseJsonFormatter):
        return _RecordEntity(schema, formatter, tag)
    if formatter is not None and not isinstance(formatter, Mapping):
        msg = (
            "'record_entity_formatter' must be a python-json-logger formatter or its "
            f"settings as a dict (got {type(formatter).__name__})."
        )
        raise ConfigurationTypeError(msg)
    settings: dict[str, Any] = (
        dict(formatter)
        if formatter is not None
        else {"fmt": ["levelname", "name", "message"]}
    )
    try:
        built = JsonFormatter(**settings)
    except (TypeError, ValueError) as exc:
        msg = (
            f"'record_entity_formatter' has a setting python-json-logger refuses: {exc}"
        )
        raise ConfigurationError(msg) from None
    return _RecordEntity(schema, built, tag)
