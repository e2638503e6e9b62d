"""One HTTP connection of the local collector: read a request, route it, answer.

:class:`RequestHandler` is the stdlib :class:`~http.server.BaseHTTPRequestHandler`
of a :class:`~snowplow_logging.micro.server.CollectorServer`: keep-alive HTTP/1.1,
a request line over the collector's 20,480 bytes refused (400), bodies read
within the size limit (``Content-Length`` or chunked), every answer
written in one ``sendall``. It routes ``/micro/*`` to
:mod:`~snowplow_logging.micro.rest`, the tracker paths to
:mod:`~snowplow_logging.micro.collect` and answers ``/health``; HEAD is a GET
without its body, OPTIONS a CORS preflight.

No request is answered 500: an exception while serving one is recorded as a bad
event whose reason names it, and the request gets the answer its path would get
(200 on a tracker path, as a real collector that stored the request; 400 with the
reason elsewhere). The handler writes no access log.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from snowplow_logging._protocol import GET_REQUEST_LINE_MAX
from snowplow_logging._version import __version__
from snowplow_logging.micro import collect, rest
from snowplow_logging.micro.events import BadEvent
from snowplow_logging.micro.intake import Intake
from snowplow_logging.micro.origins import cors_headers

if TYPE_CHECKING:
    from snowplow_logging.micro.server import CollectorServer

__all__ = ["RequestHandler"]

_DRAIN_LIMIT: Final = 64 * 1024 * 1024
"""An oversized body up to this size is read and dropped so keep-alive survives."""
_HEX_DIGITS: Final = frozenset(b"0123456789abcdefABCDEF")
_LENGTH: Final = re.compile(r"[0-9]{1,18}")


class RequestHandler(BaseHTTPRequestHandler):
    """One connection: ``/micro/*``, the tracker paths, ``/health``."""

    server: CollectorServer
    protocol_version = "HTTP/1.1"
    server_version = f"snowplow-logging-micro/{__version__}"
    disable_nagle_algorithm = True
    tracker = False
    """The request is for a tracker path (its CORS answer differs)."""
    preflight = False
    responded = False

    def setup(self) -> None:
        """Bound the connection's silence and remember it, to close it at shutdown."""
        self.request.settimeout(self.server.idle_timeout)
        super().setup()
        self.server.track(self.connection, active=True)

    def finish(self) -> None:
        """Forget the connection; a peer already gone is no error."""
        self.server.track(self.connection, active=False)
        with contextlib.suppress(OSError):  # the peer is gone
            super().finish()

    def parse_request(self) -> bool:
        """Read the request line and headers; refuse a line the collector refuses.

        The collector reads at most 20,480 bytes of a request line: a longer one
        is answered 400 before any route (a GET event that long never reaches
        Enrich). Here it is also recorded as a bad event, so it is not lost unseen.
        """
        if not super().parse_request():
            return False
        line: bytes = getattr(self, "raw_requestline", b"")  # set by handle_one_request
        length = len(line.rstrip(b"\r\n"))
        if length <= GET_REQUEST_LINE_MAX:
            return True
        self.close_connection = True
        query = self.path.partition("?")[2]
        reason = (
            f"request line: {length} bytes, more than the collector's "
            f"{GET_REQUEST_LINE_MAX}; it refuses the request (send long events by POST)"
        )
        info = collect.request_info(self, query)
        self.server.record(Intake([], [BadEvent(errors=(reason,), request=info)]))
        self.respond_json(400, {"error": reason})
        return False

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

    def do_HEAD(self) -> None:
        """Route a HEAD: a GET answered without its body, as the collector does."""
        self._dispatch()

    def do_PUT(self) -> None:
        """Answer 404: no route takes a PUT."""
        self._dispatch()

    def do_DELETE(self) -> None:
        """Answer 404: no route takes a DELETE."""
        self._dispatch()

    def do_OPTIONS(self) -> None:
        """Answer a CORS preflight, as the collector does for browser trackers."""
        self.preflight = True
        self._dispatch()

    def _dispatch(self) -> None:
        self.tracker = self.responded = False
        try:
            url = urlsplit(self.path)
        except ValueError:
            self.drain()
            self.respond_json(400, {"error": "the request target is not a URL"})
            return
        path, query = url.path, url.query
        self.tracker = not path.startswith("/micro/") and collect.is_tracker_path(path)
        try:
            self._route(path, query)
        except Exception as exc:  # noqa: BLE001 - never a 500: a bad event says why
            self.close_connection = True
            self.server.record_failure(collect.request_info(self, query), exc)
            if not self.responded:
                with contextlib.suppress(OSError):  # the peer is gone
                    self._answer_failure(exc)

    def _route(self, path: str, query: str) -> None:
        if self.preflight:
            self.drain()
            self.respond(200, b"", "text/plain")
        elif path.startswith("/micro/"):
            rest.serve(self, path.removeprefix("/micro/"), query)
        elif self.tracker:
            collect.serve(self, path, query)
        elif path == "/health" and self.command in {"GET", "HEAD"}:
            self.drain()
            self.respond(200, b"OK", "text/plain")
        else:
            self.drain()
            self.respond_json(404, {"error": f"no route for {self.command} {path}"})

    def _answer_failure(self, exc: Exception) -> None:
        if self.tracker:
            collect.answer_ok(self)
        else:
            reason = f"internal error: {type(exc).__name__}: {exc}"
            self.respond_json(400, {"error": reason[:1000]})

    def read_body(self) -> tuple[bytes | None, str]:
        """Read the body within the size limit; None and the reason when refused."""
        limit = self.server.max_body_size
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        text = self.headers.get("Content-Length", "0").strip() or "0"
        length = int(text) if _LENGTH.fullmatch(text) else None
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

    def drain(self) -> None:
        """Read and drop a body nobody wants, keeping the connection usable."""
        self.read_body()

    def _discard(self, length: int) -> None:
        while length > 0:
            chunk = self.rfile.read(min(length, 65536))
            if not chunk:
                self.close_connection = True
                return
            length -= len(chunk)

    def respond_json(
        self, status: int, value: object, headers: tuple[str, ...] = ()
    ) -> None:
        """Answer ``value`` as strict JSON (a non-finite number becomes null)."""
        try:
            text = json.dumps(
                value, separators=(",", ":"), ensure_ascii=False, allow_nan=False
            )
        except ValueError:  # NaN or Infinity somewhere: JSON has neither
            text = json.dumps(_finite(value), separators=(",", ":"), ensure_ascii=False)
        # A lone surrogate (from a JSON escape such as \ud800 in an event) has no
        # UTF-8 form; it can only appear inside a string, where \ud800 is its escape.
        body = text.encode("utf-8", errors="backslashreplace")
        self.respond(status, body, "application/json; charset=utf-8", headers)

    def respond(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: tuple[str, ...] = (),
    ) -> None:
        """Write the whole response in one ``sendall``: no Nagle stall, one syscall.

        A HEAD gets the headers (``Content-Length`` included) without the body.
        """
        origin = self.headers.get("Origin")
        lines = [
            f"{self.protocol_version} {status} {self.responses[status][0]}",
            f"Server: {self.server_version}",
            f"Date: {self.date_time_string()}",
            *cors_headers(origin, tracker=self.tracker, preflight=self.preflight),
            *headers,
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
        ]
        if self.close_connection:
            lines.append("Connection: close")
        head = "\r\n".join(lines).encode("latin-1", errors="replace")
        self.responded = True
        self.wfile.write(head + b"\r\n\r\n" + (b"" if self.command == "HEAD" else body))


def _finite(value: object) -> object:
    """``value`` with every NaN or infinite float replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value
