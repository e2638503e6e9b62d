"""RedisWorker when the reply to its move is lost (issue #14, finding 13).

A real redis-server, a real collector, and between the worker and Redis a TCP
proxy that reads the RESP stream both ways. Once, it lets a command of the
worker's reach the server, reads the server's reply (so the command has run)
and then, instead of forwarding it, resets the connection or holds the reply
until the client gives up (a timeout). redis-py retries such errors by itself
(ten times by default), so the tests run with the client's default retry and
with none, where the error reaches the worker.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import subprocess
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Self

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry as RedisRetry

from snowplow_logging.micro import MicroCollector
from snowplow_logging.redis import DEFAULT_KEY, RedisWorker
from tests.collector import Collector, Reply, free_port

PROCESSING = f"{DEFAULT_KEY}:processing"


class _Server:
    """redis-server on 127.0.0.1, no persistence, until :meth:`stop`."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self._process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(directory)),
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
        self._drain = threading.Thread(target=self._process.stdout.read, daemon=True)
        self._drain.start()

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)
        self._drain.join(timeout=10)
        assert self._process.stdout is not None
        self._process.stdout.close()


class _Stream:
    """Reads whole RESP2 messages from a socket: ``(raw bytes, parsed value)``."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = bytearray()

    def _fill(self) -> bool:
        chunk = self._sock.recv(65536)
        self._buffer += chunk
        return bool(chunk)

    def _line(self) -> bytes | None:
        while (end := self._buffer.find(b"\r\n")) < 0:
            if not self._fill():
                return None
        line = bytes(self._buffer[: end + 2])
        del self._buffer[: end + 2]
        return line

    def _exactly(self, size: int) -> bytes | None:
        while len(self._buffer) < size:
            if not self._fill():
                return None
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def message(self) -> tuple[bytes, object] | None:
        """The next message, or None at the end of the stream."""
        line = self._line()
        if line is None:
            return None
        kind, size = line[:1], line[1:-2]
        if kind == b"$" and int(size) >= 0:
            data = self._exactly(int(size) + 2)
            return None if data is None else (line + data, data[:-2])
        if kind == b"*" and int(size) >= 0:
            raws, items = [line], []
            for _ in range(int(size)):
                item = self.message()
                if item is None:
                    return None
                raws.append(item[0])
                items.append(item[1])
            return b"".join(raws), items
        return line, None if kind in b"$*" else line  # nil, or a one-line reply


def _reset(sock: socket.socket) -> None:
    """Make the next close send RST, and wake a thread reading ``sock``."""
    with contextlib.suppress(OSError):  # closed already
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RD)


class LosingProxy:
    """Forwards TCP to Redis; loses the first non-empty reply to ``command``.

    With ``integers``, the first positive integer reply instead (a settle's).

    ``kind`` ``"reset"`` resets the client's connection instead of answering;
    ``"timeout"`` keeps the reply until the client closes the connection. With
    ``refuse_after``, every connection is reset from then on.
    """

    def __init__(
        self,
        upstream: int,
        command: bytes,
        kind: str,
        *,
        refuse_after: bool = False,
        integers: bool = False,
    ) -> None:
        self._integers = integers  # lose a positive integer reply instead
        self._upstream = upstream
        self._command = command
        self._kind = kind
        self._refuse_after = refuse_after
        self.lost = threading.Event()
        self._lock = threading.Lock()
        self._armed = True
        self._refusing = False
        self._clients: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._start(self._accept)

    def _start(self, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                refusing = self._refusing
                if not refusing:
                    self._clients.add(client)
            if refusing:
                _reset(client)
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self._upstream))
            names: deque[bytes] = deque()  # commands sent, not yet answered
            gone = threading.Event()  # the client hung up
            self._start(partial(self._up, client, upstream, names, gone))
            self._start(partial(self._down, client, upstream, names, gone))

    def _up(
        self,
        client: socket.socket,
        upstream: socket.socket,
        names: deque[bytes],
        gone: threading.Event,
    ) -> None:
        """Client to server: note each command's name, forward it."""
        stream = _Stream(client)
        try:
            while (message := stream.message()) is not None:
                raw, parsed = message
                name = parsed[0] if isinstance(parsed, list) and parsed else b""
                names.append(name.upper() if isinstance(name, bytes) else b"")
                upstream.sendall(raw)
        except OSError:
            pass
        finally:
            gone.set()
            with self._lock:
                self._clients.discard(client)
            client.close()
            with contextlib.suppress(OSError):
                upstream.shutdown(socket.SHUT_RDWR)

    def _down(
        self,
        client: socket.socket,
        upstream: socket.socket,
        names: deque[bytes],
        gone: threading.Event,
    ) -> None:
        """Server to client: forward each reply, but lose the chosen one."""
        stream = _Stream(upstream)
        try:
            while (message := stream.message()) is not None:
                raw, parsed = message
                if self._loses(names.popleft(), parsed):
                    if self._kind == "timeout":
                        gone.wait(30)  # the client timed out and hung up
                    self._lost(client)
                    return
                client.sendall(raw)
        except OSError:
            pass
        finally:
            upstream.close()

    def _loses(self, name: bytes, reply: object) -> bool:
        with self._lock:
            if not self._armed or name != self._command or not self._chosen(reply):
                return False
            self._armed = False
            return True

    def _chosen(self, reply: object) -> bool:
        """Whether ``reply`` is of the kind to lose (something moved or removed)."""
        if self._integers:  # the settle script answers how many it removed
            return (
                isinstance(reply, bytes)
                and reply[:1] == b":"
                and reply.strip() != b":0"
            )
        if reply is None or reply == [] or not isinstance(reply, list | bytes):
            return False
        # An error or a status: the command moved nothing.
        return not (isinstance(reply, bytes) and reply[:1] in b"-+:")

    def _lost(self, client: socket.socket) -> None:
        with self._lock:
            victims = {client}
            if self._refuse_after:
                self._refusing = True
                victims |= self._clients
        for sock in victims:
            _reset(sock)
        self.lost.set()

    def close(self) -> None:
        with self._lock:
            self._refusing = True
            clients = set(self._clients)
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for sock in clients:
            _reset(sock)
        for thread in self._threads:
            thread.join(timeout=10)


@pytest.fixture(name="server", scope="module")
def _server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Server]:
    server = _Server(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(name="direct")
def _direct(server: _Server) -> Iterator[redis.Redis]:
    client = redis.Redis(port=server.port)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(name="micro")
def _micro() -> Iterator[MicroCollector]:
    with MicroCollector() as micro:
        yield micro


def _payload(n: int) -> str:
    return json.dumps(
        {
            "e": "pv",
            "eid": f"00000000-0000-4000-8000-{n:012d}",
            "p": "srv",
            "tv": "py-test",
            "url": f"https://shop.test/{n}",
        }
    )


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll a count that no event signals (Redis lists, another thread's stats)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        time.sleep(0.01)


def _through(
    proxy: LosingProxy, *, retries: bool, socket_timeout: float = 0.5
) -> redis.Redis:
    """A client to Redis through ``proxy``; without redis-py's retry if not ``retries``."""
    if retries:  # redis-py's default: ten retries with back-off
        return redis.Redis(port=proxy.port, protocol=2, socket_timeout=socket_timeout)
    return redis.Redis(
        port=proxy.port,
        protocol=2,
        socket_timeout=socket_timeout,
        retry=RedisRetry(NoBackoff(), 0),
    )


class _Running:
    """A RedisWorker's run() on a thread."""

    def __init__(self, worker: RedisWorker) -> None:
        self.worker = worker
        self.result: list[bool] = []
        self.thread = threading.Thread(target=lambda: self.result.append(worker.run()))
        self.thread.start()

    def stop(self) -> bool:
        self.worker.stop()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()
        return self.result[0]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.thread.is_alive():  # a failed test: stop it before its client closes
            self.stop()


def _worker(
    client: redis.Redis, micro: MicroCollector, name: str, **options: object
) -> RedisWorker:
    settings: dict[str, object] = {
        "flush_interval": 0.05,
        "block_timeout": 0.1,
        "batch_size": 500,
        **options,
    }
    return RedisWorker(client, endpoint=micro.endpoint, name=name, **settings)  # type: ignore[arg-type]


def _eids(micro: MicroCollector) -> Counter[str]:
    return Counter(event.payload["eid"] for event in micro.good())


FAULTS = [
    pytest.param("reset", True, id="reset-retried-by-redis-py"),
    pytest.param("timeout", True, id="timeout-retried-by-redis-py"),
    pytest.param("reset", False, id="reset-reaches-the-worker"),
    pytest.param("timeout", False, id="timeout-reaches-the-worker"),
]


class TestLostMoveReply:
    """A move that ran on the server but whose reply was lost strands nothing."""

    @pytest.mark.parametrize(("kind", "retries"), FAULTS)
    def test_batch_moved_by_the_script_is_sent_in_the_same_run(
        self,
        server: _Server,
        direct: redis.Redis,
        micro: MicroCollector,
        kind: str,
        retries: bool,
    ) -> None:
        """200 events moved by a script whose reply was lost all reach the collector."""
        direct.rpush(DEFAULT_KEY, *(_payload(n) for n in range(200)))
        proxy = LosingProxy(server.port, b"EVALSHA", kind)
        client = _through(proxy, retries=retries)
        try:
            with _Running(_worker(client, micro, "lost-take")) as running:
                assert proxy.lost.wait(10)
                micro.wait_for(200, timeout=10)
                _wait_until(lambda: direct.llen(f"{PROCESSING}:lost-take") == 0)
                drained = running.stop()
                stats = running.worker.stats
        finally:
            client.close()
            proxy.close()
        eids = _eids(micro)

        assert drained
        assert len(eids) == 200
        assert max(eids.values()) == 1
        assert (stats["taken"], stats["sent"], stats["in_flight"]) == (200, 200, 0)
        assert direct.llen(DEFAULT_KEY) == 0

    @pytest.mark.parametrize(("kind", "retries"), FAULTS)
    def test_event_moved_while_blocked_is_sent_in_the_same_run(
        self,
        server: _Server,
        direct: redis.Redis,
        micro: MicroCollector,
        kind: str,
        retries: bool,
    ) -> None:
        """Events pushed while the worker blocks on an empty list all arrive."""
        proxy = LosingProxy(server.port, b"BLMOVE", kind)
        client = _through(proxy, retries=retries, socket_timeout=2.0)
        worker = _worker(client, micro, "lost-wait", block_timeout=1.0)
        try:
            with _Running(worker) as running:
                # Push while the worker's BLMOVE blocks, so that it answers it.
                _wait_until(lambda: direct.info("clients")["blocked_clients"] == 1)
                direct.rpush(DEFAULT_KEY, *(_payload(n) for n in range(5)))
                assert proxy.lost.wait(10)
                micro.wait_for(5, timeout=10)
                _wait_until(lambda: direct.llen(f"{PROCESSING}:lost-wait") == 0)
                drained = running.stop()
                stats = running.worker.stats
        finally:
            client.close()
            proxy.close()
        eids = _eids(micro)

        assert drained
        assert len(eids) == 5
        assert max(eids.values()) == 1
        assert (stats["taken"], stats["sent"]) == (5, 5)

    def test_move_unanswered_at_stop_is_not_reported_drained(
        self, server: _Server, direct: redis.Redis, micro: MicroCollector
    ) -> None:
        """Redis gone right after the move ran: run() is False; the next run sends."""
        direct.rpush(DEFAULT_KEY, *(_payload(n) for n in range(200)))
        proxy = LosingProxy(server.port, b"EVALSHA", "reset", refuse_after=True)
        client = _through(proxy, retries=False)
        try:
            with _Running(_worker(client, micro, "stranded")) as running:
                assert proxy.lost.wait(10)
                _wait_until(lambda: running.worker.stats["redis_errors"] >= 2)
                drained = running.stop()
        finally:
            client.close()
            proxy.close()
        held = direct.llen(f"{PROCESSING}:stranded")
        with _Running(_worker(direct, micro, "stranded")) as restarted:
            micro.wait_for(200, timeout=10)
            _wait_until(lambda: direct.llen(f"{PROCESSING}:stranded") == 0)
            drained_after = restarted.stop()

        assert not drained
        assert held == 200
        assert restarted.worker.stats["recovered"] == 200
        assert drained_after
        assert len(_eids(micro)) == 200

    def test_events_left_in_the_processing_list_are_not_reported_drained(
        self,
        server: _Server,
        direct: redis.Redis,
        micro: MicroCollector,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """Items in its processing list that the run never held make run() False."""
        with _Running(_worker(direct, micro, "extra")) as running:
            _wait_until(lambda: direct.info("clients")["blocked_clients"] == 1)
            direct.rpush(f"{PROCESSING}:extra", _payload(1), _payload(2))
            drained = running.stop()

        assert not drained
        assert direct.llen(f"{PROCESSING}:extra") == 2
        assert "2 events" in caplog.text


class TestLostSettleReply:
    """A settle that ran on the server but whose reply was lost runs once."""

    def test_refused_events_reach_the_dead_letters_once(
        self, server: _Server, direct: redis.Redis
    ) -> None:
        """redis-py repeats the script; the repeat must not append them again.

        Before: 3 refused events, 6 dead letters.
        """
        direct.delete("dead")
        direct.rpush(DEFAULT_KEY, *(_payload(n) for n in range(3)))
        proxy = LosingProxy(server.port, b"EVALSHA", "reset", integers=True)
        client = _through(proxy, retries=True)
        with Collector() as collector:
            collector.default = Reply(status=400)  # refused for good: dead letters
            worker = RedisWorker(
                client,
                endpoint=collector.url,
                name="lost-settle",
                flush_interval=0.05,
                block_timeout=0.1,
                dead_letter_key="dead",
            )
            try:
                with _Running(worker) as running:
                    assert proxy.lost.wait(10)
                    _wait_until(lambda: direct.llen(f"{PROCESSING}:lost-settle") == 0)
                    running.stop()
                    stats = running.worker.stats
            finally:
                client.close()
                proxy.close()

        assert stats["failed"] == 3
        assert direct.llen("dead") == 3
