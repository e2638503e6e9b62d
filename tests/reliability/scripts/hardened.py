"""Processes for the hardening scenarios (issue #14).

Usage: hardened.py MODE URL ARG

``exit``: a ``SnowplowHandler`` (its default ``flush_timeout``) and
``set_exit_timeout(2)``, ARG events logged, then the script's code ends.
``signals``: SIGALRM every 0.5 ms for ARG seconds, the handler tracking an event
and reading stats while the main thread does the same.
``fork``: ARG forks while two threads hammer ``track()`` and stats; a child not
done within 5 s is killed and counted as hung.

The last line on stdout is a JSON object: the emitter's final ``stats`` (taken
by an atexit function registered before ``snowplow_logging`` is imported, so it
runs after the library's exit hook) and ``done``, ``time.monotonic()`` when the
script's main code ended.
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
    SnowplowHandler,
    StructuredEvent,
    Tracker,
)


def exit_through_handler(url: str, count: int) -> None:
    snowplow_logging.set_exit_timeout(2.0)
    handler = SnowplowHandler(endpoint=url)
    STATS.append(lambda: handler.stats)
    log = logging.getLogger("hardened")
    log.propagate = False
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    for n in range(count):
        log.info(
            "step %d",
            n,
            extra={"snowplow": StructuredEvent(category="job", action=str(n))},
        )


def signals(url: str, duration: float) -> None:
    snowplow_logging.set_exit_timeout(0)
    emitter = Emitter(url, max_queue=50, flush_interval=0.001)
    STATS.append(lambda: emitter.stats)
    tracker = Tracker(emitters=emitter)
    event = StructuredEvent(category="c", action="a")
    counts = {"handled": 0, "main": 0}
    end = time.monotonic() + duration

    def read_stats() -> None:
        emitter.stats  # noqa: B018 - reading them is the point
        tracker.stats  # noqa: B018

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        counts["handled"] += 1
        if time.monotonic() > end:  # a loaded machine may run only handlers
            signal.setitimer(signal.ITIMER_REAL, 0)
        tracker.track(event)
        read_stats()

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
    try:
        while time.monotonic() < end:
            tracker.track(event)
            counts["main"] += 1
            read_stats()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    RESULT.update(counts)


def fork(url: str, forks: int) -> None:
    snowplow_logging.set_exit_timeout(0)
    emitter = Emitter(url, max_queue=10)
    STATS.append(lambda: emitter.stats)
    tracker = Tracker(emitters=emitter)
    event = StructuredEvent(category="c", action="a")
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            tracker.track(event)
            emitter.stats  # noqa: B018
            tracker.stats  # noqa: B018

    threads = [threading.Thread(target=hammer, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    hung = failed = 0
    for _ in range(forks):
        pid = os.fork()
        if pid == 0:
            tracker.track(event)
            stats = emitter.stats
            tracker.stats  # noqa: B018
            logging.getLogger("snowplow_logging").warning("child %d", os.getpid())
            ok = stats["inputs"] == (
                stats["sent"] + stats["failed"] + stats["dropped"] + stats["queued"]
            )
            os._exit(0 if ok else 1)
        deadline = time.monotonic() + 5
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                failed += os.waitstatus_to_exitcode(status) != 0
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                hung += 1
                break
            time.sleep(0.001)
    stop.set()
    for thread in threads:
        thread.join()
    RESULT.update(hung=hung, failed_children=failed, forks=forks)


def main() -> None:
    mode, url, arg = sys.argv[1:4]
    if mode == "exit":
        exit_through_handler(url, int(arg))
    elif mode == "signals":
        signals(url, float(arg))
    elif mode == "fork":
        fork(url, int(arg))
    RESULT["done"] = time.monotonic()


main()
