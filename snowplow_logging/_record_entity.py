"""A stdlib log record as event data: the log-record entity and the error site.

``SnowplowHandler(record_entity_schema=..., record_entity_formatter=...)``
attaches one to every event of a record. Its data is what a python-json-logger
formatter would write for the record (level, logger name, message and extras
by default), built without serialising it; data that JSON cannot hold is
fitted (:func:`sanitise`), never raised into the application. With
``capture_exceptions``, :func:`error_site` says where an exception was logged.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from pythonjsonlogger.core import BaseJsonFormatter
from pythonjsonlogger.json import JsonFormatter

from snowplow_logging import _format as fmt
from snowplow_logging._app_error import ErrorSite, native_thread_id
from snowplow_logging._checks import check_setting
from snowplow_logging._events import SelfDescribingJson
from snowplow_logging._exceptions import (
    ConfigurationError,
    ConfigurationTypeError,
    SnowplowLoggingError,
)

__all__ = ["RecordEntity", "error_site", "record_entity", "sanitise"]


class RecordEntity:
    """Builds the log-record entity with a python-json-logger formatter's settings."""

    __slots__ = ("formatter", "schema", "tag", "uses_time")

    def __init__(self, schema: str, formatter: BaseJsonFormatter, tag: str) -> None:
        self.schema = schema
        self.formatter = formatter
        self.tag = tag
        # Read once: BaseJsonFormatter.format reads the same list on every call.
        self.uses_time = "asctime" in formatter._required_fields  # noqa: SLF001 - pjl keeps its field list only there

    def __call__(self, record: logging.LogRecord) -> SelfDescribingJson:
        formatter = self.formatter
        # The steps of BaseJsonFormatter.format, stopping before serialisation.
        message: dict[str, object] = {}
        if isinstance(record.msg, dict):
            message = dict(record.msg)
            record.message = ""
        else:
            record.message = record.getMessage()
        if self.uses_time:
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
            return SelfDescribingJson(schema=self.schema, data=sanitise(data))


def sanitise(value: object) -> dict[str, object]:
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


def record_entity(
    schema: str | None, formatter: object, tag: str
) -> RecordEntity | None:
    """The entity builder for the handler's settings, or ``None`` without a schema.

    Raises:
        ConfigurationError: a formatter without a schema, a bad Iglu URI, or
            formatter settings python-json-logger refuses.
        ConfigurationTypeError: ``formatter`` is neither a formatter nor a dict.
    """
    if schema is None:
        if formatter is not None:
            msg = "'record_entity_formatter' needs 'record_entity_schema', the entity's Iglu URI (got none)."
            raise ConfigurationError(msg)
        return None
    check_setting(fmt.check_iglu_uri, "record_entity_schema", schema)
    if isinstance(formatter, BaseJsonFormatter):
        return RecordEntity(schema, formatter, tag)
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
    return RecordEntity(schema, built, tag)


def error_site(record: logging.LogRecord) -> ErrorSite:
    """Where the record was logged, for its ``application_error`` event."""
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
