"""Transport: collector URLs and the requests transport against a real server."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from snowplow_logging import ConfigurationError, ConfigurationTypeError
from snowplow_logging._delivery.transport import (
    CONTENT_TYPE,
    RequestsTransport,
    TransportError,
)
from snowplow_logging._delivery.url import collector_url
from snowplow_logging._protocol import POST_PATH
from tests.collector import Collector, Reply, blackhole, free_port


def _transport(
    url: str,
    *,
    method: str = "post",
    session: requests.Session | None = None,
    timeout: float = 5.0,
    auth: tuple[str, str] | None = None,
) -> RequestsTransport:
    return RequestsTransport(
        collector_url(url, method=method).url,
        method=method,
        session=session,
        headers={"X-Test": "1"},
        auth=auth,
        timeout=timeout,
    )


class TestCollectorUrl:
    """collector_url: scheme, port, paths, credentials."""

    @pytest.mark.parametrize(
        ("endpoint", "kwargs", "expected"),
        [
            ("c.example.com", {}, f"https://c.example.com{POST_PATH}"),
            ("c.example.com", {"method": "get"}, "https://c.example.com/i"),
            ("c.example.com", {"protocol": "http"}, f"http://c.example.com{POST_PATH}"),
            ("c.example.com:8080", {}, f"https://c.example.com:8080{POST_PATH}"),
            ("c.example.com", {"port": 9090}, f"https://c.example.com:9090{POST_PATH}"),
            ("http://c.example.com/", {}, f"http://c.example.com{POST_PATH}"),
            ("https://c.example.com/sp/", {}, f"https://c.example.com/sp{POST_PATH}"),
            ("http://[::1]:8080", {"method": "get"}, "http://[::1]:8080/i"),
        ],
    )
    def test_urls(
        self, endpoint: str, kwargs: dict[str, object], expected: str
    ) -> None:
        """Without a scheme https is used; the path follows the method."""
        options: dict[str, object] = {"method": "post", **kwargs}

        assert collector_url(endpoint, **options).url == expected  # type: ignore[arg-type]

    def test_credentials_become_auth_and_are_hidden(self) -> None:
        """user:password in the URL becomes Basic auth and never shows."""
        result = collector_url("https://me:s%40cret@c.example.com", method="post")

        assert result.url == f"https://c.example.com{POST_PATH}"
        assert result.auth == ("me", "s@cret")
        assert result.display == f"https://***@c.example.com{POST_PATH}"

    @pytest.mark.parametrize(
        ("endpoint", "kwargs", "message"),
        [
            ("", {}, "'endpoint' must be a host name"),
            ("ftp://c.example.com", {}, "'endpoint' must be a host name or an http"),
            ("https://c.example.com?a=1", {}, "must not have a query"),
            ("https://c.example.com", {"protocol": "http"}, "'protocol' is 'http'"),
            ("c.example.com:80", {"port": 81}, "'port' is 81"),
            ("c.example.com", {"port": 0}, "'port' must be an int in 1..65535"),
            ("c.example.com", {"protocol": "tcp"}, "'protocol' must be 'http'"),
            ("c.example.com:99999", {}, "'endpoint' is not a valid URL"),
        ],
    )
    def test_invalid(
        self, endpoint: str, kwargs: dict[str, object], message: str
    ) -> None:
        """Malformed or conflicting settings raise ConfigurationError."""
        with pytest.raises(ConfigurationError, match=message):
            collector_url(endpoint, method="post", **kwargs)  # type: ignore[arg-type]

    def test_endpoint_type(self) -> None:
        """A non-string endpoint raises ConfigurationTypeError."""
        with pytest.raises(ConfigurationTypeError, match="'endpoint' must be a str"):
            collector_url(b"c.example.com", method="post")  # type: ignore[arg-type]


class TestRequestsTransport:
    """RequestsTransport against a real HTTP server."""

    def test_post_headers_and_body(self, collector: Collector) -> None:
        """POST carries the exact Content-Type, the extra headers and the body."""
        transport = _transport(collector.url)

        response = transport.send(b"{}")

        request = collector.requests[0]
        assert (response.status, request.method, request.path) == (
            200,
            "POST",
            POST_PATH,
        )
        assert request.headers["Content-Type"] == CONTENT_TYPE
        assert request.headers["X-Test"] == "1"
        assert request.body == b"{}"

    def test_get_has_no_body(self, collector: Collector) -> None:
        """GET sends the query string and no body or Content-Type."""
        transport = _transport(collector.url, method="get")

        transport.send(query="e=pv&stm=1")

        request = collector.requests[0]
        assert (request.method, request.path, request.query) == (
            "GET",
            "/i",
            "e=pv&stm=1",
        )
        assert "Content-Type" not in request.headers
        assert request.body == b""

    def test_keep_alive(self, collector: Collector) -> None:
        """Consecutive requests reuse one connection."""
        transport = _transport(collector.url)

        for _ in range(5):
            transport.send(b"{}")

        assert len({r.client_port for r in collector.requests}) == 1

    def test_retry_after_and_status(self, collector: Collector) -> None:
        """The status and Retry-After header are returned; redirects not followed."""
        collector.script(
            Reply(503, {"Retry-After": "7"}), Reply(302, {"Location": "/elsewhere"})
        )
        transport = _transport(collector.url)

        first, second = transport.send(b"{}"), transport.send(b"{}")

        assert (first.status, first.retry_after) == (503, "7")
        assert (second.status, len(collector.requests)) == (302, 2)

    def test_user_session_and_url_credentials(self, collector: Collector) -> None:
        """A user session's headers apply; URL credentials become Basic auth."""
        session = requests.Session()
        session.headers["X-Session"] = "yes"
        transport = _transport(collector.url, session=session, auth=("me", "pw"))

        transport.send(b"{}")
        transport.close()

        headers = collector.requests[0].headers
        assert headers["X-Session"] == "yes"
        assert headers["Authorization"] == "Basic bWU6cHc="
        assert session.headers["X-Session"] == "yes"  # a user session stays open

    def test_per_request_auth_applies_every_time(self, collector: Collector) -> None:
        """A custom auth object is called for each request, with its body."""
        seen: list[bytes] = []

        def sign(request: requests.PreparedRequest) -> requests.PreparedRequest:
            body = request.body if isinstance(request.body, bytes) else b""
            seen.append(body)
            request.headers["X-Signature"] = str(len(seen))
            return request

        session = requests.Session()
        session.auth = sign
        transport = _transport(collector.url, session=session)

        transport.send(b"one")
        transport.send(b"two")

        assert seen == [b"one", b"two"]
        assert [r.headers["X-Signature"] for r in collector.requests] == ["1", "2"]

    def test_custom_adapter_sees_every_request(self, collector: Collector) -> None:
        """A session with its own adapter class sends through Session.send."""
        sent: list[str] = []

        class CountingAdapter(HTTPAdapter):
            def send(
                self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
            ) -> requests.Response:
                sent.append(request.url or "")
                return super().send(request, *args, **kwargs)

        session = requests.Session()
        session.mount("http://", CountingAdapter())
        transport = _transport(collector.url, method="get", session=session)

        transport.send(query="e=pv")
        transport.send(query="e=pp")

        assert sent == [f"{collector.url}/i?e=pv", f"{collector.url}/i?e=pp"]
        assert len(collector.requests) == 2

    def test_refused_is_transport_error(self) -> None:
        """A refused connection raises TransportError, an OSError."""
        url = f"http://127.0.0.1:{free_port()}"
        transport = _transport(url)

        with pytest.raises(TransportError, match="Connection refused") as info:
            transport.send(b"{}")

        assert isinstance(info.value, OSError)
        assert str(info.value).startswith("ConnectionRefusedError: ")
        assert info.value.__cause__ is not None

    def test_timeout_is_transport_error(self) -> None:
        """A server that never answers raises TransportError after the timeout."""
        with blackhole() as url:
            transport = _transport(url, timeout=0.2)

            with pytest.raises(TransportError, match="timed out"):
                transport.send(b"{}")
