"""What goes on the wire: ``RequestsTransport`` and ``Emitter`` against a raw server.

The server below speaks raw bytes so that answers ``http.server`` never sends
(chunked bodies with trailers, interim 100s, HTTP/1.0, read-to-close bodies,
garbage, no answer at all) can be scripted, and it records every request's
head and body exactly as they arrived: request lines are checked byte for byte.
"""

from __future__ import annotations

import base64
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import closing, suppress
from dataclasses import dataclass
from urllib.parse import parse_qsl

import pytest
import requests
from requests.adapters import HTTPAdapter

from snowplow_logging import ConfigurationError, Emitter, StructuredEvent, Tracker
from snowplow_logging._delivery.transport import (
    RequestsTransport,
    Response,
    TransportError,
)
from snowplow_logging._delivery.url import collector_url, encode_path
from tests.collector import check_event, check_post_body
from tests.reliability.faults import TLS_CERT, FaultCollector, tls_context

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
CLOSE = b"<close>"
"""An answer ending in this marker is sent without it, then the server closes."""
HANG = b"<hang>"
"""An answer that is never sent: the server keeps the connection open, silent."""
POST_LINE_TAIL = b"/com.snowplowanalytics.snowplow/tp2 HTTP/1.1"


@dataclass(frozen=True)
class Seen:
    """One request the raw server read, and the connection it came on."""

    connection: int
    head: bytes
    body: bytes

    @property
    def request_line(self) -> bytes:
        return self.head.partition(b"\r\n")[0]

    @property
    def headers(self) -> dict[str, str]:
        """The header fields as sent (names in the sender's case)."""
        lines = self.head.decode("latin-1").split("\r\n")[1:]
        fields = dict(line.split(": ", 1) for line in lines)
        assert len(fields) == len(lines), f"a header field was sent twice: {lines}"
        return fields


