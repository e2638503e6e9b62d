"""Shared fixtures: logging state restored per test, Iglu validation of payloads."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from snowplow_logging._validate import CheckedEvent, IgluResolver, check_payload

TEST_SCHEMAS = Path(__file__).parent / "iglu"
"""Iglu schemas of the test vendor ``com.acme``, beside the bundled ones."""

AssertValid = Callable[[Mapping[str, object]], CheckedEvent]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Put the root and library loggers back as they were after each test."""
    root = logging.getLogger()
    library = logging.getLogger("snowplow_logging")
    saved = (root.handlers[:], root.level, library.handlers[:], library.level)
    yield
    root.handlers[:], library.handlers[:] = saved[0], saved[2]
    root.setLevel(saved[1])
    library.setLevel(saved[3])


@pytest.fixture(name="resolver", scope="session")
def _resolver() -> IgluResolver:
    return IgluResolver([TEST_SCHEMAS])


@pytest.fixture(name="assert_valid", scope="session")
def _assert_valid(resolver: IgluResolver) -> AssertValid:
    """A function asserting a payload passes the pipeline's rules and schemas."""

    def check(payload: Mapping[str, object]) -> CheckedEvent:
        checked = check_payload(payload, resolver)
        assert checked.errors == [], (payload, checked.errors)
        return checked

    return check
