"""Delivery against hostile input from outside: headers, collectors, secrets (#14)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from snowplow_logging import (
    ConfigurationError,
    Emitter,
    Retry,
    SelfDescribing,
    SelfDescribingJson,
    Tracker,
)
from snowplow_logging._retry import parse_retry_after
from snowplow_logging.redis import RedisEmitter, RedisWorker
from tests.collector import Collector, Reply
from tests.processes import run_python


class TestRetryAfter:
    """A Retry-After header is outside data: it never raises, never wedges."""

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("9" * 400, float("inf")),  # int() then float() overflowed
            ("²", None),  # str.isdigit() is True, int() raised
            ("٣", None),  # an Arabic-Indic digit
            ("7", 7.0),
            (" 12 ", 12.0),
            ("Wed, 21 Oct 99999 07:28:00 GMT", None),
            ("", None),
        ],
    )
    def test_parsed_or_ignored(self, value: str, expected: float | None) -> None:
        assert parse_retry_after(value) == expected

    @pytest.mark.parametrize("value", ["9" * 400, "²"])
    def test_an_odd_value_does_not_wedge_the_batch(self, value: str) -> None:
        """503 with an odd Retry-After, then 200: the batch is delivered."""
        collector = Collector()
        try:
            collector.script(Reply(503, {"Retry-After": value}))
            emitter = Emitter(
                collector.url,
                retry=Retry(initial_delay=0.01, max_delay=0.05, jitter=0.0),
            )
            emitter.input({"e": "pv", "eid": "1", "p": "srv", "tv": "t"})

            assert emitter.flush(timeout=10)
            emitter.close()
        finally:
            collector.close()

        stats = emitter.stats
        assert (stats["sent"], stats["requests"]) == (1, 2)


@pytest.fixture(name="silent_server")
def _silent_server() -> Iterator[str]:
    """Accepts connections, reads requests, never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            held.append(sock)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    listener.close()
    for sock in held:
        sock.close()


EXIT_SCRIPT = """
import json, logging, sys, time
import snowplow_logging
from snowplow_logging import SnowplowHandler, StructuredEvent

snowplow_logging.set_exit_timeout(2.0)
handler = SnowplowHandler(endpoint=sys.argv[1], flush_timeout=5.0, timeout=30.0)
log = logging.getLogger("app")
log.addHandler(handler)
log.setLevel(logging.INFO)
for n in range(3):
    log.info("x", extra={"snowplow": StructuredEvent(category="c", action=str(n))})
print(json.dumps({"exit_at": time.monotonic()}), flush=True)
"""


def test_exit_keeps_the_exit_deadline_with_a_collector_that_never_answers(
    silent_server: str,
) -> None:
    """logging.shutdown's close after the exit flush does not wait again (#14.2).

    Before: the exit hook gave up at 2 s, then ``SnowplowHandler.close()``
    joined the stuck worker for a fresh ``flush_timeout``: 4.5-7 s in all.
    """
    result = run_python(EXIT_SCRIPT, silent_server, timeout=30)
    ended = time.monotonic()

    assert result.returncode == 0, result.stderr
    started = json.loads(result.stdout.splitlines()[-1])["exit_at"]
    assert ended - started < 2.0 + 1.5  # the deadline, and interpreter teardown
    assert "could not be delivered before the close deadline" in result.stderr


class TestSecretsInMessages:
    """A password is never quoted in a configuration error (#14.7)."""

    @pytest.mark.parametrize(
        "endpoint",
        [
            "http://alice:s3cr/et@127.0.0.1:9090",
            "http://alice:s3cr?et@127.0.0.1:9090",
            "http://alice:s3cr#et@127.0.0.1:9090",
            "http://alice:s3cr:et/x@127.0.0.1:9090",
        ],
    )
    def test_endpoint(self, endpoint: str) -> None:
        with pytest.raises(ConfigurationError) as raised:
            Emitter(endpoint)

        message = str(raised.value)
        assert "s3cr" not in message
        assert "alice" not in message
        assert "percent-encode" in message

    @pytest.mark.parametrize(
        "url",
        ["redis://:s3cr/et@localhost:notaport/0", "redis://u:s3cret@h:99999999/x"],
    )
    def test_redis_url(self, url: str) -> None:
        for build in (
            lambda: RedisEmitter(url),
            lambda: RedisWorker(url, endpoint="http://127.0.0.1:1"),
        ):
            with pytest.raises(ConfigurationError) as raised:
                build()
            assert "s3cr" not in str(raised.value)

    def test_worker_command(self) -> None:
        """``snowplow-logging worker --redis URL`` does not print the password."""
        result = run_python(
            "from snowplow_logging._cli import main; raise SystemExit(main())",
            "worker",
            "--redis",
            "redis://:s3cr/et@localhost:notaport/0",
            "--endpoint",
            "http://127.0.0.1:1",
        )

        assert result.returncode == 2, result.stderr
        assert "'redis' must be" in result.stderr
        assert "s3cr" not in result.stderr + result.stdout


