"""``SnowplowHandler``'s settings: checked, then made into the tracker it sends through.

Everything here runs once, when the handler is built (by code or by
``logging.config.dictConfig``), so that a programmer's mistake fails there,
naming the setting, what was expected and what came in.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Any, Final, NamedTuple

from snowplow_logging import _environment as env
from snowplow_logging import _format as fmt
from snowplow_logging import _protocol as proto
from snowplow_logging._checks import (
    check_flag,
    check_seconds,
    check_setting,
    unknown_setting,
)
from snowplow_logging._emitter import Emitter, sending_disabled
from snowplow_logging._events import SelfDescribingJson
from snowplow_logging._exceptions import ConfigurationError
from snowplow_logging._tracker import Tracker

__all__ = [
    "Options",
    "TrackerSettings",
    "application_entity",
    "build_tracker",
    "check_emitter_options",
    "check_options",
    "make_tracker",
    "tracker_from_environment",
]


class Options:
    """The handler's own checked options."""

    __slots__ = ("capture_exceptions", "flush_timeout", "tag")

    def __init__(
        self, tag: object, capture_exceptions: object, flush_timeout: object
    ) -> None:
        if not isinstance(tag, str) or not tag.isidentifier():
            msg = f"'tag' must be a record attribute name such as 'snowplow' (got {tag!r})."
            raise ConfigurationError(msg)
        self.tag: str = tag
        self.capture_exceptions = check_flag("capture_exceptions", capture_exceptions)
        self.flush_timeout = check_seconds("flush_timeout", flush_timeout, finite=False)


def check_options(
    tag: object, capture_exceptions: object, flush_timeout: object
) -> Options:
    """The handler's own options, checked and converted.

    Raises:
        ConfigurationError: a value cannot work.
        ConfigurationTypeError: a value has the wrong type.
    """
    return Options(tag, capture_exceptions, flush_timeout)


def application_entity(version: str | None) -> tuple[SelfDescribingJson, ...]:
    """The ``application`` entity for ``app_version``, or nothing without one."""
    if version is None:
        return ()
    checked = check_setting(
        fmt.format_text, "app_version", version, required=True, max_length=255
    )
    return (
        SelfDescribingJson(schema=proto.APPLICATION_SCHEMA, data={"version": checked}),
    )


_EMITTER_SETTINGS: Final = frozenset(inspect.signature(Emitter).parameters)
"""What ``**emitter_options`` may hold: ``Emitter``'s own settings."""
_TRACKER_OPTIONS: Final = ("before_send", "trace_context")
"""``Tracker`` settings ``**emitter_options`` may hold too, passed to the tracker."""


class TrackerSettings(NamedTuple):
    """The settings of a tracker a front door builds for itself."""

    app_id: str | None
    namespace: str | None
    platform: str
    encode_base64: bool


def check_emitter_options(
    owner: str, options: Mapping[str, object], own: Iterable[str]
) -> None:
    """Refuse a setting neither ``owner`` nor ``Emitter`` has, naming the closest.

    Args:
        owner: the class, for the message.
        options: the settings ``owner`` passes on to its emitter.
        own: ``owner``'s own setting names, suggested too.
    """
    for name in options:
        if name not in _EMITTER_SETTINGS and name not in _TRACKER_OPTIONS:
            raise unknown_setting(
                owner, name, _EMITTER_SETTINGS | {*own, *_TRACKER_OPTIONS}
            )


def build_tracker(
    endpoint: str | None,
    settings: TrackerSettings,
    emitter_options: Mapping[str, object],
) -> Tracker:
    """A tracker and its ``Emitter`` from settings, else from the environment.

    ``app_id`` and ``namespace`` left out are read from ``SNOWPLOW_APP_ID``
    and ``SNOWPLOW_NAMESPACE``; the emitter reads its own variables.

    Raises:
        ConfigurationError: no endpoint, in code or ``SNOWPLOW_ENDPOINT``
            (unless sending is disabled), or a value that cannot work.
        ConfigurationTypeError: a value has the wrong type.
    """
    options: dict[str, Any] = dict(emitter_options)
    tracker_options = {k: options.pop(k) for k in _TRACKER_OPTIONS if k in options}
    if env.read("endpoint", endpoint).value is None and not sending_disabled(
        options.get("disabled")
    ):
        msg = (
            "'endpoint' (the collector URL) or 'tracker' is required (got neither; "
            f"{env.VARIABLES['endpoint']} is not set either)."
        )
        raise ConfigurationError(msg)
    emitter = Emitter(endpoint, **options)
    return Tracker(
        emitters=emitter,
        app_id=env.text("app_id", settings.app_id),
        namespace=env.text("namespace", settings.namespace),
        platform=settings.platform,
        encode_base64=check_flag("encode_base64", settings.encode_base64),
        **tracker_options,
    )


def tracker_from_environment() -> Tracker:
    """A tracker and ``Emitter`` built from the environment alone.

    Raises:
        ConfigurationError: ``SNOWPLOW_ENDPOINT`` is not set (and sending is
            not disabled), or a variable has a value that cannot work.
        ConfigurationTypeError: a variable's value has the wrong form.
    """
    return build_tracker(None, TrackerSettings(None, None, "srv", True), {})


def make_tracker(
    tracker: Tracker | None,
    endpoint: str | None,
    settings: TrackerSettings,
    emitter_options: Mapping[str, object],
    own: Iterable[str] = (),
) -> Tracker:
    """The given tracker, or one built from ``endpoint`` and the emitter settings.

    ``own`` are the handler's own setting names, suggested for a misspelt one.

    Raises:
        ConfigurationError: both ``tracker`` and emitter settings, or neither
            ``tracker`` nor an endpoint.
        ConfigurationTypeError: a setting neither the handler nor the emitter
            has (with the closest name), or a value of the wrong type.
    """
    check_emitter_options("SnowplowHandler", emitter_options, own)
    if tracker is None:
        return build_tracker(endpoint, settings, emitter_options)
    if endpoint is not None or emitter_options:
        extra = sorted(["endpoint"] if endpoint is not None else []) + sorted(
            emitter_options
        )
        msg = f"give either 'tracker' or 'endpoint' with emitter settings, not both (got tracker and {', '.join(extra)})."
        raise ConfigurationError(msg)
    fmt.check_instance("tracker", tracker, Tracker)
    return tracker
