"""``SnowplowProcessor``: structlog events become Snowplow events.

The only module that imports structlog; install the extra to use it::

    pip install 'snowplow-logging[structlog]'

The processor goes in the chain after ``merge_contextvars``, ``add_log_level``
and ``TimeStamper`` and before ``format_exc_info`` or the renderer::

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            SnowplowProcessor(tracker),
            structlog.processors.JSONRenderer(),
        ]
    )
    log.info("paid", snowplow=StructuredEvent(category="shop", action="paid"))

Each event is sent once, even when ``SnowplowHandler`` is installed too or
several ``ProcessorFormatter`` handlers run the processor: see
:class:`SnowplowProcessor`.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import os
import sys
import threading
from typing import TYPE_CHECKING, Final

from snowplow_logging import _protocol as proto
from snowplow_logging._app_error import (
    ErrorSite,
    ExcInfo,
    application_error,
    native_thread_id,
)
from snowplow_logging._diagnostics import RateLimitedLog
from snowplow_logging._emitters import peek
from snowplow_logging._events import Event
from snowplow_logging._exceptions import ConfigurationError, ConfigurationTypeError
from snowplow_logging._handler_settings import tracker_from_environment
from snowplow_logging._tags import (
    EXCEPTION,
    activate_claims,
    claim,
    entities,
    events,
    is_ignored,
)
from snowplow_logging._tracker import Tracker

try:
    import structlog  # noqa: F401 - fail here, naming the extra, not at first use
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    msg = (
        "snowplow_logging.structlog needs structlog; install it with "
        "pip install 'snowplow-logging[structlog]'"
    )
    raise ImportError(msg, name="structlog") from exc

if TYPE_CHECKING:
    from structlog.typing import EventDict, WrappedLogger

__all__ = ["SnowplowProcessor"]

_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS: Final = dt.timedelta(milliseconds=1)
_MS_MIN: Final = proto.MS_MIN
_MS_MAX: Final = proto.MS_MAX
_NUMBERS: Final = (int, float)
_LOG: Final = RateLimitedLog()


class SnowplowProcessor:
    """A structlog processor that sends tagged events to a Snowplow tracker.

    When the event dict carries ``key`` (an event, a ``SelfDescribingJson`` or a
    ``{"schema": ..., "data": ...}`` dict, or a list of these), its events are
    tracked. Entities under ``context_key`` (a ``SelfDescribingJson``, such a
    dict, or a list of them; bound with ``log.bind()`` or
    ``structlog.contextvars.bind_contextvars()``) are attached to every event
    tracked from that event dict. A true ``{key}_skip`` (``snowplow_skip``)
    sends nothing. All three keys are removed, so renderers never print event
    objects; everything else is passed on untouched.

    The event's time (``dtm``) is the ``timestamp`` key when a stamper ran
    earlier and its time is unambiguous: numeric seconds
    (``TimeStamper(fmt=None)``), an ISO 8601 string with ``Z`` or an offset
    (``TimeStamper(fmt="iso")``), or an aware ``datetime``. A naive time is
    ignored, because structlog writes local time for ``utc=False`` but UTC for a
    custom ``fmt``: the log record's creation time is used instead, else now.

    Runs on the thread that logs, like the handler, and never touches the
    network. With ``Emitter`` (or any emitter taking deferred payloads) the call
    only enqueues: the event id, the payload and the time read from an ISO
    stamp are made on the emitter's worker thread. Holds no per-call state,
    so one processor serves every thread. A bad tag never raises into the
    application: it is counted in :attr:`stats` and reported, rate-limited, on
    the ``snowplow_logging`` logger.

    **One event per record.** Events logged through structlog are the
    processor's: it removes the key, and ``SnowplowHandler`` leaves the records
    ``ProcessorFormatter.wrap_for_formatter`` makes alone, exceptions included.
    Plain ``logging`` records reaching the processor inside ``ProcessorFormatter``
    (``foreign_pre_chain``; the tag comes from ``extra=``) are claimed before
    sending, by the processor and ``SnowplowHandler`` alike, so with the same
    tracker each is sent once, whatever the order of handlers and however many
    formatters run the processor. Two limits: put the processor in one chain per
    path (not in both ``structlog.configure()`` and
    ``ProcessorFormatter.processors``), and with ``render_to_log_kwargs`` rather
    than ``wrap_for_formatter`` turn ``capture_exceptions`` on in only one of the
    two.

    Args:
        tracker: the tracker events go to. Without one, the processor builds
            its own tracker and ``Emitter`` from the environment
            (``SNOWPLOW_ENDPOINT``, ``SNOWPLOW_APP_ID``, ``SNOWPLOW_NAMESPACE``
            and the emitter's variables, as ``SnowplowHandler`` does).
        key: the event dict key holding the events, ``"snowplow"`` by default.
        context_key: the key holding bound entities, ``"snowplow_context"``.
        capture_exceptions: also send an ``application_error`` event when the
            event dict has a true ``exc_info`` (``True``, an exception or an
            ``exc_info`` tuple) at error level or above: the ``level`` key of
            ``add_log_level``, else the method name (``log.exception()``).

    Raises:
        ConfigurationError: a key is empty or both keys are the same.
        ConfigurationTypeError: a setting has the wrong type.

    .. versionadded:: 0.1.0
    """

    __slots__ = (
        "_duplicates",
        "_errors",
        "_events",
        "_send",
        "_skip_key",
        "capture_exceptions",
        "context_key",
        "key",
        "tracker",
    )

    def __init__(
        self,
        tracker: Tracker | None = None,
        *,
        key: str = "snowplow",
        context_key: str = "snowplow_context",
        capture_exceptions: bool = False,
    ) -> None:
        if tracker is None:  # its own, from SNOWPLOW_ENDPOINT and the like
            tracker = tracker_from_environment()
        _check_settings(tracker, key, context_key, capture_exceptions)
        self.tracker = tracker
        self.key = key
        self.context_key = context_key
        self.capture_exceptions = capture_exceptions
        self._skip_key = f"{key}_skip"
        self._send = tracker.submit
        # itertools.count: next() is atomic, so counting takes no lock.
        self._events = itertools.count()
        self._duplicates = itertools.count()
        self._errors = itertools.count()
        activate_claims()

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.tracker!r} key={self.key!r} "
            f"context_key={self.context_key!r} "
            f"capture_exceptions={self.capture_exceptions}>"
        )

    @property
    def stats(self) -> dict[str, int]:
        """A snapshot of counters.

        ``events`` tracked, ``duplicates`` not sent because ``SnowplowHandler``
        or another formatter already sent that record's, ``errors`` reported.
        """
        return {
            "events": peek(self._events),
            "duplicates": peek(self._duplicates),
            "errors": peek(self._errors),
        }

    def __call__(
        self, logger: WrappedLogger, method_name: str, event_dict: EventDict
    ) -> EventDict:
        """Track the event dict's events and return it without the three keys."""
        if (
            self.key not in event_dict
            and self.context_key not in event_dict
            and self._skip_key not in event_dict
            and "_record" not in event_dict  # set inside ProcessorFormatter
            and not (self.capture_exceptions and "exc_info" in event_dict)
        ):
            return event_dict  # untagged: a few key lookups, nothing else
        tagged = event_dict.pop(self.key, None)
        bound = event_dict.pop(self.context_key, None)
        if event_dict.pop(self._skip_key, False):
            return event_dict
        record = event_dict.get("_record")
        capture = self.capture_exceptions and event_dict.get("exc_info")
        if tagged is None and record is None and not capture:
            return event_dict
        try:
            if record is None and not capture:  # a tagged structlog call: kept short
                found = [tagged] if isinstance(tagged, Event) else events(tagged)
            else:
                record = record if isinstance(record, logging.LogRecord) else None
                found = self._found(method_name, event_dict, tagged, record)
            if found:
                context = () if bound is None else entities(bound)
                stamp = event_dict.get("timestamp")
                text = stamp if type(stamp) is str else None  # read by the tracker
                created_ms = (
                    None  # the tracker falls back to the time of the call
                    if text is not None and record is None
                    else _created_ms(stamp, record)
                )
                for event in found:
                    self._send(event, created_ms, context, text)
                    next(self._events)
        except Exception as exc:  # noqa: BLE001 - logging must never raise into the application
            next(self._errors)
            _LOG.warning(
                f"processor:{id(self)}",
                "SnowplowProcessor dropped the events of %r: %s: %s",
                event_dict.get("event"),
                type(exc).__name__,
                exc,
            )
        return event_dict

    def _found(
        self,
        method_name: str,
        event_dict: EventDict,
        tagged: object,
        record: logging.LogRecord | None,
    ) -> list[Event]:
        """The events to send of a record, or of an event dict with ``exc_info``."""
        if record is not None:
            if is_ignored(record.name):
                return []
            if tagged is None:
                tagged = getattr(record, self.key, None)  # extra= of a logging call
        found = events(tagged)
        if record is not None and found and not claim(record, self.tracker, self.key):
            for _ in found:
                next(self._duplicates)
            found = []
        if self.capture_exceptions and event_dict.get("exc_info"):
            error = self._application_error(method_name, event_dict, record)
            if error is not None:
                found.append(error)
        return found

    def _application_error(
        self,
        method_name: str,
        event_dict: EventDict,
        record: logging.LogRecord | None,
    ) -> Event | None:
        exc_info = _exc_info(event_dict.get("exc_info"))
        level = (
            record.levelno
            if record is not None
            else _levelno(event_dict.get("level", method_name))
        )
        if exc_info is None or level is None or level < logging.ERROR:
            return None
        if record is not None and not claim(record, self.tracker, EXCEPTION):
            next(self._duplicates)
            return None
        return application_error(exc_info, _site(event_dict, record, exc_info, level))


def _check_settings(
    tracker: object, key: object, context_key: object, capture_exceptions: object
) -> None:
    if not isinstance(tracker, Tracker):
        msg = f"'tracker' must be a Tracker (got {type(tracker).__name__})."
        raise ConfigurationTypeError(msg)
    for name, value in (("key", key), ("context_key", context_key)):
        if not isinstance(value, str):
            msg = f"{name!r} must be an event dict key, a str (got {value!r})."
            raise ConfigurationTypeError(msg)
        if not value:
            msg = f"{name!r} must be a non-empty key (got {value!r})."
            raise ConfigurationError(msg)
    if key == context_key:
        msg = f"'key' and 'context_key' must differ (both {key!r})."
        raise ConfigurationError(msg)
    if not isinstance(capture_exceptions, bool):
        msg = f"'capture_exceptions' must be a bool (got {capture_exceptions!r})."
        raise ConfigurationTypeError(msg)


def _exc_info(value: object) -> ExcInfo | None:
    """What structlog makes of ``exc_info``: an exception, a tuple, or true."""
    if isinstance(value, BaseException):
        return (type(value), value, value.__traceback__)
    if isinstance(value, tuple):
        if len(value) == 3 and isinstance(value[1], BaseException):  # noqa: PLR2004 - sys.exc_info()
            return (type(value[1]), value[1], value[2])
        return None
    if value:
        info = sys.exc_info()
        return None if info[1] is None else (type(info[1]), info[1], info[2])
    return None


def _levelno(name: object) -> int | None:
    """The stdlib level of a structlog level or method name, if it has one."""
    if not isinstance(name, str):
        return None
    upper = name.upper()
    if upper == "EXCEPTION":  # structlog's log.exception() logs at error
        return logging.ERROR
    level = logging.getLevelName(upper)
    return level if isinstance(level, int) else None


def _site(
    event_dict: EventDict,
    record: logging.LogRecord | None,
    exc_info: ExcInfo,
    level: int,
) -> ErrorSite:
    """Where the error was logged: callsite keys, else the record, else the trace.

    ``CallsiteParameterAdder`` keys come first; then the log record inside
    ``ProcessorFormatter``; then the frame that caught the exception.
    """
    trace = exc_info[2]
    pathname = event_dict.get("pathname")
    file_name = _text(event_dict.get("filename")) or (
        os.path.basename(pathname) if isinstance(pathname, str) else None  # noqa: PTH119 - a name, not a path to open
    )
    line = event_dict.get("lineno")
    func = _text(event_dict.get("func_name"))
    name = _text(event_dict.get("logger"))
    thread_name = _text(event_dict.get("thread_name"))
    ident = event_dict.get("thread")
    if record is not None:
        file_name = file_name or record.filename
        line = line if isinstance(line, int) else record.lineno
        func = func or record.funcName
        name = name or record.name
        thread_name = thread_name or record.threadName
        ident = ident if isinstance(ident, int) else record.thread
    elif trace is not None:  # the frame that caught the exception
        code = trace.tb_frame.f_code
        file_name = file_name or os.path.basename(code.co_filename)  # noqa: PTH119 - a name, not a path to open
        line = line if isinstance(line, int) else trace.tb_lineno
        func = func or code.co_name
    if not isinstance(ident, int):
        ident = threading.get_ident()
    return ErrorSite(
        message=str(event_dict.get("event", "")),
        file_name=file_name,
        line_number=line if isinstance(line, int) else None,
        class_name=".".join(part for part in (name, func) if part) or None,
        thread_name=thread_name or threading.current_thread().name,
        thread_id=native_thread_id(ident),
        is_fatal=level >= logging.CRITICAL,
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _created_ms(stamp: object, record: logging.LogRecord | None) -> int | None:
    """The event time in ms: a numeric or aware stamp, else the record's, else None.

    ISO 8601 text is read by the tracker (``_format.iso_ms``), on the emitter's
    worker thread when it can: this is then the fallback, for text it cannot read.
    """
    ms: int | None = None
    if type(stamp) is str:
        pass
    elif isinstance(stamp, _NUMBERS) and not isinstance(stamp, bool):
        ms = int(stamp * 1000)
    elif isinstance(stamp, dt.datetime) and stamp.utcoffset() is not None:
        ms = (stamp - _EPOCH) // _MS
    if ms is not None and _MS_MIN <= ms <= _MS_MAX:
        return ms
    if record is not None:
        return int(record.created * 1000)
    return None
