"""Fitting untrusted subject values to the wire: the machinery of ``Subject.from_untrusted``.

Values that come from a request (headers, cookies, query strings) are clipped,
repaired or dropped here, never raised about, so that what is kept is a value the
strict :class:`~snowplow_logging.Subject` constructor accepts. Each fix is counted
per field (:func:`stats`). The rules, field by field, are documented on
:meth:`Subject.from_untrusted <snowplow_logging.Subject.from_untrusted>`; this
module knows nothing of ``Subject`` itself (``_subject`` imports it).
"""

from __future__ import annotations

import ipaddress
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Final, Literal, TypeAlias

from snowplow_logging import _format as fmt
from snowplow_logging import _limits as limits
from snowplow_logging import _protocol as proto
from snowplow_logging import _tokens as tokens
from snowplow_logging._exceptions import InvalidEventError, InvalidEventTypeError

__all__ = [
    "FIELDS",
    "OUTCOMES",
    "Fit",
    "Kept",
    "Outcome",
    "fit",
    "fit_color_depth",
    "fit_id",
    "fit_index",
    "fit_ip",
    "fit_lang",
    "fit_platform",
    "fit_size",
    "fit_text",
    "fit_uuid",
    "repair",
    "stats",
]

# Length limits from the protocol table (#13); shortest() raises if one is missing.
_USER_ID_MAX: Final = proto.shortest(proto.USER_ID)
_TIMEZONE_MAX: Final = proto.shortest(proto.TIMEZONE)
_LANG_MAX: Final = proto.shortest(proto.LANGUAGE)
_IP_ADDRESS_MAX: Final = proto.shortest(proto.IP_ADDRESS)
_USERAGENT_MAX: Final = proto.shortest(proto.USERAGENT)
_DOMAIN_USER_ID_MAX: Final = proto.shortest(proto.DOMAIN_USER_ID)
_NETWORK_USER_ID_MAX: Final = proto.shortest(proto.TRACKER_NETWORK_USER_ID)
_COLOR_DEPTH_MAX: Final = proto.shortest(proto.COLOR_DEPTH)

Outcome: TypeAlias = Literal["clipped", "repaired", "dropped"]
"""What :meth:`Subject.from_untrusted` did to a value it could not keep as given."""
OUTCOMES: Final[tuple[Outcome, ...]] = ("clipped", "repaired", "dropped")

Kept: TypeAlias = tuple[object, str] | None
"""A fitted value: the ``Subject`` attribute and its wire text, or ``None`` (dropped)."""
Fit: TypeAlias = Callable[[str, object, int], Kept]
"""A field's fitting function: ``(keyword, value, length limit) -> Kept``."""

# --- Counters -------------------------------------------------------------------

_STATS_LOCK: Final = threading.Lock()
_STATS: Final[dict[tuple[str, Outcome], int]] = {}
"""The counts of fixes by (keyword, outcome); only the fixing paths take the lock."""


def _count(name: str, outcome: Outcome) -> None:
    with _STATS_LOCK:
        _STATS[name, outcome] += 1


def stats() -> dict[str, dict[str, int]]:
    """What :func:`fit` fixed since the process started, per keyword.

    Returns:
        For every keyword of :data:`FIELDS`, its counts of values ``clipped``,
        ``repaired`` and ``dropped``: a new dict; the counters are process-wide
        and thread-safe.
    """
    with _STATS_LOCK:
        counts = dict(_STATS)
    return {
        name: {outcome: counts[name, outcome] for outcome in OUTCOMES}
        for name in FIELDS
    }


# --- Text -----------------------------------------------------------------------

_CONTROLS: Final[dict[int, str | None]] = {
    **dict.fromkeys(range(0x20)),
    0x7F: None,
    ord("\t"): " ",
}
"""What Enrich does to the ASCII control characters of text: a tab becomes a space
(Enrich writes four), the others are removed."""
_CONTROL: Final = re.compile("[\x00-\x1f\x7f]")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_DIGITS: Final = re.compile(r"[0-9]{1,18}")
"""A whole number in ASCII digits; 18 at most, far below ``int()``'s 4,300."""
_SIZE: Final = re.compile(r"([0-9]{1,18})[xX]([0-9]{1,18})")


