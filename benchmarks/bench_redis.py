"""Events/s through Redis with 1 and 2 workers, beside the direct emitter; spool cost.

One run, one local sink (``bench_emitter.Sink``: a raw asyncio HTTP server in a
subprocess that counts events) and one ``redis-server`` without persistence on
a free port. Four producer processes each track ``--events`` structured events:

- ``direct``: each producer sends with its own ``Emitter``;
- ``redis, N workers``: each producer pushes with ``RedisEmitter``; N
  ``snowplow-logging worker`` processes, started beforehand, ship to the sink.

The clock runs from the "go" line sent to the ready producers until the sink has
counted every event; for Redis, the producers' own time (until their events
are in Redis) is shown too. Then one process sends ``--events`` events with
``Emitter`` and with ``SpoolEmitter``: the difference per event is the spool's
cost. Each scenario runs ``--rounds`` times; medians are reported.

Run: ``python benchmarks/bench_redis.py`` (needs ``redis-server`` and the
``redis`` extra).
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, cast

from bench_emitter import Sink

from snowplow_logging import Emitter, EmitterLike, StructuredEvent, Tracker
from snowplow_logging.redis import RedisEmitter
from snowplow_logging.spool import SpoolEmitter

PRODUCERS = 4
KEY = "bench:events"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return cast("int", sock.getsockname()[1])


def _redis_server(directory: str) -> tuple[subprocess.Popen[str], str]:
    port = _free_port()
    process = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            directory,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    for line in cast("IO[str]", process.stdout):
        if "Ready to accept connections" in line:
            break
    return process, f"redis://127.0.0.1:{port}/0"


def _emitter(kind: str, target: str, count: int) -> EmitterLike:
    # Room for every event: the run measures throughput, not the drop policy.
    if kind == "redis":
        return RedisEmitter(target, key=KEY, max_queue=count)
    if kind == "spool":
        directory = tempfile.mkdtemp()
        path = Path(directory) / "spool.sqlite"
        return SpoolEmitter(target, path=path, max_queue=count)
    return Emitter(target, max_queue=count)


def produce(kind: str, target: str, count: int) -> None:
    """One producer process: wait for "go", track, close, report its seconds."""
    emitter = _emitter(kind, target, count)
    tracker = Tracker(emitters=emitter, app_id="bench")
    event = StructuredEvent(category="bench", action="produce", value=1)
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.perf_counter()
    for _ in range(count):
        tracker.track(event)
    tracker.close(timeout=None)
    print(time.perf_counter() - started, flush=True)


def _run_producers(
    kind: str, target: str, count: int, processes: int, sink: Sink
) -> tuple[float, float]:
    """Seconds until the sink has every event, and the slowest producer's."""
    goal = sink.count() + count * processes
    children = [
        subprocess.Popen(
            [sys.executable, __file__, "--produce", kind, target, str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    for child in children:
        if cast("IO[str]", child.stdout).readline() != "ready\n":
            msg = f"a {kind} producer failed to start"
            raise RuntimeError(msg)
    started = time.perf_counter()
    for child in children:
        stdin = cast("IO[str]", child.stdin)
        stdin.write("go\n")
        stdin.flush()
    sink.wait_for(goal)
    total = time.perf_counter() - started
    producer = max(float(child.communicate()[0]) for child in children)
    return total, producer


def _workers(url: str, sink: Sink, count: int) -> list[subprocess.Popen[str]]:
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "snowplow_logging",
                "worker",
                "--redis",
                url,
                "--key",
                KEY,
                "--endpoint",
                sink.url,
                "--name",
                f"bench-{n}",
                "--flush-interval",
                "0.05",
                "--max-in-flight",
                "5000",
            ],
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for n in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="per producer")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--produce", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.produce:
        produce(args.produce[0], args.produce[1], int(args.produce[2]))
        return
    total = args.events * PRODUCERS
    sink = Sink()
    directory = tempfile.TemporaryDirectory()
    server, url = _redis_server(directory.name)
    try:
        print(f"{PRODUCERS} producers x {args.events} events, {args.rounds} rounds")
        results: dict[str, list[tuple[float, float]]] = {}
        scenarios = (("direct", 0), ("redis, 1 worker", 1), ("redis, 2 workers", 2))
        for name, workers in scenarios:
            running = _workers(url, sink, workers)
            kind, target = ("direct", sink.url) if not workers else ("redis", url)
            results[name] = [
                _run_producers(kind, target, args.events, PRODUCERS, sink)
                for _ in range(args.rounds)
            ]
            for worker in running:
                worker.terminate()
                worker.wait()
        for name, runs in results.items():
            seconds = statistics.median(run[0] for run in runs)
            producers = statistics.median(run[1] for run in runs)
            print(
                f"{name:18} {total / seconds:>10,.0f} events/s end to end"
                f"   producers done in {producers:.2f} s"
            )
        single = {
            kind: statistics.median(
                _run_producers(kind, sink.url, args.events, 1, sink)[0]
                for _ in range(args.rounds)
            )
            for kind in ("direct", "spool")
        }
        cost = (single["spool"] - single["direct"]) / args.events * 1e6
        print(
            f"one process: Emitter {args.events / single['direct']:,.0f} events/s, "
            f"SpoolEmitter {args.events / single['spool']:,.0f} events/s "
            f"({cost:+.1f} us per event)"
        )
    finally:
        server.terminate()
        server.wait()
        sink.close()
        directory.cleanup()


if __name__ == "__main__":
    main()
