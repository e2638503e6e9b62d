"""The rules that turn Python values into the protocol's wire strings.

Everything here is pure: no threads, no I/O. Event and subject classes call the
``check_*`` and ``format_*`` functions when they are constructed, so a bad value
fails where the caller built it (docs/protocol.md section 3), never at send time;
the field names and bounds they enforce live in :mod:`snowplow_logging._protocol`.
Encoding self-describing JSON for the wire is :mod:`snowplow_logging._json`'s.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
import uuid
from collections.abc import Sequence
from typing import Final

from snowplow_logging._exceptions import InvalidEventError, InvalidEventTypeError
from snowplow_logging._limits import (
    SCHEME_MAX,
    URL_FAST_LENGTH,
    enrich_length,
    over_limit,
    url_fits,
    url_part_errors,
)
from snowplow_logging._protocol import (
    COLOR_DEPTH,
    IGLU_URI,
    INT_MAX,
    INT_MIN,
    MS_MAX,
    MS_MIN,
    PLATFORMS,
    UUID_PATTERN,
    max_length,
)

__all__ = [
    "check_iglu_uri",
    "check_instance",
    "check_sequence",
    "check_unicode",
    "check_url",
    "format_color_depth",
    "format_decimal",
    "format_int",
    "format_platform",
    "format_size",
    "format_text",
    "format_timestamp",
    "format_url",
    "format_uuid",
    "iso_ms",
    "shown",
]

_DECIMAL_TEXT: Final = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
_COLOR_DEPTH_MAX: Final = max_length(COLOR_DEPTH)
_MAX_DECIMAL_EXPONENT: Final = 400
"""Beyond a double's range (about 1e308) Enrich cannot store the value anyway."""

_MAX_SHOWN: Final = 80


def shown(value: object) -> str:
    """Render a rejected value for an error message, bounded in length."""
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else f"{text[: _MAX_SHOWN - 3]}..."


