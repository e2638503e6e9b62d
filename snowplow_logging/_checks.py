"""Checks of numeric and boolean settings, shared by every emitter, handler and policy.

Settings often come as text: ``logging.config.dictConfig`` fed from an INI or
YAML file, or an environment variable. Where a setting is numeric or boolean,
its string is converted (``"500"``, ``"1.5"``, ``"true"``/``"no"``); anything
else is refused with a message naming the setting, what it must be and what
came in.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable
from typing import Final

from snowplow_logging._exceptions import (
    ConfigurationError,
    ConfigurationTypeError,
    InvalidEventError,
    InvalidEventTypeError,
)

__all__ = [
    "check_callable",
    "check_count",
    "check_flag",
    "check_seconds",
    "check_setting",
    "closest",
    "unknown_setting",
]

_INTEGER: Final = re.compile(r"[+-]?[0-9]+")
_FLAGS: Final = {
    "true": True,
    "yes": True,
    "on": True,
    "1": True,
    "false": False,
    "no": False,
    "off": False,
    "0": False,
}


def _text(value: str) -> str:
    """A setting's string as written in a file or variable: surrounding spaces off."""
    return value.strip()


def check_seconds(
    name: str, value: object, *, positive: bool = False, finite: bool = True
) -> float:
    """A number of seconds, ``>= 0`` (``> 0`` if ``positive``), or raise.

    A string holding a number (``"1.5"``, as dictConfig from an INI or YAML
    file, or an environment variable, gives it) is converted. ``finite=False``
    also accepts ``inf`` (wait without end).
    """
    number = value
    if isinstance(value, str):
        try:
            number = float(_text(value))
        except ValueError:
            msg = f"'{name}' must be a number of seconds, such as 1.5 or \"1.5\" (got {value!r})."
            raise ConfigurationTypeError(msg) from None
    if isinstance(number, bool) or not isinstance(number, int | float):
        msg = f"'{name}' must be a number of seconds (got {value!r})."
        raise ConfigurationTypeError(msg)
    bad = math.isnan(number) or (finite and not math.isfinite(number))
    if bad or not (number > 0 if positive else number >= 0):
        rule = "> 0" if positive else ">= 0"
        rule += " and finite" if finite else ""
        msg = f"'{name}' must be {rule} (got {value!r})."
        raise ConfigurationError(msg)
    return float(number)


def check_count(name: str, value: object, *, minimum: int = 1) -> int:
    """An int of at least ``minimum``, or raise.

    A string of digits (``"500"``, as dictConfig from an INI or YAML file, or
    an environment variable, gives it) is converted.
    """
    number = value
    if isinstance(value, str):
        text = _text(value)
        if _INTEGER.fullmatch(text) is None:
            msg = f"'{name}' must be an int, such as 500 or \"500\" (got {value!r})."
            raise ConfigurationTypeError(msg)
        number = int(text)
    if type(number) is not int:
        msg = f"'{name}' must be an int (got {value!r})."
        raise ConfigurationTypeError(msg)
    if number < minimum:
        msg = f"'{name}' must be > {minimum - 1} (got {value!r})."
        raise ConfigurationError(msg)
    return number


def check_flag(name: str, value: object) -> bool:
    """A bool, or raise.

    The strings of configuration files and environment variables are
    converted, in any case: ``"true"``, ``"yes"``, ``"on"``, ``"1"`` and
    ``"false"``, ``"no"``, ``"off"``, ``"0"``.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        flag = _FLAGS.get(_text(value).lower())
        if flag is not None:
            return flag
    msg = (
        f"'{name}' must be a bool: True or False, or one of the strings "
        f"{', '.join(repr(key) for key in _FLAGS)} (got {value!r})."
    )
    raise ConfigurationTypeError(msg)


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


def closest(name: str, valid: Iterable[str]) -> str | None:
    """The valid name closest to a misspelt ``name``, or ``None`` if none is close."""
    folded = {item.lower(): item for item in valid}
    found = difflib.get_close_matches(name.lower(), list(folded), n=1, cutoff=0.6)
    return folded[found[0]] if found else None


def unknown_setting(
    owner: str, name: str, valid: Iterable[str]
) -> ConfigurationTypeError:
    """The error for a setting ``owner`` does not have, with the closest valid name."""
    names = sorted(valid)
    near = closest(name, names)
    hint = (
        f"did you mean {near!r}?"
        if near is not None
        else f"the settings are {', '.join(names)}."
    )
    return ConfigurationTypeError(f"{owner} has no setting {name!r}: {hint}")
