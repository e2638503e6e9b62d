"""Measuring values as the pipeline does: lengths, URL parts, JSON depth.

Enrich stores text TSV-safe (each tab as 4 spaces, other ASCII control
characters removed) and compares Java string lengths, UTF-16 code units, with
the atomic columns' limits; it splits ``url``/``refr`` into parts with limits of
their own and refuses JSON nested past a depth. These functions measure a value
the same way, from the limits in :mod:`snowplow_logging._protocol`: event
construction uses them to refuse (or, for untrusted input, clip) what the
pipeline would refuse, and the local collector to report it.

Pure functions; none raises on any text.
"""

from __future__ import annotations

import itertools
import re
from typing import Final
from urllib.parse import urlsplit

from snowplow_logging._protocol import (
    FIELDS,
    MAX_JSON_DEPTH,
    PAGE_URL,
    TAB_WIDTH,
    URL_PARTS,
)

__all__ = [
    "SCHEME_MAX",
    "URL_FAST_LENGTH",
    "clip",
    "enrich_length",
    "enrich_text",
    "json_depth",
    "over_limit",
    "text_depth_bound",
    "url_fits",
    "url_part_errors",
]

_CONTROL: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
"""ASCII control characters but the tab: Enrich removes them from text."""


URL_FAST_LENGTH: Final = min(
    limit for parts in URL_PARTS.values() for _, limit in parts[1:]
)
"""An ASCII URL this short has no part over its limit (the host's, 255), but
perhaps its scheme: checked by where its first colon is."""
SCHEME_MAX: Final = dict(URL_PARTS[PAGE_URL])["scheme"]


def url_fits(value: str) -> bool:
    """True when ``value`` is a URL whose parts certainly fit, cheaply decided.

    A short ASCII URL (255 characters or fewer, so even with its spaces as %20
    under every limit but the scheme's) whose first colon is within the scheme's
    limit, and with no ``[`` (an IPv6 host, which may not parse). False means
    "measure it": :func:`url_part_errors`.
    """
    return (
        len(value) <= URL_FAST_LENGTH
        and value.isascii()
        and value.find(":") <= SCHEME_MAX
        and "[" not in value
    )


def enrich_text(value: str) -> str:
    """``value`` as Enrich stores text: each tab as 4 spaces, other ASCII controls removed."""
    if "\t" in value:
        value = value.replace("\t", " " * TAB_WIDTH)
    return _CONTROL.sub("", value) if _CONTROL.search(value) else value


def enrich_length(value: str) -> int:
    """The length Enrich gives ``value``: UTF-16 code units of :func:`enrich_text`.

    An emoji counts 2, a tab 4, a newline 0. Never raises (a lone surrogate is 1).
    """
    text = enrich_text(value)
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def over_limit(value: str, limit: int) -> bool:
    """True when ``value`` is longer than ``limit`` as Enrich counts; cheap for ASCII."""
    if len(value) <= limit and "\t" not in value and value.isascii():
        return False
    return enrich_length(value) > limit


def clip(value: str, limit: int) -> str:
    """The longest start of ``value`` within ``limit`` as Enrich counts (:func:`enrich_length`).

    Never splits a character: one outside the Basic Multilingual Plane (2 UTF-16
    units) that would straddle the limit is left out whole.
    """
    if not over_limit(value, limit):
        return value
    used = 0
    for index, char in enumerate(value):
        if char == "\t":
            width = TAB_WIDTH
        elif char < " " or char == "\x7f":
            width = 0
        else:
            width = 2 if char > "\uffff" else 1
        used += width
        if used > limit:
            return value[:index]
    return value


def url_part_errors(name: str, value: str) -> list[str]:
    """What Enrich refuses in the URL field ``name`` (``url`` or ``refr``).

    Empty when the URL and each part fit. The whole ``url`` is measured with its
    spaces as ``%20`` (Enrich stores the parsed URI); ``refr`` as written. A URL
    with a malformed authority (``http://[x``) is refused: Enrich cannot parse it.
    """
    if url_fits(value):
        return []  # the usual case
    text = enrich_text(value)
    if not text:
        return []
    uri = text.replace(" ", "%20")
    errors: list[str] = []
    limit = FIELDS[name].max_length
    if name == PAGE_URL and limit is not None and enrich_length(uri) > limit:
        errors.append(
            f"{name}: longer than {limit} UTF-16 units with spaces as %20 "
            f"({enrich_length(uri)})"
        )
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
    except ValueError as exc:
        return [*errors, f"{name}: not a URI Enrich can parse ({exc})"]
    found = {
        "scheme": parts.scheme,
        "host": host,
        "path": parts.path,
        "query": parts.query,
        "fragment": parts.fragment,
    }
    for part, part_limit in URL_PARTS[name]:
        size = enrich_length(found[part])
        if size > part_limit:
            errors.append(
                f"{name}: its {part} is longer than {part_limit} UTF-16 units ({size})"
            )
    return errors


_STRING: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET: Final = re.compile(r"[^\[\]{}]+")
_NESTING: Final = {"[": 1, "{": 1, "]": -1, "}": -1}


def text_depth_bound(text: str) -> int:
    """An upper bound of :func:`json_depth` for the JSON ``text`` (valid JSON), cheaply.

    The most brackets open at once, plus one for a scalar inside the deepest;
    computed with regular expressions and C iterators, no Python loop.
    """
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text) if '"' in text else text)
    if not brackets:
        return 1
    return max(itertools.accumulate(map(_NESTING.__getitem__, brackets))) + 1


def json_depth(value: object, limit: int = MAX_JSON_DEPTH) -> int:
    """How deep ``value`` nests, as Enrich counts.

    A scalar or an empty container is 1, a container 1 more than its deepest
    item. Stops counting past ``limit`` (returns ``limit + 1``), so a deep value
    costs no more than that.
    """
    if type(value) is dict:
        items: object = value.values()
    elif type(value) is list:
        items = value
    else:
        return 1
    if limit <= 1:
        return 2 if items else 1
    deepest = 0
    for item in items:  # type: ignore[attr-defined]
        depth = json_depth(item, limit - 1)
        if depth > deepest:
            deepest = depth
            if deepest >= limit:
                break
    return deepest + 1