def check_unicode(field: str, value: str) -> None:
    """Raise if ``value`` cannot be sent as UTF-8 (a lone surrogate)."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            msg = (
                f"{field!r} must be text encodable as UTF-8 "
                f"(got a lone surrogate at position {exc.start})."
            )
            raise InvalidEventError(msg) from None


def check_instance(
    field: str, value: object, cls: type, *, optional: bool = False
) -> None:
    """Check ``value`` is an instance of ``cls`` (or None when ``optional``).

    Raises:
        InvalidEventTypeError: it is not.
    """
    if isinstance(value, cls) or (optional and value is None):
        return
    article = "an" if cls.__name__[0] in "AEIOU" else "a"
    msg = f"{field!r} must be {article} {cls.__name__}{' or None' if optional else ''} (got {type(value).__name__})."
    raise InvalidEventTypeError(msg)


def check_sequence(field: str, value: object, cls: type) -> tuple[object, ...]:
    """Check ``value`` is a sequence (not text) of ``cls`` instances; return a tuple.

    Raises:
        InvalidEventTypeError: it is not.
    """
    if isinstance(value, tuple | list):
        for item in value:
            if not isinstance(item, cls):
                break
        else:
            return tuple(value)  # the same object when it is a tuple already
    if isinstance(value, cls):
        msg = f"{field!r} must be a sequence of {cls.__name__} (got one; wrap it in [...])."
        raise InvalidEventTypeError(msg)
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        msg = f"{field!r} must be a sequence of {cls.__name__} (got {type(value).__name__})."
        raise InvalidEventTypeError(msg)
    for index, item in enumerate(value):
        check_instance(f"{field}[{index}]", item, cls)
    return tuple(value)


def format_text(
    field: str, value: object, *, required: bool = False, max_length: int | None = None
) -> str | None:
    """Check a text field; ``None`` and ``""`` mean "no value" (the key is omitted).

    Raises:
        InvalidEventTypeError: ``value`` is not a ``str``.
        InvalidEventError: a required field is empty, or the text is too long or
            not encodable as UTF-8.
    """
    if (
        value.__class__ is str
        and value
        and (max_length is None or len(value) <= max_length)
        and value.isascii()
        and "\t" not in value  # Enrich counts a tab as 4
    ):
        return value
    if value is None or value == "":
        if required:
            msg = f"{field!r} is required and must be a non-empty string (got {shown(value)})."
            raise InvalidEventError(msg)
        return None
    if not isinstance(value, str):
        msg = f"{field!r} must be a string (got {type(value).__name__} {shown(value)})."
        raise InvalidEventTypeError(msg)
    if max_length is not None and over_limit(value, max_length):
        msg = (
            f"{field!r} must be at most {max_length} characters as the pipeline counts "
            f"them, UTF-16 units, a tab as 4 (got {enrich_length(value)})."
        )
        raise InvalidEventError(msg)
    check_unicode(field, value)
    return value


def format_url(
    field: str, wire: str, value: object, limit: int, *, required: bool = False
) -> str | None:
    """Check a URL field (``url``, ``refr``) as :func:`format_text`, then its parts.

    A short ASCII URL with its first colon within a scheme's length has no part
    over its limit: it is returned at once (this runs at the call site).

    Args:
        field: the keyword, for messages.
        wire: the protocol field.
        value: the URL given.
        limit: the field's length limit (``wire``'s).
        required: refuse ``None`` and ``""``.

    Raises:
        InvalidEventTypeError: ``value`` is not a ``str``.
        InvalidEventError: it is empty but required, or it or a part of it is
            longer than the pipeline keeps.
    """
    if (
        value.__class__ is str
        and value
        and len(value) <= URL_FAST_LENGTH
        and value.isascii()
        and "\t" not in value
        and value.find(":") <= SCHEME_MAX
        and "[" not in value
    ):
        return value
    text = format_text(field, value, required=required, max_length=limit)
    if text is not None:
        check_url(field, wire, text)
    return text


def check_url(field: str, wire: str, text: str) -> None:
    """Check each part of the URL field ``wire`` (``url``, ``refr``) against ``URL_PARTS``.

    Args:
        field: the keyword, for messages.
        wire: the protocol field.
        text: the URL, already checked by :func:`format_text`.

    Raises:
        InvalidEventError: a part is longer than the pipeline keeps, or the
            pipeline cannot parse the URL.
    """
    if url_fits(text):
        return
    errors = url_part_errors(wire, text)
    if errors:
        msg = f"{field!r}: {errors[0].partition(': ')[2]} (the pipeline's limit)."
        raise InvalidEventError(msg)


def format_int(
    field: str,
    value: object,
    *,
    required: bool = False,
    minimum: int = INT_MIN,
    maximum: int = INT_MAX,
) -> str | None:
    """Format an integer field: ``int``, or a ``float`` with an integral value.

    Booleans are refused: Enrich rejects ``"True"``.
    """
    if value is None:
        if required:
            msg = f"{field!r} is required and must be an integer (got None)."
            raise InvalidEventError(msg)
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = (
            f"{field!r} must be an integer (got {type(value).__name__} {shown(value)})."
        )
        raise InvalidEventTypeError(msg)
    if isinstance(value, float):
        if not value.is_integer():
            msg = f"{field!r} must be a whole number (got {shown(value)})."
            raise InvalidEventError(msg)
        value = int(value)
    if not minimum <= value <= maximum:
        msg = f"{field!r} must be between {minimum} and {maximum} (got {value})."
        raise InvalidEventError(msg)
    return str(value)


def format_decimal(field: str, value: object, *, required: bool = False) -> str | None:
    """Format a decimal field as plain digits: no exponent, never NaN or infinite.

    Accepts ``int``, ``float``, :class:`decimal.Decimal` and decimal text such as
    ``"12.50"`` (kept as written). Booleans are refused: Enrich rejects ``"True"``.
    """
    if value is None or value == "":
        if required:
            msg = f"{field!r} is required and must be a number (got {shown(value)})."
            raise InvalidEventError(msg)
        return None
    if isinstance(value, bool):
        msg = f"{field!r} must be a number, not a bool (got {value!r})."
        raise InvalidEventTypeError(msg)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if _DECIMAL_TEXT.fullmatch(value) is None:
            msg = f"{field!r} must be a decimal number such as '12.50' (got {shown(value)})."
            raise InvalidEventError(msg)
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            msg = f"{field!r} must be a finite number (got {value!r})."
            raise InvalidEventError(msg)
        text = repr(value)
        return text if "e" not in text else _plain_decimal(field, decimal.Decimal(text))
    if isinstance(value, decimal.Decimal):
        return _plain_decimal(field, value)
    msg = f"{field!r} must be a number (got {type(value).__name__} {shown(value)})."
    raise InvalidEventTypeError(msg)


def _plain_decimal(field: str, value: decimal.Decimal) -> str:
    if not value.is_finite():
        msg = f"{field!r} must be a finite number (got {value!r})."
        raise InvalidEventError(msg)
    if abs(value.adjusted()) > _MAX_DECIMAL_EXPONENT:
        msg = (
            f"{field!r} must be within 1e-{_MAX_DECIMAL_EXPONENT} and "
            f"1e{_MAX_DECIMAL_EXPONENT} in size (got {shown(value)})."
        )
        raise InvalidEventError(msg)
    return format(value, "f")


def format_uuid(field: str, value: object) -> str | None:
    """Check a UUID field (canonical 8-4-4-4-12 hex); a :class:`uuid.UUID` is accepted."""
    if value is None:
        return None
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        msg = f"{field!r} must be a UUID string (got {type(value).__name__} {shown(value)})."
        raise InvalidEventTypeError(msg)
    if UUID_PATTERN.fullmatch(value) is None:
        msg = (
            f"{field!r} must be a UUID like '123e4567-e89b-12d3-a456-426614174000' "
            f"(got {shown(value)})."
        )
        raise InvalidEventError(msg)
    return value


def format_platform(field: str, value: object) -> str:
    """Check a platform code against the protocol's list."""
    if not isinstance(value, str) or value not in PLATFORMS:
        msg = f"{field!r} must be one of {', '.join(sorted(PLATFORMS))} (got {shown(value)})."
        raise InvalidEventError(msg)
    return value


