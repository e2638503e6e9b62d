"""A fault-injecting Snowplow collector for the reliability scenarios.

Real HTTP/1.1 on 127.0.0.1, a free port, served by a thread. Every request is
read whole, then a :data:`Plan` decides what happens to it (:class:`Fault`):
an answer with a status and headers, a connection reset, a close without an
answer after the events were recorded (*accept then drop*: the client sees an
error, retries, and the collector gets duplicates), or an answer slower than the
client's timeout (recorded, then too late: duplicates again). The collector may
also start *bound but not listening*, so connections are refused until
:meth:`FaultCollector.listen`.

Each event is recorded once per copy received by its ``eid``: :meth:`tally`
gives the unique events delivered and the duplicates. Tests wait on the
collector's condition variable, never by sleeping.
"""

from __future__ import annotations

import random
import socket
import ssl
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self, TypeAlias
from urllib.parse import parse_qsl

from tests.collector import check_post_body

TLS_CERT = Path(__file__).parent / "tls" / "cert.pem"
"""A self-signed certificate for 127.0.0.1 and localhost, valid until 2126."""
TLS_KEY = Path(__file__).parent / "tls" / "key.pem"
"""Its private key: a test fixture, protecting nothing."""


def tls_context() -> ssl.SSLContext:
    """A server context presenting :data:`TLS_CERT`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(TLS_CERT, TLS_KEY)
    return context


class Kind(Enum):
    """What the collector does with a request once it has read it."""

    ANSWER = "answer"  # answer with status and headers; 2xx records the events
    RESET = "reset"  # reset the connection (RST); nothing recorded
    DROP = "drop"  # record the events, close without answering
    SLOW = "slow"  # record the events, answer after ``delay`` seconds


@dataclass(frozen=True, slots=True)
class Fault:
    """One decision of a plan."""

    kind: Kind = Kind.ANSWER
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0


OK = Fault()
Plan: TypeAlias = Callable[["FaultCollector", list[dict[str, str]]], Fault]
"""``plan(collector, events)``: the fault for a request carrying ``events``;
called on the connection's thread, under no lock."""


def always(fault: Fault) -> Plan:
    """A plan answering every request with ``fault``."""
    return lambda collector, events: fault


def random_faults(fraction: float, faults: Sequence[Fault], *, seed: int = 8) -> Plan:
    """A plan failing ``fraction`` of requests with one of ``faults`` at random."""
    rng = random.Random(seed)
    lock = threading.Lock()

    def plan(collector: FaultCollector, events: list[dict[str, str]]) -> Fault:
        with lock:
            return rng.choice(faults) if rng.random() < fraction else OK

    return plan


class Outage:
    """A plan that answers ``fault`` for ``seconds`` once ``after`` events arrived.

    The outage starts with the first request after ``after`` unique events were
    recorded and ends when the collector's own clock says ``seconds`` have
    passed: the run is driven by the collector's state, not by the test sleeping.
    ``after=0`` fails the first ``seconds`` from the first request.
    """

    def __init__(
        self, *, after: int, seconds: float, fault: Fault = Fault(status=503)
    ) -> None:
        self.after, self.seconds, self.fault = after, seconds, fault
        self.started: float | None = None
        self.ended = threading.Event()
        self._lock = threading.Lock()

    def __call__(
        self, collector: FaultCollector, events: list[dict[str, str]]
    ) -> Fault:
        with self._lock:
            now = time.monotonic()
            if self.started is None and collector.unique >= self.after:
                self.started = now
            if self.started is None or self.ended.is_set():
                return OK
            if now - self.started >= self.seconds:
                self.ended.set()
                return OK
            return self.fault


