"""An https endpoint whose server speaks plain HTTP gets a hint, once (#15)."""

from __future__ import annotations

import pytest

from snowplow_logging import Emitter, Retry
from tests.collector import Collector


def test_tls_to_a_plain_http_collector_says_to_use_http(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures: list[tuple[int, int]] = []
    with Collector() as collector:
        endpoint = collector.url.replace("http://", "https://")
        emitter = Emitter(
            endpoint,
            retry=Retry(max_attempts=1),
            on_failure=lambda sent, failed: failures.append((sent, len(failed))),
        )
        for batch in range(3):  # three failed requests, one hint
            emitter.input({"e": "pv", "eid": str(batch), "p": "srv", "tv": "t"})
            assert emitter.flush(timeout=30)
        emitter.close()
        plain = f"use {collector.url}/com.snowplowanalytics.snowplow/tp2"

    hints = [r for r in caplog.records if "should start with http://" in r.getMessage()]
    assert len(hints) == 1
    assert emitter.stats["failed"] == 3
    assert failures == [(0, 1)] * 3
    assert plain in caplog.text  # the failure warning carries the URL to use
    assert collector.requests == []  # the TLS hello is not an HTTP request