def repair(text: str) -> str:
    """``text`` without lone surrogates and control characters: ``text`` itself if clean.

    A split surrogate pair is joined, a lone surrogate becomes U+FFFD, a tab a
    space, and the other ASCII control characters are removed, as Enrich does.
    """
    if text.isascii():
        return text if text.isprintable() else text.translate(_CONTROLS)
    if _SURROGATE.search(text) is not None:
        # UTF-16 joins a split pair and turns each lone surrogate into U+FFFD.
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text if _CONTROL.search(text) is None else text.translate(_CONTROLS)


def _text_of(name: str, value: object, *, ints: bool = False) -> tuple[str, bool]:
    """Text-ish ``value`` as repaired text, and whether it needed repair.

    Raises:
        InvalidEventTypeError: ``value`` is not ``str`` or ``bytes`` (nor an
            ``int``, when ``ints``).
    """
    if isinstance(value, str):
        text, bad = str.__str__(value), False  # an exact str, also from a subclass
    elif isinstance(value, bytes | bytearray):
        try:
            text, bad = value.decode(), False
        except UnicodeDecodeError:
            text, bad = value.decode(errors="replace"), True
    elif ints and isinstance(value, int) and not isinstance(value, bool):
        try:
            text, bad = int.__repr__(value), False
        except ValueError:  # over 4,300 digits: too long for any field anyway
            text, bad = "", True
    else:
        kinds = "text (str or bytes), an int" if ints else "text (str or bytes)"
        msg = f"{name!r} must be {kinds} or None (got {type(value).__name__} {fmt.shown(value)})."
        raise InvalidEventTypeError(msg)
    fixed = repair(text)
    return fixed, bad or fixed is not text


def _whole(name: str, value: object) -> tuple[int | None, bool]:
    """The whole number in ``value`` (``None`` if there is none), whether text was repaired.

    Raises:
        InvalidEventTypeError: ``value`` is a ``bool``, or neither a number nor
            text nor ``None``.
    """
    if value is None:
        return None, False
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value), False
    if isinstance(value, float):
        return (int(value) if value.is_integer() else None), False
    if not isinstance(value, str | bytes | bytearray):
        msg = f"{name!r} must be a whole number, digit text or None (got {type(value).__name__} {fmt.shown(value)})."
        raise InvalidEventTypeError(msg)
    text, repaired = _text_of(name, value)
    token = text.strip()
    number = int(token) if _DIGITS.fullmatch(token) else None
    return number, repaired or len(token) != len(text)


def _strictly(
    formatter: Callable[[str, object], str | None], name: str, value: object
) -> str | None:
    """What the constructor's formatter makes of ``value``; ``None`` where it refuses."""
    try:
        return formatter(name, value)
    except InvalidEventError:
        return None


def _outcome(
    name: str, value: object, attr: object, wire: str | None, repaired: bool
) -> Kept:
    """Count what happened to ``value``; the attribute and wire value to keep, if any."""
    if wire is None:
        if value:  # "" and b"" mean absent, as in the constructor
            _count(name, "dropped")
        return None
    if repaired:
        _count(name, "repaired")
    return attr, wire


def _token(name: str, value: object, parse: Callable[[str], str | None]) -> Kept:
    """A one-word value: repaired, stripped, then kept as ``parse`` returns it, or dropped."""
    text, repaired = _text_of(name, value)
    token = text.strip()
    wire = parse(token) if token else None
    return _outcome(name, value, wire, wire, repaired or len(token) != len(text))


# --- Fitting, field by field ---------------------------------------------------------


