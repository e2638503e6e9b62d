"""A GET event over the collector's request-line limit fails with the reason, unsent."""

from __future__ import annotations

import pytest

from snowplow_logging import Emitter, Retry
from snowplow_logging._delivery.http import RequestLineTooLongError, get_within
from snowplow_logging._protocol import GET_PATH, GET_REQUEST_LINE_MAX
from tests.collector import Collector, LogWatch, se_payload

FAST = Retry(initial_delay=0.01, max_delay=0.05, jitter=0.0)


class TestRequestLine:
    def test_too_long_fails_unsent(self, collector: Collector, logs: LogWatch) -> None:
        """4,000 'é' fit se_la (4,096) but take 24,000 bytes percent-encoded."""
        failures: list[tuple[int, list[str]]] = []
        emitter = Emitter(
            collector.url,
            method="get",
            retry=FAST,
            flush_interval=60,
            on_failure=lambda sent, failed: failures.append(
                (sent, [p["se_la"][:3] for p in failed])
            ),
        )
        try:
            emitter.input(se_payload(se_la="é" * 4000))
            emitter.input(se_payload(se_la="small"))
            assert emitter.flush(timeout=10)
            stats = emitter.stats
        finally:
            emitter.close()

        assert [r.events()[0]["se_la"] for r in collector.requests] == ["small"]
        assert (stats["sent"], stats["failed"]) == (1, 1)
        assert failures == [(0, ["ééé"])]  # on_failure has it, as any failed event
        assert logs.wait_for(
            f"over the collector's {GET_REQUEST_LINE_MAX}-byte limit"
        ), logs.messages()

    def test_under_the_limit_is_sent(self, collector: Collector) -> None:
        """A long ASCII GET that fits is sent whole."""
        emitter = Emitter(collector.url, method="get", retry=FAST, flush_interval=60)
        try:
            emitter.input(
                se_payload(se_la="a" * 4096, se_pr="b" * 1000, url="u" * 4096)
            )
            assert emitter.flush(timeout=10)
        finally:
            emitter.close()

        (request,) = collector.requests
        assert request.events()[0]["se_la"] == "a" * 4096

    def test_the_budget_counts_the_whole_line(self) -> None:
        """The limit is the request line: method, path, query, stm and HTTP version."""
        prepare = get_within(GET_PATH)
        fixed = len("GET ") + len(GET_PATH) + len("?") + len(" HTTP/1.1") + 15
        base = se_payload()
        used = len(prepare(dict(base)).head)  # the query without a label

        room = GET_REQUEST_LINE_MAX - fixed - used - len("&se_la=")
        prepare(se_payload(se_la="x" * room))  # exactly at the limit: kept
        with pytest.raises(RequestLineTooLongError, match="request line of"):
            prepare(se_payload(se_la="x" * (room + 1)))
