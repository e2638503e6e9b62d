"""The local collector's HTTP side: tracker requests in, Snowplow Micro's REST API out.

A :class:`CollectorServer` is a stdlib :class:`~http.server.ThreadingHTTPServer`
(one daemon thread per connection, HTTP/1.1 keep-alive). Each tracker request is
turned into events (:func:`~snowplow_logging.micro.intake.events_from_post`,
:func:`~snowplow_logging.micro.intake.events_from_get`), every event is validated
on the connection's thread, and the results go to an
:class:`~snowplow_logging.micro.store.EventStore`.

The answer is 200 when the request could be read as events, good or bad, as a
real collector answers (Enrich fails bad events later; here ``/micro/bad`` and
the console say why). A request a pipeline refuses whole (content type, query
parameters on a POST, size, an invalid envelope, unreadable JSON or query) is
answered 400 with a JSON body saying why, so an emitter fails it without retrying.
The server never configures logging and writes nothing to stderr.

The tracker paths answer any origin, as a real collector does; ``/micro/*``
is local (:mod:`~snowplow_logging.micro.origins`): ``/micro/reset`` from another
site is refused (403), and when the server listens on loopback a request naming
another ``Host`` (DNS rebinding) is refused too. What is kept of a request's
headers is redacted and bounded (:mod:`~snowplow_logging.micro.kept_headers`).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final
from urllib.parse import parse_qs, urlsplit

from snowplow_logging._exceptions import ConfigurationError, ConfigurationTypeError
from snowplow_logging._protocol import POST_PATH
from snowplow_logging._version import __version__
from snowplow_logging.micro.events import BadEvent, GoodEvent, RequestInfo
from snowplow_logging.micro.fields import whole_number
from snowplow_logging.micro.filters import EventFilter
from snowplow_logging.micro.iglu import IgluResolver
from snowplow_logging.micro.intake import (
    GET_PATHS,
    EventSink,
    Intake,
    events_from_get,
    events_from_post,
)
from snowplow_logging.micro.kept_headers import MAX_HEADER_VALUE, cut, kept_headers
from snowplow_logging.micro.origins import (
    cors_headers,
    from_other_site,
    host_name,
    is_loopback_host,
)
from snowplow_logging.micro.store import EventStore
from snowplow_logging.micro.ui import ui_asset  # the web UI, /micro/ui (#16)
from snowplow_logging.micro.validate import read_json

__all__ = ["CollectorServer"]

_DRAIN_LIMIT: Final = 64 * 1024 * 1024
"""An oversized body up to this size is read and dropped so keep-alive survives."""
_SHOWN_ERRORS: Final = 10
_HEX_DIGITS: Final = frozenset(b"0123456789abcdefABCDEF")
_PIXEL: Final = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c000000000100010000020144003b"
)
"""A transparent 1x1 GIF, the answer to a good GET."""
_FOREIGN_HOST: Final = (
    "a collector listening on loopback answers /micro/* only for localhost, "
    "127.0.0.1 or [::1] (Host: {}); listen on another address to be reached by "
    "another name"
)


class CollectorServer(ThreadingHTTPServer):
    """An HTTP server feeding an :class:`EventStore`; see the module docstring.

    Args:
        address: ``(host, port)``; port 0 picks a free one.
        resolver: validates events.
        store: keeps them.
        max_body_size: the largest POST body accepted, in bytes.
        on_event: called with each stored event (e.g. to print it).
        idle_timeout: seconds a keep-alive connection may stay silent.
    """

    daemon_threads = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        *,
        resolver: IgluResolver,
        store: EventStore,
        max_body_size: int,
        on_event: EventSink | None = None,
        idle_timeout: float = 30.0,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.resolver = resolver
        self.store = store
        self.max_body_size = max_body_size
        self.on_event = on_event
        self.idle_timeout = idle_timeout
        self.sink_errors = 0
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)
        # Listening on loopback only: then /micro/* wants a loopback Host.
        self.loopback = is_loopback_host(str(self.server_address[0]))

    def handle_error(self, request: object, client_address: object) -> None:
        """Drop the connection silently: a client going away is not our error."""

    def track(self, connection: socket.socket, *, active: bool) -> None:
        """Remember open connections so :meth:`close_connections` can end them."""
        with self._connections_lock:
            if active:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        """Shut every open keep-alive connection, ending its thread."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the peer
                connection.shutdown(socket.SHUT_RDWR)

    def record(self, outcome: Intake) -> None:
        """Store the events of one request, then hand each to ``on_event``."""
        good, bad, _ = outcome
        self.store.add(good, bad)
        if self.on_event is None:
            return
        events: list[GoodEvent | BadEvent] = [*good, *bad]
        for event in events:
            try:
                self.on_event(event)
            except Exception:  # noqa: BLE001 - a failing printer must not refuse events
                self.sink_errors += 1


