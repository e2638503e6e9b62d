"""Compact UTF-8 JSON, the one encoding every payload and envelope goes out in.

``separators=(",", ":")`` and ``ensure_ascii=False`` (docs/protocol.md 1.2).
:func:`dumps_compact` keeps one C encoder where the accelerator exists:
``JSONEncoder.encode`` builds a new one on every call, a third of its cost for
a small dict.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Final

__all__ = ["compact_encoder", "dumps_compact"]


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