class RawServer:
    """Answers each request with the next scripted bytes (then ``OK``).

    An answer of ``None`` closes the connection without answering; see
    :data:`CLOSE` and :data:`HANG` for the markers. Connections are numbered
    from 1 in the order they were accepted.

    Args:
        host: the address to listen on: ``127.0.0.1`` or ``::1``.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.create_server((host, 0), family=family)
        self.port: int = self._listener.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self.netloc = f"{shown}:{self.port}"
        self.url = f"http://{self.netloc}"
        self.answers: list[bytes | None] = []
        self._seen: list[Seen] = []
        self._closed: set[int] = set()
        self._sockets: list[socket.socket] = []
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def seen(self) -> list[Seen]:
        """Every request read so far, in arrival order."""
        with self._cond:
            return list(self._seen)

    def connections(self) -> list[int]:
        """The connection number of each request so far."""
        return [seen.connection for seen in self.seen]

    def wait_closed(self, connection: int, timeout: float = 5.0) -> bool:
        """Wait until the server has closed its side of ``connection``."""
        with self._cond:
            return self._cond.wait_for(lambda: connection in self._closed, timeout)

    def _accept(self) -> None:
        number = 0
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            number += 1
            with self._cond:
                self._sockets.append(sock)
            thread = threading.Thread(
                target=self._serve, args=(sock, number), daemon=True
            )
            thread.start()

    def _serve(self, sock: socket.socket, number: int) -> None:
        try:
            with sock:
                self._exchange(sock, number)
        except OSError:  # the client went away, or close() shut the socket
            pass
        finally:
            with self._cond:
                self._closed.add(number)
                self._cond.notify_all()

    def _exchange(self, sock: socket.socket, number: int) -> None:
        data = b""
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
                chunk = sock.recv(65536)
                if not chunk:
                    return
                data += chunk
            body, data = data[:length], data[length:]
            with self._cond:
                self._seen.append(Seen(number, head, body))
                answer = self.answers.pop(0) if self.answers else OK
                self._cond.notify_all()
            if answer is None:
                return
            if answer == HANG:
                self._stopping.wait(30)
                return
            if answer.endswith(CLOSE):
                sock.sendall(answer.removesuffix(CLOSE))
                return
            sock.sendall(answer)

    def close(self) -> None:
        """Stop listening and end every connection still open."""
        self._stopping.set()
        self._listener.close()
        with self._cond:
            sockets = list(self._sockets)
        for sock in sockets:
            with suppress(OSError):  # already closed
                sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture(name="server")
def _server() -> Iterator[RawServer]:
    server = RawServer()
    yield server
    server.close()


@pytest.fixture(name="server6")
def _server6() -> Iterator[RawServer]:
    """A raw server on the IPv6 loopback; fails (never skips) without one."""
    if not socket.has_ipv6:
        pytest.fail(
            "socket.has_ipv6 is False: this Python has no IPv6 support, so the "
            "IPv6-literal endpoint tests cannot run"
        )
    try:
        server = RawServer("::1")
    except OSError as exc:
        pytest.fail(
            f"cannot listen on the IPv6 loopback [::1] ({exc}): the IPv6-literal "
            "endpoint tests need it"
        )
    yield server
    server.close()


def _transport(
    endpoint: str,
    *,
    method: str = "get",
    session: requests.Session | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> RequestsTransport:
    """A transport to ``endpoint`` built as the emitter builds it."""
    url = collector_url(endpoint, method=method)
    return RequestsTransport(
        url.url,
        method=method,
        session=session,
        headers=headers,
        auth=url.auth,
        timeout=timeout,
    )


class TestTransportOnTheWire:
    """RequestsTransport: what it sends, what it makes of each kind of answer."""

    def test_status_retry_after_and_reuse(self, server: RawServer) -> None:
        """Answers come back in order, both requests over one connection."""
        server.answers = [
            b"HTTP/1.1 503 Busy\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n",
            OK,
        ]
        with closing(_transport(server.url)) as transport:
            first = transport.send(query="e=pv")
            second = transport.send(query="e=pv")

        assert (first, second) == (Response(503, "7"), Response(200, None))
        assert server.connections() == [1, 1]

    def test_post_arrives_whole_with_its_headers(self, server: RawServer) -> None:
        """Request line, Host, User-Agent, extra headers, JSON type, length, auth."""
        body = b'{"a":"' + b"x" * 200_000 + b'"}'
        endpoint = f"http://u:p@127.0.0.1:{server.port}"
        with closing(
            _transport(endpoint, method="post", headers={"X-Extra": "1"})
        ) as transport:
            response = transport.send(body)

        (seen,) = server.seen
        fields = seen.headers
        assert response == Response(200, None)
        assert seen.request_line == b"POST" + b" " + POST_LINE_TAIL
        assert fields["Host"] == f"127.0.0.1:{server.port}"
        assert fields["User-Agent"].startswith("python-requests/")
        assert fields["X-Extra"] == "1"
        assert fields["Content-Type"] == "application/json; charset=utf-8"
        assert fields["Content-Length"] == str(len(body))
        assert fields["Authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
        assert "Transfer-Encoding" not in fields
        assert seen.body == body

    def test_get_puts_the_query_on_the_request_line(self, server: RawServer) -> None:
        """GET: the query after the path, no body, no Content-Length or type."""
        with closing(_transport(server.url)) as transport:
            transport.send(query="e=pv&stm=1")

        (seen,) = server.seen
        assert seen.request_line == b"GET /i?e=pv&stm=1 HTTP/1.1"
        assert "Content-Length" not in seen.headers
        assert "Content-Type" not in seen.headers
        assert seen.body == b""

    def test_chunked_answer_with_trailer(self, server: RawServer) -> None:
        """A chunked answer is read to its end, trailer included; the next parses."""
        server.answers = [
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: 1\r\n\r\n"
            ),
            b"HTTP/1.1 204 No Content\r\n\r\n",
        ]
        with closing(_transport(server.url)) as transport:
            statuses = [transport.send(query="e=pv").status for _ in range(3)]

        assert statuses == [200, 204, 200]
        assert server.connections() == [1, 1, 1]

    def test_interim_100_continue_is_skipped(self, server: RawServer) -> None:
        """A 100 Continue before the answer is not the status; nothing is left over."""
        server.answers = [b"HTTP/1.1 100 Continue\r\n\r\n" + OK]
        with closing(_transport(server.url)) as transport:
            first = transport.send(query="e=pv")
            second = transport.send(query="e=pv")

        assert (first, second) == (Response(200, None), Response(200, None))
        assert server.connections() == [1, 1]

    def test_connection_close_then_reconnect(self, server: RawServer) -> None:
        """After ``Connection: close`` the next request opens a new connection."""
        server.answers = [
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n" + CLOSE
        ]
        with closing(_transport(server.url)) as transport:
            statuses = [transport.send(query="e=pv").status for _ in range(2)]

        assert statuses == [200, 200]
        assert server.connections() == [1, 2]

    def test_http10_body_read_to_close(self, server: RawServer) -> None:
        """An HTTP/1.0 answer without a length ends when the server closes."""
        server.answers = [b"HTTP/1.0 201 Created\r\n\r\nwhatever body" + CLOSE]
        with closing(_transport(server.url)) as transport:
            statuses = [transport.send(query="e=pv").status for _ in range(2)]

        assert statuses == [201, 200]
        assert server.connections() == [1, 2]

    def test_idle_connection_closed_by_server_is_replaced(
        self, server: RawServer
    ) -> None:
        """A pooled connection the server dropped while idle is not reused.

        urllib3 sees the closed socket before reusing it, so the next request
        goes out on a new connection at once: no TransportError, no lost request.
        """
        server.answers = [OK + CLOSE]  # keep-alive promised, then closed
        with closing(_transport(server.url)) as transport:
            first = transport.send(query="e=pv&n=1")
            assert server.wait_closed(1), "the server never closed connection 1"
            second = transport.send(query="e=pv&n=2")

        assert (first, second) == (Response(200, None), Response(200, None))
        assert server.connections() == [1, 2]
        assert [seen.request_line for seen in server.seen] == [
            b"GET /i?e=pv&n=1 HTTP/1.1",
            b"GET /i?e=pv&n=2 HTTP/1.1",
        ]

    @pytest.mark.parametrize(
        ("answer", "cause"),
        [
            pytest.param(b"SMTP ready\r\n\r\n", "BadStatusLine", id="not-http"),
            pytest.param(b"HTTP/1.1 2x0 OK\r\n\r\n", "BadStatusLine", id="bad-status"),
            pytest.param(None, "RemoteDisconnected", id="closed-unanswered"),
            pytest.param(
                b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70_000 + b"\r\n\r\n",
                "LineTooLong",
                id="huge-header",
            ),
        ],
    )
    def test_garbage_answer_names_the_cause_and_the_next_request_recovers(
        self, server: RawServer, answer: bytes | None, cause: str
    ) -> None:
        """A broken answer is a TransportError naming it; the next request works."""
        server.answers = [answer]
        with closing(_transport(server.url)) as transport:
            with pytest.raises(TransportError) as raised:
                transport.send(query="e=pv")
            recovered = transport.send(query="e=pv")

        message = str(raised.value)
        assert re.search(rf"\b{cause}\b", message), message  # the cause, named
        assert re.match(r"[A-Za-z]+: ", message), message  # "<type>: <detail>"
        assert isinstance(raised.value, OSError)
        assert recovered == Response(200, None)
        assert server.connections() == [1, 2]

    @pytest.mark.parametrize(
        "answer",
        [
            pytest.param(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                id="bad-chunk-size",
            ),
            pytest.param(
                b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc" + CLOSE,
                id="short-body",
            ),
            pytest.param(
                b"HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n" + b"x" * 200_000,
                id="large-body",
            ),
        ],
    )
    def test_a_2xx_status_line_is_the_answer(
        self, server: RawServer, answer: bytes
    ) -> None:
        """A 2xx whose body is broken, cut short or large is accepted (never resent).

        The body is not needed and not held: a connection left mid-body is
        dropped and the next request opens a new one.
        """
        server.answers = [answer]
        with closing(_transport(server.url)) as transport:
            first = transport.send(query="e=pv&n=1")
            recovered = transport.send(query="e=pv&n=2")

        assert first == Response(200, None)
        assert recovered == Response(200, None)
        assert server.connections() == [1, 2]

    def test_read_timeout(self, server: RawServer) -> None:
        """The request arrives, no answer comes: a TransportError after the timeout."""
        server.answers = [HANG]
        with closing(_transport(server.url, timeout=0.3)) as transport:
            with pytest.raises(TransportError, match="timed out") as raised:
                transport.send(query="e=pv&n=1")
            recovered = transport.send(query="e=pv&n=2")

        assert str(raised.value).startswith(("TimeoutError: ", "ReadTimeoutError: "))
        assert recovered == Response(200, None)
        assert [seen.request_line for seen in server.seen] == [
            b"GET /i?e=pv&n=1 HTTP/1.1",
            b"GET /i?e=pv&n=2 HTTP/1.1",
        ]
        assert server.connections() == [1, 2]

    def test_proxy_from_the_environment_is_used(
        self, server: RawServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With HTTP_PROXY set, the request goes to the proxy in absolute form."""
        for name in ("HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(name, server.url)
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        with closing(_transport("http://collector.invalid")) as transport:
            response = transport.send(query="e=pv")

        (seen,) = server.seen
        assert response == Response(200, None)
        assert seen.request_line == b"GET http://collector.invalid/i?e=pv HTTP/1.1"
        assert seen.headers["Host"] == "collector.invalid"

    def test_environment_ca_bundle_verifies_tls(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """REQUESTS_CA_BUNDLE is the CA the emitter's TLS connection trusts."""
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(TLS_CERT))
        with FaultCollector(tls=tls_context()) as collector:
            with Emitter(collector.url) as emitter:
                tracker = Tracker(emitters=emitter)
                eids = {
                    tracker.track(StructuredEvent(category="tls", action=str(n)))
                    for n in range(3)
                }
                assert emitter.flush(timeout=10)
                stats = emitter.stats
            tally = collector.tally()
            received = collector.eids()

        assert collector.url.startswith("https://")
        assert (stats["sent"], stats["failed"]) == (3, 0)
        assert (tally.delivered, tally.requests) == (3, 1)
        assert received == eids

    def test_without_the_ca_bundle_the_certificate_is_refused(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The same self-signed collector fails verification without the bundle."""
        for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            monkeypatch.delenv(name, raising=False)
        with FaultCollector(tls=tls_context()) as collector:
            with (
                closing(_transport(collector.url)) as transport,
                pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"),
            ):
                transport.send(query="e=pv")
            tally = collector.tally()

        assert tally.requests == 0  # refused in the handshake, before any request

    def test_user_session_is_used_as_given(self, server: RawServer) -> None:
        """The user's session sends (its adapter, headers, auth) and stays open."""
        sent: list[str] = []
        closed: list[bool] = []

        class Recording(HTTPAdapter):
            def send(  # type: ignore[override]
                self, request: requests.PreparedRequest, **kwargs: object
            ) -> requests.Response:
                sent.append(str(request.url))
                return super().send(request, **kwargs)  # type: ignore[arg-type]

            def close(self) -> None:
                closed.append(True)
                super().close()

        session = requests.Session()
        session.mount("http://", Recording())
        session.headers["X-Session"] = "mine"
        session.auth = ("s", "t")
        endpoint = f"http://u:p@127.0.0.1:{server.port}"
        with closing(session):
            transport = _transport(endpoint, session=session)
            assert transport.session is session
            first = transport.send(query="e=pv")
            transport.close()
            assert closed == [], "the transport closed the user's session"
            second = transport.send(query="e=pv")  # still usable

        assert (first, second) == (Response(200, None), Response(200, None))
        assert sent == [f"{server.url}/i?e=pv"] * 2
        fields = server.seen[0].headers
        assert fields["X-Session"] == "mine"
        # the session's own auth wins over the endpoint's user:pass@
        assert fields["Authorization"] == "Basic " + base64.b64encode(b"s:t").decode()
        assert server.connections() == [1, 1]


# -- Endpoints whose path or host needs care, through the real Emitter -------------

_GET_LINE = re.compile(
    rb"GET (?P<path>[!-~]*)/i\?(?P<query>[A-Za-z0-9_.~%=&-]+) HTTP/1\.1"
)
"""A GET request line: a visible-ASCII path, ``/i`` and a percent-encoded query."""


def _action(n: int) -> str:
    return f"café 日本 {n}"  # non-ASCII values: percent-encoded or UTF-8 JSON


def _track(endpoint: str, method: str, count: int = 3) -> tuple[list[str], Emitter]:
    """Track ``count`` events through an Emitter to ``endpoint``; flushed, closed."""
    with Emitter(endpoint, method=method) as emitter:
        tracker = Tracker(emitters=emitter)
        eids = [
            tracker.track(StructuredEvent(category="wire", action=_action(n)))
            for n in range(count)
        ]
        assert emitter.flush(timeout=10), emitter.stats
    return eids, emitter


def _events_on_the_wire(
    server: RawServer, method: str, path: bytes
) -> list[dict[str, str]]:
    """The events the server received; asserts every request line is exactly
    ``<METHOD> <path><collector path>[?query] HTTP/1.1``."""
    events: list[dict[str, str]] = []
    for seen in server.seen:
        line = seen.request_line
        if method == "get":
            match = _GET_LINE.fullmatch(line)
            assert match is not None, line
            assert match["path"] == path, line
            query = match["query"].decode("ascii")
            event = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=True))
            check_event(event)
            events.append(event)
        else:
            assert line == b"POST " + path + POST_LINE_TAIL
            events.extend(check_post_body(seen.body))
    return events


