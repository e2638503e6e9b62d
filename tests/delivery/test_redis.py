"""RedisEmitter and RedisWorker against a real redis-server and a real collector."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from snowplow_logging import (
    ClosedError,
    ConfigurationError,
    ConfigurationTypeError,
    PageView,
    Retry,
    StructuredEvent,
    Tracker,
)
from snowplow_logging._cli import main
from snowplow_logging.micro import MicroCollector
from snowplow_logging.redis import DEFAULT_KEY, RedisEmitter, RedisWorker
from tests.collector import Collector, Reply, free_port
from tests.processes import run_python, start_python

FAST_RETRY = Retry(initial_delay=0.02, max_delay=0.1, jitter=0.0)


class RedisServer:
    """A redis-server process on 127.0.0.1 without persistence, in a temp dir."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.port = free_port() if port is None else port
        self._process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(directory),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        for line in self._process.stdout:  # ends at EOF if the server fails
            if "Ready to accept connections" in line:
                break
        else:
            pytest.fail(f"redis-server did not start (exit {self._process.wait()})")
        # Keep draining its output so the server never blocks on a full pipe.
        self._reader = threading.Thread(target=self._process.stdout.read, daemon=True)
        self._reader.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)
        self._reader.join(timeout=10)
        assert self._process.stdout is not None
        self._process.stdout.close()


