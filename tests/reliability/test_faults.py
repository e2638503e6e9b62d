"""Reliability under collector faults, in process: nothing lost that is not counted.

Each scenario tracks events through a real :class:`~snowplow_logging.Emitter`
to a :class:`~tests.reliability.faults.FaultCollector` and checks the books
twice: at the collector (tracked == delivered-unique + dropped + failed, and
duplicates only where the fault makes them unavoidable) and in ``stats``
(inputs == sent + failed + dropped + queued).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from snowplow_logging import (
    Emitter,
    SelfDescribing,
    SelfDescribingJson,
    StructuredEvent,
    Tracker,
)
from tests.reliability.conftest import (
    FAST_RETRY,
    Report,
    check_identity,
    seconds,
    size,
)
from tests.reliability.faults import (
    Fault,
    FaultCollector,
    Kind,
    Outage,
    random_faults,
    wait_until,
)

THREADS = 4


def _track_from_threads(tracker: Tracker, count: int, *, category: str = "job") -> None:
    """Track ``count`` structured events split over four threads."""
    per_thread = count // THREADS
    assert per_thread * THREADS == count

    def work(worker: int) -> None:
        for n in range(per_thread):
            tracker.track(StructuredEvent(category=category, action=f"{worker}-{n}"))

    threads = [threading.Thread(target=work, args=(w,)) for w in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.fixture(name="make_collector")
def _make_collector() -> Iterator[list[FaultCollector]]:
    made: list[FaultCollector] = []
    yield made
    for collector in made:
        collector.close()


def _emitter(collector: FaultCollector, **options: object) -> Emitter:
    settings: dict[str, object] = {"retry": FAST_RETRY, "flush_interval": 0.05}
    settings.update(options)
    return Emitter(collector.url, **settings)  # type: ignore[arg-type]


class TestRandomFailures:
    """A collector failing a random share of requests loses nothing."""

    @pytest.mark.parametrize(
        ("scenario", "faults"),
        [
            ("30% random 503", [Fault(status=503)]),
            (
                "30% random 503/429, some with Retry-After",
                [
                    Fault(status=503),
                    Fault(status=429),
                    Fault(status=429, headers={"Retry-After": "1"}),
                    Fault(status=503, headers={"Retry-After": "0"}),
                ],
            ),
            ("30% connection resets", [Fault(kind=Kind.RESET)]),
        ],
    )
    def test_every_event_arrives_once(
        self,
        make_collector: list[FaultCollector],
        report: Report,
        scenario: str,
        faults: list[Fault],
    ) -> None:
        """Four threads' events all arrive exactly once despite refused requests."""
        count = size(8_000, 50_000)
        collector = FaultCollector(random_faults(0.3, faults))
        make_collector.append(collector)
        started = time.monotonic()
        with _emitter(collector, max_queue=count) as emitter:
            tracker = Tracker(emitters=emitter)
            _track_from_threads(tracker, count)
            delivered = emitter.flush(timeout=120)
            stats = emitter.stats
        tally = collector.tally()
        report(
            scenario,
            tracked=count,
            delivered=tally.delivered,
            dropped=stats["dropped"],
            failed=stats["failed"],
            duplicates=tally.duplicates,
            note=(
                f"{tally.refused} of {tally.requests} requests refused; "
                f"all delivered in {time.monotonic() - started:.1f} s"
            ),
        )

        assert delivered
        check_identity(stats)
        assert (stats["inputs"], stats["sent"], stats["dropped"]) == (count, count, 0)
        assert (tally.delivered, tally.duplicates) == (count, 0)
        assert tally.refused > 0
        assert stats["retried"] == tally.refused


