"""Checks of numeric settings, shared by every emitter and the retry policy."""

from __future__ import annotations

import math
from collections.abc import Callable

from snowplow_logging._exceptions import (
    ConfigurationError,
    ConfigurationTypeError,
    InvalidEventError,
    InvalidEventTypeError,
)

__all__ = ["check_callable", "check_count", "check_seconds", "check_setting"]


def check_seconds(name: str, value: object, *, positive: bool = False) -> float:
    """A finite number of seconds, ``>= 0`` (``> 0`` if ``positive``), or raise."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"'{name}' must be a number of seconds (got {value!r})."
        raise ConfigurationTypeError(msg)
    if not (value > 0 if positive else value >= 0) or not math.isfinite(value):
        rule = "> 0" if positive else ">= 0"
        msg = f"'{name}' must be {rule} and finite (got {value!r})."
        raise ConfigurationError(msg)
    return float(value)


def check_count(name: str, value: object, *, minimum: int = 1) -> int:
    """An int of at least ``minimum``, or raise."""
    if type(value) is not int:
        msg = f"'{name}' must be an int (got {value!r})."
        raise ConfigurationTypeError(msg)
    if value < minimum:
        msg = f"'{name}' must be > {minimum - 1} (got {value!r})."
        raise ConfigurationError(msg)
    return value


def check_callable(name: str, value: object) -> None:
    """``value`` is callable or ``None``, or raise ``ConfigurationTypeError``."""
    if value is not None and not callable(value):
        msg = f"{name!r} must be callable or None (got {value!r})."
        raise ConfigurationTypeError(msg)


def check_setting(
    check: Callable[..., str | None],
    name: str,
    value: object,
    *args: object,
    **kw: object,
) -> str | None:
    """Run an event-field check on a setting, re-raising as a configuration error."""
    try:
        return check(name, value, *args, **kw)
    except InvalidEventTypeError as exc:
        raise ConfigurationTypeError(str(exc)) from None
    except InvalidEventError as exc:
        raise ConfigurationError(str(exc)) from None
