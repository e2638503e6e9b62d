"""Emitter against a real HTTP collector: shapes, batching, retry, bounds, lifecycle."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest

from snowplow_logging import (
    ConfigurationError,
    ConfigurationTypeError,
    Emitter,
    Retry,
    SelfDescribingJson,
    StructuredEvent,
    Tracker,
    set_exit_timeout,
)
from snowplow_logging._protocol import GET_PATH, POST_PATH
from snowplow_logging._tracker import PendingEvent
from snowplow_logging.testing import decode_entities
from tests.collector import (
    Collector,
    LogWatch,
    Reply,
    blackhole,
    check_event,
    check_post_body,
    free_port,
    se_payload,
)

FAST = Retry(initial_delay=0.01, max_delay=0.05, jitter=0.0)
MakeEmitter = Callable[..., Emitter]


@pytest.fixture(name="make")
def _make(collector: Collector) -> Iterator[MakeEmitter]:
    """Build emitters (to the collector by default) and close them afterwards."""
    made: list[Emitter] = []

    def make(endpoint: str | None = None, **kwargs: Any) -> Emitter:
        kwargs.setdefault("retry", FAST)
        kwargs.setdefault("flush_interval", 60.0)
        emitter = Emitter(endpoint or collector.url, **kwargs)
        made.append(emitter)
        return emitter

    yield make
    for emitter in made:
        emitter.close(timeout=0.5)


def _identity(stats: dict[str, int]) -> bool:
    total = stats["sent"] + stats["failed"] + stats["dropped"] + stats["queued"]
    return stats["inputs"] == total


class TestConfiguration:
    """Bad settings fail at construction; repr never shows credentials."""

    @pytest.mark.parametrize(
        ("kwargs", "error", "message"),
        [
            (
                {"batch_size": 0},
                ConfigurationError,
                "'batch_size' must be > 0 (got 0).",
            ),
            (
                {"batch_size": True},
                ConfigurationTypeError,
                "'batch_size' must be an int",
            ),
            (
                {"byte_limit": -1},
                ConfigurationError,
                "'byte_limit' must be > 0 (got -1).",
            ),
            ({"max_queue": 1.5}, ConfigurationTypeError, "'max_queue' must be an int"),
            ({"flush_interval": 0}, ConfigurationError, "'flush_interval' must be > 0"),
            ({"timeout": float("inf")}, ConfigurationError, "'timeout' must be > 0"),
            ({"timeout": "five"}, ConfigurationTypeError, "'timeout' must be a number"),
            ({"method": "put"}, ConfigurationError, "'method' must be 'post' or 'get'"),
            ({"retry": 5}, ConfigurationTypeError, "'retry' must be a Retry"),
            (
                {"retry": {"attempts": 1}},
                ConfigurationTypeError,
                "'retry' has no setting 'attempts': did you mean 'max_attempts'?",
            ),
            (
                {"on_success": 1},
                ConfigurationTypeError,
                "'on_success' must be callable",
            ),
            (
                {"on_failure": "f"},
                ConfigurationTypeError,
                "'on_failure' must be callable",
            ),
            ({"session": object()}, ConfigurationTypeError, "'session' must be a"),
            (
                {"headers": {"X": 1}},
                ConfigurationTypeError,
                "'headers' must be a mapping",
            ),
            ({"protocol": "ftp"}, ConfigurationError, "'protocol' must be 'http'"),
        ],
    )
    def test_invalid(
        self, kwargs: dict[str, object], error: type[Exception], message: str
    ) -> None:
        """Each bad setting raises with the field, the rule and the value."""
        with pytest.raises(error) as info:
            Emitter("collector.example.com", **kwargs)  # type: ignore[arg-type]

        assert message in str(info.value)

    @pytest.mark.parametrize(
        ("value", "error"),
        [
            (-1.0, ConfigurationError),
            (float("nan"), ConfigurationError),
            ("five", TypeError),
        ],
    )
    def test_exit_timeout_is_checked(
        self, value: object, error: type[Exception]
    ) -> None:
        """set_exit_timeout refuses negative, non-finite and non-numeric values."""
        with pytest.raises(error, match="'timeout' must be"):
            set_exit_timeout(value)  # type: ignore[arg-type]

    def test_repr_hides_credentials(self) -> None:
        """Neither URL credentials nor auth headers appear in repr."""
        emitter = Emitter(
            "https://user:s3cret@collector.example.com",
            headers={"Authorization": "Bearer t0ken"},
        )

        text = repr(emitter)
        emitter.close()

        assert text == (
            "<Emitter POST https://***@collector.example.com"
            f"{POST_PATH} queued=0 closed=False>"
        )

    def test_construction_starts_nothing(self) -> None:
        """No thread starts and no request is made until the first event."""
        emitter = Emitter("collector.example.com", method="GET")

        assert emitter._buffer.thread is None
        assert emitter.method == "get"
        assert emitter.flush(timeout=0) is True
        assert emitter.close() is True


class TestNeverRaises:
    """input() never raises at log time, whatever goes wrong."""

    def test_thread_cannot_start(
        self, collector: Collector, make: MakeEmitter, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """If no thread can start (interpreter shutdown) the event is counted."""
        emitter = make()

        def refuse(self: threading.Thread) -> None:
            raise RuntimeError("can't create new thread at interpreter shutdown")

        with monkeypatch.context() as patch:
            patch.setattr(threading.Thread, "start", refuse)
            emitter.input(se_payload(1))
        emitter.input(se_payload(2))
        assert emitter.flush(timeout=10)

        assert (emitter.stats["dropped_closed"], emitter.stats["sent"]) == (1, 1)
        assert _identity(emitter.stats)

    def test_unencodable_payload(
        self, collector: Collector, make: MakeEmitter, logs: LogWatch
    ) -> None:
        """A payload JSON cannot encode fails alone; the others are sent."""
        emitter = make()

        emitter.input(se_payload(1))
        emitter.input({"e": "se", "bad": object()})  # type: ignore[dict-item]
        emitter.input(se_payload(3))
        assert emitter.flush(timeout=10)

        assert (emitter.stats["failed"], emitter.stats["sent"]) == (1, 2)
        assert len(collector.accepted_events()) == 2
        assert any("cannot be encoded" in m for m in logs.messages())


class TestRequestShape:
    """Requests match docs/protocol.md section 1 and the payload_data schema."""

    def test_post_envelope(self, collector: Collector, make: MakeEmitter) -> None:
        """One compact UTF-8 JSON envelope at the tp2 path with the exact type."""
        emitter = make()
        payloads = [se_payload(n, se_la="café ☕") for n in range(3)]

        for payload in payloads:
            emitter.input(dict(payload))
        assert emitter.flush(timeout=10)

        (request,) = collector.requests
        events = check_post_body(request.body)
        assert (request.method, request.path, request.query) == ("POST", POST_PATH, "")
        assert request.headers["Content-Type"] == "application/json; charset=utf-8"
        assert b'","' in request.body
        assert b": " not in request.body
        assert b", " not in request.body
        assert "café ☕".encode() in request.body
        assert [{k: v for k, v in e.items() if k != "stm"} for e in events] == payloads
        stm = events[0]["stm"]
        assert len(stm) == 13
        assert stm.isdigit()
        assert all(e["stm"] == stm for e in events)
        assert int(stm) >= int(time.time() * 1000) - 60_000

    def test_get_query(self, collector: Collector, make: MakeEmitter) -> None:
        """One GET /i per event, values percent-encoded, stm then co/cx last."""
        emitter = make(method="get")
        payload = se_payload(se_la="a b&c=d/é+", cx="eyJhIjoxfQ", url="https://x/?q=1")

        emitter.input(dict(payload))
        assert emitter.flush(timeout=10)

        (request,) = collector.requests
        assert (request.method, request.path, request.body) == ("GET", GET_PATH, b"")
        assert "a%20b%26c%3Dd%2F%C3%A9%2B" in request.query
        keys = [key for key, _ in parse_qsl(request.query)]
        assert keys[-2:] == ["stm", "cx"]
        event = request.events()[0]
        check_event(event)
        assert {k: v for k, v in event.items() if k != "stm"} == payload

    @pytest.mark.parametrize("method", ["post", "get"])
    def test_tracker_payloads(
        self, collector: Collector, make: MakeEmitter, method: str
    ) -> None:
        """Payloads built by a Tracker arrive valid, entities intact."""
        entity = SelfDescribingJson(
            schema="iglu:com.snowplowanalytics.snowplow/application/jsonschema/1-0-0",
            data={"version": "2.3.1"},
        )
        emitter = make(method=method)
        tracker = Tracker(emitters=emitter, app_id="shop", namespace="ns")

        eid = tracker.track(
            StructuredEvent(category="checkout", action="paid", context=[entity])
        )
        assert emitter.flush(timeout=10)

        (event,) = collector.accepted_events()
        check_event(event)
        assert (event["eid"], event["aid"], event["se_ac"]) == (eid, "shop", "paid")
        assert decode_entities(event) == [entity.to_dict()]
        assert int(event["stm"]) >= int(event["dtm"])


class TestBatching:
    """Requests split by count and bytes; sends on batch full, timer and flush."""

    def test_batch_size(self, collector: Collector, make: MakeEmitter) -> None:
        """No POST carries more than batch_size events."""
        emitter = make(batch_size=10)

        for n in range(25):
            emitter.input(se_payload(n))
        assert emitter.flush(timeout=10)

        assert [len(r.events()) for r in collector.requests] == [10, 10, 5]

    @pytest.mark.parametrize(
        ("options", "count"),
        [({"batch_size": 5}, 5), ({"batch_size": 500, "max_queue": 20}, 20)],
    )
    def test_full_batch_sends_without_flush(
        self,
        collector: Collector,
        make: MakeEmitter,
        options: dict[str, int],
        count: int,
    ) -> None:
        """A full batch (batch_size, or a smaller max_queue) is sent before the timer."""
        emitter = make(**options)

        for n in range(count):
            emitter.input(se_payload(n))

        assert collector.wait_for(events=count, timeout=10)

    def test_byte_limit_packs_greedily(
        self, collector: Collector, make: MakeEmitter
    ) -> None:
        """Every body fits byte_limit and the next event would not have fitted."""
        emitter = make(byte_limit=2_000)
        payloads = [se_payload(n, se_la="é" * (n * 7 % 120)) for n in range(60)]

        for payload in payloads:
            emitter.input(dict(payload))
        assert emitter.flush(timeout=10)

        requests = collector.requests
        sizes = [len(r.body) for r in requests]
        assert len(requests) > 3
        assert max(sizes) <= 2_000
        for size, following in zip(sizes, requests[1:], strict=False):
            first = check_post_body(following.body)[0]
            item = json.dumps(first, ensure_ascii=False, separators=(",", ":"))
            assert size + 1 + len(item.encode()) > 2_000  # it would not have fitted
        eids = [e["eid"] for r in requests for e in check_post_body(r.body)]
        assert eids == [p["eid"] for p in payloads]

    def test_oversized_event_goes_alone(
        self, collector: Collector, make: MakeEmitter
    ) -> None:
        """An event larger than byte_limit is sent in a request of its own."""
        emitter = make(byte_limit=600)
        big = se_payload(1, se_la="x" * 1_000)

        for payload in (se_payload(0), big, se_payload(2)):
            emitter.input(payload)
        assert emitter.flush(timeout=10)

        assert [len(r.events()) for r in collector.requests] == [1, 1, 1]
        assert len(collector.requests[1].body) > 600
        assert all(len(r.body) <= 600 for r in collector.requests[::2])

    def test_timer_sends_a_lone_event(
        self, collector: Collector, make: MakeEmitter
    ) -> None:
        """flush_interval delivers a single event without any flush call."""
        emitter = make(flush_interval=0.05)

        emitter.input(se_payload())

        assert collector.wait_for(events=1, timeout=10)

    def test_get_sends_each_event_at_once(
        self, collector: Collector, make: MakeEmitter
    ) -> None:
        """With GET every event is its own request, without waiting for a batch."""
        emitter = make(method="get")

        for n in range(5):
            emitter.input(se_payload(n))

        assert collector.wait_for(requests=5, events=5, timeout=10)
        assert all(r.method == "GET" for r in collector.requests)


class TestRetry:
    """Retry: exactly-once on success, no retry on final codes, back-off."""

    def test_503_then_success(self, collector: Collector, make: MakeEmitter) -> None:
        """After two 503s every event arrives once; stm is rewritten per attempt."""
        collector.script(Reply(503), Reply(503))
        emitter = make()
        payloads = [se_payload(n) for n in range(20)]

        for payload in payloads:
            emitter.input(dict(payload))
        assert emitter.flush(timeout=10)

        eids = [e["eid"] for e in collector.accepted_events()]
        assert sorted(eids) == sorted(p["eid"] for p in payloads)
        stms = [r.events()[0]["stm"] for r in collector.requests]
        assert [r.status for r in collector.requests] == [503, 503, 200]
        assert stms == sorted(stms)
        assert stms[0] != stms[2]
        stats = emitter.stats
        assert (stats["sent"], stats["requests"], stats["retried"]) == (20, 3, 2)

    def test_400_is_final(
        self, collector: Collector, make: MakeEmitter, logs: LogWatch
    ) -> None:
        """A 400 fails the batch at once: on_failure is called, nothing is retried."""
        calls: list[tuple[int, list[dict[str, str]]]] = []
        collector.script(Reply(400))
        emitter = make(on_failure=lambda sent, failed: calls.append((sent, failed)))

        for n in range(5):
            emitter.input(se_payload(n))
        assert emitter.flush(timeout=10)

        assert len(collector.requests) == 1
        assert [(sent, len(failed)) for sent, failed in calls] == [(0, 5)]
        assert all("stm" in payload for payload in calls[0][1])
        assert emitter.stats["failed"] == 5
        assert any("5 events failed (HTTP 400)" in m for m in logs.messages())

    def test_retry_after_is_honoured(
        self, collector: Collector, make: MakeEmitter
    ) -> None:
        """Retry-After: 1 delays the retry by a second despite a tiny back-off."""
        collector.script(Reply(503, {"Retry-After": "1"}))
        emitter = make(retry=Retry(initial_delay=0.01, max_delay=5.0, jitter=0.0))

        emitter.input(se_payload())
        assert emitter.flush(timeout=10)

        first, second = collector.requests
        assert second.received - first.received >= 0.95

    def test_retry_after_is_bounded(
        self, collector: Collector, make: MakeEmitter
    ) -> None:
        """A Retry-After longer than max_delay waits max_delay only."""
        collector.script(Reply(429, {"Retry-After": "3600"}))
        emitter = make(retry=Retry(initial_delay=0.01, max_delay=0.1, jitter=0.0))

        emitter.input(se_payload())

        assert emitter.flush(timeout=5)

    def test_refused_then_up(self, make: MakeEmitter, logs: LogWatch) -> None:
        """Events queued while the collector is down arrive once it is up."""
        port = free_port()
        emitter = make(f"http://127.0.0.1:{port}")
        for n in range(3):
            emitter.input(se_payload(n))
        emitter.flush(timeout=0)
        assert logs.wait_for("unreachable")

        collector = Collector(port)
        try:
            assert emitter.flush(timeout=10)
            assert len(collector.accepted_events()) == 3
        finally:
            collector.close()
        assert logs.wait_for("reachable again")

    def test_slow_server_is_retried(
        self, collector: Collector, make: MakeEmitter
    ) -> None:
        """A server slower than timeout makes the attempt fail and retry, not hang."""
        collector.script(Reply(delay=2.0))
        emitter = make(timeout=0.2)

        emitter.input(se_payload())
        started = time.monotonic()

        assert emitter.flush(timeout=10)
        assert time.monotonic() - started < 2.0
        assert emitter.stats["retried"] >= 1

    def test_max_attempts(self, collector: Collector, make: MakeEmitter) -> None:
        """After max_attempts failed attempts the events fail for good."""
        collector.default = Reply(500)
        failures: list[int] = []
        emitter = make(
            retry=Retry(max_attempts=3, initial_delay=0.01, jitter=0.0),
            on_failure=lambda sent, failed: failures.append(len(failed)),
        )

        emitter.input(se_payload())
        assert emitter.flush(timeout=10)

        assert (len(collector.requests), failures) == (3, [1])
        assert emitter.stats["failed"] == 1

    def test_retry_disabled(self, collector: Collector, make: MakeEmitter) -> None:
        """Retry.disabled() makes one attempt only."""
        collector.default = Reply(503)
        emitter = make(retry=Retry.disabled())

        emitter.input(se_payload())
        assert emitter.flush(timeout=10)

        assert (len(collector.requests), emitter.stats["failed"]) == (1, 1)


class TestConcurrency:
    """Many producer threads: nothing lost, nothing duplicated."""

    def test_eight_threads(self, collector: Collector, make: MakeEmitter) -> None:
        """8 threads x 10,000 events are all delivered exactly once."""
        emitter = make(max_queue=80_000, flush_interval=0.2)
        barrier = threading.Barrier(8)

        def produce(thread: int) -> None:
            batch = [se_payload(thread * 10_000 + n) for n in range(10_000)]
            barrier.wait()
            for payload in batch:
                emitter.input(payload)

        threads = [threading.Thread(target=produce, args=(t,)) for t in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert emitter.flush(timeout=60)

        eids = [e["eid"] for e in collector.accepted_events()]
        assert len(eids) == 80_000
        assert len(set(eids)) == 80_000
        assert emitter.stats["sent"] == 80_000
        assert _identity(emitter.stats)

    def test_full_batches_wake_the_worker(
        self, collector: Collector, make: MakeEmitter
    ) -> None:
        """With no timer and no flush, each full batch wakes an idle worker.

        50 rounds: two threads queue five events each, one batch, and the
        round waits until the collector has it. The worker idles between
        rounds, so every round needs a wake that a producer set after the
        worker's last clear; a lost one leaves the batch for the hourly timer.
        """
        emitter = make(batch_size=10, flush_interval=3600.0)

        def produce(first: int) -> None:
            for n in range(first, first + 5):
                emitter.input(se_payload(n))

        for round_ in range(50):
            threads = [
                threading.Thread(target=produce, args=(round_ * 10 + t * 5,))
                for t in range(2)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert collector.wait_for(events=(round_ + 1) * 10, timeout=10), round_

        assert len({e["eid"] for e in collector.accepted_events()}) == 500
        assert emitter.flush(timeout=10)  # the last answer may still be counted
        assert emitter.stats["requests"] == 50
        assert _identity(emitter.stats)


class ReenteringWake(threading.Event):
    """A wake whose ``set()`` runs ``reenter`` once while holding its lock.

    As a signal handler that logs would, interrupting the thread inside
    ``threading.Event.set()``, whose lock is not reentrant: a nested ``set()``
    on that thread would wait for itself forever. Here it is counted instead.
    """

    def __init__(self, reenter: Callable[[], object] | None = None) -> None:
        super().__init__()
        self._held = threading.Lock()
        self.reenter = reenter
        self.nested_sets = 0

    def set(self) -> None:
        if not self._held.acquire(blocking=False):
            self.nested_sets += 1
            return
        try:
            reenter, self.reenter = self.reenter, None
            if reenter is not None:
                reenter()
            super().set()
        finally:
            self._held.release()


class TestWakeReentry:
    """An input() that interrupts the wake of the worker never sets it again."""

    def test_input_inside_the_wake(
        self, collector: Collector, make: MakeEmitter
    ) -> None:
        """The 10th event wakes the worker; an 11th, input inside that wake, does not."""
        emitter = make(batch_size=10)
        wake = ReenteringWake(lambda: emitter.input(se_payload(10)))
        emitter._buffer.wake = wake
        for n in range(10):
            emitter.input(se_payload(n))

        assert emitter.flush(timeout=10)
        assert wake.nested_sets == 0
        assert len(collector.accepted_events()) == 11
        assert _identity(emitter.stats)

    def test_input_inside_a_flush_wake(
        self, collector: Collector, make: MakeEmitter
    ) -> None:
        """An event input while flush() wakes the worker is sent, without a nested set."""
        emitter = make(batch_size=10)
        wake = ReenteringWake()
        emitter._buffer.wake = wake  # before the worker starts waiting on it
        emitter.input(se_payload(0))
        wake.reenter = lambda: [emitter.input(se_payload(n)) for n in range(1, 10)]

        assert emitter.flush(timeout=10)
        assert emitter.flush(timeout=10)
        assert wake.nested_sets == 0
        assert len(collector.accepted_events()) == 10


class TestQueueBound:
    """At most max_queue events are held; the rest are dropped and counted."""

    def test_full_queue_drops_new_events(
        self, make: MakeEmitter, logs: LogWatch
    ) -> None:
        """With the collector down, 1,000 inputs into max_queue=100 drop 900."""
        emitter = make(f"http://127.0.0.1:{free_port()}", max_queue=100)

        for n in range(1_000):
            emitter.input(se_payload(n))

        stats = emitter.stats
        assert (stats["queued"], stats["dropped_queue_full"]) == (100, 900)
        assert len(emitter._buffer.queue) <= 100
        assert _identity(stats)
        assert logs.wait_for("queue full; ")


class TestFlush:
    """flush(timeout) -> bool: waits for delivery, never spins."""

    def test_collector_down_returns_false_without_burning_cpu(
        self, make: MakeEmitter
    ) -> None:
        """While the collector is down flush waits its timeout using < 10% CPU."""
        emitter = make(
            f"http://127.0.0.1:{free_port()}",
            retry=Retry(initial_delay=0.05, max_delay=0.5, jitter=0.0),
        )
        for n in range(10):
            emitter.input(se_payload(n))
        cpu, wall = time.process_time(), time.monotonic()

        assert emitter.flush(timeout=1.5) is False

        assert 1.4 <= time.monotonic() - wall < 3.0
        assert time.process_time() - cpu < 0.15

    def test_flush_from_callback(self, collector: Collector, make: MakeEmitter) -> None:
        """flush() inside a callback returns at once and the worker keeps going."""
        results: list[bool] = []
        emitter: Emitter

        def on_success(payloads: list[dict[str, str]]) -> None:
            results.append(emitter.flush(timeout=5))

        emitter = make(on_success=on_success)
        emitter.input(se_payload(1))
        assert emitter.flush(timeout=10)
        emitter.input(se_payload(2))
        assert emitter.flush(timeout=10)

        assert results == [False, False]
        assert len(collector.accepted_events()) == 2


class TestClose:
    """close(timeout): idempotent, drains, bounded, counts what it gave up."""

    def test_close_drains_and_is_idempotent(
        self, collector: Collector, make: MakeEmitter
    ) -> None:
        """close sends what is queued; later inputs are dropped, not raised."""
        emitter = make()
        for n in range(5):
            emitter.input(se_payload(n))

        assert emitter.close(timeout=10) is True
        assert emitter.close() is True
        emitter.input(se_payload(6))

        assert len(collector.accepted_events()) == 5
        assert emitter._buffer.thread is not None
        assert not emitter._buffer.thread.is_alive()
        stats = emitter.stats
        assert (stats["dropped_closed"], stats["sent"]) == (1, 5)
        assert _identity(stats)

    def test_payloads_taken_when_close_gives_up_are_not_built(
        self, collector: Collector, make: MakeEmitter
    ) -> None:
        """After close gave up, the worker stops building the batch it had taken."""
        emitter = make(batch_size=100)
        building, release = threading.Event(), threading.Event()
        built: list[int] = []

        def first() -> dict[str, str]:
            building.set()
            release.wait(10)
            return se_payload(0)

        def later(n: int) -> dict[str, str]:
            built.append(n)
            return se_payload(n)

        emitter.defer(PendingEvent(first))
        for n in range(1, 100):
            emitter.defer(PendingEvent(later, n))
        assert building.wait(10)  # the worker took all 100 and builds the first

        assert emitter.close(timeout=0) is False
        release.set()
        assert emitter._buffer.thread is not None
        emitter._buffer.thread.join(10)

        assert built == []
        assert collector.requests == []
        stats = emitter.stats
        assert (stats["dropped_unsent"], stats["sent"]) == (100, 0)
        assert _identity(stats)

    def test_context_manager(self, collector: Collector) -> None:
        """Leaving the with block closes the emitter, sending what is queued."""
        with Emitter(collector.url, flush_interval=60.0) as emitter:
            emitter.input(se_payload())

        assert len(collector.accepted_events()) == 1
        assert "closed=True" in repr(emitter)

    def test_close_while_down_counts_unsent(
        self, make: MakeEmitter, logs: LogWatch
    ) -> None:
        """With the collector down close gives up in time and reports the count."""
        emitter = make(
            f"http://127.0.0.1:{free_port()}",
            retry=Retry(initial_delay=0.05, max_delay=0.2, jitter=0.0),
        )
        for n in range(3):
            emitter.input(se_payload(n))
        started = time.monotonic()

        assert emitter.close(timeout=0.5) is False

        assert time.monotonic() - started < 1.5
        assert emitter.stats["dropped_unsent"] == 3
        assert _identity(emitter.stats)
        assert logs.wait_for("3 events could not be delivered")

    def test_counts_exact_when_close_gives_up_on_queued_events(
        self, make: MakeEmitter
    ) -> None:
        """Events never taken by the worker still count once: as inputs and unsent."""
        emitter = make(
            f"http://127.0.0.1:{free_port()}",
            batch_size=2,
            retry=Retry(initial_delay=0.05, max_delay=0.2, jitter=0.0),
        )
        for n in range(7):  # at most 2 in flight, the rest wait in the queue
            emitter.input(se_payload(n))

        assert emitter.close(timeout=0.3) is False
        emitter.input(se_payload())

        stats = emitter.stats
        assert (stats["inputs"], stats["queued"]) == (8, 0)
        assert (stats["dropped_unsent"], stats["dropped_closed"]) == (7, 1)
        assert _identity(stats)

    def test_close_during_long_retry_after(
        self, collector: Collector, make: MakeEmitter
    ) -> None:
        """A Retry-After beyond the close deadline makes close return at once."""
        collector.default = Reply(503, {"Retry-After": "30"})
        emitter = make(retry=Retry(max_delay=60.0))
        emitter.input(se_payload())
        emitter.flush(timeout=0)
        assert collector.wait_for(requests=1)
        started = time.monotonic()

        assert emitter.close(timeout=5) is False

        assert time.monotonic() - started < 1.0
        assert emitter.stats["dropped_unsent"] == 1

    def test_close_with_hanging_collector(self, make: MakeEmitter) -> None:
        """A request that never returns does not hold close past its timeout."""
        with blackhole() as url:
            emitter = make(url, timeout=5.0)
            emitter.input(se_payload())
            emitter.flush(timeout=0)
            started = time.monotonic()

            assert emitter.close(timeout=0.3) is False

            assert time.monotonic() - started < 1.0
            assert emitter.stats["dropped_unsent"] == 1

    def test_close_from_callback(self, collector: Collector, make: MakeEmitter) -> None:
        """close() inside a callback returns False and stops the emitter."""
        results: list[bool] = []
        emitter: Emitter

        def on_success(payloads: list[dict[str, str]]) -> None:
            results.append(emitter.close(timeout=5))

        emitter = make(on_success=on_success)
        emitter.input(se_payload())
        assert emitter.flush(timeout=10)
        emitter.input(se_payload())

        assert results == [False]
        assert emitter.stats["dropped_closed"] == 1


class TestCallbacks:
    """Callbacks run on the worker; their exceptions never kill it."""

    @pytest.mark.parametrize("flush_from", ["before", "during"])
    def test_flush_returns_after_the_callbacks(
        self, make: MakeEmitter, flush_from: str
    ) -> None:
        """flush() does not return while a callback for its events still runs,
        whether it was called before the batch was sent or during the callback.
        """
        entered, release, flushed = (
            threading.Event(),
            threading.Event(),
            threading.Event(),
        )

        def on_success(payloads: list[dict[str, str]]) -> None:
            entered.set()
            release.wait(10)

        def flush() -> None:
            if emitter.flush(timeout=10):
                flushed.set()

        emitter = make(on_success=on_success)
        emitter.input(se_payload())
        flusher = threading.Thread(target=flush)
        if flush_from == "before":
            flusher.start()
        else:
            emitter.flush(timeout=0)  # ask for the send without waiting
        assert entered.wait(10)
        if flush_from == "during":
            flusher.start()

        early = flushed.wait(0.3)  # the callback is blocked: flush must still wait
        release.set()
        flusher.join(10)

        assert not early
        assert flushed.is_set()

    def test_on_success_gets_payloads(
        self, collector: Collector, make: MakeEmitter
    ) -> None:
        """on_success receives the delivered payloads, stm included, on the worker."""
        calls: list[tuple[str, list[dict[str, str]]]] = []
        emitter = make(
            on_success=lambda p: calls.append((threading.current_thread().name, p))
        )
        payload = se_payload()

        emitter.input(dict(payload))
        assert emitter.flush(timeout=10)

        ((thread, delivered),) = calls
        assert thread.startswith("snowplow_logging.Emitter-")
        assert delivered[0]["eid"] == payload["eid"]
        assert delivered[0]["stm"] == collector.accepted_events()[0]["stm"]

    def test_raising_callback(
        self, collector: Collector, make: MakeEmitter, logs: LogWatch
    ) -> None:
        """A callback that raises is reported; later events are still sent."""

        def on_success(payloads: list[dict[str, str]]) -> None:
            raise RuntimeError("boom")

        emitter = make(on_success=on_success)
        emitter.input(se_payload(1))
        assert emitter.flush(timeout=10)
        emitter.input(se_payload(2))
        assert emitter.flush(timeout=10)

        assert len(collector.accepted_events()) == 2
        assert any("raised RuntimeError: boom" in m for m in logs.messages())


class TestReporting:
    """Counters add up; the library logs state changes only, never per request."""

    def test_happy_path_is_silent(
        self, collector: Collector, make: MakeEmitter, logs: LogWatch
    ) -> None:
        """Hundreds of events and requests log nothing; root logging is untouched."""
        root = logging.getLogger()
        before = (root.level, list(root.handlers))
        emitter = make(batch_size=10)

        for n in range(300):
            emitter.input(se_payload(n))
        assert emitter.flush(timeout=10)

        assert logs.messages() == []
        assert (root.level, list(root.handlers)) == before

    def test_outage_logs_once_and_recovery(
        self, collector: Collector, make: MakeEmitter, logs: LogWatch
    ) -> None:
        """Consecutive failures log one warning; recovery logs one INFO record."""
        collector.script(Reply(503), Reply(502), Reply(500))
        emitter = make()

        emitter.input(se_payload())
        assert emitter.flush(timeout=10)

        levels = [(r.levelname, r.getMessage().split(" (")[0]) for r in logs.records]
        assert levels == [
            ("WARNING", f"Snowplow collector {collector.url}{POST_PATH} unreachable"),
            ("INFO", f"Snowplow collector {collector.url}{POST_PATH} reachable again."),
        ]

    def test_accounting_identity(self, collector: Collector, make: MakeEmitter) -> None:
        """inputs == sent + failed + dropped + queued across outcomes."""
        collector.script(Reply(400))
        emitter = make(batch_size=5, max_queue=12)

        for n in range(15):
            emitter.input(se_payload(n))
        assert emitter.flush(timeout=10)
        emitter.close()
        emitter.input(se_payload())

        stats = emitter.stats
        assert _identity(stats)
        assert stats["inputs"] == 16
        assert stats["dropped_closed"] == 1
        assert stats["failed"] == 5

    def test_emitters_are_independent(self, collector: Collector) -> None:
        """One tracker, two emitters: a dead collector does not hold up the other."""
        down = Emitter(f"http://127.0.0.1:{free_port()}", retry=FAST)
        up = Emitter(collector.url)
        tracker = Tracker(emitters=[down, up])

        for n in range(3):
            tracker.track(StructuredEvent(category="c", action=f"a{n}"))

        assert up.flush(timeout=10)
        assert down.flush(timeout=0.2) is False
        assert len(collector.accepted_events()) == 3
        assert tracker.close(timeout=0.5) is False
