"""The subject of events: who and what device an event is about (docs/protocol.md 2.2, 6).

A :class:`Subject` is an immutable value. Its ``set_*`` methods return a new
subject, so one shared by many threads can never be rewritten under them
(snowplow-python-tracker #158, #347). Only the fields a subject sets are sent:
a per-event subject overrides just those fields of the tracker's subject.

The constructor is strict: a bad value is a programmer's mistake and raises.
:meth:`Subject.from_untrusted` is the lenient way in for values that come from a
request (headers, cookies, query strings): it clips, repairs or drops what the
pipeline would refuse or mangle, never raises for a bad value, and counts each
fix in :meth:`Subject.untrusted_stats`.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, TypeAlias, TypedDict, Unpack

from snowplow_logging import _format as fmt
from snowplow_logging import _protocol as proto
from snowplow_logging._exceptions import InvalidEventError, InvalidEventTypeError

__all__ = ["Subject"]

# Length limits from the protocol table, read once here (#13); every one of these
# fields has a limit, so each is an int (shortest() raises otherwise).
_USER_ID_MAX: Final = proto.shortest(proto.USER_ID)
_TIMEZONE_MAX: Final = proto.shortest(proto.TIMEZONE)
_LANG_MAX: Final = proto.shortest(proto.LANGUAGE)
_IP_ADDRESS_MAX: Final = proto.shortest(proto.IP_ADDRESS)
_USERAGENT_MAX: Final = proto.shortest(proto.USERAGENT)
_DOMAIN_USER_ID_MAX: Final = proto.shortest(proto.DOMAIN_USER_ID)
_NETWORK_USER_ID_MAX: Final = proto.shortest(proto.TRACKER_NETWORK_USER_ID)
_COLOR_DEPTH_MAX: Final = proto.shortest(proto.COLOR_DEPTH)


class _UntrustedFields(TypedDict, total=False):
    """The keywords of :meth:`Subject.from_untrusted`: the constructor's, wider types."""

    platform: str | bytes | None
    user_id: str | bytes | int | None
    screen_resolution: tuple[object, object] | list[object] | str | bytes | None
    viewport: tuple[object, object] | list[object] | str | bytes | None
    color_depth: int | str | bytes | None
    timezone: str | bytes | None
    lang: str | bytes | None
    ip_address: str | bytes | ipaddress.IPv4Address | ipaddress.IPv6Address | None
    useragent: str | bytes | None
    domain_user_id: str | bytes | int | None
    domain_session_id: str | bytes | uuid.UUID | None
    domain_session_index: int | float | str | bytes | None
    network_user_id: str | bytes | int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Subject:
    """Who an event is about: user, session, device and network fields.

    Every field is optional; a field left as ``None`` is not sent, so a per-event
    subject only overrides what it sets. Values are checked here, when the subject
    is built: a bad value raises :class:`~snowplow_logging.InvalidEventError`.

    Args:
        platform: the platform code (``p``), one of ``web mob pc srv app tv cnsl
            iot headset``; overrides the tracker's platform.
        user_id: the business user id (``uid``).
        screen_resolution: ``(width, height)`` of the screen (``res``).
        viewport: ``(width, height)`` of the viewport (``vp``).
        color_depth: the colour depth (``cd``).
        timezone: a time zone name such as ``"Europe/Berlin"`` (``tz``).
        lang: a language such as ``"en-GB"`` (``lang``).
        ip_address: the client IP address (``ip``).
        useragent: the client user agent (``ua``).
        domain_user_id: a first-party user/device id (``duid``).
        domain_session_id: the session id, a UUID (``sid``).
        domain_session_index: the session index, an integer (``vid``).
        network_user_id: the tracker network user id (``tnuid``), which overrides
            the collector's cookie, as the official tracker's setter does.

    For values taken from a request, use :meth:`from_untrusted`, which fixes or
    drops bad values instead of raising.
    """

    platform: str | None = None
    user_id: str | None = None
    screen_resolution: tuple[int, int] | None = None
    viewport: tuple[int, int] | None = None
    color_depth: int | str | None = None
    timezone: str | None = None
    lang: str | None = None
    ip_address: str | None = None
    useragent: str | None = None
    domain_user_id: str | None = None
    domain_session_id: str | uuid.UUID | None = None
    domain_session_index: int | None = None
    network_user_id: str | None = None
    _fields: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        wire = {
            proto.PLATFORM: None
            if self.platform is None
            else fmt.format_platform("platform", self.platform),
            proto.USER_ID: fmt.format_text(
                "user_id", self.user_id, max_length=_USER_ID_MAX
            ),
            proto.RESOLUTION: _size("screen_resolution", self.screen_resolution),
            proto.VIEWPORT: _size("viewport", self.viewport),
            proto.COLOR_DEPTH: fmt.format_color_depth("color_depth", self.color_depth),
            proto.TIMEZONE: fmt.format_text(
                "timezone", self.timezone, max_length=_TIMEZONE_MAX
            ),
            proto.LANGUAGE: fmt.format_text("lang", self.lang, max_length=_LANG_MAX),
            proto.IP_ADDRESS: fmt.format_text(
                "ip_address", self.ip_address, max_length=_IP_ADDRESS_MAX
            ),
            proto.USERAGENT: fmt.format_text(
                "useragent", self.useragent, max_length=_USERAGENT_MAX
            ),
            proto.DOMAIN_USER_ID: fmt.format_text(
                "domain_user_id", self.domain_user_id, max_length=_DOMAIN_USER_ID_MAX
            ),
            proto.DOMAIN_SESSION_ID: fmt.format_uuid(
                "domain_session_id", self.domain_session_id
            ),
            proto.DOMAIN_SESSION_INDEX: fmt.format_int(
                "domain_session_index", self.domain_session_index, minimum=0
            ),
            proto.TRACKER_NETWORK_USER_ID: fmt.format_text(
                "network_user_id", self.network_user_id, max_length=_NETWORK_USER_ID_MAX
            ),
        }
        object.__setattr__(
            self, "_fields", {k: v for k, v in wire.items() if v is not None}
        )

    @classmethod
    def from_untrusted(cls, **values: Unpack[_UntrustedFields]) -> Subject:
        """Build a subject from request data: bad values are fixed or dropped, not raised.

        Takes the constructor's keywords. ``None`` and ``""`` mean absent, as in
        the constructor. Text may also be ``bytes`` (decoded as UTF-8, invalid
        bytes becoming U+FFFD); the ids ``user_id``, ``domain_user_id`` and
        ``network_user_id`` may be ``int``; ``ip_address`` an :mod:`ipaddress`
        address; numbers may be digit text, and a size ``"WIDTHxHEIGHT"``.
        These conversions are not counted. Then:

        - Text (``user_id``, ``timezone``, ``useragent``, ``domain_user_id``,
          ``network_user_id``, text ``color_depth``): lone surrogates become
          U+FFFD (a split surrogate pair is joined), tabs become spaces and the
          other ASCII control characters (``U+0000``-``U+001F``, ``U+007F``) are
          removed, as Enrich removes them; then the text is clipped to the
          field's column length on a code point boundary, so its UTF-8 is valid.
        - ``ip_address``: one IPv4 or IPv6 address, kept as written; anything
          else (a name, ``"1.2.3.4, 5.6.7.8"``, a zone ``%eth0``) is dropped.
          Picking the client from ``X-Forwarded-For`` is the proxy
          middleware's job.
        - ``lang``: one language tag (``en``, ``en-GB``, ``zh_Hant_TW``; letters,
          then ``-`` or ``_`` and up to 8 letters or digits per subtag), at most
          255 characters; anything else, a whole ``Accept-Language`` header
          included, is dropped: a clipped tag would be another tag.
        - ``platform``, ``domain_session_id``: a platform code, a UUID; else dropped.
        - ``domain_session_index``, ``color_depth`` as a number, each side of
          ``screen_resolution``/``viewport`` (a pair, or ``"WIDTHxHEIGHT"``):
          a whole number from 0 to 2**31-1 (``int``, an integral ``float`` or
          ASCII digits); else dropped (for a size, the whole size).

        Tokens (addresses, tags, codes, numbers as text) lose surrounding
        whitespace and control characters before they are checked. Each fix
        is counted per field in :meth:`untrusted_stats`: ``repaired``,
        ``clipped`` (one value may be both) or ``dropped`` (a value was given
        and nothing of it is sent). A subject built here holds only values the
        constructor accepts, so ``set_*`` and :func:`dataclasses.replace` work
        on it as usual.

        Raises:
            InvalidEventTypeError: an unknown keyword, or a value of a type its
                field does not take (above): a ``dict``, ``list`` or ``float``
                for text, a ``bool`` anywhere. Those are programmer mistakes,
                as in the constructor.
        """
        attrs = dict(_ABSENT)
        wire: dict[str, str] = {}
        specs = _UNTRUSTED
        for name, value in values.items():
            try:
                clean, key, limit, text = specs[name]
            except KeyError:
                msg = f"Subject.from_untrusted() got an unexpected keyword argument {name!r}."
                raise InvalidEventTypeError(msg) from None
            if value is None:
                continue
            if (  # the usual case, inline: clean text within the limit
                text
                and value.__class__ is str
                and value
                and len(value) <= limit
                and value.isprintable()  # no control character nor surrogate
            ):
                attrs[name] = wire[key] = value
                continue
            kept = clean(name, value, limit)
            if kept is not None:
                attrs[name], wire[key] = kept
        if cls is not Subject:  # a subclass may check more: let its __init__ run
            return cls(**attrs)  # type: ignore[arg-type]
        subject = object.__new__(cls)
        for name, value in attrs.items():
            _set(subject, name, value)  # values the constructor accepts (tested)
        _set(subject, "_fields", wire)
        return subject

    @staticmethod
    def untrusted_stats() -> dict[str, dict[str, int]]:
        """What :meth:`from_untrusted` fixed since the process started, per field.

        Returns:
            For every keyword (``"useragent"``...), its counts of values
            ``clipped``, ``repaired`` and ``dropped``, e.g.
            ``{"useragent": {"clipped": 3, "repaired": 0, "dropped": 0}, ...}``.
            A new dict; the counters are process-wide and thread-safe.
        """
        with _STATS_LOCK:
            counts = dict(_STATS)
        return {
            name: {outcome: counts[name, outcome] for outcome in _OUTCOMES}
            for name in _UNTRUSTED
        }

    @property
    def fields(self) -> dict[str, str]:
        """The wire fields this subject sets, as a new dict (``{"uid": "u-1"}``)."""
        return dict(self._fields)

    def set_platform(self, value: str) -> Subject:
        """Return a copy with the platform (``p``) set."""
        return dataclasses.replace(self, platform=value)

    def set_user_id(self, user_id: str) -> Subject:
        """Return a copy with the business user id (``uid``) set."""
        return dataclasses.replace(self, user_id=user_id)

    def set_screen_resolution(self, width: int, height: int) -> Subject:
        """Return a copy with the screen resolution (``res``) set."""
        return dataclasses.replace(self, screen_resolution=(width, height))

    def set_viewport(self, width: int, height: int) -> Subject:
        """Return a copy with the viewport size (``vp``) set."""
        return dataclasses.replace(self, viewport=(width, height))

    def set_color_depth(self, depth: int | str) -> Subject:
        """Return a copy with the colour depth (``cd``) set."""
        return dataclasses.replace(self, color_depth=depth)

    def set_timezone(self, timezone: str) -> Subject:
        """Return a copy with the time zone (``tz``) set."""
        return dataclasses.replace(self, timezone=timezone)

    def set_lang(self, lang: str) -> Subject:
        """Return a copy with the language (``lang``) set."""
        return dataclasses.replace(self, lang=lang)

    def set_ip_address(self, ip: str) -> Subject:
        """Return a copy with the client IP address (``ip``) set."""
        return dataclasses.replace(self, ip_address=ip)

    def set_useragent(self, useragent: str) -> Subject:
        """Return a copy with the user agent (``ua``) set."""
        return dataclasses.replace(self, useragent=useragent)

    def set_domain_user_id(self, domain_user_id: str) -> Subject:
        """Return a copy with the domain user id (``duid``) set."""
        return dataclasses.replace(self, domain_user_id=domain_user_id)

    def set_domain_session_id(self, session_id: str | uuid.UUID) -> Subject:
        """Return a copy with the session id (``sid``, a UUID) set."""
        return dataclasses.replace(self, domain_session_id=session_id)

    def set_domain_session_index(self, index: int) -> Subject:
        """Return a copy with the session index (``vid``) set."""
        return dataclasses.replace(self, domain_session_index=index)

    def set_network_user_id(self, network_user_id: str) -> Subject:
        """Return a copy with the tracker network user id (``tnuid``) set."""
        return dataclasses.replace(self, network_user_id=network_user_id)