def _check_delivery(
    server: RawServer, method: str, path: bytes, eids: list[str], emitter: Emitter
) -> None:
    events = _events_on_the_wire(server, method, path)
    assert len(events) == len(eids)
    assert sorted(event["eid"] for event in events) == sorted(eids)
    assert sorted(event["se_ac"] for event in events) == sorted(
        _action(n) for n in range(len(eids))
    )
    assert (emitter.stats["sent"], emitter.stats["failed"]) == (len(eids), 0)
    if method == "get":
        assert len(server.seen) == len(eids)  # one event per request
    for seen in server.seen:
        assert seen.headers["Host"] == server.netloc


METHODS = pytest.mark.parametrize("method", ["get", "post"])


class TestEmitterEndpointOnTheWire:
    """Issue #13: the endpoint's path is percent-encoded once, request lines valid."""

    @METHODS
    @pytest.mark.parametrize(
        ("path", "on_the_wire"),
        [
            pytest.param("/my path", b"/my%20path", id="space"),
            pytest.param("/é", b"/%C3%A9", id="latin"),
            pytest.param("/日本", b"/%E6%97%A5%E6%9C%AC", id="cjk"),
            pytest.param(
                "/a b/日本/x%20y", b"/a%20b/%E6%97%A5%E6%9C%AC/x%20y", id="mixed"
            ),
            # requests alone would escape the valid %20 again once it saw the
            # stray %: only the encoding at configuration keeps it
            pytest.param(
                "/x%20y/100%", b"/x%20y/100%25", id="escape-and-stray-percent"
            ),
        ],
    )
    def test_path_is_percent_encoded(
        self, server: RawServer, method: str, path: str, on_the_wire: bytes
    ) -> None:
        """Each request line holds the UTF-8 escapes; every event arrives."""
        eids, emitter = _track(f"{server.url}{path}", method)

        _check_delivery(server, method, on_the_wire, eids, emitter)

    @METHODS
    def test_ipv6_literal(self, server6: RawServer, method: str) -> None:
        """``http://[::1]:PORT/x``: connected over IPv6, Host ``[::1]:PORT``."""
        eids, emitter = _track(f"http://[::1]:{server6.port}/x", method)

        assert server6.netloc == f"[::1]:{server6.port}"
        _check_delivery(server6, method, b"/x", eids, emitter)

    @METHODS
    def test_credentials_in_the_url(self, server: RawServer, method: str) -> None:
        """``user:pass@`` becomes Basic auth on every request, never shown."""
        eids, emitter = _track(f"http://user:pass@127.0.0.1:{server.port}/x", method)

        _check_delivery(server, method, b"/x", eids, emitter)
        expected = "Basic " + base64.b64encode(b"user:pass").decode()
        assert [seen.headers["Authorization"] for seen in server.seen] == [
            expected
        ] * len(server.seen)
        assert b"pass" not in b"".join(seen.request_line for seen in server.seen)
        shown = repr(emitter)
        assert "pass" not in shown
        assert "user" not in shown
        assert f"***@127.0.0.1:{server.port}/x" in shown

    @pytest.mark.parametrize(
        ("method", "path", "on_the_wire"),
        [
            pytest.param(
                "post", "/com.snowplowanalytics.snowplow/tp2", b"", id="post-tp2"
            ),
            pytest.param(
                "post",
                "/sp/com.snowplowanalytics.snowplow/tp2/",
                b"/sp",
                id="post-prefix-tp2-slash",
            ),
            pytest.param(
                "post",
                "/my path/com.snowplowanalytics.snowplow/tp2",
                b"/my%20path",
                id="post-space-tp2",
            ),
            pytest.param("get", "/i", b"", id="get-i"),
            pytest.param("get", "/sp/i/", b"/sp", id="get-prefix-i-slash"),
            pytest.param("get", "/日本/i", b"/%E6%97%A5%E6%9C%AC", id="get-cjk-i"),
        ],
    )
    def test_pasted_collector_path_is_refused_with_the_fix(
        self, server: RawServer, method: str, path: str, on_the_wire: bytes
    ) -> None:
        """An endpoint pasted with the collector path is refused at construction
        (kept, it would be doubled; dropped, silently), the message says what
        to type instead, and what it says delivers to the collector path once."""
        with pytest.raises(ConfigurationError) as info:
            Emitter(f"{server.url}{path}", method=method)

        message = str(info.value)
        assert "must not end with the collector's path" in message
        instead = re.search(r"; write '([^']*)'", message)
        assert instead is not None, message
        assert server.seen == []
        eids, emitter = _track(instead.group(1), method)
        _check_delivery(server, method, on_the_wire, eids, emitter)


