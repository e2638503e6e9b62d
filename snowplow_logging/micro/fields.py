"""The pipeline's rules for payload fields, as Enrich applies them (docs/collector-rules.md).

Which keys Enrich reads, the shape of each value (event types, platforms,
UUIDs, ints, decimals, millisecond timestamps, sizes, flags) and the atomic
column lengths, counted as Enrich counts them (UTF-16 units, after each tab
becomes 4 spaces): all read from the field table in
:mod:`snowplow_logging._protocol`, which event construction reads too.
:func:`check_fields` applies them; :mod:`snowplow_logging.micro.validate` adds
the Iglu validation of the JSON fields.

Numbers are parsed as Java parses them: an optional ``+`` or ``-``, then decimal
digits of any script (``"\u0661"`` is 1, ``"\u00b2"`` is not a digit), nothing
else; ints within Java ``int``; decimals as ``java.math.BigDecimal`` reads them
(``".5"``, ``"5."``, ``"1e400"``); ``"null"`` in an int or decimal field is no
value. Nothing here raises on any text.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Final

from snowplow_logging import _limits as limits
from snowplow_logging import _protocol as proto

__all__ = ["check_fields", "shown", "whole_number"]

_JAVA_INT: Final = re.compile(r"[+-]?\d+")
"""A sign and decimal digits of any script (``\\d`` is Unicode category Nd);
:func:`_java_digits` then refuses those Java does not read."""
_JAVA_DECIMAL: Final = re.compile(
    r"[+-]?(?:(\d+)(?:\.(\d*))?|\.(\d+))(?:[eE]([+-]?\d+))?"
)
_SIZE_TEXT: Final = re.compile(r"([0-9]+)x([0-9]+)")
"""Enrich's ``(\\d+)x(\\d+)``: Java's ``\\d`` is ASCII only."""
_MAX_DIGITS: Final = 4000
"""Past this many significant digits a number is refused unread (Python's
int-string limit is 4,300); leading zeros do not count, as in Java."""
_JAVA_INT_BOUND: Final = 2**31
_BIG_INTEGER_DIGITS: Final = 646_456_993
"""Decimal digits of the largest ``java.math.BigInteger`` (2**31 - 1 bits)."""
_JAVA_LONG_MAX: Final = 2**63 - 1
_JAVA_LONG_MIN: Final = -(2**63)
_SURE_INT_DIGITS: Final = len(str(proto.INT_MAX)) - 1
"""So many ASCII digits or fewer are always a Java int (9: at most 999,999,999)."""
_SURE_MS_DIGITS: Final = len(str(proto.MS_MAX)) - 1
"""So many ASCII digits or fewer are always within the timestamp range (14)."""


def shown(value: object) -> str:
    """A received value as JSON (or repr) for an error message, at most 40 characters."""
    try:
        return json.dumps(value)[:40]
    except (TypeError, ValueError):
        return repr(value)[:40]


def _java_digits(text: str) -> bool:
    """True when every character is a decimal digit Java's ``Character.digit`` reads.

    Python's ``isdecimal`` is Unicode category Nd, Java's too; Java reads one
    UTF-16 unit at a time, so a digit outside the Basic Multilingual Plane is not one.
    """
    return text.isdecimal() and (text.isascii() or all(c <= "\uffff" for c in text))


def _significant(digits: str) -> str:
    """``digits`` (all decimal) in ASCII without leading zeros ("0" for zero)."""
    if not digits.isascii():
        digits = "".join(str(unicodedata.decimal(c)) for c in digits)
    return digits.lstrip("0") or "0"


def whole_number(value: str) -> int | None:
    """The integer ``value`` writes as Java's ``Long.parseLong`` reads it, or None.

    An optional ``+``/``-`` then decimal digits (any script); no spaces, no
    trailing newline. Never raises.
    """
    if value.isdigit() and value.isascii() and len(value) <= 18:  # noqa: PLR2004 - the usual case
        return int(value)
    if _JAVA_INT.fullmatch(value) is None:
        return None
    sign = value[0] in "+-"
    digits = value[1:] if sign else value
    if not digits or not _java_digits(digits):
        return None
    significant = _significant(digits)
    if len(significant) > _MAX_DIGITS:  # far past every range checked here
        return None
    number = int(significant)
    return -number if value[0] == "-" else number


def _is_int(value: str) -> bool:
    if len(value) <= _SURE_INT_DIGITS and value.isdigit() and value.isascii():
        return True  # the usual case: ASCII digits, within an int whatever they are
    if value.lower() == "null":  # Enrich's legacy "no value"
        return True
    number = whole_number(value)
    return number is not None and -_JAVA_INT_BOUND <= number < _JAVA_INT_BOUND


def _is_ms(value: str) -> bool:
    if len(value) <= _SURE_MS_DIGITS and value.isdigit() and value.isascii():
        return True  # the usual case: ASCII digits, within the range whatever they are
    number = whole_number(value)
    return (
        number is not None
        and _JAVA_LONG_MIN <= number <= _JAVA_LONG_MAX
        and proto.ENRICH_MS_MIN <= number <= proto.MS_MAX
    )


def _is_size(value: str) -> bool:
    match = _SIZE_TEXT.fullmatch(value)
    return match is not None and all(
        len(digits := _significant(g)) <= _MAX_DIGITS and int(digits) < _JAVA_INT_BOUND
        for g in match.groups()
    )


def _is_decimal(value: str) -> bool:
    """What ``new java.math.BigDecimal(value)`` reads (or ``"null"``)."""
    if (
        value.isascii() and value.replace(".", "", 1).isdigit()  # the usual case
    ) or value.lower() == "null":
        return True
    match = _JAVA_DECIMAL.fullmatch(value)
    if match is None:
        return False
    whole, fraction, bare_fraction, exponent = match.groups()
    digits = (whole or "") + (fraction or "") + (bare_fraction or "")
    if not _java_digits(digits):
        return False
    if exponent is None:
        return True
    power = whole_number(exponent)
    if power is None:
        return False
    # BigDecimal's scale is a Java int: fraction digits minus the exponent; a
    # negative scale is then made 0 (the value written out), which must fit a
    # BigInteger (under 2**31 bits: about 646 million digits).
    scale = len(fraction or bare_fraction or "") - power
    return -_JAVA_INT_BOUND <= scale < _JAVA_INT_BOUND and (
        scale >= 0 or len(_significant(digits)) - scale < _BIG_INTEGER_DIGITS
    )


def _is_flag(value: str) -> bool:
    return value in ("0", "1")


_RULES: Final[Mapping[proto.Kind, tuple[Callable[[str], object], str]]] = {
    "event": (
        proto.ENRICH_EVENT_TYPES.__contains__,
        "must be an event type (pv, pp, se, ev, ue, tr, ti)",
    ),
    "platform": (proto.PLATFORMS.__contains__, "must be a platform code"),
    "uuid": (proto.UUID_PATTERN.fullmatch, "must be a UUID"),
    "ms": (
        _is_ms,
        (
            "must be milliseconds since the epoch, a year from 0 to 9999 "
            f"({proto.ENRICH_MS_MIN} to {proto.MS_MAX})"
        ),
    ),
    "int": (
        _is_int,
        f"must be an integer in range ({proto.INT_MIN} to {proto.INT_MAX})",
    ),
    "decimal": (_is_decimal, "must be a decimal number"),
    "size": (_is_size, "must be WIDTHxHEIGHT integers"),
    "flag": (_is_flag, "must be 1 or 0"),
}
"""The value rule of each kind of field: the test, and what the error says.
Text fields have none; the JSON fields are checked by :mod:`.validate`."""

_Spec = tuple[Callable[[str], object] | None, str | None, int | None, proto.Kind]


def _specs(table: Mapping[str, proto.Field]) -> Mapping[str, _Spec]:
    return {
        name: (*_RULES.get(spec.kind, (None, None)), spec.max_length, spec.kind)
        for name, spec in table.items()
    }


_POST_SPECS: Final = _specs(proto.FIELDS)
_GET_SPECS: Final = _specs(proto.GET_FIELDS)
"""Every field Enrich reads, with its value rule, length limit and kind: one lookup each."""


def _check_text(
    key: str, value: str, limit: int | None, kind: proto.Kind, errors: list[str]
) -> None:
    if kind == "ip":  # Enrich keeps the first address of a list
        value = re.split(r"[,| ]", value, maxsplit=1)[0]
    if key == proto.PAGE_URL:  # measured with its spaces as %20: url_part_errors
        limit = None
    if limit is not None and limits.over_limit(value, limit):
        errors.append(
            f"{key}: longer than {limit} UTF-16 units, tabs as 4 spaces "
            f"({limits.enrich_length(value)})"
        )
    if kind == "url":
        errors.extend(limits.url_part_errors(key, value))


def check_fields(
    payload: Mapping[str, object], errors: list[str], *, post: bool = True
) -> Mapping[str, str]:
    """Append to ``errors`` what Enrich refuses in the fields; return the text fields.

    Args:
        payload: one event's fields.
        errors: where the reasons go.
        post: the event came in a POST body (or will): payload_data's rules
            apply too, every value a string, known keys only, ``tv``, ``p`` and
            ``e`` present. A GET (``post=False``) needs only ``e``; Enrich
            ignores keys it does not know.
    """
    specs = _POST_SPECS if post else _GET_SPECS
    fields: Mapping[str, str] = payload  # type: ignore[assignment]  # narrowed below
    for key, value in payload.items():
        spec = specs.get(key)
        if spec is None and post:
            errors.append(f"{key}: not a field of payload_data 1-0-4")
        if type(value) is not str:
            errors.append(f"{key}: must be a string (got {shown(value)})")
            fields = {k: v for k, v in payload.items() if type(v) is str}
            continue
        if spec is None:
            continue
        test, expected, limit, kind = spec
        if test is not None:
            if not test(value):
                errors.append(f"{key}: {expected} (got {value[:40]!r})")
        elif limit is not None and (
            kind == "url"  # its parts have limits of their own
            or len(value) > limit
            or not value.isascii()
            or "\t" in value
        ):
            _check_text(key, value, limit, kind, errors)
    if post:
        errors.extend(
            f"{name}: required by payload_data"
            for name in proto.ALWAYS_REQUIRED
            if name not in fields
        )
    elif proto.EVENT not in fields:
        errors.append(f"{proto.EVENT}: required (Enrich finds no event type)")
    return fields