def fit_text(name: str, value: object, limit: int, *, ints: bool = False) -> Kept:
    """Text (or, when ``ints``, an ``int``) repaired and clipped to ``limit``.

    The limit is counted as the pipeline counts: UTF-16 units, a tab as 4
    (:func:`snowplow_logging._limits.clip`); no character is split.
    """
    text, repaired = _text_of(name, value, ints=ints)
    if limits.over_limit(text, limit):
        text = limits.clip(text, limit)
        _count(name, "clipped")
    return _outcome(name, value, text, text or None, repaired)


def fit_id(name: str, value: object, limit: int) -> Kept:
    """An id: text or an ``int``, repaired and clipped as :func:`fit_text`."""
    return fit_text(name, value, limit, ints=True)


def fit_color_depth(name: str, value: object, limit: int) -> Kept:
    """A colour depth: a whole number from 0 to 2**31-1, else text as :func:`fit_id`."""
    if not isinstance(value, int) or isinstance(value, bool):
        return fit_text(name, value, limit, ints=True)
    depth = int(value)
    try:
        wire = fmt.format_color_depth(name, depth)
    except InvalidEventError:  # negative, or beyond Enrich's int
        wire = None
    return (depth, wire) if wire is not None else _outcome(name, value, 0, None, False)


def fit_platform(name: str, value: object, limit: int) -> Kept:
    """A platform code (``web``, ``srv``...), else dropped; ``limit`` is unused."""
    if value.__class__ is str and value in proto.PLATFORMS:
        return value, value
    return _token(name, value, lambda text: _strictly(fmt.format_platform, name, text))


def fit_uuid(name: str, value: object, limit: int) -> Kept:
    """A UUID (text or :class:`uuid.UUID`), else dropped; ``limit`` is unused."""
    if value.__class__ is str and proto.UUID_PATTERN.fullmatch(value) is not None:
        return value, value
    if isinstance(value, uuid.UUID):
        return value, str(value)
    # format_uuid's pattern lets a final newline through: stripped tokens have none.
    return _token(name, value, lambda text: _strictly(fmt.format_uuid, name, text))


def fit_ip(name: str, value: object, limit: int) -> Kept:
    """One IP address (text or :mod:`ipaddress`), as :func:`~snowplow_logging._tokens.ip_address`; else dropped."""
    if value.__class__ is str and tokens.ip_address(value) is not None:
        return value, value
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        value = str(value)
    return _token(name, value, tokens.ip_address)


def fit_lang(name: str, value: object, limit: int) -> Kept:
    """One language tag, as :func:`~snowplow_logging._tokens.language_tag` (never clipped); else dropped."""
    if value.__class__ is str and tokens.language_tag(value) is not None:
        return value, value
    return _token(name, value, tokens.language_tag)


def fit_index(name: str, value: object, limit: int) -> Kept:
    """A whole number from 0 to 2**31-1 (number or digit text), else dropped."""
    number, repaired = (value, False) if value.__class__ is int else _whole(name, value)
    wire = None
    if number is not None:
        try:
            wire = fmt.format_int(name, number, minimum=0)
        except InvalidEventError:  # negative, or beyond Enrich's int
            wire = None
    if wire is None or repaired:
        return _outcome(name, value, number, wire, repaired)
    return number, wire


