"""A real HTTP collector on 127.0.0.1 for the tests: scriptable, fault-injecting.

:class:`Collector` records every request (method, path, headers, body, client
port, how it was answered) and the events it carries, answers with scripted
:class:`Reply` values and lets tests wait for a number of events or requests on
a condition variable, never by sleeping. A reply is an answer (status, headers,
an optional delay first) or a fault (:class:`Kind`): a connection reset, a
close without an answer after the events were kept, an answer slower than the
client's timeout. The collector may start *bound but not listening*
(connections refused until :meth:`Collector.listen`) and may serve TLS.

What happens to each request is a :class:`Policy`: by default the collector's
own script; :class:`~tests.reliability.faults.FaultCollector` is a policy
(plans and a tally by ``eid``) over this server. :func:`check_post_body` and
:func:`check_event` validate what arrived against the bundled Iglu
``payload_data`` 1-0-4 schema.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Final, Protocol, Self, cast
from urllib.parse import parse_qsl, urlsplit

import jsonschema

import snowplow_logging
from snowplow_logging import _protocol as proto

_SCHEMA_FILE = (
    Path(snowplow_logging.__file__).parent
    / "iglu/schemas/com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
)


def _payload_data_validator() -> jsonschema.Draft4Validator:
    schema = json.loads(_SCHEMA_FILE.read_text(encoding="utf-8"))
    schema.pop("$schema", None)
    schema.pop("self", None)
    return jsonschema.Draft4Validator(schema)


PAYLOAD_DATA = _payload_data_validator()


def check_event(event: Mapping[str, str]) -> None:
    """Assert one event passes ``payload_data`` 1-0-4 (all values strings)."""
    PAYLOAD_DATA.validate([dict(event)])


def check_post_body(body: bytes) -> list[dict[str, str]]:
    """Assert a POST body is the exact envelope and return its events."""
    envelope = json.loads(body.decode("utf-8"))
    assert set(envelope) == {"schema", "data"}, envelope
    assert envelope["schema"] == proto.PAYLOAD_DATA_SCHEMA
    assert envelope["data"], "never an empty batch"
    PAYLOAD_DATA.validate(envelope["data"])
    return cast("list[dict[str, str]]", envelope["data"])


DTM: Final = 1_795_420_800_000
"""The ``dtm`` of :func:`se_payload`'s first event (2026-11-23 08:00 UTC)."""


def se_payload(n: int = 0, **extra: str) -> dict[str, str]:
    """A structured event's payload, the ``n``-th of a run, with a new ``eid``."""
    return {
        "e": "se",
        "eid": str(uuid.uuid4()),
        "tv": "py-test",
        "p": "srv",
        "dtm": str(DTM + n),
        "se_ca": "category",
        "se_ac": f"action-{n}",
        **extra,
    }


class LogWatch(logging.Handler):
    """Collects snowplow_logging records; tests wait on a message appearing."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._cond = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self._cond:
            self.records.append(record)
            self._cond.notify_all()

    def messages(self) -> list[str]:
        with self._cond:
            return [r.getMessage() for r in self.records]

    def formatted(self) -> list[str]:
        """Each record as ``logging.Formatter()`` writes it, traceback included."""
        with self._cond:
            return [logging.Formatter().format(r) for r in self.records]

    def wait_for(self, text: str, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(
                lambda: any(text in r.getMessage() for r in self.records), timeout
            )


class Kind(Enum):
    """What the collector does with a request once it has read it."""

    ANSWER = "answer"  # answer with status and headers; 2xx keeps the events
    RESET = "reset"  # reset the connection (RST); nothing kept
    DROP = "drop"  # keep the events, close without answering
    SLOW = "slow"  # keep the events, answer after ``delay`` seconds


@dataclass(frozen=True, slots=True)
class Reply:
    """How the collector answers one request.

    ``Kind.ANSWER`` waits ``delay`` seconds, then answers ``status`` with
    ``headers``; ``Kind.SLOW`` keeps the events first, then answers after
    ``delay`` (too late for a client with a shorter timeout).
    """

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    kind: Kind = Kind.ANSWER

    @property
    def ok(self) -> bool:
        """Whether the client sees a 2xx answer."""
        return self.kind is Kind.ANSWER and 200 <= self.status < 300


@dataclass(frozen=True)
class Request:
    """One request as the collector saw it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    client_port: int
    received: float
    status: int
    kind: Kind = Kind.ANSWER

    def events(self) -> list[dict[str, str]]:
        """The events this request carried (POST body items or the GET query)."""
        if self.method == "POST":
            return cast("list[dict[str, str]]", json.loads(self.body)["data"])
        return [dict(parse_qsl(self.query, keep_blank_values=True))]

    @property
    def ok(self) -> bool:
        """Whether the collector answered with a 2xx."""
        return self.kind is Kind.ANSWER and 200 <= self.status < 300


