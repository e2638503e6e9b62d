"""Retry: classification of answers, back-off, Retry-After, validation."""

from __future__ import annotations

import dataclasses
import email.utils
import re

import pytest

from snowplow_logging import ConfigurationError, ConfigurationTypeError, Retry
from snowplow_logging._retry import Outcome, parse_retry_after


class TestRetry:
    """Retry is a frozen value: classification, back-off, validation."""

    @pytest.mark.parametrize(
        ("status", "expected"),
        [
            (200, Outcome.SUCCESS),
            (204, Outcome.SUCCESS),
            (400, Outcome.FAIL),
            (401, Outcome.FAIL),
            (403, Outcome.FAIL),
            (410, Outcome.FAIL),
            (422, Outcome.FAIL),
            (429, Outcome.RETRY),
            (500, Outcome.RETRY),
            (503, Outcome.RETRY),
            (302, Outcome.RETRY),
            (404, Outcome.FAIL),
            (418, Outcome.FAIL),
        ],
    )
    def test_default_classification(self, status: int, expected: Outcome) -> None:
        """2xx succeed; 429, 5xx and 3xx are retried; every other 4xx fails at once."""
        assert Retry().classify(status) == expected

    def test_retry_codes_and_retry_other(self) -> None:
        """retry_codes retries a listed 4xx; retry_other retries every unlisted 4xx."""
        listed = Retry(retry_codes={404})
        everything = Retry(retry_other=True)

        assert [listed.classify(s) for s in (302, 404, 408, 429, 502)] == [
            Outcome.RETRY,
            Outcome.RETRY,
            Outcome.FAIL,
            Outcome.RETRY,
            Outcome.RETRY,
        ]
        assert [everything.classify(s) for s in (400, 404, 408)] == [
            Outcome.FAIL,
            Outcome.RETRY,
            Outcome.RETRY,
        ]

    def test_no_retry_codes_win_over_5xx(self) -> None:
        """A 5xx listed in no_retry_codes fails at once."""
        assert Retry(no_retry_codes={501}).classify(501) == Outcome.FAIL

    def test_sets_become_frozensets(self) -> None:
        """Code sets are stored as frozensets; defaults are never shared mutables."""
        retry = Retry(retry_codes={408})

        assert retry.retry_codes == frozenset({408})
        assert isinstance(retry.retry_codes, frozenset)
        assert isinstance(Retry().no_retry_codes, frozenset)
        assert Retry().no_retry_codes == frozenset({400, 401, 403, 410, 422})

    def test_frozen(self) -> None:
        """A Retry cannot be changed after construction."""
        retry = Retry()

        with pytest.raises(dataclasses.FrozenInstanceError):
            retry.max_delay = 1.0  # type: ignore[misc]

    def test_disabled(self) -> None:
        """Retry.disabled() allows one attempt only."""
        assert Retry.disabled().max_attempts == 1

    def test_backoff_doubles_and_caps(self) -> None:
        """Without jitter the delay doubles from initial_delay up to max_delay."""
        retry = Retry(initial_delay=0.5, max_delay=3.0, jitter=0.0)

        assert [retry.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
        assert retry.delay(10_000) == 3.0

    def test_jitter_bounds(self) -> None:
        """Jitter adds between 0 and jitter seconds."""
        retry = Retry(initial_delay=1.0, jitter=0.5)
        delays = [retry.delay(1) for _ in range(200)]

        assert all(1.0 <= d <= 1.5 for d in delays)
        assert len(set(delays)) > 1

    def test_first_retry_within_one_second(self) -> None:
        """The default first retry comes within 1 s (docs/protocol.md 1.4)."""
        assert all(Retry().delay(1) <= 1.0 for _ in range(100))

    def test_retry_after_raises_the_delay_up_to_max_delay(self) -> None:
        """Retry-After lengthens a wait, but never beyond max_delay."""
        retry = Retry(initial_delay=0.1, max_delay=10.0, jitter=0.0)

        assert retry.delay(1, retry_after=4.0) == 4.0
        assert retry.delay(1, retry_after=3600.0) == 10.0
        assert retry.delay(1, retry_after=0.0) == 0.1
        assert Retry(respect_retry_after=False, jitter=0.0).delay(1, 30.0) == 0.5

    @pytest.mark.parametrize(
        ("kwargs", "error", "message"),
        [
            (
                {"max_attempts": 0},
                ConfigurationError,
                "'max_attempts' must be > 0 (got 0).",
            ),
            ({"max_attempts": 1.5}, ConfigurationTypeError, "'max_attempts'"),
            ({"initial_delay": -1}, ConfigurationError, "'initial_delay' must be"),
            (
                {"max_delay": "one"},
                ConfigurationTypeError,
                "'max_delay' must be a number",
            ),
            (
                {"jitter": float("nan")},
                ConfigurationError,
                "'jitter' must be >= 0 and finite (got nan).",
            ),
            (
                {"initial_delay": 5.0, "max_delay": 1.0},
                ConfigurationError,
                "'max_delay'",
            ),
            ({"retry_codes": {200}}, ConfigurationError, "2xx always succeed"),
            ({"retry_codes": {"500"}}, ConfigurationTypeError, "'retry_codes' must be"),
            ({"no_retry_codes": 400}, ConfigurationTypeError, "'no_retry_codes'"),
            ({"retry_codes": {400}}, ConfigurationError, "both retry sets (got [400])"),
            (
                {"retry_other": 1},
                ConfigurationTypeError,
                "'retry_other' must be a bool",
            ),
        ],
    )
    def test_invalid(
        self, kwargs: dict[str, object], error: type[Exception], message: str
    ) -> None:
        """Bad settings raise at construction with the field's name."""
        with pytest.raises(error, match=re.escape(message)):
            Retry(**kwargs)  # type: ignore[arg-type]


class TestParseRetryAfter:
    """Retry-After: delta-seconds or an HTTP date; anything else is ignored."""

    def test_delta_seconds(self) -> None:
        """A number of seconds is returned as is."""
        assert parse_retry_after("120") == 120.0
        assert parse_retry_after(" 0 ") == 0.0

    def test_http_date(self) -> None:
        """An HTTP date gives the seconds until then."""
        value = email.utils.formatdate(1_000_030.0, usegmt=True)

        assert parse_retry_after(value, now=1_000_000.0) == 30.0

    def test_date_in_the_past(self) -> None:
        """A past date means no extra wait."""
        value = email.utils.formatdate(1_000_000.0, usegmt=True)

        assert parse_retry_after(value, now=2_000_000.0) == 0.0

    @pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5", "Mon, 99 Foo"])
    def test_unparsable(self, value: str | None) -> None:
        """Missing or malformed values are ignored."""
        assert parse_retry_after(value) is None
