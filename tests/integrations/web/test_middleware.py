"""The middlewares in process: proxy walks, settings, bindings' ends, contained errors."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from snowplow_logging import ConfigurationError, ConfigurationTypeError, Subject
from snowplow_logging._context import Bound, bound
from snowplow_logging._web import PAGE_SCHEMA, TrustedProxies
from snowplow_logging.asgi import SnowplowMiddleware as AsgiMiddleware
from snowplow_logging.shutdown import Message, Scope
from snowplow_logging.wsgi import SnowplowMiddleware as WsgiMiddleware
from tests.processes import run_python

PROXIES = TrustedProxies(["10.0.0.0/8", "192.0.2.1", ipaddress.ip_network("fd00::/8")])


class TestTrustedProxies:
    @pytest.mark.parametrize(
        ("peer", "chain", "client"),
        [
            pytest.param(
                "203.0.113.1", "198.51.100.1", "203.0.113.1", id="untrusted-peer"
            ),
            pytest.param("10.0.0.1", None, "10.0.0.1", id="no-header"),
            pytest.param("10.0.0.1", "198.51.100.1", "198.51.100.1", id="one-hop"),
            pytest.param(
                "10.0.0.1",
                "6.6.6.6, 198.51.100.1, 10.2.2.2",
                "198.51.100.1",
                id="right-to-left",
            ),
            pytest.param(
                "10.0.0.1",
                "198.51.100.1,10.2.2.2,192.0.2.1",
                "198.51.100.1",
                id="trusted-hops",
            ),
            pytest.param(
                "10.0.0.1", "10.9.9.9, 10.2.2.2", "10.9.9.9", id="all-trusted"
            ),
            pytest.param("10.0.0.1", "198.51.100.1:5123", "198.51.100.1", id="port"),
            pytest.param(
                "10.0.0.1", "[2001:db8::1]:443", "2001:db8::1", id="ipv6-port"
            ),
            pytest.param("10.0.0.1", "2001:db8::1", "2001:db8::1", id="ipv6"),
            pytest.param(
                "::ffff:10.0.0.1", "198.51.100.1", "198.51.100.1", id="mapped-peer"
            ),
            pytest.param("fd00::5", "198.51.100.1", "198.51.100.1", id="ipv6-peer"),
            pytest.param("10.0.0.1", "198.51.100.1, garbage", "garbage", id="garbage"),
            pytest.param("10.0.0.1", "1" * 5000, "1" * 5000, id="long"),
            pytest.param("10.0.0.1", ",,,", "", id="empty-hops"),
            pytest.param("not-an-ip", "198.51.100.1", "not-an-ip", id="garbage-peer"),
            pytest.param(None, "198.51.100.1", None, id="unix-peer-untrusted"),
        ],
    )
    def test_x_forwarded_for(
        self, peer: str | None, chain: str | None, client: str | None
    ) -> None:
        assert PROXIES.client(peer, chain) == client

    @pytest.mark.parametrize(
        ("chain", "client"),
        [
            ('for=198.51.100.1;proto=https, for="10.2.2.2"', "198.51.100.1"),
            ('For="[2001:db8:cafe::17]:4711"', "2001:db8:cafe::17"),
            ("for=_hidden, for=10.2.2.2", "_hidden"),
            ("proto=https", ""),
        ],
    )
    def test_forwarded(self, chain: str, client: str) -> None:
        proxies = TrustedProxies(["10.0.0.0/8"], "Forwarded")
        assert proxies.client("10.0.0.1", chain) == client

    def test_unix_socket_peer(self) -> None:
        proxies = TrustedProxies(["unix"])
        assert proxies.client("", "198.51.100.1") == "198.51.100.1"
        assert proxies.client("10.0.0.1", "198.51.100.1") == "10.0.0.1"

    @pytest.mark.parametrize("bad", ["10.0.0.1/8", "10.0.0.300", "example.com", ""])
    def test_bad_proxy_is_named(self, bad: str) -> None:
        with pytest.raises(ConfigurationError, match=repr(bad).replace(".", r"\.")):
            WsgiMiddleware(_wsgi_app, trusted_proxies=["10.0.0.1", bad])

    @pytest.mark.parametrize(
        "bad",
        ["10.0.0.1", b"10.0.0.1", ipaddress.ip_address("10.0.0.1"), 7, [7], [None]],
    )
    def test_wrong_types(self, bad: Any) -> None:
        with pytest.raises(ConfigurationTypeError, match="trusted_proxies"):
            AsgiMiddleware(_asgi_app, trusted_proxies=bad)

    def test_other_settings(self) -> None:
        with pytest.raises(ConfigurationError, match="proxy_header"):
            WsgiMiddleware(_wsgi_app, proxy_header="X-Real-IP")  # type: ignore[arg-type]
        with pytest.raises(ConfigurationTypeError, match="user_id"):
            WsgiMiddleware(_wsgi_app, user_id="uid")  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match="page_entity"):
            WsgiMiddleware(_wsgi_app, page_entity="page")
        with pytest.raises(ConfigurationTypeError, match="app"):
            WsgiMiddleware("app")  # type: ignore[arg-type]
        with pytest.raises(ConfigurationTypeError, match="close_on_shutdown"):
            AsgiMiddleware(_asgi_app, close_on_shutdown=1)  # type: ignore[arg-type]


# --- WSGI ---------------------------------------------------------------------

SEEN: list[Bound | None] = []


def _wsgi_app(environ: dict[str, Any], start_response: Any) -> Any:
    SEEN.append(bound())
    start_response("200 OK", [("Content-Type", "text/plain")])
    kind = environ.get("PATH_INFO")
    if kind == "/raise":
        msg = "view failed"
        raise RuntimeError(msg)
    if kind == "/list":
        return [b"ok"]

    def body() -> Iterator[bytes]:
        SEEN.append(bound())
        yield b"ok"

    return body()


def _environ(**headers: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": headers.pop("path", "/stream"),
        "QUERY_STRING": "",
        "SERVER_NAME": "shop.test",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": headers.pop("peer", "203.0.113.5"),
        "wsgi.url_scheme": "http",
        **{f"HTTP_{k.upper()}": v for k, v in headers.items()},
    }


@pytest.fixture(autouse=True)
def _clear() -> None:
    SEEN.clear()


class TestWsgi:
    def test_bound_until_closed(self) -> None:
        middleware = WsgiMiddleware(
            _wsgi_app, user_id=lambda environ: 42, page_entity=True
        )
        result = middleware(
            _environ(user_agent="ua", accept_language="fr-CA,fr"), _start
        )
        assert bound() is not None  # the body has not been read yet
        assert list(result) == [b"ok"]
        result.close()  # type: ignore[attr-defined]

        assert bound() is None
        request, body = SEEN
        assert request == body
        assert request is not None
        assert dict(request.fields) == {
            "uid": "42",
            "ip": "203.0.113.5",
            "ua": "ua",
            "lang": "fr-CA",
        }
        (page,) = request.context
        assert page.to_dict() == {
            "schema": PAGE_SCHEMA,
            "data": {"url": "http://shop.test/stream"},
        }

    def test_list_and_raise_end_at_once(self) -> None:
        middleware = WsgiMiddleware(_wsgi_app)
        assert middleware(_environ(path="/list"), _start) == [b"ok"]
        assert bound() is None
        with pytest.raises(RuntimeError, match="view failed"):
            middleware(_environ(path="/raise"), _start)
        assert bound() is None
        assert [b.fields if b else None for b in SEEN] == [{"ip": "203.0.113.5"}] * 2

    def test_user_id_errors_are_counted_and_reported_once(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        def user_id(environ: dict[str, Any]) -> str:
            raise LookupError(environ["HTTP_X_USER"])

        middleware = WsgiMiddleware(_wsgi_app, user_id=user_id)
        odd = WsgiMiddleware(_wsgi_app, user_id=lambda environ: {"id": 1})  # type: ignore[arg-type,return-value]
        with caplog.at_level(logging.WARNING, logger="snowplow_logging"):
            for _ in range(3):
                assert middleware(_environ(path="/list", x_user="u"), _start) == [b"ok"]
            assert odd(_environ(path="/list"), _start) == [b"ok"]

        assert middleware.stats == {"requests": 3, "user_id_errors": 3, "errors": 0}
        assert odd.stats["user_id_errors"] == 1
        messages = [r.getMessage() for r in caplog.records]
        assert len(messages) == 2, messages
        assert "raised LookupError: u;" in messages[0]
        assert "returned dict" in messages[1]
        assert all(b is not None and "uid" not in b.fields for b in SEEN)

    def test_latin1_environ_text_is_utf8_decoded(self) -> None:
        ua = "Bot/\u00e9\u4e2d".encode().decode("latin-1")  # as a WSGI server passes it
        WsgiMiddleware(_wsgi_app)(_environ(path="/list", user_agent=ua), _start)
        (seen,) = SEEN
        assert seen is not None
        assert seen.fields["ua"] == "Bot/\u00e9\u4e2d"

    def test_an_outer_binding_is_kept(self) -> None:
        from snowplow_logging import bind

        with bind(subject=Subject(platform="web")):
            WsgiMiddleware(_wsgi_app)(_environ(path="/list"), _start)
        (seen,) = SEEN
        assert seen is not None
        assert dict(seen.fields) == {"p": "web", "ip": "203.0.113.5"}


def _start(
    status: str, headers: list[tuple[str, str]], exc_info: object = None
) -> None:
    return None


# --- ASGI ---------------------------------------------------------------------


async def _asgi_app(scope: Scope, receive: Any, send: Any) -> None:
    SEEN.append(bound())
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope.get("path") == "/raise":
        msg = "endpoint failed"
        raise RuntimeError(msg)


def _scope(kind: str = "http", path: str = "/", **headers: str) -> Scope:
    return {
        "type": kind,
        "scheme": "https",
        "path": path,
        "root_path": "",
        "query_string": b"a=1",
        "server": ("shop.test", 443),
        "client": ("10.0.0.1", 50000),
        "headers": [
            (k.replace("_", "-").encode(), v.encode("latin-1"))
            for k, v in headers.items()
        ],
    }


class TestAsgi:
    def test_http_is_bound_until_the_app_returns(self) -> None:
        middleware = AsgiMiddleware(
            _asgi_app,
            trusted_proxies=["10.0.0.0/8"],
            page_entity="iglu:com.acme/page/jsonschema/1-0-0",
        )
        scope = _scope(
            path="/raise",
            x_forwarded_for="198.51.100.7, 10.3.3.3",
            user_agent="ua",
            referer="https://a.test/",
            host="shop.test:8443",
        )

        async def main() -> None:
            with pytest.raises(RuntimeError, match="endpoint failed"):
                await middleware(scope, _receive, _send)
            assert bound() is None
            await middleware(_scope("websocket"), _receive, _send)

        asyncio.run(main())
        request, websocket = SEEN
        assert websocket is None  # passed through unbound
        assert request is not None
        assert dict(request.fields) == {"ip": "198.51.100.7", "ua": "ua"}
        (page,) = request.context
        assert page.to_dict() == {
            "schema": "iglu:com.acme/page/jsonschema/1-0-0",
            "data": {
                "url": "https://shop.test:8443/raise?a=1",
                "referrer": "https://a.test/",
            },
        }

    def test_lifespan_goes_through_snowplow_lifespan(self) -> None:
        """The lifespan scope reaches the app; the shutdown closes every emitter."""
        result = run_python(LIFESPAN)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {
            "closed": True,
            "sent": ["lifespan.startup.complete", "lifespan.shutdown.complete"],
        }


LIFESPAN = """
import asyncio, json
from snowplow_logging import Emitter
from snowplow_logging.asgi import SnowplowMiddleware

