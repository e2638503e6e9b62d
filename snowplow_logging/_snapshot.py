"""The data of a self-describing JSON, checked and copied when the event is built.

An event is a snapshot of what the caller logged: later changes to the
caller's dicts, lists or sets do not reach the payload, which is built on the
emitter's thread (docs/protocol.md pitfall 14).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final

from snowplow_logging._exceptions import InvalidEventError, InvalidEventTypeError
from snowplow_logging._format import check_unicode, shown
from snowplow_logging._protocol import ENTITY_DATA_DEPTH

__all__ = ["check_json_data"]

_MAX_JSON_DEPTH: Final = ENTITY_DATA_DEPTH  # the pipeline's limit (issue #16)


def check_json_data(field: str, value: object) -> dict[str, object]:
    """Check and snapshot the ``data`` of a self-describing JSON.

    Returns a copy (mappings become ``dict``, lists and tuples ``list``, sets
    ``frozenset``) so later
    changes to the caller's objects do not change the event. Keys must be text,
    text must be UTF-8 encodable, floats finite; other objects are kept for the
    tracker's JSON encoder.
    """
    if not isinstance(value, Mapping):
        msg = (
            f"{field!r} must be a mapping (got {type(value).__name__} {shown(value)})."
        )
        raise InvalidEventTypeError(msg)
    return _snapshot_mapping(field, value, 0)


def _too_deep(path: str) -> InvalidEventError:
    return InvalidEventError(
        f"{path!r} is nested deeper than {_MAX_JSON_DEPTH} levels (or is circular)."
    )


def _snapshot_mapping(
    path: str, value: Mapping[object, object], depth: int
) -> dict[str, object]:
    if depth > _MAX_JSON_DEPTH:
        raise _too_deep(path)
    out: dict[str, object] = {}
    # Plain values are checked inline and paths are built only for errors and
    # nested containers: this runs at the call site for every entity.
    for key, item in value.items():
        if key.__class__ is not str:
            if not isinstance(key, str):
                msg = f"keys of {path!r} must be strings (got {type(key).__name__} {shown(key)})."
                raise InvalidEventTypeError(msg)
            key = str(key)  # noqa: PLW2901 - a str subclass becomes plain text
        if not key.isascii():
            check_unicode(f"{path} key", key)
        kind = item.__class__
        if kind is str:
            if not item.isascii():  # type: ignore[attr-defined]
                check_unicode(f"{path}.{key}", item)  # type: ignore[arg-type]
            out[key] = item
        elif kind is int or kind is bool or item is None:
            out[key] = item
        else:
            out[key] = _snapshot(f"{path}.{key}", item, depth + 1)
    return out


def _snapshot(path: str, value: object, depth: int) -> object:
    if isinstance(value, str):
        check_unicode(path, value)
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            msg = f"{path!r} must be a finite number; JSON has no {value!r}."
            raise InvalidEventError(msg)
        return value
    if isinstance(value, Mapping):
        return _snapshot_mapping(path, value, depth)
    if isinstance(value, set):  # encoded as a list, taken as it is now
        return frozenset(value)
    if isinstance(value, list | tuple):
        if depth > _MAX_JSON_DEPTH:
            raise _too_deep(path)
        return [
            v
            if v.__class__ is int
            or v.__class__ is bool
            or v is None
            or (v.__class__ is str and v.isascii())
            else _snapshot(f"{path}[{i}]", v, depth + 1)
            for i, v in enumerate(value)
        ]
    return value
