"""One-word values from requests: is this text one IP address, one language tag?

The checks :meth:`Subject.from_untrusted <snowplow_logging.Subject.from_untrusted>`
applies to ``ip_address`` and ``lang``: a value is kept as written when it is
exactly one address or one tag, and dropped otherwise (a clipped tag or a list of
addresses would be another value).
"""

from __future__ import annotations

import re
import socket
from typing import Final

from snowplow_logging import _protocol as proto

__all__ = ["ip_address", "language_tag"]

_LANG_MAX: Final = proto.shortest(proto.LANGUAGE)
_OCTET: Final = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4: Final = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
"""Dotted-quad IPv4 as :class:`ipaddress.IPv4Address` reads it (no leading zeros)."""
_LANG: Final = re.compile(r"[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*")
"""A language tag's shape (BCP 47 syntax, or ``_`` as in POSIX locales)."""
_TAGS_SEEN: Final[set[str]] = set()
"""Language tags already checked: a site sees a few dozen, over and over."""
_TAGS_SEEN_MAX: Final = 1024


def ip_address(text: str) -> str | None:
    """``text`` if it is one IPv4 or IPv6 address (without a zone), else ``None``."""
    if _IPV4.fullmatch(text) is not None:
        return text
    if ":" not in text or "%" in text:  # not IPv6, or with a zone
        return None
    try:  # the C parser: 10x faster than ipaddress, and it agrees on IPv6 text
        socket.inet_pton(socket.AF_INET6, text)
    except (OSError, ValueError):  # not an address; NUL or a surrogate in the text
        return None
    return text


def language_tag(text: str) -> str | None:
    """``text`` if it is shaped as a language tag of at most 255 characters, else ``None``."""
    if text in _TAGS_SEEN:
        return text
    if len(text) > _LANG_MAX or _LANG.fullmatch(text) is None:
        return None
    if len(_TAGS_SEEN) < _TAGS_SEEN_MAX:
        _TAGS_SEEN.add(text)
    return text
