"""The ``snowplow-logging`` command: ``micro`` (a local validating collector) and ``demo``.

``snowplow-logging micro`` serves until interrupted (or ``--until N`` events) and
prints one line per event on stdout (:mod:`snowplow_logging.micro.console`:
``-v`` adds the decoded event, ``--json`` prints good events as Snowplow Micro's
``--output-json`` and sends the banner and bad events to stderr);
``--fail-on-bad`` makes the exit status 1 when a bad event arrived.
``snowplow-logging demo`` sends one event of each kind through the public API to
an embedded collector and prints what it made of them. Both need ``jsonschema``;
without it they say what to install and exit with status 2. ``snowplow-logging
worker`` ships events from a Redis list until SIGTERM or SIGINT (issue #9; it
needs the ``redis`` extra). Nothing here configures logging.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Final, TextIO

from snowplow_logging._diagnostics import counted
from snowplow_logging._exceptions import ConfigurationError, ConfigurationTypeError
from snowplow_logging._version import __version__
from snowplow_logging.micro import (
    DEFAULT_HISTORY,
    DEFAULT_MAX_BODY_SIZE,
    BadEvent,
    GoodEvent,
    MicroCollector,
)
from snowplow_logging.micro.console import EventGate, EventPrinter

__all__ = ["main"]

EXIT_USAGE = 2
"""Bad arguments or a missing extra, as argparse uses."""
EXIT_BAD_EVENTS = 1
"""``--fail-on-bad`` and a bad event arrived."""
_ANSWER_GRACE: Final = 0.2
"""Seconds left to the request that brought the ``--until`` event to be answered."""


def _say(stream: TextIO, text: str) -> None:
    """Write a line and flush it: the output may be a pipe read line by line."""
    stream.write(text + "\n")
    stream.flush()


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:  # noqa: PLR2004
        msg = f"'--port' must be a number from 0 to 65535 (got {text!r})"
        raise argparse.ArgumentTypeError(msg)
    return int(text)


def _count(name: str, *, low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not text.isdigit() or int(text) < low:
            msg = f"'{name}' must be a whole number >= {low} (got {text!r})"
            raise argparse.ArgumentTypeError(msg)
        return int(text)

    return parse


def _directory(text: str) -> Path:
    path = Path(text)
    if not path.is_dir():
        msg = f"'--schemas' must be a directory (got {text!r})"
        raise argparse.ArgumentTypeError(msg)
    return path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snowplow-logging", description="Snowplow tracking through logging."
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    micro = commands.add_parser(
        "micro",
        help="run a local validating collector",
        description="A local Snowplow collector validating every event it receives, "
        "with Snowplow Micro's REST API under /micro/.",
    )
    micro.add_argument("--host", default="127.0.0.1", help="address (127.0.0.1)")
    micro.add_argument("--port", type=_port, default=9090, help="port (9090; 0: any)")
    micro.add_argument(
        "--schemas",
        type=_directory,
        action="append",
        default=[],
        metavar="DIR",
        help="an Iglu static registry with your schemas (repeatable)",
    )
    micro.add_argument(
        "--json",
        action="store_true",
        help="print each good event as one JSON object (Snowplow Micro's "
        "--output-json); the banner and bad events go to stderr",
    )
    micro.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print the whole decoded event under each line",
    )
    micro.add_argument(
        "--fail-on-bad",
        action="store_true",
        help="exit with status 1 if a bad event arrived",
    )
    micro.add_argument(
        "--until",
        type=_count("--until", low=1),
        metavar="N",
        help="exit once N events (good or bad) arrived",
    )
    micro.add_argument(
        "--history",
        type=_count("--history", low=0),
        default=DEFAULT_HISTORY,
        help=f"events of each kind kept for /micro/ queries ({DEFAULT_HISTORY})",
    )
    micro.add_argument(
        "--max-body-size",
        type=_count("--max-body-size", low=1),
        default=DEFAULT_MAX_BODY_SIZE,
        metavar="BYTES",
        help=f"largest POST body accepted ({DEFAULT_MAX_BODY_SIZE})",
    )
    commands.add_parser(
        "demo",
        help="send one event of each kind to an embedded collector",
        description="Track every event type through the public API, send it to an "
        "embedded collector and print what it made of them; exit 1 if any is bad.",
    )
    _add_worker(commands)
    return parser


def _add_worker(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = commands.add_parser(
        "worker",
        help="ship events from a Redis list to a collector (needs [redis])",
        description="Move events pushed by RedisEmitter to a collector, at least "
        "once; SIGTERM or Ctrl-C stops after draining.",
        argument_default=argparse.SUPPRESS,  # unset options keep RedisWorker's defaults
    )
    worker.add_argument("--redis", required=True, metavar="URL", help="redis:// URL")
    worker.add_argument("--endpoint", required=True, metavar="URL", help="collector")
    worker.add_argument("--key", help="the list (snowplow_logging:events)")
    worker.add_argument("--name", help="this worker's name, kept across restarts")
    worker.add_argument("--dead-letter-key", metavar="KEY", help="(<key>:failed)")
    worker.add_argument("--method", choices=["post", "get"], help="(post)")
    for option, parse in (
        ("--max-in-flight", _count("--max-in-flight", low=1)),
        ("--batch-size", _count("--batch-size", low=1)),
        ("--byte-limit", _count("--byte-limit", low=1)),
        ("--flush-interval", float),
        ("--timeout", float),
        ("--block-timeout", float),
        ("--drain-timeout", float),
    ):
        worker.add_argument(option, type=parse)


def _worker(args: argparse.Namespace) -> int:
    from snowplow_logging.redis import RedisWorker  # noqa: PLC0415 - the [redis] extra

    options = {k: v for k, v in vars(args).items() if k not in {"command", "redis"}}
    try:
        worker = RedisWorker(args.redis, **options)
    except (ConfigurationError, ConfigurationTypeError) as exc:
        _say(sys.stderr, f"snowplow-logging worker: {exc}")
        return EXIT_USAGE

    def on_signal(signum: int, frame: FrameType | None) -> None:
        worker.stop()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    _say(sys.stderr, f"snowplow-logging worker: {worker!r} started")
    drained = worker.run()
    _say(sys.stderr, f"snowplow-logging worker: stopped {json.dumps(worker.stats)}")
    return 0 if drained else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            from snowplow_logging._demo import run_demo  # noqa: PLC0415

            return run_demo()
        if args.command == "worker":
            return _worker(args)
        return _micro(args)
    except ImportError as exc:
        _say(sys.stderr, f"snowplow-logging {args.command}: {exc}")
        return EXIT_USAGE


def _micro(args: argparse.Namespace) -> int:
    banner = sys.stderr if args.json else sys.stdout
    stop = threading.Event()
    gate = EventGate(until=args.until, done=stop)
    printer = EventPrinter(as_json=args.json, verbose=args.verbose)

    def on_event(event: GoodEvent | BadEvent) -> None:
        printer(event)
        gate(event)

    try:
        collector = MicroCollector(
            host=args.host,
            port=args.port,
            schemas=args.schemas,
            history=args.history,
            max_body_size=args.max_body_size,
            on_event=on_event,
        )
        collector.start()
    except (ConfigurationError, ConfigurationTypeError) as exc:
        _say(sys.stderr, f"snowplow-logging micro: {exc}")
        return EXIT_USAGE
    except OSError as exc:
        _say(
            sys.stderr,
            f"snowplow-logging micro: cannot listen on {args.host}:{args.port}: {exc}",
        )
        return 1

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    with collector:
        _say(
            banner,
            f"snowplow-logging micro listening on {collector.endpoint} "
            f"(tracker: POST /com.snowplowanalytics.snowplow/tp2, GET /i; "
            f"REST: /micro/all, /micro/good, /micro/bad, /micro/reset; "
            f"UI: {collector.endpoint}/micro/ui); Ctrl-C stops",
        )
        try:
            stop.wait()
            if gate.until is not None and gate.events >= gate.until:
                # The Nth event is counted before its request is answered.
                time.sleep(_ANSWER_GRACE)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
    summary = collector.summary()
    _say(
        banner,
        f"stopped: {counted(summary['total'], 'event')}, {summary['good']} good, {summary['bad']} bad",
    )
    if args.fail_on_bad and gate.bad:
        _say(
            sys.stderr,
            f"snowplow-logging micro: {counted(gate.bad, 'bad event')} (--fail-on-bad)",
        )
        return EXIT_BAD_EVENTS
    return 0