def format_size(field: str, width: object, height: object) -> str:
    """Format a screen or viewport size as ``"{width}x{height}"``."""
    w = format_int(f"{field}.width", width, required=True, minimum=0)
    h = format_int(f"{field}.height", height, required=True, minimum=0)
    return f"{w}x{h}"


def format_color_depth(field: str, value: object) -> str | None:
    """Format a colour depth: a non-negative int, or short text (``cd``'s limit, 12)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return format_int(field, value, minimum=0)
    return format_text(field, value, max_length=_COLOR_DEPTH_MAX)


def format_timestamp(field: str, value: object) -> str | None:
    """Format a timestamp as integer milliseconds since the epoch.

    Accepts an ``int`` of milliseconds or a timezone-aware :class:`datetime.datetime`.
    A naive ``datetime`` is refused: its instant is ambiguous.
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            msg = f"{field!r} must be a timezone-aware datetime (got naive {value!r})."
            raise InvalidEventError(msg)
        delta = value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        value = delta // dt.timedelta(milliseconds=1)
    elif isinstance(value, bool) or not isinstance(value, int):
        msg = (
            f"{field!r} must be milliseconds since the epoch (int) or an aware datetime "
            f"(got {type(value).__name__} {shown(value)})."
        )
        raise InvalidEventTypeError(msg)
    assert isinstance(value, int)  # noqa: S101 - narrowed by the branches above
    if not MS_MIN <= value <= MS_MAX:
        hint = (
            " (this looks like seconds, not milliseconds)" if 0 < value < MS_MIN else ""
        )
        msg = (
            f"{field!r} must be milliseconds between {MS_MIN} and {MS_MAX}{hint} "
            f"(got {value})."
        )
        raise InvalidEventError(msg)
    return str(value)


_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ONE_MS: Final = dt.timedelta(milliseconds=1)


def iso_ms(text: str) -> int | None:
    """Milliseconds since the epoch of an ISO 8601 time with an offset, if in range.

    ``None`` for text that is not ISO 8601, a naive time (its instant is
    ambiguous) or a time outside ``MS_MIN``..``MS_MAX``.
    """
    try:
        parsed = dt.datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            return None
        ms = (parsed - _EPOCH) // _ONE_MS
    except (ValueError, TypeError):  # not ISO 8601; a tzinfo without an offset
        return None
    return ms if MS_MIN <= ms <= MS_MAX else None


_VALID_URIS: Final[set[str]] = set()
"""URIs already checked: an application uses a handful of schemas, over and over."""
_VALID_URIS_MAX: Final = 4096


def check_iglu_uri(field: str, value: object) -> str:
    """Check an Iglu schema URI: ``iglu:vendor/name/jsonschema/M-R-A``."""
    if isinstance(value, str) and value in _VALID_URIS:
        return value
    if not isinstance(value, str):
        msg = f"{field!r} must be a string (got {type(value).__name__} {shown(value)})."
        raise InvalidEventTypeError(msg)
    if IGLU_URI.fullmatch(value) is None:
        msg = (
            f"{field!r} must be an Iglu URI like "
            f"'iglu:com.acme/checkout/jsonschema/1-0-0' (got {shown(value)})."
        )
        raise InvalidEventError(msg)
    if len(_VALID_URIS) < _VALID_URIS_MAX:
        _VALID_URIS.add(value)
    return value
