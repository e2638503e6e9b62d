"""A real HTTP collector on 127.0.0.1 for the emitter tests.

It records every request (method, path, headers, body, client port) and the
events it carries, answers with scripted replies (status, headers, delay) and
lets tests wait for a number of events or requests on a condition variable,
never by sleeping. :func:`check_post_body` and :func:`check_event` validate
what arrived against the bundled Iglu ``payload_data`` 1-0-4 schema.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import cast
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


@dataclass(frozen=True)
class Reply:
    """How the collector answers one request."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0


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

    def events(self) -> list[dict[str, str]]:
        """The events this request carried (POST body items or the GET query)."""
        if self.method == "POST":
            return cast("list[dict[str, str]]", json.loads(self.body)["data"])
        return [dict(parse_qsl(self.query, keep_blank_values=True))]

    @property
    def ok(self) -> bool:
        """Whether the collector answered with a 2xx."""
        return 200 <= self.status < 300


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real collector
    timeout = 10
    server: _Server

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        collector = self.server.collector
        reply = collector.next_reply()
        if reply.delay:
            collector.stopping.wait(reply.delay)
        parts = urlsplit(self.path)
        collector.record(
            Request(
                method=self.command,
                path=parts.path,
                query=parts.query,
                headers=dict(self.headers.items()),
                body=body,
                client_port=self.client_address[1],
                received=time.monotonic(),
                status=reply.status,
            )
        )
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    collector: Collector


class Collector:
    """A threaded HTTP server recording requests; answers 200 unless scripted.

    Args:
        port: the port to listen on; 0 picks a free one.
    """

    def __init__(self, port: int = 0) -> None:
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.collector = self
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.stopping = threading.Event()
        self._cond = threading.Condition()
        self._requests: list[Request] = []
        self._accepted = 0
        self._replies: deque[Reply] = deque()
        self.default = Reply()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )
        self._thread.start()

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies``, then with ``default``."""
        with self._cond:
            self._replies.extend(replies)

    def next_reply(self) -> Reply:
        with self._cond:
            return self._replies.popleft() if self._replies else self.default

    def record(self, request: Request) -> None:
        try:
            count = len(request.events()) if request.ok else 0
        except (ValueError, KeyError, TypeError):  # not an envelope (transport tests)
            count = 0
        with self._cond:
            self._requests.append(request)
            self._accepted += count
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
                lambda: len(self._requests) >= requests and self._accepted >= events,
                timeout,
            )

    def close(self) -> None:
        """Stop serving; pending delayed replies return at once."""
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()


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
