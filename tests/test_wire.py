"""The emitter's own keep-alive HTTP/1.1 client against a scripted raw server.

The server below speaks raw bytes so that answers ``http.server`` never sends
(chunked bodies with trailers, interim 100s, HTTP/1.0, read-to-close bodies,
garbage) can be scripted; every test checks what arrived and what came back.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import requests

from snowplow_logging import Emitter, StructuredEvent, Tracker
from snowplow_logging import _transport as transport_module
from snowplow_logging._http import HttpError, KeepAliveConnection
from snowplow_logging._transport import RequestsTransport, TransportError, collector_url
from tests.collector import Collector
from tests.reliability.faults import (
    TLS_CERT,
    Fault,
    FaultCollector,
    Kind,
    always,
    tls_context,
)

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@dataclass
class Seen:
    """One request the raw server read, and the connection it came on."""

    connection: int
    head: bytes
    body: bytes


@dataclass
class RawServer:
    """Answers each request with the next scripted bytes (then ``OK``).

    An answer of ``None`` closes the connection without answering; an answer
    ending in ``b"<close>"`` is sent without that marker and the connection is
    closed after it.
    """

    answers: list[bytes | None] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()

    def _accept(self) -> None:
        number = 0
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            number += 1
            thread = threading.Thread(
                target=self._serve, args=(sock, number), daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _serve(self, sock: socket.socket, number: int) -> None:
        data = b""
        with sock:
            while True:
                while b"\r\n\r\n" not in data:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, data = data.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(data) < length:
                    data += sock.recv(65536)
                body, data = data[:length], data[length:]
                with self._lock:
                    self.seen.append(Seen(number, head, body))
                    answer = self.answers.pop(0) if self.answers else OK
                if answer is None:
                    return
                if answer.endswith(b"<close>"):
                    sock.sendall(answer.removesuffix(b"<close>"))
                    return
                sock.sendall(answer)

    def close(self) -> None:
        self._listener.close()


@pytest.fixture(name="server")
def _server() -> Iterator[RawServer]:
    server = RawServer()
    yield server
    server.close()


def _connection(server: RawServer, timeout: float = 5.0) -> KeepAliveConnection:
    return KeepAliveConnection("127.0.0.1", server.port, tls=None, timeout=timeout)


GET = b"GET /i?e=pv HTTP/1.1\r\nHost: x\r\n\r\n"


def _get_transport(
    url: str, session: requests.Session | None = None
) -> RequestsTransport:
    """A GET transport to ``url``'s ``/i``, as an emitter builds it."""
    return RequestsTransport(
        f"{url}/i", method="get", session=session, headers=None, auth=None, timeout=5
    )


class TestKeepAliveConnection:
    """Status, Retry-After, bodies and connection reuse."""

    def test_status_retry_after_and_reuse(self, server: RawServer) -> None:
        """Answers come back in order over one connection."""
        server.answers = [
            b"HTTP/1.1 503 Busy\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n",
            OK,
        ]
        connection = _connection(server)

        first, second = connection.request(GET), connection.request(GET)

        assert (first, second) == ((503, "7"), (200, None))
        assert {seen.connection for seen in server.seen} == {1}

    def test_post_body_arrives_whole(self, server: RawServer) -> None:
        """The head and a large body arrive as one request."""
        body = b"x" * 200_000
        head = b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n"

        status, _ = _connection(server).request(head, body)

        assert status == 200
        assert server.seen[0].body == body

    def test_chunked_body_with_trailer_is_skipped(self, server: RawServer) -> None:
        """A chunked answer is read to its end; the next answer still parses."""
        server.answers = [
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: 1\r\n\r\n"
            ),
            b"HTTP/1.1 204 No Content\r\n\r\n",
        ]
        connection = _connection(server)

        answers = [connection.request(GET) for _ in range(3)]

        assert [status for status, _ in answers] == [200, 204, 200]
        assert {seen.connection for seen in server.seen} == {1}

    def test_interim_100_is_skipped(self, server: RawServer) -> None:
        """A 100 Continue before the real answer is not taken as the status."""
        server.answers = [b"HTTP/1.1 100 Continue\r\n\r\n" + OK]

        assert _connection(server).request(GET) == (200, None)

    def test_connection_close_reconnects(self, server: RawServer) -> None:
        """After Connection: close the next request opens a new connection."""
        server.answers = [
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n<close>"
        ]
        connection = _connection(server)

        statuses = [connection.request(GET)[0] for _ in range(2)]

        assert statuses == [200, 200]
        assert [seen.connection for seen in server.seen] == [1, 2]

    def test_http10_body_read_to_close(self, server: RawServer) -> None:
        """An HTTP/1.0 answer without a length ends when the server closes."""
        server.answers = [b"HTTP/1.0 200 OK\r\n\r\nwhatever body<close>"]
        connection = _connection(server)

        statuses = [connection.request(GET)[0] for _ in range(2)]

        assert statuses == [200, 200]
        assert [seen.connection for seen in server.seen] == [1, 2]

    def test_idle_connection_closed_by_server_is_replaced(
        self, server: RawServer
    ) -> None:
        """A keep-alive connection the server dropped while idle is not reused."""
        server.answers = [OK + b"<close>"]  # keep-alive promised, then closed
        connection = _connection(server)
        connection.request(GET)
        server._threads[0].join(5)  # the server has closed its side
        assert not server._threads[0].is_alive()

        assert connection.request(GET) == (200, None)
        assert [seen.connection for seen in server.seen] == [1, 2]

    @pytest.mark.parametrize(
        ("answer", "message"),
        [
            (b"SMTP ready\r\n\r\n", "not an HTTP/1.x status line"),
            (b"HTTP/1.1 2x0 OK\r\n\r\n", "not an HTTP/1.x status line"),
            (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", "Content-Length"),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                "not a chunk size",
            ),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc<close>", "closed"),
            (None, "closed the connection before answering"),
            (b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70_000 + b"\r\n\r\n", "exceed"),
        ],
    )
    def test_bad_answers_raise_and_the_next_request_recovers(
        self, server: RawServer, answer: bytes | None, message: str
    ) -> None:
        """A broken answer raises HttpError and closes; the next request works."""
        server.answers = [answer]
        connection = _connection(server)

        with pytest.raises(HttpError, match=message):
            connection.request(GET)
        status, _ = connection.request(GET)

        assert status == 200
        assert [seen.connection for seen in server.seen] == [1, 2]

    def test_read_timeout(self) -> None:
        """A server that takes the request but never answers times out."""
        with socket.create_server(("127.0.0.1", 0)) as listener:  # never accepts
            port = listener.getsockname()[1]
            connection = KeepAliveConnection("127.0.0.1", port, tls=None, timeout=0.2)

            with pytest.raises(HttpError, match="timed out"):
                connection.request(GET)


