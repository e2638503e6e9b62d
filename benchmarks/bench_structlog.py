"""What SnowplowProcessor adds to a structlog pipeline ending in JSONRenderer.

One run times the same pipeline (``merge_contextvars``, ``add_log_level``,
``TimeStamper(fmt="iso")``, ``JSONRenderer``, into a ``ReturnLogger`` so no I/O is
timed) with and without the processor, interleaving rounds:

- tagged: ``log.info("order paid", order_id="A-1", snowplow=EVENT)`` with the
  processor, against the same call without ``snowplow=`` and without the
  processor: both render the same line. The event is built once, outside the
  loop, so the difference is the processor alone (tag lookup, payload, enqueue).
- untagged: ``log.info("order paid", order_id="A-1")`` with and without it, and
  with a processor class whose ``__call__`` only returns the event dict: what
  any extra step in the chain costs.
- floor: a bare processor that pops the tag and calls ``tracker.track()`` with
  the no-op emitter: what tracking with a built payload costs before the
  processor does anything of its own.
- the baseline and the tagged call again with a ``PrintLogger`` writing to
  ``os.devnull``, as a real pipeline writes its lines somewhere.

The tracker's emitter is a no-op (``input()`` does nothing), so what is timed is
the call-site cost; such a third-party emitter takes built payloads, so the
payload is built on the calling thread. An emitter that also has
``defer(pending)`` (``Emitter`` does) takes pending events instead, through
``Tracker.submit``: the caller only enqueues, and the event id, the payload
(``pending.build()``) and the ISO time are made on its worker thread. The "real
Emitter" row uses it, pointed at a closed port with a batch larger than the run,
so it only enqueues (its queue grows through the run, as it would while the
collector is down); the "deferring no-op" row is the same without the queue:
the processor and the tracker alone.

Prints microseconds per call and the ratios. Rounds of the cases alternate and
the fastest round of each counts (as ``timeit`` advises): on a busy machine the
slower rounds measure the neighbours, not the code.

Run: python benchmarks/bench_structlog.py [calls-per-round]
"""

from __future__ import annotations

import gc
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import TextIO

import structlog

from snowplow_logging import (
    Emitter,
    Payload,
    SelfDescribingJson,
    StructuredEvent,
    Tracker,
    set_exit_timeout,
)
from snowplow_logging._delivery.sink import Pending
from snowplow_logging.structlog import SnowplowProcessor

N = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000
ROUNDS = 21
EVENT = StructuredEvent(category="checkout", action="paid", label="card", value=30)
APP = SelfDescribingJson(
    schema="iglu:com.snowplowanalytics.snowplow/application/jsonschema/1-0-0",
    data={"version": "1.4.2"},
)


class NullEmitter:
    """Accepts payloads and drops them: only the call site is measured."""

    def input(self, payload: Payload) -> None:
        """Drop ``payload``."""


class PassThrough:
    """A processor that does nothing: the cost of one more step in the chain."""

    def __call__(
        self, logger: object, method_name: str, event_dict: structlog.typing.EventDict
    ) -> structlog.typing.EventDict:
        """Return ``event_dict`` untouched."""
        return event_dict


class DeferringNullEmitter(NullEmitter):
    """Takes pending events, like ``Emitter``, and drops them unbuilt."""

    def defer(self, pending: Pending) -> None:
        """Drop ``pending`` without building its payload."""


def _logger(
    *extra: structlog.typing.Processor, sink: TextIO | None = None
) -> structlog.typing.FilteringBoundLogger:
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso"),
        *extra,
        structlog.processors.JSONRenderer(),
    ]
    logger: structlog.typing.FilteringBoundLogger = structlog.wrap_logger(
        structlog.ReturnLogger() if sink is None else structlog.PrintLogger(sink),
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(0),
    )
    return logger


