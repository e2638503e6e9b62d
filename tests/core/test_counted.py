"""Counts in the library's messages read "1 event", "2 events"."""

from __future__ import annotations

import pytest

from snowplow_logging import Emitter, Retry
from snowplow_logging._diagnostics import counted
from tests.collector import Collector, Reply


def test_counted_is_singular_for_one_only() -> None:
    assert [counted(n, "event") for n in (0, 1, 2)] == [
        "0 events",
        "1 event",
        "2 events",
    ]


def test_one_failed_event_is_one_event(caplog: pytest.LogCaptureFixture) -> None:
    with Collector() as collector:
        collector.default = Reply(status=400)
        emitter = Emitter(collector.url, retry=Retry(max_attempts=1))
        emitter.input({"e": "pv", "eid": "1", "p": "srv", "tv": "t"})
        assert emitter.flush(timeout=30)
        emitter.close()

    assert ": 1 event failed (HTTP 400)" in caplog.text
    assert "1 events" not in caplog.text
