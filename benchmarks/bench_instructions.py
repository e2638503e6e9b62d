"""CPU instructions per tagged log call, counted by callgrind: load cannot move them.

Times on a shared machine measure the neighbours as much as the code; the
instructions a call executes do not depend on them. Each configuration runs a
child script under ``valgrind --tool=callgrind --separate-threads=yes`` twice,
with ``--small`` and ``--large`` calls of
``logger.info("paid", extra={"snowplow": <a new structured event>})``; the
difference of the instruction totals divided by the difference of the call
counts is the cost of one call, start-up (interpreter, imports, the first
connection) cancelled. Two figures per configuration:

- the caller's thread (the main thread, callgrind's thread 1): what the
  application pays at the call site;
- the whole process (every thread summed): the call plus whatever the
  handler's threads do for it later (building, encoding, sending).

Configurations, each logging the same call to a logger of its own:

- ``NullHandler``: the floor, logging itself plus building our event;
- ``NullHandler, official event``: the same with the official tracker's event
  class, the floor of the official tracker's figures;
- ``QueueHandler``: stdlib ``QueueHandler`` into a ``queue.SimpleQueue``, no
  listener (format, copy, put);
- ``SnowplowHandler``: ours, built from ``endpoint`` (a real ``Emitter``, POST,
  default batching);
- ``official tracker``: ``snowplow-tracker`` 1.1.0's ``Tracker`` and
  ``AsyncEmitter`` (POST, its default batch of 10) behind a plain
  ``logging.Handler`` whose ``emit`` calls ``tracker.track(event)``; its
  loggers are set to WARNING, so that its per-request INFO lines to stderr are
  not what is counted.

Both emitters deliver, to a local HTTP server answering ``200`` (in a process of
its own, not measured), and each child flushes before it exits, so both runs of
a configuration include the build and send cost of every event.

What makes two runs differ only by their calls: the children run the real
interpreter (the venv's ``python`` resolved; its ``sys.path`` passed on, ``-S``)
on a copy of this script and of the package taken at the start, so an edit to
the working tree during the run changes nothing; their bytecode is compiled
once, by a warm-up run of each configuration outside valgrind, into a cache in
the temporary directory; ``PYTHONHASHSEED=0``; and the start-up heap is
frozen (``gc.freeze()``) before the calls, so that a full collection does not
bill a run for walking the imported modules. Children run in parallel (one per
CPU); two runs of the same child differ by a few instructions per call on the
caller's thread, and by a few hundred where threads interleave (GC, locks).

Prints instructions per call and the issue #13 targets:
ours / QueueHandler on the caller's thread (<= 1.0), official over ours above
the floor on the caller's thread (>= 2.5) and over the whole process (>= 1.7),
and ours above the floor on the caller's thread (<= 15,000 instructions).

Needs valgrind and the ``bench`` dependency group (``snowplow-tracker==1.1.0``).

Run: python benchmarks/bench_instructions.py [--small N] [--large N] [--keep DIR]
[--only CONFIGURATION ...]. With ``--keep``, each run's ``callgrind.out.<pid>-<thread>``
files stay in a new directory under DIR, for ``callgrind_annotate`` (``-01`` is
the caller's thread; ``cmd:`` in each file names its configuration and calls).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, NamedTuple, cast

SCRIPT = "bench_instructions.py"
CONFIGS = (
    "NullHandler",
    "NullHandler, official event",
    "QueueHandler",
    "SnowplowHandler",
    "official tracker",
)
Setup = tuple[logging.Handler, Callable[[], object], Callable[[], None]]
"""A configuration in the child: the handler, the event factory, the final flush."""

_TOTAL = re.compile(rb"^(?:summary|totals):\s*(\d+)", re.MULTILINE)


# --- the collector stand-in (its own process, not measured) ----------------------


def serve() -> None:
    """Answer every HTTP/1.1 request ``200`` with an empty body, keeping alive."""
    import asyncio  # here: the children under valgrind need not import it

    class Collector(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = cast("asyncio.Transport", transport)
            self.buffer = bytearray()

        def data_received(self, data: bytes) -> None:
            buffer = self.buffer
            buffer += data
            while (end := buffer.find(b"\r\n\r\n")) >= 0:
                head = bytes(buffer[:end]).lower()
                start = head.find(b"content-length:")
                length = 0
                if start >= 0:
                    stop = head.find(b"\r\n", start)
                    length = int(head[start + 15 : stop if stop >= 0 else None])
                if len(buffer) < end + 4 + length:
                    return
                del buffer[: end + 4 + length]
                self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    async def run() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Collector, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(run())


# --- the child (runs under valgrind) ---------------------------------------------


def _ours(port: int) -> Setup:
    from snowplow_logging import SnowplowHandler, StructuredEvent

    handler = SnowplowHandler(
        endpoint=f"http://127.0.0.1:{port}", app_id="bench", namespace="bench"
    )

    def finish() -> None:
        handler.flush()
        handler.close()
        stats = handler.stats
        if stats["emitter_sent"] != stats["events"]:
            msg = f"SnowplowHandler delivered {stats['emitter_sent']} of {stats['events']}"
            raise RuntimeError(msg)

    return handler, lambda: StructuredEvent(category="c", action="a"), finish


class OfficialHandler(logging.Handler):
    """The obvious way to drive the official tracker from logging."""

    def __init__(self, port: int) -> None:
        super().__init__()
        from snowplow_tracker.emitters import AsyncEmitter
        from snowplow_tracker.tracker import Tracker as OfficialTracker

        for name in ("snowplow_tracker", "snowplow_tracker.emitters"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self.sent = 0
        self.emitter = AsyncEmitter(
            "127.0.0.1",
            protocol="http",
            port=port,
            method="post",
            on_success=self._count,
        )
        self.tracker = OfficialTracker("bench", emitters=self.emitter, app_id="bench")

    def _count(self, payloads: list[dict[str, Any]]) -> None:
        self.sent += len(payloads)

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "snowplow", None)
        if event is not None:
            self.tracker.track(event)


def _official(port: int) -> Setup:
    from snowplow_tracker.events.structured_event import StructuredEvent

    handler = OfficialHandler(port)

    def finish() -> None:
        handler.emitter.sync_flush()
        handler.close()

    return handler, lambda: StructuredEvent(category="c", action="a"), finish


def _setup(config: str, port: int) -> Setup:
    import logging.handlers
    import queue

    if config == "SnowplowHandler":
        return _ours(port)
    if config == "official tracker":
        return _official(port)
    if config == "NullHandler, official event":
        from snowplow_tracker.events.structured_event import (
            StructuredEvent as OfficialEvent,
        )

        return (
            logging.NullHandler(),
            lambda: OfficialEvent(category="c", action="a"),
            _nothing,
        )
    from snowplow_logging import StructuredEvent

    handler: logging.Handler = (
        logging.NullHandler()
        if config == "NullHandler"
        else logging.handlers.QueueHandler(queue.SimpleQueue())
    )
    return handler, lambda: StructuredEvent(category="c", action="a"), _nothing


def _nothing() -> None:
    """A configuration that has nothing to flush."""


def child(config: str, calls: int, port: int) -> None:
    """Make ``calls`` tagged log calls through ``config``'s handler, then flush."""
    handler, make_event, finish = _setup(config, port)
    logger = logging.getLogger("bench")
    logger.propagate = False  # the official tracker's basicConfig() set up stderr
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    info = logger.info
    # What start-up left is not collected again and again: a full collection
    # walking the imported modules would bill each run by where it fell.
    gc.collect()
    gc.freeze()
    for _ in range(calls):
        info("paid", extra={"snowplow": make_event()})
    finish()
    if isinstance(handler, OfficialHandler) and handler.sent != calls:
        msg = f"the official tracker delivered {handler.sent} of {calls}"
        raise RuntimeError(msg)


