"""The pipeline's rules for payload fields (docs/protocol.md 1.2, payload_data 1-0-4).

Which keys a payload may have, which are required for each event type, the
shape of each value (event types, platforms, UUIDs, ints, decimals,
millisecond timestamps, sizes) and the atomic column lengths Enrich enforces:
all read from the field table in :mod:`snowplow_logging._protocol`, which event
construction reads too. :func:`check_fields` applies them;
:mod:`snowplow_logging.micro.validate` adds the Iglu validation of the JSON fields.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Final

from snowplow_logging import _protocol as proto

__all__ = ["check_fields", "shown", "whole_number"]

_WHOLE_TEXT: Final = re.compile(r"(-?)0*([0-9]{1,18})")
"""ASCII digits, an optional minus and leading zeros; 18 significant digits at most,
far below Python's int-string limit (4,300), above every range checked here."""
_DEC_TEXT: Final = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_SIZE_TEXT: Final = re.compile(r"([0-9]+)x([0-9]+)")


def shown(value: object) -> str:
    """A received value as JSON (or repr) for an error message, at most 40 characters."""
    try:
        return json.dumps(value)[:40]
    except (TypeError, ValueError):
        return repr(value)[:40]


def whole_number(value: str) -> int | None:
    """The integer ``value`` writes in ASCII digits, or None (also past 18 digits).

    Never raises: ``int()`` would accept other digits (``'\u0661'``), refuse some
    ``isdigit()`` text (``'\u00b2'``) and raise past 4,300 digits. The whole value
    must match: no sign but ``-``, no spaces, no trailing newline.
    """
    match = _WHOLE_TEXT.fullmatch(value)
    if match is None:
        return None
    number = int(match[2])
    return -number if match[1] else number


def _is_int(value: str) -> bool:
    number = whole_number(value)
    return number is not None and proto.INT_MIN <= number <= proto.INT_MAX


def _is_ms(value: str) -> bool:
    number = whole_number(value)
    return number is not None and proto.MS_MIN <= number <= proto.MS_MAX


def _is_size(value: str) -> bool:
    match = _SIZE_TEXT.fullmatch(value)
    return match is not None and all(_is_int(g) for g in match.groups())


def _is_decimal(value: str) -> bool:
    # A double holds the atomic column: 1e999 or 400 digits would be infinite.
    return _DEC_TEXT.fullmatch(value) is not None and math.isfinite(float(value))


_RULES: Final[Mapping[proto.Kind, tuple[Callable[[str], bool], str]]] = {
    "event": (proto.EVENT_TYPES.__contains__, "must be an event type"),
    "platform": (proto.PLATFORMS.__contains__, "must be a platform code"),
    "uuid": (lambda v: bool(proto.UUID_PATTERN.fullmatch(v)), "must be a UUID"),
    "ms": (
        _is_ms,
        f"must be milliseconds since the epoch ({proto.MS_MIN} to {proto.MS_MAX})",
    ),
    "int": (
        _is_int,
        f"must be an integer in range ({proto.INT_MIN} to {proto.INT_MAX})",
    ),
    "decimal": (_is_decimal, "must be a decimal number within a double's range"),
    "size": (_is_size, "must be WIDTHxHEIGHT integers"),
}
"""The value rule of each kind of field: the test, and what the error says.
Text fields have none; the JSON fields are checked by :mod:`.validate`."""

_FIELD_SPECS: Final[
    Mapping[str, tuple[Callable[[str], bool] | None, str | None, int | None]]
] = {
    name: (*_RULES.get(spec.kind, (None, None)), spec.max_length)
    for name, spec in proto.FIELDS.items()
}
"""Every allowed field with its value rule and length limit: one lookup per field."""


def _check_required(fields: Mapping[str, str], errors: list[str]) -> None:
    errors.extend(
        f"{name}: required" for name in proto.ALWAYS_REQUIRED if name not in fields
    )
    event_type = fields.get(proto.EVENT, "")
    errors.extend(
        f"{name}: required for e={event_type}"
        for name in proto.REQUIRED_BY_EVENT.get(event_type, ())
        if not fields.get(name)
    )


def check_fields(payload: Mapping[str, object], errors: list[str]) -> Mapping[str, str]:
    """Append to ``errors`` what breaks the field rules; return the text fields.

    Every value must be a string; known keys only; each value of the shape and
    length its field allows; the fields its event type requires present.
    """
    fields: Mapping[str, str] = payload  # type: ignore[assignment]  # narrowed below
    for key, value in payload.items():
        spec = _FIELD_SPECS.get(key)
        if spec is None:
            errors.append(f"{key}: not a field of payload_data 1-0-4")
        if type(value) is not str:
            errors.append(f"{key}: must be a string (got {shown(value)})")
            fields = {k: v for k, v in payload.items() if type(v) is str}
            continue
        if spec is None:
            continue
        test, expected, limit = spec
        if test is not None and not test(value):
            errors.append(f"{key}: {expected} (got {value[:40]!r})")
        if limit is not None and len(value) > limit:
            errors.append(f"{key}: longer than {limit} characters ({len(value)})")
    _check_required(fields, errors)
    return fields