def fit_size(name: str, value: object, limit: int) -> Kept:
    """A ``(width, height)`` pair or ``"WIDTHxHEIGHT"`` text of whole numbers, else dropped.

    Raises:
        InvalidEventTypeError: ``value`` is neither a pair nor text.
    """
    width: int | None = None
    height: int | None = None
    repaired = False
    if isinstance(value, tuple | list):
        if len(value) == 2:  # noqa: PLR2004
            first, second = value
            if first.__class__ is int and second.__class__ is int:
                width, height = first, second  # the usual case, checked below
            else:
                width, repaired_w = _whole(name, first)
                height, repaired_h = _whole(name, second)
                repaired = repaired_w or repaired_h
    elif isinstance(value, str | bytes | bytearray):
        text, repaired = _text_of(name, value)
        token = text.strip()
        repaired = repaired or len(token) != len(text)
        if match := _SIZE.fullmatch(token):
            width, height = int(match[1]), int(match[2])
    else:
        msg = (
            f"{name!r} must be a (width, height) pair, 'WIDTHxHEIGHT' text or None "
            f"(got {type(value).__name__} {fmt.shown(value)})."
        )
        raise InvalidEventTypeError(msg)
    wire = None
    if width is not None and height is not None:
        try:
            wire = fmt.format_size(name, width, height)
        except InvalidEventError:  # negative, or beyond Enrich's int
            wire = None
    if wire is None or repaired:
        return _outcome(name, value, (width, height), wire, repaired)
    return (width, height), wire


FIELDS: Final[Mapping[str, tuple[Fit, str, int, bool]]] = {
    "platform": (fit_platform, proto.PLATFORM, 0, False),
    "user_id": (fit_id, proto.USER_ID, _USER_ID_MAX, True),
    "screen_resolution": (fit_size, proto.RESOLUTION, 0, False),
    "viewport": (fit_size, proto.VIEWPORT, 0, False),
    "color_depth": (fit_color_depth, proto.COLOR_DEPTH, _COLOR_DEPTH_MAX, False),
    "timezone": (fit_text, proto.TIMEZONE, _TIMEZONE_MAX, True),
    "lang": (fit_lang, proto.LANGUAGE, _LANG_MAX, False),
    "ip_address": (fit_ip, proto.IP_ADDRESS, _IP_ADDRESS_MAX, False),
    "useragent": (fit_text, proto.USERAGENT, _USERAGENT_MAX, True),
    "domain_user_id": (fit_id, proto.DOMAIN_USER_ID, _DOMAIN_USER_ID_MAX, True),
    "domain_session_id": (fit_uuid, proto.DOMAIN_SESSION_ID, 0, False),
    "domain_session_index": (fit_index, proto.DOMAIN_SESSION_INDEX, 0, False),
    "network_user_id": (
        fit_id,
        proto.TRACKER_NETWORK_USER_ID,
        _NETWORK_USER_ID_MAX,
        True,
    ),
}
"""Each keyword of ``Subject.from_untrusted``, in the constructor's order: its fitting
function, its wire name, its length limit, and whether it is plain text (checked
inline by :func:`fit` when clean)."""
_STATS.update({(name, outcome): 0 for name in FIELDS for outcome in OUTCOMES})


def fit(values: Mapping[str, object], attrs: dict[str, object]) -> dict[str, str]:
    """Fit each of ``values`` (keyword to untrusted value) to its field.

    Args:
        values: the keywords of ``Subject.from_untrusted`` and their values;
            ``None`` is skipped.
        attrs: filled in place with each kept value, as a ``Subject`` attribute
            the strict constructor accepts; dropped values are left out.

    Returns:
        The wire fields kept (``{"uid": "u-1", ...}``), a new dict.

    Raises:
        InvalidEventTypeError: an unknown keyword, or a value of a type its
            field does not take.
    """
    wire: dict[str, str] = {}
    specs = FIELDS
    for name, value in values.items():
        try:
            clean, key, limit, text = specs[name]
        except KeyError:
            msg = (
                f"Subject.from_untrusted() got an unexpected keyword argument {name!r}."
            )
            raise InvalidEventTypeError(msg) from None
        if value is None:
            continue
        if (  # the usual case, inline: clean text within the limit
            text
            and value.__class__ is str
            and value
            and len(value) <= limit
            and value.isprintable()  # no control character nor surrogate
            and (value.isascii() or not limits.over_limit(value, limit))  # UTF-16
        ):
            attrs[name] = wire[key] = value
            continue
        kept = clean(name, value, limit)
        if kept is not None:
            attrs[name], wire[key] = kept
    return wire