def _size(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, tuple | list) or len(value) != 2:  # noqa: PLR2004
        msg = f"{name!r} must be a (width, height) pair (got {value!r})."
        raise InvalidEventTypeError(msg)
    return fmt.format_size(name, value[0], value[1])


# --- Untrusted values: Subject.from_untrusted -------------------------------------

Outcome: TypeAlias = Literal["clipped", "repaired", "dropped"]
"""What :meth:`Subject.from_untrusted` did to a value it could not keep as given."""
_OUTCOMES: Final[tuple[Outcome, ...]] = ("clipped", "repaired", "dropped")

_STATS_LOCK: Final = threading.Lock()
_STATS: Final[dict[tuple[str, Outcome], int]] = {}
"""The counts of fixes by (keyword, outcome); only the fixing paths take the lock."""


def _count(name: str, outcome: Outcome) -> None:
    with _STATS_LOCK:
        _STATS[name, outcome] += 1


_set: Final = object.__setattr__
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
_OCTET: Final = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4: Final = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
"""Dotted-quad IPv4 as :class:`ipaddress.IPv4Address` reads it (no leading zeros)."""
_LANG: Final = re.compile(r"[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*")
"""A language tag's shape (BCP 47 syntax, or ``_`` as in POSIX locales)."""


def _repair(text: str) -> str:
    """``text`` without lone surrogates and control characters: ``text`` itself if clean."""
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
    fixed = _repair(text)
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
) -> tuple[object, str] | None:
    """Count what happened to ``value``; the attribute and wire value to keep, if any."""
    if wire is None:
        if value:  # "" and b"" mean absent, as in the constructor
            _count(name, "dropped")
        return None
    if repaired:
        _count(name, "repaired")
    return attr, wire


