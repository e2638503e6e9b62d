"""The local collector's HTTP server: tracker requests in, Snowplow Micro's REST API out.

A :class:`CollectorServer` is a stdlib :class:`~http.server.ThreadingHTTPServer`
(one daemon thread per connection, HTTP/1.1 keep-alive) serving
:class:`~snowplow_logging.micro.handler.RequestHandler`. The tracker paths are
answered as the real collector answers them (:mod:`~snowplow_logging.micro.collect`):
200 whatever the events, the ``sp`` cookie, ``SP-Anonymous``, the pixel;
every event is validated on the connection's thread and the results go to an
:class:`~snowplow_logging.micro.store.EventStore`, read back through
``/micro/*`` (:mod:`~snowplow_logging.micro.rest`).

No request is answered 500: an internal error becomes a bad event naming it. The
server never configures logging and writes nothing to stderr.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import ThreadingHTTPServer
from typing import Final

from snowplow_logging.micro.events import BadEvent, GoodEvent, RequestInfo
from snowplow_logging.micro.handler import RequestHandler
from snowplow_logging.micro.iglu import IgluResolver
from snowplow_logging.micro.intake import EventSink, Intake
from snowplow_logging.micro.origins import is_loopback_host
from snowplow_logging.micro.store import EventStore

__all__ = ["DEFAULT_COOKIE", "CollectorServer"]

DEFAULT_COOKIE: Final = "sp"
"""The collector's cookie holding the network user id."""


class CollectorServer(ThreadingHTTPServer):
    """An HTTP server feeding an :class:`EventStore`; see the module docstring.

    Args:
        address: ``(host, port)``; port 0 picks a free one.
        resolver: validates events.
        store: keeps them.
        max_body_size: the largest POST body accepted, in bytes (413 past it).
        on_event: called with each stored event (e.g. to print it).
        idle_timeout: seconds a keep-alive connection may stay silent.
        cookie_name: the cookie holding the network user id (``sp``), or None
            for none: no cookie read or set, a new network user id per request.
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
        cookie_name: str | None = DEFAULT_COOKIE,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.resolver = resolver
        self.store = store
        self.max_body_size = max_body_size
        self.on_event = on_event
        self.idle_timeout = idle_timeout
        self.cookie_name = cookie_name
        self.sink_errors = 0
        self.internal_errors = 0
        """Requests whose serving raised; each is a bad event saying why."""
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, RequestHandler)
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

    def record_failure(self, request: RequestInfo, exc: BaseException) -> None:
        """Record a request whose serving raised as a bad event naming the error."""
        self.internal_errors += 1
        reason = f"internal error: {type(exc).__name__}: {exc}"[:1000]
        with contextlib.suppress(Exception):  # never let the report itself raise
            self.record(Intake([], [BadEvent(errors=(reason,), request=request)]))
