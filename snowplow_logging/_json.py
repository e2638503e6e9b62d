"""Compact UTF-8 JSON, the one encoding every payload and envelope goes out in.

``separators=(",", ":")`` and ``ensure_ascii=False`` (docs/protocol.md 1.2).
:func:`dumps_compact` keeps one C encoder where the accelerator exists:
``JSONEncoder.encode`` builds a new one on every call, a third of its cost for
a small dict. :class:`JsonEncoding` encodes self-describing JSON (entities,
``ue_pr``) with the same settings, a user ``default`` and URL-safe unpadded
base64 (docs/protocol.md section 4); :func:`decode_b64` reads that base64 back.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import enum
import json
import uuid
from collections.abc import Callable
from typing import Final, TypeAlias

__all__ = [
    "JsonDefault",
    "JsonEncoding",
    "compact_encoder",
    "decode_b64",
    "dumps_compact",
]

JsonDefault: TypeAlias = Callable[[object], object]
"""A ``default=`` function for :func:`json.dumps`: returns a serialisable stand-in
for an object ``json`` cannot encode, or raises ``TypeError``."""


def compact_encoder(
    *,
    default: Callable[[object], object] | None = None,
    allow_nan: bool = True,
    check_circular: bool = True,
) -> json.JSONEncoder:
    """A ``JSONEncoder`` with the compact UTF-8 settings of :func:`dumps_compact`.

    For callers that need a ``default`` (the tracker's entity encoder) or that
    refuse NaN; ``encode`` on it builds a new C encoder per call.
    """
    return json.JSONEncoder(
        ensure_ascii=False,
        separators=(",", ":"),
        allow_nan=allow_nan,
        check_circular=check_circular,
        default=default,
    )


def _encoder() -> Callable[[object], str]:
    encoder = compact_encoder(check_circular=False)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return encoder.encode
    chunks = make(
        None,
        encoder.default,
        json.encoder.encode_basestring,
        None,
        ":",
        ",",
        False,
        False,
        True,
    )  # markers, default, encoder, indent, separators, sort_keys, skipkeys, allow_nan
    join = "".join
    return lambda value: join(chunks(value, 0))


dumps_compact: Final = _encoder()
"""``json.dumps(value, ensure_ascii=False, separators=(",", ":"))``, faster."""


def _builtin_default(value: object) -> object:
    """Encode the common types ``json`` cannot: datetimes, Decimal, UUID, enums, sets."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value) if value.is_finite() else str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    msg = f"Object of type {type(value).__name__} is not JSON serializable"
    raise TypeError(msg)


class JsonEncoding:
    """Compact UTF-8 JSON and URL-safe unpadded base64, as the collector expects.

    Args:
        json_encoder: a ``default=`` function tried first for objects ``json``
            cannot encode; then datetimes, dates, ``Decimal``, ``UUID``, enums and
            sets are handled; anything else becomes ``str(obj)`` and is counted
            in :attr:`fallbacks` instead of raising into the caller.
    """

    __slots__ = ("_encoder", "_user_default", "fallbacks")

    def __init__(self, json_encoder: JsonDefault | None = None) -> None:
        self._user_default = json_encoder
        self.fallbacks = 0
        self._encoder = compact_encoder(allow_nan=False, default=self._default)

    def _default(self, value: object) -> object:
        if self._user_default is not None:
            try:
                return self._user_default(value)
            except Exception:  # noqa: BLE001, S110 - declined or broken: use ours
                pass
        try:
            return _builtin_default(value)
        except TypeError:
            self.fallbacks += 1
            return str(value)

    def dumps(self, value: object) -> str:
        """Serialise ``value`` as compact JSON text.

        Raises:
            ValueError: the user's encoder produced NaN, infinity or a cycle.
        """
        return self._encoder.encode(value)

    @staticmethod
    def b64(text: str) -> str:
        """URL-safe base64 of the UTF-8 bytes of ``text``, without ``=`` padding."""
        return (
            base64.urlsafe_b64encode(text.encode("utf-8")).rstrip(b"=").decode("ascii")
        )


def decode_b64(text: str) -> str:
    """Decode base64 (URL-safe or standard, padded or not) to UTF-8 text.

    Raises:
        ValueError: ``text`` is not base64 of UTF-8 text.
    """
    padded = text + "=" * (-len(text) % 4)
    try:
        raw = base64.b64decode(
            padded.replace("-", "+").replace("_", "/"), validate=True
        )
        return raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        msg = f"not base64 of UTF-8 text: {exc}"
        raise ValueError(msg) from exc