def _token(
    name: str, value: object, parse: Callable[[str], str | None]
) -> tuple[object, str] | None:
    """A one-word value: repaired, stripped, then kept as ``parse`` returns it, or dropped."""
    text, repaired = _text_of(name, value)
    token = text.strip()
    wire = parse(token) if token else None
    return _outcome(name, value, wire, wire, repaired or len(token) != len(text))


def _clean_text(
    name: str, value: object, limit: int, *, ints: bool = False
) -> tuple[object, str] | None:
    """Text repaired and clipped (clean text within the limit is kept inline)."""
    text, repaired = _text_of(name, value, ints=ints)
    if len(text) > limit:
        text = text[:limit]  # code points: no surrogate is left to split
        _count(name, "clipped")
    return _outcome(name, value, text, text or None, repaired)


def _clean_id(name: str, value: object, limit: int) -> tuple[object, str] | None:
    return _clean_text(name, value, limit, ints=True)


def _clean_color_depth(
    name: str, value: object, limit: int
) -> tuple[object, str] | None:
    if not isinstance(value, int) or isinstance(value, bool):
        return _clean_text(name, value, limit, ints=True)
    depth = int(value)
    try:
        wire = fmt.format_color_depth(name, depth)
    except InvalidEventError:  # negative, or beyond Enrich's int
        wire = None
    return (depth, wire) if wire is not None else _outcome(name, value, 0, None, False)


