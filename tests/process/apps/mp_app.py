"""Log one Snowplow event per task in multiprocessing children, then end.

Usage: mp_app.py MODEL START_METHOD. The collector is $SNOWPLOW_URL, the exit
timeout $SNOWPLOW_EXIT_TIMEOUT if set. MODEL is
``pool`` (close and join), ``pool_with`` (``with Pool()``, so terminate), ``pool_busy`` (``with Pool()``
left while a task still runs: terminate must not wait for it),
``executor`` (ProcessPoolExecutor) or ``process`` (three Process objects).
Logging is set up at import, so spawn and forkserver children set it up too.
Prints the number of events logged, one per task, as JSON.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from snowplow_logging import SnowplowHandler, StructuredEvent, set_exit_timeout

TASKS = 21
WORKERS = 3

if "SNOWPLOW_EXIT_TIMEOUT" in os.environ:
    set_exit_timeout(float(os.environ["SNOWPLOW_EXIT_TIMEOUT"]))
log = logging.getLogger("mp_app")
log.addHandler(SnowplowHandler(endpoint=os.environ["SNOWPLOW_URL"], app_id="mp"))
log.setLevel(logging.INFO)
log.propagate = False


def task(n: int) -> int:
    event = StructuredEvent(category="task", action=f"task-{n}", value=os.getpid())
    log.info("task %d", n, extra={"snowplow": event})
    return n


BUSY_SECONDS = 60.0
_started: Any = None  # the queue a busy task reports on, given to each worker


def remember_queue(started: object) -> None:
    global _started  # noqa: PLW0603 - set once per worker, by the pool initializer
    _started = started


def busy_task(n: int) -> int:
    """Log, say so, then compute (pure Python) for a minute."""
    task(n)
    _started.put(n)
    until = time.monotonic() + BUSY_SECONDS
    while time.monotonic() < until:
        pass
    return n


def tasks(first: int, count: int) -> None:
    for n in range(first, first + count):
        task(n)


def main(model: str, method: str) -> int:
    context = multiprocessing.get_context(method)
    if model == "pool":
        pool = context.Pool(WORKERS)
        done = pool.map(task, range(TASKS), chunksize=1)
        pool.close()
        pool.join()
    elif model == "pool_with":
        with context.Pool(WORKERS) as pool:
            done = pool.map(task, range(TASKS), chunksize=1)
    elif model == "pool_busy":
        started = context.Queue()
        begun = time.monotonic()
        with context.Pool(2, initializer=remember_queue, initargs=(started,)) as pool:
            busy = pool.apply_async(busy_task, (0,))
            quick = pool.apply_async(task, (1,))
            done = [started.get(timeout=30), quick.get(timeout=30)]
        print(json.dumps({"left_after": time.monotonic() - begun}))
        assert not busy.ready()
    elif model == "executor":
        with ProcessPoolExecutor(WORKERS, mp_context=context) as executor:
            done = list(executor.map(task, range(TASKS)))
    elif model == "process":
        per = TASKS // WORKERS
        children = [
            context.Process(target=tasks, args=(w * per, per))  # type: ignore[attr-defined]
            for w in range(WORKERS)
        ]
        for child in children:
            child.start()
        for child in children:
            child.join()
        done = list(range(TASKS)) if all(c.exitcode == 0 for c in children) else []
    else:
        raise SystemExit(f"unknown model {model!r}")
    print(json.dumps({"logged": len(done)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
