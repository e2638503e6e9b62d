"""Exceptions as ``application_error`` 1-0-2 self-describing events.

Shared by the logging handler and the structlog processor, so an exception looks
the same whichever way it was logged. Every field is fitted to the schema's
limits: text is truncated (traces keep their end, where the error is), integers
out of range are left out, so the event is always valid.
"""

from __future__ import annotations

import threading
import traceback
from dataclasses import dataclass
from types import TracebackType
from typing import Final, TypeAlias

from snowplow_logging import _protocol as proto
from snowplow_logging._events import SelfDescribing, SelfDescribingJson

__all__ = ["ErrorSite", "ExcInfo", "application_error", "native_thread_id"]

ExcInfo: TypeAlias = tuple[type[BaseException], BaseException, TracebackType | None]
"""What ``sys.exc_info()`` returns for a live exception."""

_MESSAGE_MAX: Final = 2048
_TRACE_MAX: Final = 8192
_NAME_MAX: Final = 1024
_ELLIPSIS: Final = "…"


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorSite:
    """Where an error was logged: the parts of a log record the event reports.

    Args:
        message: the log message, used when the exception has no text of its own.
        file_name: the source file's name.
        line_number: the line that logged it.
        class_name: the logger or module and function, e.g. ``"shop.pay.charge"``.
        thread_name: the logging thread's name.
        thread_id: the logging thread's native id, if known.
        is_fatal: whether the record was CRITICAL.
    """

    message: str = ""
    file_name: str | None = None
    line_number: int | None = None
    class_name: str | None = None
    thread_name: str | None = None
    thread_id: int | None = None
    is_fatal: bool = False


def _head(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + _ELLIPSIS


def _tail(text: str, limit: int) -> str:
    return text if len(text) <= limit else _ELLIPSIS + text[-(limit - 1) :]


def _clean(text: str) -> str:
    """Replace lone surrogates so the text can be sent as UTF-8."""
    return (
        text.encode("utf-8", "replace").decode("utf-8") if not text.isascii() else text
    )


def _trace(exc: BaseException) -> str:
    return _tail(
        _clean("".join(traceback.format_exception(exc, chain=False))), _TRACE_MAX
    )


def _text(exc: BaseException) -> str:
    """``str(exc)``, or ``"<unprintable ValueError>"`` when its ``__str__`` raises."""
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - any failure of the application's __str__
        return f"<unprintable {type(exc).__name__}>"
    return text if type(text) is str else str.__str__(text)


def _bounded_int(value: int | None) -> int | None:
    return value if value is not None and 0 <= value <= proto.INT_MAX else None


def application_error(
    exc_info: ExcInfo, site: ErrorSite, *, context: tuple[SelfDescribingJson, ...] = ()
) -> SelfDescribing:
    """Build the ``application_error`` 1-0-2 event for an exception.

    The message is ``"{log message}: {exception text}"`` (or whichever of the two
    is non-empty); the stack trace is the exception's own, its cause's (or the
    context it was raised during) goes to ``causeStackTrace``. An exception
    whose ``__str__`` raises has the text ``"<unprintable ValueError>"``
    (its type's name) and the stack trace ``traceback`` makes of it.
    """
    exc = exc_info[1]
    text = _text(exc)
    message = (
        ": ".join(part for part in (site.message, text) if part) or type(exc).__name__
    )
    cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    data: dict[str, object] = {
        "programmingLanguage": "PYTHON",
        "message": _head(_clean(message), _MESSAGE_MAX),
        "exceptionName": _head(_clean(type(exc).__qualname__), _NAME_MAX),
        "stackTrace": _trace(exc),
        "causeStackTrace": _trace(cause) if cause is not None else None,
        "fileName": _head(_clean(site.file_name), _NAME_MAX)
        if site.file_name
        else None,
        "lineNumber": _bounded_int(site.line_number),
        "className": _head(_clean(site.class_name), _NAME_MAX)
        if site.class_name
        else None,
        "threadName": _head(_clean(site.thread_name), _NAME_MAX)
        if site.thread_name
        else None,
        "threadId": _bounded_int(site.thread_id),
        "isFatal": site.is_fatal,
    }
    return SelfDescribing(
        event_json=SelfDescribingJson(
            schema=proto.APPLICATION_ERROR_SCHEMA,
            data={k: v for k, v in data.items() if v is not None},
        ),
        context=context,
    )


def native_thread_id(ident: int | None) -> int | None:
    """The native id of the current thread if ``ident`` is the current thread."""
    return threading.get_native_id() if ident == threading.get_ident() else None
