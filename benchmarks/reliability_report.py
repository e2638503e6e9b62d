"""Run the reliability suite and write RELIABILITY.md from its own results (issue #8).

Usage: python benchmarks/reliability_report.py [--quick] [--output RELIABILITY.md]

Runs ``tests/reliability`` with ``SNOWPLOW_RELIABILITY_FULL=1`` (the sizes issue
#8 names; ``--quick`` keeps CI's sizes) and ``SNOWPLOW_RELIABILITY_RESULTS``
pointing at a temporary directory, where every scenario writes its figures as
JSON. If any scenario fails, nothing is written and the exit code is pytest's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

GUARANTEES = """\
## The promise, in plain words

- **Every event you track is delivered, or counted.** Each one ends up in exactly
  one of: delivered (`sent`), refused for good by the collector (`failed`: a 400-class
  answer, or `Retry(max_attempts=...)` used up), or dropped (`dropped`: the queue was
  full, the emitter was closed, or the exit deadline passed). While the process runs,
  `stats["inputs"] == sent + failed + dropped + queued`, and the table below checks it
  at the collector too: tracked = delivered + dropped + failed.
- **Faults delay delivery; they do not lose events.** 503, 429 (with or without
  `Retry-After`), connection resets, refused connections and outages are retried with
  capped back-off until the collector answers; nothing is dropped while the queue has
  room.
- **Duplicates only when they cannot be avoided.** When the collector stored a batch
  but the answer never reached us (the connection dropped after the request, or the
  answer came after the timeout), we cannot know it arrived, so the batch is sent
  again: the collector sees each of those events twice. Deduplicate on `event_id` (the
  `eid`, a UUID per event) downstream; Snowplow's own pipeline does. No other fault
  makes duplicates.
- **Memory is bounded.** At most `max_queue` events (10,000 by default) wait; past
  that, new events are dropped and counted in `dropped_queue_full`.
- **Exit never hangs.** At interpreter exit, and in `logging.shutdown()`, queued events
  are sent within one deadline (`set_exit_timeout`, 5 s by default), even against a
  collector that accepts and never answers, never accepts, answers after 30 s, drips
  one byte at a time or sends `100 Continue` forever; what could not be sent is counted
  in `dropped_unsent` and reported in one warning on the `snowplow_logging` logger. An
  event tracked after the process's final flush (at exit, at a child's end, on SIGTERM
  through `snowplow_logging.install_sigterm_handler()`, or at ASGI lifespan shutdown
  through `SnowplowLifespan`) is dropped, counted in `dropped_closed` and reported.
- **Signals.** SIGTERM's default action still kills the process at once: nothing runs,
  and queued events are lost unreported, unless `snowplow_logging.install_sigterm_handler()`
  is installed: it flushes within its deadline, then ends the process by SIGTERM as
  before (or chains to the handler it replaced). A handler that calls `sys.exit()` runs
  the exit flush too. `multiprocessing` `Pool.terminate()` workers flush automatically.
  A signal handler may track events and read `stats`: no deadlock, however often it
  interrupts the main thread.
- **Fork.** After `os.fork()` the child starts with an empty queue, its own worker and
  renewed locks, so it never hangs on a lock another thread held at the fork; the
  parent still sends what it had queued, once.
- **Spool.** A `SpoolEmitter` file belongs to one process at a time: it is locked from
  construction to `close()`, and a second opener is refused with a `ConfigurationError`
  naming the path. A row that is not a payload is moved to a `quarantine` table,
  counted in `stats["quarantined"]` and in `failed`, and reported once; the other rows
  are sent and the application starts.
- **Your code cannot stop the worker.** Callbacks, a `json_encoder` or another
  emitter that raise are contained and counted; the handler and the structlog
  processor never raise into the logging call, whatever the record carries.
- **Security.** Credentials in the endpoint (`https://user:password@host`) travel as
  Basic auth and are shown as `***` in every `repr`, log line and error message; header
  values are never logged. TLS certificates are verified unless your own
  `requests.Session` says otherwise (as in `requests`, `REQUESTS_CA_BUNDLE` or
  `CURL_CA_BUNDLE`, when set, take precedence over `session.verify`). The local
  collector listens on 127.0.0.1, caps request bodies (1 MiB) and headers, survives
  malformed HTTP, and answers hostile input (huge integers, `iglu:../` paths, deeply
  nested JSON, huge headers) with a 4xx or a bad event, never a 5xx.
"""


def _run_suite(results: Path, *, full: bool) -> tuple[int, float]:
    env = dict(os.environ, SNOWPLOW_RELIABILITY_RESULTS=str(results))
    if full:
        env["SNOWPLOW_RELIABILITY_FULL"] = "1"
    else:
        env.pop("SNOWPLOW_RELIABILITY_FULL", None)
    started = time.monotonic()
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/reliability",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        env=env,
        check=False,
    )
    return completed.returncode, time.monotonic() - started


def _seconds(value: object) -> str:
    return "-" if value is None else f"{float(value):.2f} s"  # type: ignore[arg-type]


def _render(rows: list[dict[str, object]], *, full: bool, duration: float) -> str:
    sizes = "full sizes (`SNOWPLOW_RELIABILITY_FULL=1`)" if full else "quick sizes"
    lines = [
        "# Reliability",
        "",
        "<!-- Generated by benchmarks/reliability_report.py; do not edit by hand. -->",
        "",
        "What `snowplow_logging` does when the network, the collector or your own code",
        "misbehaves, measured by the fault-injection suite in `tests/reliability/`",
        "(a real HTTP collector on 127.0.0.1 that fails on purpose and counts every event",
        "by its `eid`). CI runs the same scenarios at quick sizes on every change.",
        "",
        GUARANTEES,
        "## Scenarios",
        "",
        (
            f"Run at {sizes} on {dt.datetime.now(dt.UTC):%Y-%m-%d}, Python "
            f"{platform.python_version()}, {os.cpu_count()} CPUs; the suite took "
            f"{duration:.0f} s. *Delivered* counts unique events at the collector; "
            "*exit time*, for the scenarios run as a subprocess, is from the end "
            "of the job's work (or the signal) to process exit."
        ),
        "",
        "| Scenario | Tracked | Delivered | Dropped | Failed | Duplicates | Exit time | Notes |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    lines.extend(
        "| {scenario} | {tracked:,} | {delivered:,} | {dropped:,} | {failed:,} | "
        "{duplicates:,} | {exit} | {note} |".format(
            exit=_seconds(row.get("exit_time")), **row
        )
        for row in rows
    )
    lines += [
        "",
        "Every row is asserted by the suite, not only measured: tracked = delivered +",
        "dropped + failed at the collector, `inputs == sent + failed + dropped + queued`",
        "in `stats`, and duplicates only in the two unanswered-request rows, where they",
        "equal exactly the copies the collector stored without the client seeing an",
        "answer.",
        "",
        "Regenerate with `python benchmarks/reliability_report.py` (add `--quick` for",
        "CI's sizes).",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="CI's sizes, not the full ones"
    )
    parser.add_argument("--output", type=Path, default=ROOT / "RELIABILITY.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        results = Path(directory)
        code, duration = _run_suite(results, full=not args.quick)
        if code != 0:
            print(f"the reliability suite failed (exit {code}); nothing written")
            return code
        files = sorted(results.glob("*.json"), key=lambda path: path.stat().st_mtime_ns)
        rows = [json.loads(path.read_text(encoding="utf-8")) for path in files]
    args.output.write_text(
        _render(rows, full=not args.quick, duration=duration), encoding="utf-8"
    )
    print(f"wrote {args.output} ({len(rows)} scenarios, suite {duration:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