@pytest.fixture(name="server", scope="module")
def _server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(name="client")
def _client(server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(server.url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(name="micro")
def _micro() -> Iterator[MicroCollector]:
    with MicroCollector() as micro:
        yield micro


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll a condition that no event signals (another process's progress)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        time.sleep(0.01)


def _identity(stats: dict[str, int]) -> bool:
    return stats["inputs"] == (
        stats["sent"] + stats["failed"] + stats["dropped"] + stats["queued"]
    )


def _payload(n: int) -> dict[str, str]:
    return {
        "e": "pv",
        "eid": f"00000000-0000-4000-8000-{n:012d}",
        "p": "srv",
        "tv": "py-test",
        "url": "https://shop.test/",
    }


def _eids(micro: MicroCollector) -> Counter[str]:
    return Counter(event.payload["eid"] for event in micro.good())


def _fill(server: RedisServer, count: int, *, app_id: str = "fill") -> None:
    with RedisEmitter(server.url, batch_size=200) as emitter:
        tracker = Tracker(emitters=emitter, app_id=app_id)
        for n in range(count):
            tracker.track(StructuredEvent(category="c", action="a", value=n))
        assert emitter.flush(timeout=10)


class TestRedisEmitter:
    """RedisEmitter queues in memory and pushes JSON payloads to a Redis list."""

    def test_pushes_payloads_in_order(
        self, server: RedisServer, client: redis.Redis
    ) -> None:
        """Every payload arrives as compact JSON, in order, in few round trips."""
        with RedisEmitter(client, batch_size=100) as emitter:
            for n in range(250):
                emitter.input(_payload(n))
            flushed = emitter.flush(timeout=5)
            stats = emitter.stats

        items = [json.loads(item) for item in client.lrange(DEFAULT_KEY, 0, -1)]

        assert flushed
        assert items == [_payload(n) for n in range(250)]
        assert stats["sent"] == 250
        assert stats["requests"] <= 4
        assert _identity(stats)

    def test_close_is_idempotent_and_later_inputs_are_counted(
        self, server: RedisServer, client: redis.Redis
    ) -> None:
        """After close, input drops and counts; a second close returns at once."""
        emitter = RedisEmitter(server.url, key="k")
        emitter.input(_payload(1))
        first = emitter.close()
        emitter.input(_payload(2))
        second = emitter.close()

        assert (first, second) == (True, True)
        assert client.llen("k") == 1
        assert emitter.stats["dropped_closed"] == 1
        assert _identity(emitter.stats)

    def test_redis_down_bounds_memory_and_counts_every_event(self) -> None:
        """With Redis unreachable, max_queue holds, drops and close give up, counted."""
        emitter = RedisEmitter(
            f"redis://127.0.0.1:{free_port()}/0", max_queue=10, retry=FAST_RETRY
        )
        started = time.monotonic()
        for n in range(25):
            emitter.input(_payload(n))
        input_time = time.monotonic() - started
        closed = emitter.close(timeout=0.3)
        stats = emitter.stats

        assert input_time < 0.5
        assert not closed
        assert stats["dropped_queue_full"] == 15
        assert stats["dropped_unsent"] == 10
        assert stats["sent"] == 0
        assert stats["requests"] >= 1
        assert _identity(stats)

    def test_redis_coming_up_late_gets_everything(self, tmp_path: Path) -> None:
        """Events queued while Redis is down are pushed once it starts."""
        port = free_port()
        emitter = RedisEmitter(f"redis://127.0.0.1:{port}/0", retry=FAST_RETRY)
        for n in range(5):
            emitter.input(_payload(n))
        assert not emitter.flush(timeout=0.2)
        server = RedisServer(tmp_path, port)
        try:
            flushed = emitter.flush(timeout=5)
            stats = emitter.stats
            with redis.Redis(port=port) as client:
                length = client.llen(DEFAULT_KEY)
        finally:
            emitter.close()
            server.stop()

        assert flushed
        assert length == 5
        assert stats["retried"] >= 1
        assert _identity(stats)

    def test_wrong_key_type_fails_the_batch(
        self, server: RedisServer, client: redis.Redis
    ) -> None:
        """A key holding a string is a final failure, not a retry loop."""
        client.set("taken", "a string")
        with RedisEmitter(client, key="taken") as emitter:
            emitter.input(_payload(1))
            emitter.flush(timeout=5)
            stats = emitter.stats

        assert (stats["failed"], stats["retried"]) == (1, 0)

    def test_exit_flushes_without_close(
        self, server: RedisServer, client: redis.Redis
    ) -> None:
        """A process that never closes its emitter still pushes at exit."""
        code = (
            "from snowplow_logging.redis import RedisEmitter\n"
            f"e = RedisEmitter({server.url!r}, flush_interval=60)\n"
            "for n in range(7):\n"
            "    e.input({'e': 'pv', 'eid': str(n)})\n"
        )
        result = run_python(code, timeout=30)

        assert result.returncode == 0, result.stderr

        assert client.llen(DEFAULT_KEY) == 7

    def test_fork_child_pushes_its_own_events(
        self, server: RedisServer, client: redis.Redis
    ) -> None:
        """After fork the child sends its events and the parent its own, once."""
        emitter = RedisEmitter(client, flush_interval=60)
        emitter.input(_payload(1))
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child exits here
            emitter.input(_payload(2))
            os._exit(0 if emitter.close(timeout=5) else 1)
        _, status = os.waitpid(pid, 0)
        emitter.close()

        items = sorted(json.loads(x)["eid"] for x in client.lrange(DEFAULT_KEY, 0, -1))

        assert os.waitstatus_to_exitcode(status) == 0
        assert items == [_payload(1)["eid"], _payload(2)["eid"]]

    def test_repr_hides_the_password(self) -> None:
        """The repr names host, port, db and key, never the password."""
        emitter = RedisEmitter("redis://:s3cret@127.0.0.1:6390/2", key="ev")

        text = repr(emitter)
        emitter.close(timeout=0)

        assert "s3cret" not in text
        assert "127.0.0.1:6390/2" in text
        assert "'ev'" in text

    @pytest.mark.parametrize(
        ("kwargs", "error", "message"),
        [
            ({"redis": 42}, ConfigurationTypeError, "'redis' must be"),
            ({"redis": "http://x"}, ConfigurationError, "'redis' must be"),
            ({"key": ""}, ConfigurationTypeError, "'key' must be a non-empty"),
            ({"batch_size": 0}, ConfigurationError, "'batch_size' must be > 0"),
            ({"max_queue": 1.5}, ConfigurationTypeError, "'max_queue' must be an int"),
            ({"retry": 3}, ConfigurationTypeError, "'retry' must be a Retry"),
        ],
    )
    def test_bad_settings_name_the_setting(
        self, kwargs: dict[str, object], error: type[Exception], message: str
    ) -> None:
        """Each bad setting fails at construction with its name in the message."""
        arguments: dict[str, object] = {"redis": "redis://127.0.0.1:1/0", **kwargs}

        with pytest.raises(error, match=message):
            RedisEmitter(**arguments)  # type: ignore[arg-type]


class TestImports:
    """The extra stays optional."""

    def test_package_import_does_not_import_redis_or_celery(self) -> None:
        """import snowplow_logging leaves redis and celery unimported."""
        code = (
            "import sys, snowplow_logging, snowplow_logging._cli\n"
            "print(sorted(m for m in ('redis', 'celery') if m in sys.modules))"
        )
        out = run_python(code)

        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "[]"

    def test_worker_command_without_redis_exits_2(self) -> None:
        """snowplow-logging worker without redis says what to install."""
        code = (
            "import sys\nsys.modules['redis'] = None\n"
            "from snowplow_logging._cli import main\n"
            "sys.exit(main(['worker', '--redis', 'redis://x', '--endpoint', 'x']))"
        )
        out = run_python(code)

        assert out.returncode == 2
        assert "snowplow-logging[redis]" in out.stderr


class _Running:
    """A RedisWorker on a thread of this process, quick to notice stop()."""

    def __init__(
        self, client: redis.Redis | str, endpoint: str, name: str, **options: object
    ) -> None:
        options = {"flush_interval": 0.05, "block_timeout": 0.1, **options}
        worker = RedisWorker(client, endpoint=endpoint, name=name, **options)  # type: ignore[arg-type]
        self.worker = worker
        self.result: list[bool] = []
        self.thread = threading.Thread(target=lambda: self.result.append(worker.run()))
        self.thread.start()

    def stop(self) -> bool:
        self.worker.stop()
        self.thread.join(timeout=20)
        assert not self.thread.is_alive()
        return self.result[0]


class TestRedisWorker:
    """RedisWorker moves events from the list to the collector, at least once."""

    def test_tracker_to_collector_through_redis(
        self, server: RedisServer, client: redis.Redis, micro: MicroCollector
    ) -> None:
        """Tracked events arrive valid; both lists end empty; stats add up."""
        running = _Running(server.url, micro.endpoint, "w1")
        with RedisEmitter(server.url) as emitter:
            tracker = Tracker(emitters=emitter, app_id="shop")
            for n in range(50):
                tracker.track(PageView(page_url=f"https://shop.test/{n}"))
        micro.wait_for(50, timeout=10)
        _wait_until(lambda: running.worker.stats["in_flight"] == 0)
        drained = running.stop()
        stats = running.worker.stats

        assert drained
        assert micro.bad() == []
        assert {event.payload["aid"] for event in micro.good()} == {"shop"}
        assert (stats["taken"], stats["sent"], stats["failed"]) == (50, 50, 0)
        assert client.llen(DEFAULT_KEY) == 0
        assert client.llen(f"{DEFAULT_KEY}:processing:w1") == 0

    def test_recovers_its_processing_list(
        self, server: RedisServer, client: redis.Redis, micro: MicroCollector
    ) -> None:
        """Events left in the processing list by a dead run are sent at start."""
        processing = f"{DEFAULT_KEY}:processing:w2"
        client.rpush(processing, *(json.dumps(_payload(n)) for n in range(5)))
        client.rpush(f"{DEFAULT_KEY}:processing:other", json.dumps(_payload(9)))
        running = _Running(client, micro.endpoint, "w2")
        micro.wait_for(5, timeout=10)
        _wait_until(lambda: client.llen(processing) == 0)
        running.stop()

        assert sorted(_eids(micro)) == [_payload(n)["eid"] for n in range(5)]
        assert running.worker.stats["recovered"] == 5
        assert client.llen(f"{DEFAULT_KEY}:processing:other") == 1

    def test_items_that_are_not_payloads_go_to_dead_letters(
        self, server: RedisServer, client: redis.Redis, micro: MicroCollector
    ) -> None:
        """Unreadable items are moved to <key>:failed and counted, not retried."""
        client.rpush(DEFAULT_KEY, "not json", "[1]", json.dumps(_payload(1)))
        running = _Running(client, micro.endpoint, "w3")
        micro.wait_for(1, timeout=10)
        _wait_until(lambda: running.worker.stats["in_flight"] == 0)
        running.stop()

        assert running.worker.stats["invalid"] == 2
        assert client.lrange(f"{DEFAULT_KEY}:failed", 0, -1) == [b"not json", b"[1]"]
        assert client.llen(f"{DEFAULT_KEY}:processing:w3") == 0

    def test_refused_events_go_to_dead_letters(
        self, server: RedisServer, client: redis.Redis
    ) -> None:
        """A batch the collector refuses for good (400) moves to <key>:failed."""
        refused = json.dumps({"e": "pv", "eid": "x"})
        client.rpush("k", refused)
        with Collector() as collector:  # a real collector answers 200 to bad rows
            collector.default = Reply(status=400)
            running = _Running(client, collector.url, "w4", key="k")
            _wait_until(lambda: client.llen("k:failed") == 1)
            running.stop()

        assert running.worker.stats["failed"] == 1
        assert client.lrange("k:failed", 0, -1) == [refused.encode()]
        assert client.llen("k:processing:w4") == 0

    def test_two_workers_share_the_load(
        self, server: RedisServer, client: redis.Redis
    ) -> None:
        """With the collector down, each worker holds at most max_in_flight."""
        port = free_port()
        workers = [
            _Running(
                client,
                f"http://127.0.0.1:{port}",
                name,
                max_in_flight=100,
                batch_size=20,
                retry=FAST_RETRY,
            )
            for name in ("a", "b")
        ]
        _fill(server, 150)
        processing = [f"{DEFAULT_KEY}:processing:{name}" for name in ("a", "b")]
        _wait_until(lambda: client.llen(DEFAULT_KEY) == 0)
        held = [client.llen(key) for key in processing]
        with MicroCollector(port=port) as micro:
            micro.wait_for(150, timeout=15)
            _wait_until(lambda: sum(client.llen(key) for key in processing) == 0)
            results = [running.stop() for running in workers]
            eids = _eids(micro)

        assert sum(held) == 150
        assert all(0 < count <= 100 for count in held)
        assert results == [True, True]
        assert len(eids) == 150
        assert max(eids.values()) == 1

    def test_run_twice_is_an_error(
        self, server: RedisServer, micro: MicroCollector
    ) -> None:
        """A finished worker's emitter is closed, so a second run() refuses."""
        running = _Running(server.url, micro.endpoint, "w6")
        running.stop()

        with pytest.raises(ClosedError, match="runs once"):
            running.worker.run()

    def test_survives_a_redis_outage(
        self, tmp_path: Path, micro: MicroCollector
    ) -> None:
        """Started before Redis, the worker counts errors, then ships once it is up."""
        port = free_port()
        running = _Running(f"redis://127.0.0.1:{port}/0", micro.endpoint, "w5")
        _wait_until(lambda: running.worker.stats["redis_errors"] > 0)
        server = RedisServer(tmp_path, port)
        try:
            with redis.Redis(port=port) as client:
                client.rpush(DEFAULT_KEY, *(json.dumps(_payload(n)) for n in range(3)))
            micro.wait_for(3, timeout=10)
            _wait_until(lambda: running.worker.stats["in_flight"] == 0)
            running.stop()
        finally:
            server.stop()

        assert running.worker.stats["sent"] == 3
        assert len(_eids(micro)) == 3

    @pytest.mark.parametrize(
        ("kwargs", "error", "message"),
        [
            ({"name": ""}, ConfigurationTypeError, "'name' must be a non-empty"),
            ({"max_in_flight": 0}, ConfigurationError, "'max_in_flight' must be > 0"),
            ({"block_timeout": 0}, ConfigurationError, "'block_timeout' must be > 0"),
            ({"endpoint": ""}, ConfigurationError, "endpoint"),
        ],
    )
    def test_bad_settings_name_the_setting(
        self, kwargs: dict[str, object], error: type[Exception], message: str
    ) -> None:
        """Each bad setting fails at construction with its name in the message."""
        arguments: dict[str, object] = {"endpoint": "http://127.0.0.1:1", **kwargs}

        with pytest.raises(error, match=message):
            RedisWorker("redis://127.0.0.1:1/0", **arguments)  # type: ignore[arg-type]


def _worker_process(
    server: RedisServer, endpoint: str, name: str
) -> subprocess.Popen[str]:
    return start_python(
        "-m",
        "snowplow_logging",
        "worker",
        "--redis",
        server.url,
        "--endpoint",
        endpoint,
        "--name",
        name,
        "--batch-size",
        "25",
        "--max-in-flight",
        "200",
        "--flush-interval",
        "0.05",
        "--block-timeout",
        "0.2",
        stdout=None,
        stderr=subprocess.PIPE,
    )


class TestWorkerCommand:
    """snowplow-logging worker: graceful stop, and no loss when killed."""

    @pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
    def test_signal_stops_after_draining(
        self,
        server: RedisServer,
        client: redis.Redis,
        micro: MicroCollector,
        signum: signal.Signals,
    ) -> None:
        """SIGTERM or SIGINT: exit 0 after delivering what it had taken."""
        _fill(server, 100)
        process = _worker_process(server, micro.endpoint, "cli")
        micro.wait_for(100, timeout=15)
        process.send_signal(signum)
        _, err = process.communicate(timeout=20)

        assert process.returncode == 0, err
        assert '"sent": 100' in err
        assert client.llen(f"{DEFAULT_KEY}:processing:cli") == 0

    def test_bad_setting_exits_2_naming_it(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A bad option is reported with its name; nothing starts."""
        status = main(["worker", "--redis", "http://x", "--endpoint", "http://c"])

        assert status == 2
        assert "'redis' must be" in capsys.readouterr().err

    def test_sigkill_mid_run_loses_nothing(
        self, server: RedisServer, client: redis.Redis, micro: MicroCollector
    ) -> None:
        """A worker killed mid-run and restarted delivers every event; dups counted."""
        total = 3000
        _fill(server, total)
        process = _worker_process(server, micro.endpoint, "crash")
        micro.wait_for(300, timeout=15)
        process.kill()
        process.communicate(timeout=10)
        left = client.llen(DEFAULT_KEY) + client.llen(f"{DEFAULT_KEY}:processing:crash")
        restarted = _worker_process(server, micro.endpoint, "crash")
        micro.wait_for(total, timeout=30)
        _wait_until(
            lambda: (
                client.llen(DEFAULT_KEY) == 0
                and client.llen(f"{DEFAULT_KEY}:processing:crash") == 0
            ),
            timeout=30,
        )
        restarted.send_signal(signal.SIGTERM)
        _, err = restarted.communicate(timeout=20)
        eids = _eids(micro)
        duplicates = sum(eids.values()) - len(eids)
        print(f"killed with {left} events left; {duplicates} duplicates")

        assert restarted.returncode == 0, err
        assert left > 0
        assert len(eids) == total
        # Only a request cut short by the kill may arrive bad, and it holds no event.
        assert all(bad.payload is None for bad in micro.bad())
        assert duplicates == sum(eids.values()) - total
        assert duplicates <= 200  # at most what was in flight when killed