emitter = Emitter("http://127.0.0.1:9")
async def app(scope, receive, send):
    while True:
        message = await receive()
        kind = "startup" if message["type"] == "lifespan.startup" else "shutdown"
        await send({"type": f"lifespan.{kind}.complete"})
        if kind == "shutdown":
            return
inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
sent = []
async def receive():
    return inbox.pop(0)
async def send(message):
    sent.append(message["type"])
asyncio.run(SnowplowMiddleware(app, shutdown_timeout=1)({"type": "lifespan"}, receive, send))
print(json.dumps({"closed": emitter.closed, "sent": sent}))
"""


async def _receive() -> Message:
    return {"type": "http.disconnect"}


async def _send(message: Message) -> None:
    return None


# --- Django settings ----------------------------------------------------------

DJANGO = """
import json, sys
from django.conf import settings
settings.configure()
from django.test import override_settings
from snowplow_logging.django import SnowplowMiddleware
found = []
for case in json.loads(sys.argv[1]):
    with override_settings(**case):
        try:
            SnowplowMiddleware(lambda request: None)
        except Exception as exc:
            found.append([type(exc).__name__, str(exc)])
        else:
            found.append(None)
print(json.dumps(found))
"""

DJANGO_CASES: list[tuple[dict[str, object], list[str] | None]] = [
    (
        {"SNOWPLOW_TRUSTED_PROXIES": ["10.0.0.1", "proxy.internal"]},
        ["ConfigurationError", "'proxy.internal'"],
    ),
    ({"SNOWPLOW_USER_ID": 7}, ["ConfigurationTypeError", "SNOWPLOW_USER_ID"]),
    ({"SNOWPLOW_USER_ID": "no.such.module.user_id"}, ["ModuleNotFoundError", "no"]),
    ({"SNOWPLOW_PROXY_HEADER": "Via"}, ["ConfigurationError", "proxy_header"]),
    ({"SNOWPLOW_USER_ID": "json.dumps", "SNOWPLOW_PAGE_ENTITY": True}, None),
    ({"SNOWPLOW_USER_ID": None}, None),
]


def test_django_settings_are_checked_at_start() -> None:
    """Bad SNOWPLOW_* settings fail when Django builds its middleware, named."""
    result = run_python(DJANGO, json.dumps([case for case, _ in DJANGO_CASES]))
    assert result.returncode == 0, result.stderr
    for found, (case, error) in zip(
        json.loads(result.stdout), DJANGO_CASES, strict=True
    ):
        if error is None:
            assert found is None, case
        else:
            assert found[0] == error[0], (case, found)
            assert error[1] in found[1], (case, found)