# --- the parent ------------------------------------------------------------------


class Count(NamedTuple):
    """Instructions of one child run: its main thread and all its threads."""

    main: int
    total: int


class Result(NamedTuple):
    """Instructions per call: the caller's thread and the whole process."""

    caller: float
    process: float


def _python() -> str:
    """The real interpreter: valgrind must not run a venv's symlink or a shim."""
    return os.path.realpath(sys.executable)


def snapshot(workdir: Path) -> None:
    """Copy this script and the package: what is measured is the tree as it is now.

    Every run then compiles and imports the same sources, even while the working
    tree changes: a module edited between two runs would be compiled again in
    one of them, and callgrind would count that.
    """
    source = workdir / "src"
    spec = importlib.util.find_spec("snowplow_logging")
    if spec is None or spec.origin is None:
        sys.exit("snowplow_logging is not importable")
    shutil.copytree(
        Path(spec.origin).parent,
        source / "snowplow_logging",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy2(__file__, source / SCRIPT)


def _child_command(config: str, calls: int, port: int, workdir: Path) -> list[str]:
    script = str(workdir / "src" / SCRIPT)
    # -S: no site module; the path is PYTHONPATH's, as in the venv (no .pth files).
    return [_python(), "-S", script, "--child", config, str(calls), str(port)]


def _run(command: list[str], cwd: Path, workdir: Path) -> None:
    env = {
        **os.environ,
        "PYTHONHASHSEED": "0",
        # The snapshot first, then the venv's site-packages, since the real
        # interpreter runs outside the venv.
        "PYTHONPATH": os.pathsep.join(
            [str(workdir / "src"), *(p for p in sys.path if p)]
        ),
        # Compiled once by the warm-up run, outside the source tree, so that
        # callgrind does not count compiling every imported module.
        "PYTHONPYCACHEPREFIX": str(workdir / "pycache"),
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, check=False)
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace")[-3000:]
        msg = f"{' '.join(command[-4:])} failed:\n{tail}"
        raise RuntimeError(msg)


def warm_up(configs: list[str], port: int, workdir: Path) -> None:
    """Run each configuration once without valgrind: it works, its bytecode is cached."""
    for config in configs:
        _run(_child_command(config, 20, port, workdir), workdir, workdir)


def run_child(config: str, calls: int, port: int, workdir: Path) -> Count:
    """Run one child under callgrind and sum its per-thread output files."""
    out = Path(tempfile.mkdtemp(prefix="run-", dir=workdir))
    valgrind = [
        "valgrind",
        "--tool=callgrind",
        "--separate-threads=yes",
        f"--callgrind-out-file={out}/callgrind.out.%p",
    ]
    _run([*valgrind, *_child_command(config, calls, port, workdir)], out, workdir)
    threads: dict[int, int] = {}
    for path in out.glob("callgrind.out.*-*"):
        found = _TOTAL.findall(path.read_bytes())
        if found:
            threads[int(path.name.rsplit("-", 1)[1])] = int(found[-1])
    if 1 not in threads:
        msg = f"{config}: no main-thread file in {out}"
        raise RuntimeError(msg)
    return Count(main=threads[1], total=sum(threads.values()))


def measure(
    configs: list[str], small: int, large: int, workdir: Path, port: int
) -> dict[str, Result]:
    """Instructions per call of each configuration; runs in parallel."""
    snapshot(workdir)
    warm_up(configs, port, workdir)
    from concurrent.futures import ThreadPoolExecutor

    jobs = [(config, calls) for config in configs for calls in (large, small)]
    # The longest first (the official tracker's, then the large runs), so that
    # the last run to finish is a short one.
    jobs.sort(key=lambda job: (job[0] != "official tracker", -job[1]))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        futures = {
            job: pool.submit(run_child, job[0], job[1], port, workdir) for job in jobs
        }
        counts = {job: future.result() for job, future in futures.items()}
    results = {}
    for config in configs:
        low, high = counts[config, small], counts[config, large]
        results[config] = Result(
            caller=(high.main - low.main) / (large - small),
            process=(high.total - low.total) / (large - small),
        )
    return results


def report(results: dict[str, Result], small: int, large: int) -> None:
    """Print the table and the issue #13 targets."""
    print(
        f"instructions per logger.info call, callgrind, ({large:,} - {small:,} calls)"
    )
    print(f"  {'configuration':<30} {'caller thread':>14} {'whole process':>14}")
    for config, result in results.items():
        print(f"  {config:<30} {result.caller:>14,.0f} {result.process:>14,.0f}")
    if len(results) < len(CONFIGS):
        return
    ours, floor = results["SnowplowHandler"], results["NullHandler"]
    official = results["official tracker"]
    official_floor = results["NullHandler, official event"]
    ours_caller = ours.caller - floor.caller
    ours_process = ours.process - floor.process
    targets = [
        (
            "ours / QueueHandler, caller's thread",
            ours.caller / results["QueueHandler"].caller,
            "<=",
            1.0,
        ),
        (
            "(official - floor) / (ours - floor), caller",
            (official.caller - official_floor.caller) / ours_caller,
            ">=",
            2.5,
        ),
        (
            "(official - floor) / (ours - floor), process",
            (official.process - official_floor.process) / ours_process,
            ">=",
            1.7,
        ),
        ("ours - NullHandler, caller's thread", ours_caller, "<=", 15_000),
    ]
    print("targets (the official tracker's floor is its own event's NullHandler)")
    for name, value, sense, target in targets:
        met = value <= target if sense == "<=" else value >= target
        shown = f"{value:,.0f}" if target > 100 else f"{value:.2f}"
        print(
            f"  {name:<46} {shown:>8} (target {sense} {target:,}): "
            f"{'met' if met else 'NOT met'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=4_000)
    parser.add_argument("--keep", type=Path, help="keep callgrind's files here")
    parser.add_argument(
        "--only",
        action="append",
        choices=CONFIGS,
        help="measure only this configuration (repeatable); no targets then",
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    if args.child:
        config, calls, port = args.child
        child(config, int(calls), int(port))
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed")
    configs = [c for c in CONFIGS if c in args.only] if args.only else list(CONFIGS)
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(cast("IO[str]", server.stdout).readline())
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            kept = Path(tempfile.mkdtemp(prefix="bench-instructions-", dir=args.keep))
            print(f"callgrind's files: {kept}/run-*", flush=True)
            results = measure(configs, args.small, args.large, kept, port)
        else:
            with tempfile.TemporaryDirectory(prefix="bench-instructions-") as tmp:
                results = measure(configs, args.small, args.large, Path(tmp), port)
    finally:
        server.kill()
        server.wait()
    report(results, args.small, args.large)


if __name__ == "__main__":
    main()
