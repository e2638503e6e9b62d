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
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, TypedDict, Unpack

from snowplow_logging import _format as fmt
from snowplow_logging import _protocol as proto
from snowplow_logging import _untrusted as untrusted
from snowplow_logging._exceptions import InvalidEventTypeError

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
        wire = untrusted.fit(values, attrs)
        return cls._from_fitted(attrs, wire)

    @classmethod
    def _from_fitted(cls, attrs: dict[str, object], wire: dict[str, str]) -> Subject:
        """A subject of values already fitted (:func:`untrusted.fit`), checked no more.

        Args:
            attrs: a value for every constructor keyword (``None`` for unset),
                each one the constructor accepts.
            wire: the wire fields of those values, kept as the subject's fields.
        """
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
        return untrusted.stats()

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


_ABSENT: Final[Mapping[str, object]] = dict.fromkeys(
    f.name for f in dataclasses.fields(Subject) if f.init
)
_set: Final = object.__setattr__

# Names other modules and tests read here, from before the fitting moved out.
_UNTRUSTED: Final = untrusted.FIELDS
