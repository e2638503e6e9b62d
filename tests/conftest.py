"""Shared fixtures: logging state restored per test, Iglu validation of payloads."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from snowplow_logging._delivery import closing
from snowplow_logging.micro import CheckedEvent, IgluResolver, check_payload
from snowplow_logging.testing import decode_self_describing_event
from tests.collector import LogWatch

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


@pytest.fixture(autouse=True)
def _close_leftover_emitters() -> Iterator[None]:
    """Close, at once, the emitters a test built and left open.

    One still retrying a closed server's port would send into whatever
    server of a later test gets that port (the wire tests check every
    request line a server sees).
    """
    before = {id(emitter) for emitter in closing.live_emitters()}
    yield
    left = [e for e in closing.live_emitters() if id(e) not in before]
    if left:
        closing.close_emitters(left, time.monotonic(), final=False)


@pytest.fixture(name="logs")
def _logs() -> Iterator[LogWatch]:
    """Every record of the ``snowplow_logging`` logger during the test."""
    watch = LogWatch()
    logger = logging.getLogger("snowplow_logging")
    logger.addHandler(watch)
    logger.setLevel(logging.DEBUG)  # _restore_logging puts the level back
    yield watch
    logger.removeHandler(watch)


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


APP_ERROR = "iglu:com.snowplowanalytics.snowplow/application_error/jsonschema/1-0-2"


def sd_event(payload: Mapping[str, str]) -> dict[str, object]:
    """The self-describing event a payload carries (``ue_px`` or ``ue_pr``)."""
    event = decode_self_describing_event(dict(payload))
    assert event is not None
    return event


def raise_(exc: BaseException) -> None:
    """Raise ``exc`` one frame down, so that tracebacks have a caller."""
    raise exc


def assert_chained_app_error(
    payload: Mapping[str, str], *, message: str, file_name: str, class_name: str
) -> dict[str, object]:
    """Assert ``payload`` is the application_error of ``ValueError("bad order")``
    raised from ``KeyError("sku")``.

    Returns the event's data for further checks.
    """
    event = sd_event(payload)
    data = event["data"]
    assert isinstance(data, dict)
    assert event["schema"] == APP_ERROR
    assert data["programmingLanguage"] == "PYTHON"
    assert data["message"] == message
    assert data["exceptionName"] == "ValueError"
    assert data["className"] == class_name
    assert data["fileName"] == file_name
    assert data["threadName"] == threading.current_thread().name
    assert data["isFatal"] is False
    assert "raise ValueError" in data["stackTrace"]
    assert "KeyError: 'sku'" in data["causeStackTrace"]
    return data
