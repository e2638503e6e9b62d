"""Per-record cost on the caller's thread of a tagged log call, in one run.

Compares, for the same ``logger.info("paid", extra={"snowplow": <event>})`` call:

- ``logging.NullHandler`` (the floor: logging itself plus building the event),
- stdlib ``QueueHandler`` into a ``SimpleQueue`` (format + copy + put),
- the official ``snowplow-tracker`` 1.1.0 ``Tracker`` + ``AsyncEmitter`` called from
  a plain handler (its own event classes),
- our ``SnowplowHandler`` with a real ``Emitter``.

Both trackers buffer only during the timed loop (batch sizes larger than the run),
so what is measured is the work done on the caller's thread. Prints microseconds
per record and the ratios. Needs the ``bench`` dependency group:
``pip install --group bench -e .``

Run: python benchmarks/bench_handler.py [records-per-round]
"""

from __future__ import annotations

import gc
import logging
import logging.handlers
import queue
import statistics
import sys
import threading
import time
from collections.abc import Callable

from snowplow_tracker.emitters import AsyncEmitter
from snowplow_tracker.events.self_describing import (
    SelfDescribing as OfficialSelfDescribing,
)
from snowplow_tracker.events.structured_event import (
    StructuredEvent as OfficialStructuredEvent,
)
from snowplow_tracker.self_describing_json import SelfDescribingJson as OfficialSDJ
from snowplow_tracker.tracker import Tracker as OfficialTracker

from snowplow_logging import (
    Emitter,
    SelfDescribing,
    SelfDescribingJson,
    SnowplowHandler,
    StructuredEvent,
    Tracker,
    set_exit_timeout,
)

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
ROUNDS = 5
ENDPOINT = "http://127.0.0.1:9"  # nothing is sent during the timed loop
APP = "iglu:com.snowplowanalytics.snowplow/application/jsonschema/1-0-0"
LINK = "iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1"


def ours_struct() -> object:
    return StructuredEvent(category="checkout", action="paid", label="card", value=30)


def ours_sd() -> object:
    return SelfDescribing(
        event_json=SelfDescribingJson(
            schema=LINK, data={"targetUrl": "https://x.test/a"}
        ),
        context=[SelfDescribingJson(schema=APP, data={"version": "1.0"})],
    )


def official_struct() -> object:
    return OfficialStructuredEvent(
        category="checkout", action="paid", label="card", value=30
    )


def official_sd() -> object:
    return OfficialSelfDescribing(
        OfficialSDJ(LINK, {"targetUrl": "https://x.test/a"}),
        context=[OfficialSDJ(APP, {"version": "1.0"})],
    )


class OfficialHandler(logging.Handler):
    """The obvious way to drive the official tracker from logging."""

    def __init__(self) -> None:
        super().__init__()
        emitter = AsyncEmitter(
            "127.0.0.1",
            port=9,
            batch_size=10**9,
            buffer_capacity=10**9,
            request_timeout=1,
        )
        self.emitter = emitter
        self.tracker = OfficialTracker("bench", emitters=emitter, app_id="bench")

    def close(self) -> None:
        self.emitter.event_store.event_buffer.clear()  # type: ignore[attr-defined]  # drop, send nothing
        super().close()

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "snowplow", None)
        if event is not None:
            self.tracker.track(event)


def measure(
    configs: dict[str, tuple[Callable[[], logging.Handler], Callable[[], object]]],
) -> dict[str, float]:
    """Median per-record time in microseconds.

    Rounds are interleaved across configs, so a change in machine load hits every
    config alike; each round gets a fresh handler (so buffers do not pile up) and
    runs with the garbage collector paused after a full collection, so that what
    one config left behind does not bill the next.
    """
    samples: dict[str, list[float]] = {label: [] for label in configs}
    for round_ in range(ROUNDS):
        for label, (make_handler, make_event) in configs.items():
            handler = make_handler()
            logger = logging.getLogger(f"bench.{label}.{round_}")
            logger.propagate = False
            logger.setLevel(logging.INFO)
            logger.addHandler(handler)
            info = logger.info
            gc.collect()
            gc.disable()
            started = time.perf_counter()
            for _ in range(N):
                info("paid", extra={"snowplow": make_event()})
            elapsed = time.perf_counter() - started
            gc.enable()
            samples[label].append(elapsed / N * 1e6)
            logger.removeHandler(handler)
            handler.close()
            if isinstance(handler, SnowplowHandler):
                # Drop what was queued, so that its worker does not build it
                # during the next config's timed loop.
                handler.tracker.close(timeout=0)
                _join_workers()
    return {label: statistics.median(values) for label, values in samples.items()}


def _join_workers() -> None:
    for thread in threading.enumerate():
        if thread.name.startswith("snowplow_logging."):
            thread.join(30)


def ours() -> SnowplowHandler:
    emitter = Emitter(ENDPOINT, batch_size=10**9, max_queue=10**9, flush_interval=3600)
    return SnowplowHandler(
        tracker=Tracker(emitters=emitter, app_id="bench"), flush_timeout=0
    )


def main() -> None:
    set_exit_timeout(0)
    logging.getLogger("snowplow_tracker").setLevel(logging.CRITICAL)
    # Our emitters point at a closed port on purpose: no reports of that.
    logging.getLogger("snowplow_logging").setLevel(logging.CRITICAL)
    rows = []
    for name, our_event, their_event in (
        ("structured event", ours_struct, official_struct),
        ("self-describing + 1 entity", ours_sd, official_sd),
    ):
        results = measure(
            {
                "NullHandler": (logging.NullHandler, our_event),
                "NullHandler, official event": (logging.NullHandler, their_event),
                "QueueHandler": (
                    lambda: logging.handlers.QueueHandler(queue.SimpleQueue()),
                    our_event,
                ),
                "official tracker": (OfficialHandler, their_event),
                "SnowplowHandler": (ours, our_event),
            }
        )
        rows.append((name, results))
    print(f"per-record cost on the caller's thread, median of {ROUNDS} rounds of {N:,}")
    for name, results in rows:
        print(f"\n{name}")
        for label, value in results.items():
            print(f"  {label:<28} {value:7.2f} us")
        ours_us = results["SnowplowHandler"]
        print(f"  ours / QueueHandler      = {ours_us / results['QueueHandler']:.2f}x")
        ours_above = ours_us - results["NullHandler"]
        official_above = (
            results["official tracker"] - results["NullHandler, official event"]
        )
        print(
            f"  official / ours (whole call)       = {results['official tracker'] / ours_us:.2f}x"
        )
        print(
            f"  official / ours (above the floor)  = {official_above / ours_above:.2f}x"
        )
        print(f"  ours above NullHandler             = {ours_above:.2f} us")
        print(
            f"  QueueHandler above NullHandler     = {results['QueueHandler'] - results['NullHandler']:.2f} us"
        )


if __name__ == "__main__":
    main()
