"""What is kept of a request's headers: secrets redacted, size bounded.

The local collector stores the request's headers with each event it records.
The values of ``Authorization``, ``Proxy-Authorization`` and ``Cookie`` are
never stored, and what is kept is bounded (64 headers, 1,024 characters a
value, 16 KiB in all), whatever the history.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

__all__ = ["MAX_HEADER_VALUE", "cut", "kept_headers"]

_SECRET_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "cookie"})
"""Request headers whose values are never stored: credentials and cookies."""
_REDACTED: Final = "<redacted>"
"""What is stored instead of a secret header's value."""
_AUTH_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,31}")
_MAX_HEADERS: Final = 64
"""At most this many request headers are kept with an event (then a marker)."""
MAX_HEADER_VALUE: Final = 1024
"""A header value (marker included) is kept to this many characters."""
_MAX_HEADER_NAME: Final = 256
_MAX_HEADERS_CHARS: Final = 16 * 1024
"""All the names and values kept for one request, marker included."""
_CUT_NAME: Final = "(cut)"
"""The name of the marker ending a cut header list: never a real header's name."""


def kept_headers(items: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The request headers stored with an event: secrets redacted, size bounded.

    ``Authorization`` and ``Proxy-Authorization`` keep their scheme (``Basic``,
    ``Bearer``...), so one sees what was sent without the credentials; ``Cookie``
    is ``<redacted>``. At most 64 headers, each value cut to 1,024 characters
    (ending ``[cut from N characters]``), 16 KiB in all; when some are left out a
    last ``(cut)`` entry says how many.
    """
    kept: list[tuple[str, str]] = []
    room = _MAX_HEADERS_CHARS - MAX_HEADER_VALUE  # the marker's place
    left_out = 0
    for name, value in items:
        shown_name = cut(name, _MAX_HEADER_NAME)
        shown_value = cut(_stored_value(name, value), MAX_HEADER_VALUE)
        size = len(shown_name) + len(shown_value)
        if left_out or len(kept) == _MAX_HEADERS or size > room:
            left_out += 1
            continue
        kept.append((shown_name, shown_value))
        room -= size
    if left_out:
        note = (
            f"{left_out} more headers not kept ({_MAX_HEADERS} at most, "
            f"{_MAX_HEADERS_CHARS // 1024} KiB in all)"
        )
        kept.append((_CUT_NAME, note))
    return tuple(kept)


def cut(text: str, limit: int) -> str:
    """``text`` if short enough, else its start and a marker, ``limit`` characters in all."""
    if len(text) <= limit:
        return text
    marker = f" [cut from {len(text)} characters]"
    return text[: limit - len(marker)] + marker


def _stored_value(name: str, value: str) -> str:
    lowered = name.lower()
    if lowered not in _SECRET_HEADERS:
        return value
    scheme, space, _ = value.strip().partition(" ")
    if lowered != "cookie" and space and _AUTH_SCHEME.fullmatch(scheme):
        return f"{scheme} {_REDACTED}"
    return _REDACTED