class _Handler(BaseHTTPRequestHandler):
    """One connection: tracker paths, ``/micro/*``, ``/health``."""

    server: CollectorServer
    _tracker = False
    """The request is for a tracker path (its CORS answer differs)."""
    protocol_version = "HTTP/1.1"
    server_version = f"snowplow-logging-micro/{__version__}"
    disable_nagle_algorithm = True

    def setup(self) -> None:
        self.request.settimeout(self.server.idle_timeout)
        super().setup()
        self.server.track(self.connection, active=True)

    def finish(self) -> None:
        self.server.track(self.connection, active=False)
        with contextlib.suppress(OSError):  # the peer is gone
            super().finish()

    def version_string(self) -> str:
        """The ``Server`` header: ours, without the Python version."""
        return self.server_version

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Write nothing: the collector prints events, not access logs."""

    def do_GET(self) -> None:
        """Route a GET."""
        self._dispatch()

    def do_POST(self) -> None:
        """Route a POST."""
        self._dispatch()

    def do_OPTIONS(self) -> None:
        """Answer a CORS preflight, as the collector does for browser trackers."""
        try:
            self._tracker = urlsplit(self.path).path in GET_PATHS
        except ValueError:
            self._tracker = False
        self._drain()
        self._respond(200, b"", "text/plain")

    def _dispatch(self) -> None:
        self._tracker = False
        try:
            url = urlsplit(self.path)
        except ValueError:
            self._drain()
            self._respond_json(400, {"error": "the request target is not a URL"})
            return
        path, query = url.path, url.query
        self._tracker = path in GET_PATHS  # POST_PATH included
        try:
            if path == POST_PATH and self.command == "POST":
                self._tracker_post(query)
            elif path in GET_PATHS and self.command == "GET":
                self._tracker_get(path, query)
            elif path.startswith("/micro/"):
                self._micro(path.removeprefix("/micro/"), query)
            elif path == "/health" and self.command == "GET":
                self._respond(200, b"OK", "text/plain")
            else:
                self._drain()
                self._respond_json(
                    404, {"error": f"no route for {self.command} {path}"}
                )
        except Exception as exc:  # noqa: BLE001 - the server must answer, whatever happened
            self.close_connection = True
            with contextlib.suppress(OSError):  # the peer is gone
                self._respond_json(500, {"error": f"{type(exc).__name__}: {exc}"})

    def _info(self, query: str, body: str | None = None) -> RequestInfo:
        content_type = self.headers.get("Content-Type")
        return RequestInfo(
            method=self.command,
            path=self.path.partition("?")[0],
            query=query,
            content_type=(
                None if content_type is None else cut(content_type, MAX_HEADER_VALUE)
            ),
            body=body,
            headers=kept_headers(self.headers.items()),
            ip=str(self.client_address[0]),
            received_ms=time.time_ns() // 1_000_000,
        )

    def _tracker_post(self, query: str) -> None:
        body, problem = self._read_body()
        if body is None:
            self._answer(
                Intake(
                    [],
                    [BadEvent(errors=(problem,), request=self._info(query))],
                    refused=True,
                )
            )
            return
        info = self._info(query, body.decode("utf-8", errors="replace"))
        self._answer(events_from_post(info, body, self.server.resolver))

    def _tracker_get(self, path: str, query: str) -> None:
        self._drain()
        outcome = events_from_get(self._info(query), self.server.resolver)
        self._answer(outcome, pixel=path != POST_PATH)

    def _answer(self, outcome: Intake, *, pixel: bool = False) -> None:
        # Like a real collector, a request that could be read as events is
        # accepted (200) whatever the events' validity: Enrich judges them later,
        # and /micro/bad and the console report it. Only a request a pipeline
        # rejects whole is answered 400, so an emitter counts it failed and does
        # not retry, while its good events are never counted as failed.
        self.server.record(outcome)
        good, bad, refused = outcome
        if not refused:
            if pixel:
                self._respond(200, _PIXEL, "image/gif")
            else:
                self._respond(200, b"", "text/plain")
            return
        errors = [error for event in bad for error in event.errors]
        self._respond_json(
            400, {"good": len(good), "bad": len(bad), "errors": errors[:_SHOWN_ERRORS]}
        )

    def _micro(self, name: str, query: str) -> None:
        store = self.server.store
        body, problem = self._read_body()
        if body is None:
            self._respond_json(400, {"error": problem})
        elif self.server.loopback and not is_loopback_host(self._host()):
            self._respond_json(403, {"error": _FOREIGN_HOST.format(self._host())})
        elif name == "reset" and self._from_other_site():
            self._respond_json(
                403, {"error": "/micro/reset is refused to pages of other sites"}
            )
        elif name in {"all", "reset"}:
            if name == "reset":
                store.reset()
            self._respond_json(200, store.summary())
        elif name in {"good", "bad"}:
            try:
                where = _filters(query, body)
            except (ConfigurationError, ConfigurationTypeError, ValueError) as exc:
                self._respond_json(400, {"error": str(exc)})
                return
            events = store.good(where) if name == "good" else store.bad(where)
            self._respond_json(200, [event.to_json() for event in events])
        elif name.startswith("iglu/"):
            self._schema(name.removeprefix("iglu/"))
        elif (asset := ui_asset(name)) is not None:  # the web UI, /micro/ui (#16)
            self._respond(200, *asset)
        else:
            self._respond_json(
                404, {"error": "use /micro/all, /good, /bad, /reset or /iglu/..."}
            )

    def _schema(self, path: str) -> None:
        uri = f"iglu:{path}"
        location = self.server.resolver.schema_path(uri)
        if location is None:
            self._respond_json(404, {"error": f"schema not found: {uri}"})
        else:
            self._respond(200, location.read_bytes(), "application/json")

    def _host(self) -> str | None:
        """The host name the request was sent to; None when no ``Host`` was sent."""
        return host_name(self.headers.get("Host"))

    def _from_other_site(self) -> bool:
        """True for a request a page of another site made (a form, fetch, <img>)."""
        return from_other_site(
            self.headers.get("Origin"), self.headers.get("Sec-Fetch-Site")
        )

    def _cors(self) -> list[str]:
        """CORS headers: any origin on the tracker paths, loopback pages elsewhere."""
        return cors_headers(self.headers.get("Origin"), tracker=self._tracker)

    def _read_body(self) -> tuple[bytes | None, str]:
        """Read the body within the size limit; None and the reason when refused."""
        limit = self.server.max_body_size
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        text = self.headers.get("Content-Length", "0").strip() or "0"
        length = None if text.startswith("-") else whole_number(text)
        if length is None:
            self.close_connection = True
            if text.isascii() and text.isdigit():  # past 18 digits
                return None, f"body: {len(text)} digits of bytes is more than the limit"
            return None, f"Content-Length: not a number of bytes ({text[:40]!r})"
        if length > limit:
            if length <= _DRAIN_LIMIT:
                self._discard(length)
            else:
                self.close_connection = True
            return None, f"body: {length} bytes is more than the limit of {limit} bytes"
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True
            return None, f"body: {len(body)} of {length} bytes arrived"
        return body, ""

    def _read_chunked(self, limit: int) -> tuple[bytes | None, str]:
        chunks: list[bytes] = []
        size = 0
        while True:
            line = self.rfile.readline(1024).split(b";")[0].strip()
            if not line or any(c not in _HEX_DIGITS for c in line):
                self.close_connection = True
                return None, "body: malformed chunked encoding"
            length = int(line, 16)
            if length == 0:
                while self.rfile.readline(1024).strip():
                    pass  # trailers
                return b"".join(chunks), ""
            size += length
            if size > limit:
                self.close_connection = True
                return None, f"body: more than the limit of {limit} bytes"
            chunks.append(self.rfile.read(length))
            self.rfile.readline(1024)

    def _drain(self) -> None:
        """Read and drop a body nobody wants, keeping the connection usable."""
        self._read_body()

    def _discard(self, length: int) -> None:
        while length > 0:
            chunk = self.rfile.read(min(length, 65536))
            if not chunk:
                self.close_connection = True
                return
            length -= len(chunk)

    def _respond_json(self, status: int, value: object) -> None:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        # A lone surrogate (from a JSON escape such as \ud800 in an event) has no
        # UTF-8 form; it can only appear inside a string, where \ud800 is its escape.
        body = text.encode("utf-8", errors="backslashreplace")
        self._respond(status, body, "application/json; charset=utf-8")

    def _respond(self, status: int, body: bytes, content_type: str) -> None:
        """Write the whole response in one ``sendall``: no Nagle stall, one syscall."""
        lines = [
            f"{self.protocol_version} {status} {self.responses[status][0]}",
            f"Server: {self.server_version}",
            f"Date: {self.date_time_string()}",
            *self._cors(),
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
        ]
        if self.close_connection:
            lines.append("Connection: close")
        head = "\r\n".join(lines).encode("latin-1", errors="replace")
        self.wfile.write(head + b"\r\n\r\n" + body)


def _filters(query: str, body: bytes) -> EventFilter:
    """Filters from the query string, or from a JSON object POSTed (Micro's way)."""
    if body.strip():
        try:
            value = read_json(body.decode("utf-8"))
        except RecursionError:
            msg = "filters: the JSON is nested too deeply"
            raise ValueError(msg) from None
        return EventFilter.from_json(value)
    values: dict[str, object] = {}
    for key, items in parse_qs(query, keep_blank_values=True).items():
        values[key] = items if key == "contexts" else items[-1]
    return EventFilter.from_json(values)
