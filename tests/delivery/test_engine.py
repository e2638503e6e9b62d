"""The engine with a PushSink, as the Redis, Celery and spool emitters use it, on a list."""

from __future__ import annotations

import threading

import pytest

from snowplow_logging import Retry, StructuredEvent, Tracker
from snowplow_logging._delivery.engine import Engine, Settings
from snowplow_logging._delivery.relay import PushSink
from snowplow_logging._protocol import Payload
from snowplow_logging._tracker import PendingEvent


def _as_is(payload: Payload) -> Payload:
    return payload


def _retryable(exc: Exception) -> bool:
    return isinstance(exc, OSError)


class ListRelay(Engine[Payload]):
    """Pushes batches into a list; the first ``fail`` pushes raise ``error``."""

    def __init__(self, *, fail: int = 0, error: Exception | None = None) -> None:
        self.batches: list[list[Payload]] = []
        self.threads: set[str] = set()
        self._fail, self._error = fail, error or ConnectionError("down")
        sink = PushSink(
            describe="list",
            batch_size=10,
            encode=_as_is,
            push=self._push,
            retryable=_retryable,
        )
        super().__init__(
            sink,
            name="ListRelay",
            settings=Settings(
                100, 1.0, Retry(initial_delay=0.001, max_delay=0.01, jitter=0.0)
            ),
        )

    def _push(self, batch: list[Payload]) -> int:
        self.threads.add(threading.current_thread().name)
        if self._fail:
            self._fail -= 1
            raise self._error
        self.batches.append(batch)
        return 0


def _identity(stats: dict[str, int]) -> None:
    assert stats["inputs"] == (
        stats["sent"] + stats["failed"] + stats["dropped"] + stats["queued"]
    )


def test_tracker_builds_payloads_on_the_relay_thread() -> None:
    """A Tracker hands the relay deferred payloads; they are built before the push."""
    relay = ListRelay()
    tracker = Tracker(emitters=relay, app_id="relay")

    ids = [
        tracker.track(StructuredEvent(category="c", action=str(n))) for n in range(25)
    ]
    assert relay.flush(timeout=10)
    relay.close()

    pushed = [payload for batch in relay.batches for payload in batch]
    assert [payload["eid"] for payload in pushed] == ids
    assert {payload["aid"] for payload in pushed} == {"relay"}
    assert [len(batch) for batch in relay.batches] == [10, 10, 5]
    (thread,) = relay.threads  # one worker thread, named after the class
    assert thread.startswith("snowplow_logging.ListRelay-")
    assert relay.stats["sent"] == 25


def test_a_deferred_payload_that_raises_counts_as_failed() -> None:
    """One payload that cannot be built fails alone; the rest are pushed."""
    relay = ListRelay()

    def broken() -> Payload:
        raise ValueError("no payload")

    relay.input({"e": "pv", "eid": "1"})
    relay.defer(PendingEvent(broken))
    relay.defer(PendingEvent(dict, e="pv", eid="3"))
    assert relay.flush(timeout=10)
    relay.close()

    assert [p["eid"] for batch in relay.batches for p in batch] == ["1", "3"]
    stats = relay.stats
    assert (stats["sent"], stats["failed"]) == (2, 1)
    _identity(stats)


@pytest.mark.parametrize(
    ("error", "sent", "failed", "requests"),
    [(ConnectionError("down"), 3, 0, 3), (KeyError("bad"), 0, 3, 1)],
    ids=["retryable", "final"],
)
def test_retryable_errors_are_retried_others_fail_the_batch(
    error: Exception, sent: int, failed: int, requests: int
) -> None:
    """An OSError is retried with back-off; any other error fails the batch."""
    relay = ListRelay(fail=2, error=error)
    for n in range(3):
        relay.input({"e": "pv", "eid": str(n)})

    assert relay.flush(timeout=10)
    relay.close()

    stats = relay.stats
    assert (stats["sent"], stats["failed"], stats["requests"]) == (
        sent,
        failed,
        requests,
    )
    assert stats["retried"] == requests - 1
    _identity(stats)


def test_close_is_idempotent_and_later_inputs_are_dropped() -> None:
    """After close, input() drops and counts; a second close returns True."""
    relay = ListRelay()
    relay.input({"e": "pv", "eid": "1"})

    assert relay.close(timeout=10)
    relay.input({"e": "pv", "eid": "2"})

    assert relay.close(timeout=10)
    assert relay.stats["dropped_closed"] == 1
    assert "closed=True" in repr(relay)