class TestOutages:
    """An outage delays delivery; it does not lose or repeat events."""

    def test_outage_in_the_middle_of_a_run(
        self, make_collector: list[FaultCollector], report: Report
    ) -> None:
        """Events tracked before, during and after a 503 outage all arrive once."""
        count = size(4_000, 50_000)
        length = seconds(1.0, 20.0)
        outage = Outage(after=count // 2, seconds=length)
        collector = FaultCollector(outage)
        make_collector.append(collector)
        retry = FAST_RETRY.__class__(initial_delay=0.05, max_delay=0.5, jitter=0.05)
        with _emitter(collector, retry=retry, max_queue=count) as emitter:
            tracker = Tracker(emitters=emitter)
            _track_from_threads(tracker, count // 2, category="before")
            assert emitter.flush(timeout=60)
            _track_from_threads(tracker, count // 2, category="during")
            delivered = emitter.flush(timeout=length + 60)
            stats = emitter.stats
        tally = collector.tally()
        assert outage.started is not None
        report(
            f"{length:g} s outage (503) in the middle of a run",
            tracked=count,
            delivered=tally.delivered,
            dropped=stats["dropped"],
            failed=stats["failed"],
            duplicates=tally.duplicates,
            note=(
                f"{tally.refused} requests refused during the outage; "
                f"all delivered {time.monotonic() - outage.started:.1f} s after it began"
            ),
        )

        assert delivered
        assert outage.ended.is_set()
        check_identity(stats)
        assert (stats["sent"], stats["dropped"], stats["failed"]) == (count, 0, 0)
        assert (tally.delivered, tally.duplicates) == (count, 0)
        assert tally.refused == stats["retried"] > 0

    def test_collector_comes_up_after_the_job_started(
        self, make_collector: list[FaultCollector], report: Report
    ) -> None:
        """Connections refused until the collector listens: then everything arrives."""
        count = size(2_000, 20_000)
        collector = FaultCollector(listening=False)
        make_collector.append(collector)
        with _emitter(collector, max_queue=count) as emitter:
            tracker = Tracker(emitters=emitter)
            _track_from_threads(tracker, count)
            assert wait_until(lambda: emitter.stats["requests"] >= 3)
            collector.listen()
            delivered = emitter.flush(timeout=60)
            stats = emitter.stats
        tally = collector.tally()
        report(
            "collector comes up after the job started (connections refused)",
            tracked=count,
            delivered=tally.delivered,
            dropped=stats["dropped"],
            failed=stats["failed"],
            duplicates=tally.duplicates,
            note=f"{stats['requests'] - tally.requests} connections refused",
        )

        assert delivered
        check_identity(stats)
        assert (stats["sent"], stats["dropped"], stats["failed"]) == (count, 0, 0)
        assert (tally.delivered, tally.duplicates) == (count, 0)
        assert stats["requests"] > tally.requests

    def test_first_seconds_fail_with_503(
        self, make_collector: list[FaultCollector], report: Report
    ) -> None:
        """A collector answering 503 for its first second still gets everything."""
        count = size(2_000, 20_000)
        outage = Outage(after=0, seconds=seconds(0.5, 5.0))
        collector = FaultCollector(outage)
        make_collector.append(collector)
        with _emitter(collector, max_queue=count) as emitter:
            tracker = Tracker(emitters=emitter)
            _track_from_threads(tracker, count)
            delivered = emitter.flush(timeout=60)
            stats = emitter.stats
        tally = collector.tally()
        report(
            f"503 for the first {outage.seconds:g} s",
            tracked=count,
            delivered=tally.delivered,
            dropped=stats["dropped"],
            failed=stats["failed"],
            duplicates=tally.duplicates,
        )

        assert delivered
        assert outage.ended.is_set()
        check_identity(stats)
        assert (tally.delivered, tally.duplicates, stats["sent"]) == (count, 0, count)


class TestUnansweredRequests:
    """When the collector took a batch but the client saw no answer, it resends."""

    @pytest.mark.parametrize(
        ("scenario", "fault"),
        [
            ("accept then drop the connection (20%)", Fault(kind=Kind.DROP)),
            ("answer slower than the timeout (20%)", Fault(kind=Kind.SLOW, delay=1.0)),
        ],
    )
    def test_duplicates_are_exactly_the_unanswered_copies(
        self,
        make_collector: list[FaultCollector],
        report: Report,
        scenario: str,
        fault: Fault,
    ) -> None:
        """Each unanswered batch arrives again: no loss, and every duplicate explained."""
        count = size(2_000, 20_000)
        collector = FaultCollector(random_faults(0.2, [fault], seed=3))
        make_collector.append(collector)
        with _emitter(
            collector, max_queue=count, timeout=0.3, batch_size=100
        ) as emitter:
            tracker = Tracker(emitters=emitter)
            _track_from_threads(tracker, count)
            delivered = emitter.flush(timeout=120)
            stats = emitter.stats
        tally = collector.tally()
        report(
            scenario,
            tracked=count,
            delivered=tally.delivered,
            dropped=stats["dropped"],
            failed=stats["failed"],
            duplicates=tally.duplicates,
            note=f"{tally.refused} requests unanswered; each resent whole",
        )

        assert delivered
        check_identity(stats)
        assert (stats["sent"], stats["dropped"], stats["failed"]) == (count, 0, 0)
        assert tally.delivered == count
        assert tally.refused > 0
        assert tally.duplicates == tally.unanswered_copies


class TestRefusedBatches:
    """A 400 fails its batch at once: counted as failed, never retried."""

    def test_bad_request_fails_only_its_batch(
        self, make_collector: list[FaultCollector], report: Report
    ) -> None:
        """Batches holding a poisoned event get 400; the rest arrive; the books add up."""
        count = size(2_000, 20_000)
        failures: list[int] = []

        def plan(_: FaultCollector, events: list[dict[str, str]]) -> Fault:
            poisoned = any(event.get("se_ca") == "poison" for event in events)
            return Fault(status=400) if poisoned else Fault()

        collector = FaultCollector(plan)
        make_collector.append(collector)
        with _emitter(
            collector,
            max_queue=count,
            batch_size=50,
            on_failure=lambda sent, payloads: failures.append(len(payloads)),
        ) as emitter:
            tracker = Tracker(emitters=emitter)
            for n in range(count):
                category = "poison" if n % 500 == 0 else "job"
                tracker.track(StructuredEvent(category=category, action=str(n)))
            delivered = emitter.flush(timeout=60)
            stats = emitter.stats
        tally = collector.tally()
        report(
            "400 for batches holding a bad event",
            tracked=count,
            delivered=tally.delivered,
            dropped=stats["dropped"],
            failed=stats["failed"],
            duplicates=tally.duplicates,
        )

        assert delivered
        check_identity(stats)
        assert stats["failed"] == sum(failures) > 0
        assert tally.delivered == stats["sent"] == count - stats["failed"]
        assert tally.duplicates == stats["retried"] == 0


class TestRaisingUserCode:
    """User code that raises never stops the worker."""

    def test_raising_callbacks(
        self, make_collector: list[FaultCollector], report: Report
    ) -> None:
        """on_success and on_failure raise on every call; every batch is still resolved."""
        count = size(2_000, 20_000)
        calls = {"success": 0, "failure": 0}

        def on_success(payloads: list[dict[str, str]]) -> None:
            calls["success"] += 1
            raise RuntimeError("user bug")

        def on_failure(sent: int, payloads: list[dict[str, str]]) -> None:
            calls["failure"] += 1
            raise RuntimeError("user bug")

        def plan(_: FaultCollector, events: list[dict[str, str]]) -> Fault:
            bad = any(event.get("se_ca") == "poison" for event in events)
            return Fault(status=400) if bad else Fault()

        collector = FaultCollector(plan)
        make_collector.append(collector)
        with _emitter(
            collector,
            max_queue=count,
            batch_size=50,
            on_success=on_success,
            on_failure=on_failure,
        ) as emitter:
            tracker = Tracker(emitters=emitter)
            for n in range(count):
                category = "poison" if n % 400 == 0 else "job"
                tracker.track(StructuredEvent(category=category, action=str(n)))
            delivered = emitter.flush(timeout=60)
            stats = emitter.stats
        tally = collector.tally()
        report(
            "on_success and on_failure raise on every call",
            tracked=count,
            delivered=tally.delivered,
            dropped=stats["dropped"],
            failed=stats["failed"],
            duplicates=tally.duplicates,
        )

        assert delivered
        check_identity(stats)
        assert calls["success"] > 1
        assert calls["failure"] > 1
        assert tally.delivered == stats["sent"] == count - stats["failed"]

    def test_raising_json_encoder(
        self, make_collector: list[FaultCollector], report: Report
    ) -> None:
        """A json_encoder raising on every value falls back to str; events arrive."""
        count = size(500, 5_000)

        def json_encoder(value: object) -> object:
            raise ValueError("user bug")

        collector = FaultCollector()
        make_collector.append(collector)
        with _emitter(collector, max_queue=count) as emitter:
            tracker = Tracker(emitters=emitter, json_encoder=json_encoder)
            for n in range(count):
                event = SelfDescribing(
                    event_json=SelfDescribingJson(
                        schema="iglu:com.acme/thing/jsonschema/1-0-0",
                        data={"n": n, "odd": object()},
                    )
                )
                tracker.track(event)
            delivered = emitter.flush(timeout=60)
            stats = emitter.stats
        tally = collector.tally()
        report(
            "json_encoder raises on every value",
            tracked=count,
            delivered=tally.delivered,
            dropped=stats["dropped"],
            failed=stats["failed"],
            duplicates=tally.duplicates,
        )

        assert delivered
        check_identity(stats)
        assert tally.delivered == stats["sent"] == count
        assert tracker.stats["encoding_fallbacks"] == count

    def test_raising_custom_emitter(
        self, make_collector: list[FaultCollector], report: Report
    ) -> None:
        """A custom emitter raising from input() does not stop the other emitter."""
        count = size(1_000, 10_000)

        class Broken:
            def input(self, payload: dict[str, str]) -> None:
                raise RuntimeError("user bug")

        collector = FaultCollector()
        make_collector.append(collector)
        with _emitter(collector, max_queue=count) as emitter:
            tracker = Tracker(emitters=[Broken(), emitter])
            _track_from_threads(tracker, count)
            delivered = emitter.flush(timeout=60)
            stats = emitter.stats
        tally = collector.tally()
        report(
            "a second, custom emitter raises from input()",
            tracked=count,
            delivered=tally.delivered,
            dropped=stats["dropped"],
            failed=stats["failed"],
            duplicates=tally.duplicates,
        )

        assert delivered
        check_identity(stats)
        assert tally.delivered == stats["sent"] == count
        assert tracker.stats["emitter_errors"] == count