class TestDirectTransport:
    """RequestsTransport uses the keep-alive connection when it may."""

    def test_headers_on_the_wire(self, server: RawServer) -> None:
        """Host, User-Agent, extra headers, Content-Type and Basic auth are sent."""
        url = collector_url(f"http://u:p@127.0.0.1:{server.port}", method="post")
        transport = RequestsTransport(
            url.url,
            method="post",
            session=None,
            headers={"X-Extra": "1"},
            auth=url.auth,
            timeout=5,
        )

        response = transport.send(b'{"a":1}')
        transport.close()

        head = server.seen[0].head.decode().split("\r\n")
        fields = dict(line.split(": ", 1) for line in head[1:])
        assert response.status == 200
        assert head[0] == "POST /com.snowplowanalytics.snowplow/tp2 HTTP/1.1"
        assert fields["Host"] == f"127.0.0.1:{server.port}"
        assert fields["Content-Type"] == "application/json; charset=utf-8"
        assert fields["Content-Length"] == "7"
        assert fields["X-Extra"] == "1"
        assert fields["Authorization"] == "Basic dTpw"
        assert fields["User-Agent"].startswith("python-requests/")
        assert server.seen[0].body == b'{"a":1}'

    def test_get_request_line(self, server: RawServer) -> None:
        """GET puts the query on the request line and sends no Content-Length."""
        transport = _get_transport(f"http://127.0.0.1:{server.port}")

        transport.send(query="e=pv&stm=1")
        transport.close()

        head = server.seen[0].head.decode()
        assert head.startswith("GET /i?e=pv&stm=1 HTTP/1.1\r\n")
        assert "Content-Length" not in head

    def test_error_message_names_the_cause(self, server: RawServer) -> None:
        """A broken answer is a TransportError naming what was wrong."""
        server.answers = [b"nonsense\r\n\r\n"]
        transport = _get_transport(f"http://127.0.0.1:{server.port}")

        with pytest.raises(TransportError, match=r"not an HTTP/1\.x status line"):
            transport.send(query="e=pv")
        transport.close()

    def test_proxy_from_environment_goes_through_requests(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With HTTP_PROXY set, requests go to the proxy in absolute form."""
        proxy = Collector()
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        try:
            transport = _get_transport("http://collector.invalid")
            response = transport.send(query="e=pv")
            transport.close()
            (request,) = proxy.requests
        finally:
            proxy.close()

        assert response.status == 200
        assert request.headers["Host"] == "collector.invalid"

    def test_environment_ca_bundle_verifies_tls(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """REQUESTS_CA_BUNDLE is honoured by the emitter's own TLS connection."""
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(TLS_CERT))
        with FaultCollector(tls=tls_context()) as collector:
            with Emitter(collector.url) as emitter:
                tracker = Tracker(emitters=emitter)
                for n in range(3):
                    tracker.track(StructuredEvent(category="tls", action=str(n)))
                assert emitter.flush(timeout=10)
                stats = emitter.stats
            tally = collector.tally()

        assert (stats["sent"], stats["failed"]) == (3, 0)
        assert (tally.delivered, tally.requests) == (3, 1)

    def test_tls_context_is_kept_across_failed_requests(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A reset resolves the settings again but reuses the TLS context."""
        built: list[object] = []
        real = transport_module._tls_context

        def counting(verify: bool | str, cert: object) -> ssl.SSLContext:
            built.append(verify)
            return real(verify, cert)  # type: ignore[arg-type]

        monkeypatch.setattr(transport_module, "_tls_context", counting)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(TLS_CERT))
        with FaultCollector(
            always(Fault(kind=Kind.RESET)), tls=tls_context()
        ) as collector:
            transport = _get_transport(collector.url)
            for _ in range(3):
                with pytest.raises(TransportError):
                    transport.send(query="e=pv")
            transport.close()
            requests_seen = collector.tally().requests

        assert requests_seen == 3
        assert built == [str(TLS_CERT)]


def test_user_session_keeps_the_requests_path(server: RawServer) -> None:
    """A session passed by the user is used as is (its adapters, its pool)."""
    session = requests.Session()
    transport = _get_transport(f"http://127.0.0.1:{server.port}", session)

    transport.send(query="e=pv")

    assert transport._direct is None
    assert transport._route is not None
    session.close()
