"""A batch job for the process-level reliability scenarios.

Usage: job.py MODE URL COUNT EXIT_TIMEOUT

MODE is one of ``exit`` (track from four threads and just exit), ``burst``
(track COUNT events into a queue of 10,000 and measure RSS), ``sigterm``
(track, then print ``flushing`` and flush; SIGTERM keeps its default action),
``sigterm-exit`` (the same with a SIGTERM handler calling ``sys.exit``),
``shutdown-finally`` and ``shutdown-atexit`` (a ``SnowplowHandler`` closed by
``logging.shutdown()`` from a ``finally`` block or an ``atexit`` function) and
``fork`` (events pending in back-off when the process forks).

The last line on stdout is a JSON object: the emitter's final ``stats`` (taken
after the library's own exit hook ran, since this hook is registered first and
atexit runs last-in first-out), ``done`` (``time.monotonic()`` when the job's
work ended) and ``end`` (when the interpreter was about to exit).
"""

from __future__ import annotations

import atexit
import json
import sys
import time
from collections.abc import Callable

RESULT: dict[str, object] = {}
STATS: list[Callable[[], dict[str, int]]] = []


def _report() -> None:
    RESULT["stats"] = STATS[0]() if STATS else {}
    RESULT["end"] = time.monotonic()
    sys.stdout.write(json.dumps(RESULT) + "\n")
    sys.stdout.flush()


atexit.register(_report)  # before the library's hook, so it runs after it

import logging  # noqa: E402 - the report hook must be registered first
import os  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402
from types import FrameType  # noqa: E402

import snowplow_logging  # noqa: E402
from snowplow_logging import (  # noqa: E402
    Emitter,
    Retry,
    SnowplowHandler,
    StructuredEvent,
    Tracker,
)

FAST = Retry(initial_delay=0.05, max_delay=0.2, jitter=0.01)


def rss_kib() -> int:
    """This process's resident set size, from /proc/self/status."""
    with open("/proc/self/status", encoding="ascii") as status:  # noqa: PTH123
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def track_from_threads(tracker: Tracker, count: int, category: str = "job") -> None:
    def work(worker: int) -> None:
        for n in range(count // 4):
            tracker.track(StructuredEvent(category=category, action=f"{worker}-{n}"))

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def wait_until(predicate: Callable[[], bool]) -> None:
    pause = threading.Event()
    while not predicate():
        pause.wait(0.005)


def tracked_emitter(url: str, **options: object) -> tuple[Tracker, Emitter]:
    emitter = Emitter(url, **options)  # type: ignore[arg-type]
    STATS.append(lambda: emitter.stats)
    return Tracker(emitters=emitter), emitter


def main() -> None:
    mode, url, count_text, exit_timeout = sys.argv[1:5]
    count = int(count_text)
    snowplow_logging.set_exit_timeout(float(exit_timeout))
    if mode == "exit":
        tracker, _ = tracked_emitter(url, retry=FAST, max_queue=count)
        track_from_threads(tracker, count)
    elif mode == "burst":
        tracker, emitter = tracked_emitter(url, max_queue=10_000)
        before = rss_kib()
        for n in range(count):
            tracker.track(StructuredEvent(category="burst", action=str(n)))
            if n == 10_000 - 1:
                RESULT["rss_full_queue_kib"] = rss_kib()
        RESULT["rss_before_kib"] = before
        RESULT["rss_end_kib"] = rss_kib()
        RESULT["stats_before_exit"] = emitter.stats
    elif mode in {"sigterm", "sigterm-exit"}:
        if mode == "sigterm-exit":

            def on_sigterm(signum: int, frame: FrameType | None) -> None:
                RESULT["signalled"] = time.monotonic()
                sys.exit(128 + signum)

            signal.signal(signal.SIGTERM, on_sigterm)
        tracker, emitter = tracked_emitter(url, retry=FAST, max_queue=count)
        track_from_threads(tracker, count)
        sys.stdout.write("flushing\n")
        sys.stdout.flush()
        RESULT["flushed"] = emitter.flush(timeout=60)
    elif mode in {"shutdown-finally", "shutdown-atexit"}:
        handler = SnowplowHandler(
            endpoint=url, flush_interval=60.0, max_queue=count + 1
        )
        STATS.append(lambda: handler.stats)
        log = logging.getLogger("job")
        log.propagate = False
        log.addHandler(handler)
        log.setLevel(logging.INFO)

        def step(n: int) -> None:
            event = StructuredEvent(category="job", action=f"step-{n}")
            log.info("step %d", n, extra={"snowplow": event})

        if mode == "shutdown-atexit":

            def finish() -> None:  # runs before the library's exit hook
                step(count - 1)
                logging.shutdown()

            atexit.register(finish)
            for n in range(count - 1):
                step(n)
        else:
            try:
                for n in range(count):
                    step(n)
            finally:
                logging.shutdown()
    elif mode == "fork":
        fork(url, count)
    RESULT["done"] = time.monotonic()


def fork(url: str, count: int) -> None:
    """Fork while the parent's events wait in back-off; each side sends its own."""
    tracker, emitter = tracked_emitter(url, retry=FAST, flush_interval=0.05)
    for n in range(count):
        tracker.track(StructuredEvent(category="parent", action=str(n)))
    wait_until(lambda: emitter.stats["retried"] >= 1)  # pending, in back-off
    pid = os.fork()
    if pid == 0:
        for n in range(count):
            tracker.track(StructuredEvent(category="child", action=str(n)))
        delivered = emitter.flush(timeout=20)
        stats = emitter.stats
        ok = delivered and (stats["inputs"], stats["sent"]) == (count, count)
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    RESULT["child_exit"] = os.waitstatus_to_exitcode(status)
    RESULT["parent_delivered"] = emitter.flush(timeout=30)


main()
