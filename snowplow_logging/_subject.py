"""The subject of events: who and what device an event is about (docs/protocol.md 2.2, 6).

A :class:`Subject` is an immutable value. Its ``set_*`` methods return a new
subject, so one shared by many threads can never be rewritten under them
(snowplow-python-tracker #158, #347). Only the fields a subject sets are sent:
a per-event subject overrides just those fields of the tracker's subject.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from snowplow_logging import _format as fmt
from snowplow_logging import _protocol as proto
from snowplow_logging._exceptions import InvalidEventTypeError

if TYPE_CHECKING:
    import uuid

__all__ = ["Subject"]

# Length limits from the protocol table, read once here (#13).
_USER_ID_MAX: Final = proto.max_length(proto.USER_ID)
_TIMEZONE_MAX: Final = proto.max_length(proto.TIMEZONE)
_LANG_MAX: Final = proto.max_length(proto.LANGUAGE)
_IP_ADDRESS_MAX: Final = proto.max_length(proto.IP_ADDRESS)
_USERAGENT_MAX: Final = proto.max_length(proto.USERAGENT)
_DOMAIN_USER_ID_MAX: Final = proto.max_length(proto.DOMAIN_USER_ID)
_NETWORK_USER_ID_MAX: Final = proto.max_length(proto.TRACKER_NETWORK_USER_ID)


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
