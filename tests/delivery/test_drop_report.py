"""Queue-full drops are reported while the worker keeps draining (#14).

The report used to run only when the worker went idle or backed off: under a
steady load that keeps the queue from ever emptying, nothing was said.
"""

from __future__ import annotations

import logging
import threading

from snowplow_logging import Emitter
from tests.collector import Collector, Reply, Request


class _Gated:
    """Answers 200, each request only once the test opens its gate."""

    def __init__(self) -> None:
        self.gates = [threading.Event() for _ in range(64)]
        self.arrived = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._count = 0

    def events(self, request: Request) -> list[dict[str, str]]:
        return request.events()

    def reply(self, events: list[dict[str, str]]) -> Reply:
        with self._lock:
            gate = self.gates[self._count]
            self._count += 1
        self.arrived.release()
        gate.wait(30)  # the test opens every gate before it ends
        return Reply()

    def record(self, events: list[dict[str, str]], *, answered: bool = True) -> None:
        pass


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "queue full" in record.getMessage():
            self.messages.append(record.getMessage())
            self.seen.set()


def test_drops_are_reported_between_two_sends_of_a_busy_worker() -> None:
    policy = _Gated()
    warnings = _Warnings()
    library = logging.getLogger("snowplow_logging")
    library.addHandler(warnings)
    try:
        with Collector(policy=policy) as collector:
            emitter = Emitter(
                collector.url, batch_size=5, max_queue=10, flush_interval=60, timeout=60
            )
            for _ in range(5):  # a full batch: the worker sends it
                emitter.input({"e": "pv", "eid": "x", "p": "srv", "tv": "t"})
            assert policy.arrived.acquire(timeout=30)  # first request held
            for _ in range(40):  # 5 in flight + 5 queued, then 35 dropped
                emitter.input({"e": "pv", "eid": "x", "p": "srv", "tv": "t"})
            policy.gates[0].set()
            # The worker sends the queued batch at once; that request is held
            # too, so the worker is busy the whole time: no idle moment.
            assert policy.arrived.acquire(timeout=30)
            reported = warnings.seen.wait(20)  # under the 60 s timeout: no retry
            for gate in policy.gates:
                gate.set()
            assert emitter.flush(timeout=30)
            emitter.close()
    finally:
        library.removeHandler(warnings)

    assert reported
    assert warnings.messages[0].endswith("queue full; 35 new events dropped so far.")
    assert emitter.stats["dropped_queue_full"] == 35