def _time(call: Callable[[], object]) -> float:
    """Microseconds per call for one round of N calls."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for _ in range(N):
            call()
        elapsed = time.perf_counter_ns() - start
    finally:
        gc.enable()
    return elapsed / N / 1000


def main() -> None:
    set_exit_timeout(0)  # the real emitter's queue is dropped at exit, not sent
    logging.getLogger("snowplow_logging").setLevel(logging.CRITICAL)  # nor reported
    null_log = _logger(SnowplowProcessor(Tracker(emitters=NullEmitter())))
    real = Emitter(
        "http://127.0.0.1:9",
        batch_size=10 * N * ROUNDS,
        byte_limit=10**9,
        max_queue=10 * N * ROUNDS,
        flush_interval=3600,
    )
    real_log = _logger(SnowplowProcessor(Tracker(emitters=real)))
    deferring_log = _logger(SnowplowProcessor(Tracker(emitters=DeferringNullEmitter())))
    plain = _logger()
    floor_tracker = Tracker(emitters=NullEmitter())

    def track_only(
        logger: object, method_name: str, event_dict: structlog.typing.EventDict
    ) -> structlog.typing.EventDict:
        """The floor: what the tracker alone costs, the tag popped, no checks."""
        floor_tracker.track(event_dict.pop("snowplow"))
        return event_dict

    floor_log = _logger(track_only)
    step_log = _logger(PassThrough())
    devnull = open(os.devnull, "w")  # noqa: PTH123, SIM115 - open for the whole run
    plain_io = _logger(sink=devnull)
    null_io = _logger(SnowplowProcessor(Tracker(emitters=NullEmitter())), sink=devnull)
    cases: dict[str, Callable[[], object]] = {
        "baseline": lambda: plain.info("order paid", order_id="A-1"),
        "floor: tracker.track only": lambda: floor_log.info(
            "order paid", order_id="A-1", snowplow=EVENT
        ),
        "tagged, no-op emitter": lambda: null_log.info(
            "order paid", order_id="A-1", snowplow=EVENT
        ),
        "tagged, real Emitter": lambda: real_log.info(
            "order paid", order_id="A-1", snowplow=EVENT
        ),
        "tagged, deferring no-op": lambda: deferring_log.info(
            "order paid", order_id="A-1", snowplow=EVENT
        ),
        "tagged + entity, no-op": lambda: null_log.info(
            "order paid", order_id="A-1", snowplow=EVENT, snowplow_context=APP
        ),
        "untagged, with processor": lambda: null_log.info("order paid", order_id="A-1"),
        "untagged, do-nothing step": lambda: step_log.info(
            "order paid", order_id="A-1"
        ),
        "baseline, PrintLogger": lambda: plain_io.info("order paid", order_id="A-1"),
        "tagged, no-op, PrintLogger": lambda: null_io.info(
            "order paid", order_id="A-1", snowplow=EVENT
        ),
    }
    same = [json.loads(log.info("x", a=1)) for log in (plain, null_log)]
    same[1]["timestamp"] = same[0]["timestamp"]
    assert same[0] == same[1]  # noqa: S101 - the processor leaves the line alone
    for call in cases.values():  # warm up
        for _ in range(1000):
            call()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name, call in cases.items():
            times[name].append(_time(call))
    best = {name: min(values) for name, values in times.items()}
    base = best["baseline"]
    print(f"{N} calls x {ROUNDS} rounds, Python {sys.version.split()[0]}")
    print(f"structlog {structlog.__version__}, pipeline ending in JSONRenderer")
    for name, fastest in best.items():
        median = statistics.median(times[name])
        ref = best["baseline, PrintLogger"] if "PrintLogger" in name else base
        print(
            f"  {name:<28} {fastest:7.2f} us/call (median {median:6.2f})  "
            f"ratio {fastest / ref:.2f}x"
        )
    print(
        "untagged overhead: "
        f"{(best['untagged, with processor'] - base) * 1000:+.0f} ns/call "
        f"({best['untagged, with processor'] / base - 1:+.1%}); a do-nothing step: "
        f"{(best['untagged, do-nothing step'] - base) * 1000:+.0f} ns/call"
    )
    devnull.close()
    real.close(timeout=0)


if __name__ == "__main__":
    main()