@pytest.mark.parametrize(
    ("path", "encoded"),
    [
        pytest.param("/my path", "/my%20path", id="space"),
        pytest.param("/é", "/%C3%A9", id="latin"),
        pytest.param("/日本", "/%E6%97%A5%E6%9C%AC", id="cjk"),
        pytest.param("/a%20b", "/a%20b", id="escape-kept"),
        pytest.param("/%c3%a9", "/%c3%a9", id="lowercase-escape-kept"),
        pytest.param("/a%2Fb", "/a%2Fb", id="escaped-slash-kept"),
        pytest.param("/%zz", "/%25zz", id="stray-percent"),
        pytest.param("/100%", "/100%25", id="trailing-percent"),
        pytest.param("/a b/c", "/a%20b/c", id="slashes-kept"),
        pytest.param("/:@!$&'()*+,;=", "/:@!$&'()*+,;=", id="reserved-kept"),
        pytest.param("/-._~", "/-._~", id="unreserved-kept"),
        pytest.param("/a?b#c", "/a%3Fb%23c", id="query-and-fragment-marks"),
        pytest.param('/"<>\\^`{|}', "/%22%3C%3E%5C%5E%60%7B%7C%7D", id="unsafe"),
        pytest.param("", "", id="empty"),
    ],
)
def test_encode_path(path: str, encoded: str) -> None:
    """encode_path escapes what a request target may not hold, once."""
    assert encode_path(path) == encoded
    assert encode_path(encoded) == encoded  # idempotent: never escaped twice
