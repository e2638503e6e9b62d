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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import pytest

from snowplow_logging import (
    Emitter,
    Retry,
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
    Tally,
    random_faults,
    wait_until,
)

THREADS = 4
Track = Callable[[Emitter], Tracker]
"""Tracks a scenario's events through the emitter; returns the tracker used."""
THING = "iglu:com.acme/thing/jsonschema/1-0-0"


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


def _refuse_poison(_: FaultCollector, events: list[dict[str, str]]) -> Fault:
    """400 for a request holding a ``poison`` event, 200 otherwise."""
    poisoned = any(event.get("se_ca") == "poison" for event in events)
    return Fault(status=400) if poisoned else Fault()


def _track_poison(count: int, *, every: int) -> Track:
    """Track ``count`` events, one in ``every`` of them poisoned, from one thread."""

    def track(emitter: Emitter) -> Tracker:
        tracker = Tracker(emitters=emitter)
        for n in range(count):
            category = "poison" if n % every == 0 else "job"
            tracker.track(StructuredEvent(category=category, action=str(n)))
        return tracker

    return track


@dataclass(frozen=True, slots=True)
class Result:
    """What one scenario ended with, at the collector and in ``stats``."""

    count: int
    delivered: bool  # the final flush returned True
    stats: dict[str, int]
    tally: Tally
    tracker: Tracker
    seconds: float

    def assert_all_delivered_once(self) -> None:
        """Everything delivered exactly once; nothing dropped or failed."""
        assert self.delivered
        check_identity(self.stats)
        stats, tally = self.stats, self.tally
        assert (stats["inputs"], stats["sent"]) == (self.count, self.count)
        assert (stats["dropped"], stats["failed"]) == (0, 0)
        assert (tally.delivered, tally.duplicates) == (self.count, 0)

    def assert_failed_batches_counted(self) -> None:
        """Refused batches are failed, the rest delivered once."""
        assert self.delivered
        check_identity(self.stats)
        assert self.stats["failed"] > 0
        assert self.tally.delivered == self.stats["sent"]
        assert self.stats["sent"] == self.count - self.stats["failed"]


class Runner(Protocol):
    """Runs one scenario and reports it (the ``run`` fixture)."""

    def __call__(
        self,
        scenario: str,
        collector: FaultCollector,
        count: int,
        *,
        track: Track | None = None,
        note: Callable[[Result], str] | None = None,
        **options: object,
    ) -> Result: ...


@pytest.fixture(name="run")
def _run(report: Report) -> Iterator[Runner]:
    """Track through an emitter to a collector, flush, report the figures."""
    collectors: list[FaultCollector] = []

    def run(
        scenario: str,
        collector: FaultCollector,
        count: int,
        *,
        track: Track | None = None,
        note: Callable[[Result], str] | None = None,
        **options: object,
    ) -> Result:
        collectors.append(collector)
        settings: dict[str, object] = {
            "retry": FAST_RETRY,
            "flush_interval": 0.05,
            "max_queue": count,
        }
        settings.update(options)
        started = time.monotonic()
        with Emitter(collector.url, **settings) as emitter:  # type: ignore[arg-type]
            if track is None:
                tracker = Tracker(emitters=emitter)
                _track_from_threads(tracker, count)
            else:
                tracker = track(emitter)
            delivered = emitter.flush(timeout=180)
            stats = emitter.stats
        result = Result(
            count,
            delivered,
            stats,
            collector.tally(),
            tracker,
            time.monotonic() - started,
        )
        report(
            scenario,
            tracked=count,
            delivered=result.tally.delivered,
            dropped=stats["dropped"],
            failed=stats["failed"],
            duplicates=result.tally.duplicates,
            note="" if note is None else note(result),
        )
        return result

    yield run
    for collector in collectors:
        collector.close()


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
        ids=["503", "503-429-retry-after", "reset"],
    )
    def test_every_event_arrives_once(
        self, run: Runner, scenario: str, faults: list[Fault]
    ) -> None:
        """Four threads' events all arrive exactly once despite refused requests."""
        result = run(
            scenario,
            FaultCollector(random_faults(0.3, faults)),
            size(8_000, 50_000),
            note=lambda r: (
                f"{r.tally.refused} of {r.tally.requests} requests refused; "
                f"all delivered in {r.seconds:.1f} s"
            ),
        )

        result.assert_all_delivered_once()
        assert result.tally.refused == result.stats["retried"] > 0


