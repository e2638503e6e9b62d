"""The retry policy: which answers are retried, and how long to wait.

:class:`Retry` is a frozen value (docs/protocol.md 1.4): 2xx succeed; 400, 401, 403,
410 and 422 fail at once; 429, 5xx, network errors and by default every other
status are retried with capped, jittered exponential back-off, waiting at least
``Retry-After`` (:func:`parse_retry_after`) when the answer has one. It is
consulted on the emitter's worker thread.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import enum
import math
import random
import time
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Final

from snowplow_logging._checks import (
    check_count,
    check_flag,
    check_seconds,
    unknown_setting,
)
from snowplow_logging._exceptions import ConfigurationError, ConfigurationTypeError

__all__ = ["NO_RETRY_CODES", "Outcome", "Retry", "check_retry", "parse_retry_after"]

NO_RETRY_CODES: Final = frozenset({400, 401, 403, 410, 422})
"""Statuses meaning "this request will never succeed" (docs/protocol.md 1.4)."""
_MAX_EXPONENT: Final = 60
_MAX_DIGITS: Final = 15  # more seconds than any max_delay
_SUCCESS_CLASS: Final = 2
_SERVER_ERROR_CLASS: Final = 5
_CLIENT_ERROR_CLASS: Final = 4
_TOO_MANY_REQUESTS: Final = 429


class Outcome(enum.Enum):
    """What to do with a request after an attempt."""

    SUCCESS = "success"
    RETRY = "retry"
    FAIL = "fail"


def _check_codes(name: str, value: object) -> frozenset[int]:
    codes = (
        frozenset(value) if isinstance(value, set | frozenset | list | tuple) else None
    )
    if codes is None or any(type(code) is not int for code in codes):
        msg = f"'{name}' must be a set of int HTTP status codes (got {value!r})."
        raise ConfigurationTypeError(msg)
    bad = sorted(code for code in codes if not 300 <= code <= 599)  # noqa: PLR2004
    if bad:
        msg = (
            f"'{name}' must hold 3xx-5xx status codes; 2xx always succeed (got {bad})."
        )
        raise ConfigurationError(msg)
    return codes


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Retry:
    """How failed requests are retried: a frozen value, safe to share.

    A request is retried after a network error or timeout, after 429 or any
    5xx, and after a 3xx (docs/protocol.md 1.4). Any other 4xx fails the request's
    events at once (issue #4: the request is wrong and will not improve) unless
    ``retry_other`` is true, as in the official trackers. Statuses in
    ``no_retry_codes`` always fail at once.

    The n-th consecutive failure waits ``min(initial_delay * 2**(n-1) +
    uniform(0, jitter), max_delay)`` seconds, or longer if the response had a
    ``Retry-After`` (bounded by ``max_delay``). The count resets after a success.

    Args:
        max_attempts: attempts per request, the first included; ``None`` (the
            default) retries until delivered or until ``close()`` gives up.
            ``1`` disables retry, as does :meth:`disabled`.
        initial_delay: seconds before the first retry, before jitter.
        max_delay: the longest wait between two attempts.
        jitter: up to this many random seconds are added to each wait.
        retry_codes: extra statuses to retry even when ``retry_other`` is false
            (any set; stored as a frozenset).
        no_retry_codes: statuses that are final failures.
        retry_other: also retry 4xx statuses found in neither set.
        respect_retry_after: wait at least ``Retry-After`` when the response has it.

    Numbers and bools given as strings (``"5"``, ``"0.5"``, ``"true"``), as
    configuration files give them, are converted. An emitter's ``retry``
    setting also takes these fields as a plain mapping (``{"max_attempts": 5,
    "initial_delay": 0.5}``), so that ``logging.config.dictConfig`` can set it.

    Raises:
        ConfigurationError: a value cannot work, or a code is in both sets.
        ConfigurationTypeError: a value has the wrong type.

    .. versionadded:: 0.1.0
    """

    max_attempts: int | None = None
    initial_delay: float = 0.5
    max_delay: float = 60.0
    jitter: float = 0.5
    retry_codes: AbstractSet[int] = frozenset()
    no_retry_codes: AbstractSet[int] = NO_RETRY_CODES
    retry_other: bool = False
    respect_retry_after: bool = True

    def __post_init__(self) -> None:
        # Strings from configuration files are converted ("5", "0.5", "true").
        checked: dict[str, object] = {
            "max_attempts": None
            if self.max_attempts is None
            else check_count("max_attempts", self.max_attempts),
            "initial_delay": check_seconds("initial_delay", self.initial_delay),
            "jitter": check_seconds("jitter", self.jitter),
            "max_delay": check_seconds("max_delay", self.max_delay),
            "retry_codes": _check_codes("retry_codes", self.retry_codes),
            "no_retry_codes": _check_codes("no_retry_codes", self.no_retry_codes),
            "retry_other": check_flag("retry_other", self.retry_other),
            "respect_retry_after": check_flag(
                "respect_retry_after", self.respect_retry_after
            ),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)
        if self.max_delay < self.initial_delay:
            msg = (
                f"'max_delay' must be >= 'initial_delay' ({self.initial_delay!r}) "
                f"(got {self.max_delay!r})."
            )
            raise ConfigurationError(msg)
        both = sorted(set(self.retry_codes) & set(self.no_retry_codes))
        if both:
            msg = f"a status cannot be in both retry sets (got {both})."
            raise ConfigurationError(msg)

    @classmethod
    def disabled(cls) -> Retry:
        """A policy that never retries: every failed request fails its events."""
        return cls(max_attempts=1)

    def classify(self, status: int) -> Outcome:
        """Whether a response with ``status`` succeeded, is retried or failed."""
        if status // 100 == _SUCCESS_CLASS:
            return Outcome.SUCCESS
        if status in self.no_retry_codes:
            return Outcome.FAIL
        if status in self.retry_codes or status == _TOO_MANY_REQUESTS:
            return Outcome.RETRY
        if status // 100 == _SERVER_ERROR_CLASS:
            return Outcome.RETRY
        if status // 100 == _CLIENT_ERROR_CLASS:
            return Outcome.RETRY if self.retry_other else Outcome.FAIL
        return Outcome.RETRY

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds to wait after ``failures`` consecutive failed attempts (>= 1)."""
        exponent = min(max(failures, 1) - 1, _MAX_EXPONENT)
        # Jitter spreads retries from many processes; it needs no crypto RNG.
        jitter = random.uniform(0.0, self.jitter) if self.jitter else 0.0  # noqa: S311
        wait = min(self.initial_delay * 2.0**exponent + jitter, self.max_delay)
        if retry_after is not None and self.respect_retry_after:
            wait = max(wait, min(retry_after, self.max_delay))
        return wait


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP date.

    Returns:
        ``None`` for a missing or unparsable value; a date in the past gives 0.
    """
    if not value:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        # A header is outside data: an absurd length is a long wait, never an
        # overflow (every wait is capped by the policy's max_delay anyway).
        return float(int(text)) if len(text) <= _MAX_DIGITS else math.inf
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; parsedate gives naive for "-0000"
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def check_retry(retry: object) -> Retry:
    """The policy ``retry`` stands for.

    A :class:`Retry`; ``None`` for the default policy; a mapping of
    :class:`Retry`'s fields (what ``logging.config.dictConfig`` can give:
    ``{"max_attempts": 5, "initial_delay": "0.5"}``); or a bool, ``False``
    (or ``"false"``, ``"no"``, ``"off"``, ``"0"``) for :meth:`Retry.disabled`
    and ``True`` for the default.

    Raises:
        ConfigurationError: a field has a value that cannot work.
        ConfigurationTypeError: anything else, or a field :class:`Retry` does
            not have (answered with the closest field name).
    """
    if retry is None:
        return Retry()
    if isinstance(retry, Retry):
        return retry
    if isinstance(retry, Mapping):
        fields = {field.name for field in dataclasses.fields(Retry)}
        for key in retry:
            if not isinstance(key, str) or key not in fields:
                raise unknown_setting("'retry'", str(key), fields)
        return Retry(**retry)
    if isinstance(retry, bool | str):
        try:
            return Retry() if check_flag("retry", retry) else Retry.disabled()
        except ConfigurationTypeError:
            pass
    msg = (
        "'retry' must be a Retry, a mapping of its fields such as "
        f"{{'max_attempts': 5}}, a bool or None (got {retry!r})."
    )
    raise ConfigurationTypeError(msg)