SIGNAL_SCRIPT = """
import signal, sys, time
import snowplow_logging
from snowplow_logging import Emitter, StructuredEvent, Tracker

snowplow_logging.set_exit_timeout(0)
emitter = Emitter(sys.argv[1], max_queue=50, flush_interval=0.001)
tracker = Tracker(emitters=emitter)
event = StructuredEvent(category="c", action="a")
handled = 0

def on_alarm(signum, frame):
    global handled
    handled += 1
    if time.monotonic() > end:  # a loaded machine may run only handlers: stop them
        signal.setitimer(signal.ITIMER_REAL, 0)
    tracker.track(event)
    emitter.stats
    tracker.stats

end = time.monotonic() + float(sys.argv[2])
signal.signal(signal.SIGALRM, on_alarm)
signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
while time.monotonic() < end:
    tracker.track(event)
    emitter.stats
    tracker.stats
signal.setitimer(signal.ITIMER_REAL, 0)
stats = emitter.stats
assert stats["inputs"] == stats["sent"] + stats["failed"] + stats["dropped"] + stats["queued"]
print("done", handled)
"""


def test_a_signal_handler_that_tracks_never_deadlocks() -> None:
    """SIGALRM every 0.5 ms, its handler tracking and reading stats (#14.3).

    Before: the process hung for good after about 12,000 signals, the main
    thread holding the buffer's (non-reentrant) lock when the handler ran.
    """
    with Collector() as collector:
        result = run_python(SIGNAL_SCRIPT, collector.url, "8", timeout=60)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("done ")
    assert int(result.stdout.split()[1]) > 1000  # the handler really ran often


FORK_SCRIPT = """
import os, signal, sys, threading, time
import snowplow_logging
from snowplow_logging import Emitter, StructuredEvent, Tracker

snowplow_logging.set_exit_timeout(0)
emitter = Emitter("http://127.0.0.1:1", max_queue=10)
tracker = Tracker(emitters=emitter)
event = StructuredEvent(category="c", action="a")
stop = threading.Event()

def hammer():
    while not stop.is_set():
        tracker.track(event)
        emitter.stats
        tracker.stats

threads = [threading.Thread(target=hammer, daemon=True) for _ in range(2)]
for thread in threads:
    thread.start()
hung = 0
for _ in range(int(sys.argv[1])):
    pid = os.fork()
    if pid == 0:
        tracker.track(event)
        emitter.stats
        tracker.stats
        snowplow_logging._diagnostics.LOGGER.warning("child %d", os.getpid())
        os._exit(0)
    deadline = time.monotonic() + 5
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            hung += 1
            break
        time.sleep(0.001)
stop.set()
print("hung", hung)
"""


def test_children_forked_while_threads_hold_library_locks_do_not_hang() -> None:
    """Forks while two threads hammer track() and stats (#14.4).

    Before: 2 of 300 children hung on their first stats call or warning.
    """
    result = run_python(FORK_SCRIPT, "300", timeout=240)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hung 0"


class _Hostile:
    """A value the JSON encoder falls back to ``str()`` for, which raises."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __str__(self) -> str:
        raise self.error


@pytest.mark.parametrize("error", [KeyboardInterrupt(), SystemExit(3)])
def test_a_value_raising_a_base_exception_fails_alone(error: BaseException) -> None:
    """The worker survives a value whose ``__str__`` raises KeyboardInterrupt (#14.18).

    Before: the exception ended the worker thread; later events were never sent.
    """
    with Collector() as collector:
        emitter = Emitter(collector.url)
        tracker = Tracker(emitters=emitter)
        schema = "iglu:com.acme/x/jsonschema/1-0-0"
        bad = SelfDescribingJson(schema=schema, data={"v": _Hostile(error)})
        tracker.track(SelfDescribing(event_json=bad))
        eid = tracker.track(
            SelfDescribing(event_json=SelfDescribingJson(schema=schema, data={"v": 1}))
        )

        assert emitter.flush(timeout=10)
        emitter.close()
        delivered = [event["eid"] for event in collector.accepted_events()]

    stats = emitter.stats
    assert (stats["sent"], stats["failed"]) == (1, 1)
    assert delivered == [eid]