class TestGetRequests:
    """GET sends one event per request over the emitter's own connection."""

    @pytest.mark.parametrize(
        ("scenario", "fault"),
        [
            ("GET: 30% random 503", Fault(status=503)),
            ("GET: 30% connection resets", Fault(kind=Kind.RESET)),
        ],
        ids=["503", "reset"],
    )
    def test_every_event_arrives_once(
        self, run: Runner, scenario: str, fault: Fault
    ) -> None:
        """Refused or reset GETs are resent until each event arrives once."""
        result = run(
            scenario,
            FaultCollector(random_faults(0.3, [fault], seed=5)),
            size(300, 5_000),
            note=lambda r: (
                f"{r.tally.refused} of {r.tally.requests} requests refused; "
                f"all delivered in {r.seconds:.1f} s"
            ),
            method="get",
        )

        result.assert_all_delivered_once()
        assert result.tally.refused == result.stats["retried"] > 0
        assert result.stats["requests"] == result.tally.requests

    def test_dropped_answers_are_resent(self, run: Runner) -> None:
        """A GET the collector took but did not answer arrives again, once more."""
        result = run(
            "GET: accept then drop the connection (20%)",
            FaultCollector(random_faults(0.2, [Fault(kind=Kind.DROP)], seed=7)),
            size(300, 5_000),
            note=lambda r: f"{r.tally.refused} requests unanswered; each resent",
            method="get",
        )

        assert result.delivered
        check_identity(result.stats)
        assert result.stats["sent"] == result.tally.delivered == result.count
        assert result.tally.duplicates == result.tally.unanswered_copies > 0