@dataclass(frozen=True, slots=True)
class Tally:
    """What the collector received: events by unique ``eid`` and extra copies."""

    requests: int
    refused: int  # requests answered with a non-2xx, reset or dropped unanswered
    delivered: int  # unique eids recorded
    duplicates: int  # copies beyond the first
    unanswered_copies: int  # events recorded from requests the client saw fail


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def _handle(self) -> None:
        collector = self.server.collector
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        events = _events(self.command, self.path, body)
        fault = collector.plan(collector, events)
        collector.count_request(fault)
        if fault.kind is Kind.RESET:
            self.close_connection = True
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            return
        if fault.kind is Kind.DROP:
            collector.record(events, answered=False)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault.kind is Kind.SLOW:
            collector.record(events, answered=False)
            collector.stopping.wait(fault.delay)
        elif 200 <= fault.status < 300:
            collector.record(events)
        try:
            self.send_response(fault.status)
            for name, value in fault.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()
        except OSError:  # the client gave up on a slow answer
            self.close_connection = True


def _events(method: str, path: str, body: bytes) -> list[dict[str, str]]:
    if method == "POST":
        return check_post_body(body)
    query = path.partition("?")[2]
    return [dict(parse_qsl(query, keep_blank_values=True))]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    collector: FaultCollector


class FaultCollector:
    """A collector that fails on purpose and counts what it received.

    Args:
        plan: decides the fault for each request; :data:`OK` answers 200.
        listening: start listening at once; otherwise the port is bound but
            connections are refused until :meth:`listen`.
        tls: serve HTTPS with this server-side context (see :func:`tls_context`).
    """

    def __init__(
        self,
        plan: Plan | None = None,
        *,
        listening: bool = True,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.plan = always(OK) if plan is None else plan
        self._server = _Server(("127.0.0.1", 0), _Handler, bind_and_activate=False)
        self._server.collector = self
        self._server.server_bind()  # bound, not listening: connections are refused
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port = int(self._server.server_address[1])
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.stopping = threading.Event()
        self._cond = threading.Condition()
        self._copies: Counter[str] = Counter()
        self._requests = self._refused = self._unanswered = 0
        self._thread: threading.Thread | None = None
        if listening:
            self.listen()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def listen(self) -> None:
        """Start accepting connections (a no-op when already listening)."""
        if self._thread is None:
            self._server.server_activate()
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"fault-collector:{self.port}",
                daemon=True,
            )
            self._thread.start()

    def count_request(self, fault: Fault) -> None:
        """Count one request and whether the client will see it fail."""
        failed = fault.kind is not Kind.ANSWER or not (200 <= fault.status < 300)
        with self._cond:
            self._requests += 1
            self._refused += failed
            self._cond.notify_all()

    def record(self, events: list[dict[str, str]], *, answered: bool = True) -> None:
        """Keep the events the collector accepted (a pipeline would store them).

        ``answered=False``: the client will not see the answer, so it resends.
        """
        with self._cond:
            self._unanswered += 0 if answered else len(events)
            self._copies.update(event["eid"] for event in events)
            self._cond.notify_all()

    @property
    def unique(self) -> int:
        """Unique events recorded so far."""
        with self._cond:
            return len(self._copies)

    def eids(self) -> set[str]:
        """The ids of every event recorded."""
        with self._cond:
            return set(self._copies)

    def tally(self) -> Tally:
        """Requests, failed requests, unique events and duplicates so far."""
        with self._cond:
            return Tally(
                requests=self._requests,
                refused=self._refused,
                delivered=len(self._copies),
                duplicates=sum(self._copies.values()) - len(self._copies),
                unanswered_copies=self._unanswered,
            )

    def wait_for(
        self, *, unique: int = 0, requests: int = 0, timeout: float = 30.0
    ) -> bool:
        """Wait until ``unique`` events and ``requests`` requests have arrived."""
        with self._cond:
            return self._cond.wait_for(
                lambda: len(self._copies) >= unique and self._requests >= requests,
                timeout,
            )

    def close(self) -> None:
        """Stop serving; slow answers in progress return at once."""
        self.stopping.set()
        if self._thread is not None:
            self._server.shutdown()
        self._server.server_close()


def wait_until(predicate: Callable[[], bool], *, timeout: float = 30.0) -> bool:
    """Poll ``predicate`` (a counter, never a clock) until true or ``timeout``."""
    deadline = time.monotonic() + timeout
    wake = threading.Event()
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        wake.wait(0.005)
    return True