def _clean_platform(name: str, value: object, limit: int) -> tuple[object, str] | None:
    if value.__class__ is str and value in proto.PLATFORMS:
        return value, value
    return _token(name, value, lambda text: _strictly(fmt.format_platform, name, text))


def _clean_uuid(name: str, value: object, limit: int) -> tuple[object, str] | None:
    if value.__class__ is str and proto.UUID_PATTERN.fullmatch(value) is not None:
        return value, value
    if isinstance(value, uuid.UUID):
        return value, str(value)
    # format_uuid's pattern lets a final newline through: stripped tokens have none.
    return _token(name, value, lambda text: _strictly(fmt.format_uuid, name, text))


def _ip(text: str) -> str | None:
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


def _clean_ip(name: str, value: object, limit: int) -> tuple[object, str] | None:
    if value.__class__ is str and _ip(value) is not None:
        return value, value
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        value = str(value)
    return _token(name, value, _ip)


_TAGS_SEEN: Final[set[str]] = set()
"""Language tags already checked: a site sees a few dozen, over and over."""
_TAGS_SEEN_MAX: Final = 1024


def _tag(text: str) -> str | None:
    """``text`` if it is shaped as a language tag, else ``None``."""
    if len(text) > _LANG_MAX or _LANG.fullmatch(text) is None:
        return None
    if len(_TAGS_SEEN) < _TAGS_SEEN_MAX:
        _TAGS_SEEN.add(text)
    return text