class TestOutages:
    """An outage delays delivery; it does not lose or repeat events."""

    def test_outage_in_the_middle_of_a_run(self, run: Runner) -> None:
        """Events tracked before, during and after a 503 outage all arrive once."""
        count = size(4_000, 50_000)
        outage = Outage(after=count // 2, seconds=seconds(1.0, 20.0))

        def track(emitter: Emitter) -> Tracker:
            tracker = Tracker(emitters=emitter)
            _track_from_threads(tracker, count // 2, category="before")
            assert emitter.flush(timeout=60)
            _track_from_threads(tracker, count // 2, category="during")
            return tracker

        result = run(
            f"{outage.seconds:g} s outage (503) in the middle of a run",
            FaultCollector(outage),
            count,
            track=track,
            note=lambda r: (
                f"{r.tally.refused} requests refused during the outage; all "
                f"delivered {time.monotonic() - (outage.started or 0):.1f} s after it began"
            ),
            retry=Retry(initial_delay=0.05, max_delay=0.5, jitter=0.05),
        )

        result.assert_all_delivered_once()
        assert outage.ended.is_set()
        assert result.tally.refused == result.stats["retried"] > 0

    def test_collector_comes_up_after_the_job_started(self, run: Runner) -> None:
        """Connections refused until the collector listens: then everything arrives."""
        count = size(2_000, 20_000)
        collector = FaultCollector(listening=False)

        def track(emitter: Emitter) -> Tracker:
            tracker = Tracker(emitters=emitter)
            _track_from_threads(tracker, count)
            assert wait_until(lambda: emitter.stats["requests"] >= 3)
            collector.listen()
            return tracker

        result = run(
            "collector comes up after the job started (connections refused)",
            collector,
            count,
            track=track,
            note=lambda r: (
                f"{r.stats['requests'] - r.tally.requests} connections refused"
            ),
        )

        result.assert_all_delivered_once()
        assert result.stats["requests"] > result.tally.requests

    def test_first_seconds_fail_with_503(self, run: Runner) -> None:
        """A collector answering 503 for its first moments still gets everything."""
        outage = Outage(after=0, seconds=seconds(0.5, 5.0))
        result = run(
            f"503 for the first {outage.seconds:g} s",
            FaultCollector(outage),
            size(2_000, 20_000),
        )

        result.assert_all_delivered_once()
        assert outage.ended.is_set()


class TestUnansweredRequests:
    """When the collector took a batch but the client saw no answer, it resends."""

    @pytest.mark.parametrize(
        ("scenario", "fault", "timeout"),
        [
            ("accept then drop the connection (20%)", Fault(kind=Kind.DROP), 5.0),
            # A timeout generous enough that only the slow answers miss it, even
            # on a busy machine: a normal answer timing out would add a duplicate.
            (
                "answer slower than the timeout (20%)",
                Fault(kind=Kind.SLOW, delay=2.0),
                0.6,
            ),
        ],
        ids=["drop", "slow"],
    )
    def test_duplicates_are_exactly_the_unanswered_copies(
        self, run: Runner, scenario: str, fault: Fault, timeout: float
    ) -> None:
        """Each unanswered batch arrives again: no loss, and every duplicate explained."""
        result = run(
            scenario,
            FaultCollector(random_faults(0.2, [fault], seed=3)),
            size(2_000, 20_000),
            note=lambda r: f"{r.tally.refused} requests unanswered; each resent whole",
            timeout=timeout,
            batch_size=100,
        )

        assert result.delivered
        check_identity(result.stats)
        assert result.stats["sent"] == result.tally.delivered == result.count
        assert result.tally.refused > 0
        assert result.tally.duplicates == result.tally.unanswered_copies


class TestRefusedBatches:
    """A 400 fails its batch at once: counted as failed, never retried."""

    def test_bad_request_fails_only_its_batch(self, run: Runner) -> None:
        """Batches holding a poisoned event get 400; the rest arrive; the books add up."""
        failures: list[int] = []
        count = size(2_000, 20_000)
        result = run(
            "400 for batches holding a bad event",
            FaultCollector(_refuse_poison),
            count,
            track=_track_poison(count, every=500),
            batch_size=50,
            on_failure=lambda sent, payloads: failures.append(len(payloads)),
        )

        result.assert_failed_batches_counted()
        assert result.stats["failed"] == sum(failures)
        assert result.tally.duplicates == result.stats["retried"] == 0


class TestRaisingUserCode:
    """User code that raises never stops the worker."""

    def test_raising_callbacks(self, run: Runner) -> None:
        """on_success and on_failure raise on every call; every batch is still resolved."""
        calls = {"success": 0, "failure": 0}

        def on_success(payloads: list[dict[str, str]]) -> None:
            calls["success"] += 1
            raise RuntimeError("user bug")

        def on_failure(sent: int, payloads: list[dict[str, str]]) -> None:
            calls["failure"] += 1
            raise RuntimeError("user bug")

        count = size(2_000, 20_000)
        result = run(
            "on_success and on_failure raise on every call",
            FaultCollector(_refuse_poison),
            count,
            track=_track_poison(count, every=400),
            batch_size=50,
            on_success=on_success,
            on_failure=on_failure,
        )

        result.assert_failed_batches_counted()
        assert calls["success"] > 1
        assert calls["failure"] > 1

    def test_raising_json_encoder(self, run: Runner) -> None:
        """A json_encoder raising on every value falls back to str; events arrive."""
        count = size(500, 5_000)

        def json_encoder(value: object) -> object:
            raise ValueError("user bug")

        def track(emitter: Emitter) -> Tracker:
            tracker = Tracker(emitters=emitter, json_encoder=json_encoder)
            for n in range(count):
                data = {"n": n, "odd": object()}
                tracker.track(
                    SelfDescribing(
                        event_json=SelfDescribingJson(schema=THING, data=data)
                    )
                )
            return tracker

        result = run(
            "json_encoder raises on every value", FaultCollector(), count, track=track
        )

        result.assert_all_delivered_once()
        assert result.tracker.stats["encoding_fallbacks"] == count

    def test_raising_custom_emitter(self, run: Runner) -> None:
        """A custom emitter raising from input() does not stop the other emitter."""
        count = size(1_000, 10_000)

        class Broken:
            def input(self, payload: dict[str, str]) -> None:
                raise RuntimeError("user bug")

        def track(emitter: Emitter) -> Tracker:
            tracker = Tracker(emitters=[Broken(), emitter])
            _track_from_threads(tracker, count)
            return tracker

        result = run(
            "a second, custom emitter raises from input()",
            FaultCollector(),
            count,
            track=track,
        )

        result.assert_all_delivered_once()
        assert result.tracker.stats["emitter_errors"] == count