class Policy(Protocol):
    """What a :class:`Collector` does with each request, on its connection's thread."""

    def events(self, request: Request) -> list[dict[str, str]]:
        """The events ``request`` carries (may assert that they are valid)."""
        ...

    def reply(self, events: list[dict[str, str]]) -> Reply:
        """How to answer the request carrying ``events``."""
        ...

    def record(self, events: list[dict[str, str]], *, answered: bool = True) -> None:
        """The collector kept ``events``; ``answered=False``: the client will not
        see the answer (so it sends them again)."""
        ...


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real collector
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.collector.timeout)

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
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            query=parts.query,
            headers=dict(self.headers.items()),
            body=body,
            client_port=self.client_address[1],
            received=time.monotonic(),
            status=0,
        )
        events = collector.policy.events(request)
        reply = collector.policy.reply(events)
        if reply.kind is Kind.RESET:
            collector.keep(replace(request, kind=reply.kind), [])
            self.close_connection = True
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            return
        if reply.kind is Kind.DROP:
            collector.policy.record(events, answered=False)
            collector.keep(replace(request, kind=reply.kind), events)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if reply.kind is Kind.SLOW:
            collector.policy.record(events, answered=False)
            collector.stopping.wait(reply.delay)
        else:
            if reply.delay:
                collector.stopping.wait(reply.delay)
            if reply.ok:
                collector.policy.record(events)
        collector.keep(
            replace(
                request,
                received=time.monotonic(),
                status=reply.status,
                kind=reply.kind,
            ),
            events,
        )
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()
        except OSError:  # the client gave up on a slow answer
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    collector: Collector


class Collector:
    """A threaded HTTP server recording requests; answers 200 unless scripted.

    Args:
        port: the port to listen on; 0 picks a free one.
        policy: decides what happens to each request; by default the script
            (:meth:`script`, then :attr:`default`).
        listening: start listening at once; otherwise the port is bound but
            connections are refused until :meth:`listen`.
        tls: serve HTTPS with this server-side context.
        timeout: seconds an idle connection stays open; None: forever.
        keep_requests: keep every :class:`Request` (bodies included) for
            :attr:`requests`; counts are kept either way.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        policy: Policy | None = None,
        listening: bool = True,
        tls: ssl.SSLContext | None = None,
        timeout: float | None = 10.0,
        keep_requests: bool = True,
    ) -> None:
        self.policy: Policy = _Script(self) if policy is None else policy
        self.timeout = timeout
        self._keep_requests = keep_requests
        self._server = _Server(("127.0.0.1", port), _Handler, bind_and_activate=False)
        self._server.collector = self
        self._server.server_bind()  # bound, not listening: connections are refused
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port = int(self._server.server_address[1])
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.stopping = threading.Event()
        self._cond = threading.Condition()
        self._requests: list[Request] = []
        self._count = 0
        self._accepted = 0
        self._replies: deque[Reply] = deque()
        self.default = Reply()
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
                name=f"collector:{self.port}",
                daemon=True,
            )
            self._thread.start()

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies``, then with ``default``."""
        with self._cond:
            self._replies.extend(replies)

    def next_reply(self) -> Reply:
        """The next scripted reply, else :attr:`default`."""
        with self._cond:
            return self._replies.popleft() if self._replies else self.default

    def keep(self, request: Request, events: list[dict[str, str]]) -> None:
        """Record one handled request and count its events if answered 2xx."""
        with self._cond:
            if self._keep_requests:
                self._requests.append(request)
            self._count += 1
            self._accepted += len(events) if request.ok else 0
            self._cond.notify_all()

    @property
    def requests(self) -> list[Request]:
        """Every request so far, in arrival order."""
        with self._cond:
            return list(self._requests)

    def accepted_events(self) -> list[dict[str, str]]:
        """Events of the requests answered with a 2xx."""
        return [e for r in self.requests if r.ok for e in r.events()]

    def wait_for(
        self, *, requests: int = 0, events: int = 0, timeout: float = 10.0
    ) -> bool:
        """Wait until at least ``requests`` requests and ``events`` accepted events."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._count >= requests and self._accepted >= events,
                timeout,
            )

    def close(self) -> None:
        """Stop serving; pending delayed replies return at once."""
        self.stopping.set()
        if self._thread is not None:
            self._server.shutdown()
        self._server.server_close()


class _Script:
    """The default policy: the collector's scripted replies, any body accepted."""

    def __init__(self, collector: Collector) -> None:
        self._collector = collector

    def events(self, request: Request) -> list[dict[str, str]]:
        try:
            return request.events()
        except (ValueError, KeyError, TypeError):  # not an envelope (transport tests)
            return []

    def reply(self, events: list[dict[str, str]]) -> Reply:
        return self._collector.next_reply()

    def record(self, events: list[dict[str, str]], *, answered: bool = True) -> None:
        pass


def free_port() -> int:
    """A port with nothing listening (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return cast("int", sock.getsockname()[1])


@contextmanager
def blackhole() -> Iterator[str]:
    """A listening socket that never accepts: requests to it hang until timeout."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