def _clean_lang(name: str, value: object, limit: int) -> tuple[object, str] | None:
    if value.__class__ is str and (value in _TAGS_SEEN or _tag(value) is not None):
        return value, value
    return _token(name, value, _tag)


def _clean_index(name: str, value: object, limit: int) -> tuple[object, str] | None:
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


def _clean_size(name: str, value: object, limit: int) -> tuple[object, str] | None:
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


_Clean: TypeAlias = Callable[[str, object, int], tuple[object, str] | None]
_UNTRUSTED: Final[Mapping[str, tuple[_Clean, str, int, bool]]] = {
    "platform": (_clean_platform, proto.PLATFORM, 0, False),
    "user_id": (_clean_id, proto.USER_ID, _USER_ID_MAX, True),
    "screen_resolution": (_clean_size, proto.RESOLUTION, 0, False),
    "viewport": (_clean_size, proto.VIEWPORT, 0, False),
    "color_depth": (_clean_color_depth, proto.COLOR_DEPTH, _COLOR_DEPTH_MAX, False),
    "timezone": (_clean_text, proto.TIMEZONE, _TIMEZONE_MAX, True),
    "lang": (_clean_lang, proto.LANGUAGE, _LANG_MAX, False),
    "ip_address": (_clean_ip, proto.IP_ADDRESS, _IP_ADDRESS_MAX, False),
    "useragent": (_clean_text, proto.USERAGENT, _USERAGENT_MAX, True),
    "domain_user_id": (_clean_id, proto.DOMAIN_USER_ID, _DOMAIN_USER_ID_MAX, True),
    "domain_session_id": (_clean_uuid, proto.DOMAIN_SESSION_ID, 0, False),
    "domain_session_index": (_clean_index, proto.DOMAIN_SESSION_INDEX, 0, False),
    "network_user_id": (
        _clean_id,
        proto.TRACKER_NETWORK_USER_ID,
        _NETWORK_USER_ID_MAX,
        True,
    ),
}
"""Each keyword of :meth:`Subject.from_untrusted`: its cleaner, its wire name, its
length limit, and whether it is plain text (checked inline when clean)."""
_ABSENT: Final[Mapping[str, object]] = dict.fromkeys(
    f.name for f in dataclasses.fields(Subject) if f.init
)
_STATS.update({(name, outcome): 0 for name in _UNTRUSTED for outcome in _OUTCOMES})
