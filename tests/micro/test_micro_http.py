"""The collector's HTTP behaviour, as the real collector answers (over real HTTP)."""

from __future__ import annotations

import email.utils
import http.client
import json
import math
import socket
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence

import pytest
import requests

from snowplow_logging.micro import IgluResolver, MicroCollector, collect, intake, rest
from snowplow_logging.micro.collect import ANONYMOUS_USER_ID, PIXEL
from snowplow_logging.micro.handler import _finite

TP2 = "/com.snowplowanalytics.snowplow/tp2"
JSON = "application/json; charset=utf-8"
PAYLOAD_DATA = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
GOOD = {
    "e": "pv",
    "eid": "9a1e2f6c-0c5f-4b8e-9d5a-3c1f1e2d3b4a",
    "tv": "js-4.0.0",
    "p": "web",
    "url": "https://shop.test/cart?x=1#top",
}


@pytest.fixture(name="micro")
def _micro(resolver: IgluResolver) -> Iterator[MicroCollector]:
    with MicroCollector(resolver=resolver) as micro:
        yield micro


def post(
    micro: MicroCollector,
    events: Sequence[Mapping[str, object]],
    headers: dict[str, str] | None = None,
) -> requests.Response:
    body = json.dumps({"schema": PAYLOAD_DATA, "data": list(events)})
    return requests.post(
        f"{micro.endpoint}{TP2}",
        data=body,
        headers={"Content-Type": JSON, **(headers or {})},
        timeout=10,
    )


def get(
    micro: MicroCollector, headers: dict[str, str] | None = None, **extra: str
) -> requests.Response:
    return requests.get(
        f"{micro.endpoint}/i", params={**GOOD, **extra}, headers=headers, timeout=10
    )


class TestAnswers:
    """200 for whatever a tracker path carries; the pixel and its cache headers."""

    def test_post_answers_ok_even_for_bad_events(self, micro: MicroCollector) -> None:
        """A POST of a bad event: 200 ``ok`` (the collector stored it), a bad row."""
        response = post(micro, [{**GOOD, "eid": "x"}])

        assert (response.status_code, response.text) == (200, "ok")
        assert response.headers["Content-Type"].startswith("text/plain")
        assert "Cache-Control" not in response.headers
        assert micro.summary() == {"total": 1, "good": 0, "bad": 1}

    def test_get_answers_the_pixel_uncached(self, micro: MicroCollector) -> None:
        """GET /i: the collector's 1x1 GIF, never cached."""
        response = get(micro)

        assert response.content == PIXEL
        assert response.headers["Content-Type"] == "image/gif"
        assert (
            response.headers["Cache-Control"] == "no-cache, no-store, must-revalidate"
        )
        assert len(micro.good()) == 1

    def test_head_is_a_get_without_body(self, micro: MicroCollector) -> None:
        """HEAD /i records the event and answers the pixel's headers, no body."""
        connection = http.client.HTTPConnection("127.0.0.1", micro.port, timeout=10)
        try:
            connection.request(
                "HEAD", "/i?" + "&".join(f"{k}={v}" for k, v in GOOD.items())
            )
            response = connection.getresponse()
            body = response.read()
            connection.request("HEAD", "/health")
            health = connection.getresponse()
            health.read()
        finally:
            connection.close()

        assert (response.status, body) == (200, b"")
        assert response.getheader("Content-Length") == str(len(PIXEL))
        assert response.getheader("Content-Type") == "image/gif"
        assert health.status == 200
        assert [e.event_type for e in micro.good()] == ["page_view"]

    def test_body_over_the_limit_is_413(self, resolver: IgluResolver) -> None:
        """A body past max_body_size: 413, as the collector's entity limit answers."""
        with MicroCollector(resolver=resolver, max_body_size=500) as micro:
            response = post(micro, [GOOD] * 10)

            assert response.status_code == 413
            assert post(micro, [GOOD]).status_code == 200

    def test_request_line_limit(self, micro: MicroCollector) -> None:
        """A request line over 20,480 bytes is refused (400) and recorded; 20,480 is not."""
        base = "/i?" + "&".join(f"{k}={v}" for k, v in GOOD.items()) + "&se_la="
        fixed = len("GET  HTTP/1.1") + len(base)
        statuses = []
        for size in (20_480, 20_481):
            connection = http.client.HTTPConnection("127.0.0.1", micro.port, timeout=10)
            try:
                connection.request("GET", base + "a" * (size - fixed))
                response = connection.getresponse()
                response.read()
                statuses.append(response.status)
            finally:
                connection.close()

        assert statuses == [200, 400]
        assert len(micro.good()) == 1
        (bad,) = micro.bad()
        assert bad.errors[0].startswith("request line: 20481 bytes, more than")

    def test_other_vendor_paths(self, micro: MicroCollector) -> None:
        """/vendor/version is a collector path (a bad row here); /r/... is off."""
        other = requests.post(f"{micro.endpoint}/com.acme/v1", data=b"{}", timeout=10)
        redirect = requests.get(f"{micro.endpoint}/r/tp2?u=x", timeout=10)

        assert other.status_code == 200
        assert "no adapter for vendor 'com.acme'" in micro.bad()[0].errors[0]
        assert redirect.status_code == 404

    def test_preflight(self, micro: MicroCollector) -> None:
        """OPTIONS: the origin, credentials, the two headers, cached for an hour."""
        response = requests.options(
            f"{micro.endpoint}{TP2}",
            headers={
                "Origin": "https://shop.test",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
            timeout=10,
        )

        assert response.status_code == 200
        assert response.headers["Access-Control-Allow-Origin"] == "https://shop.test"
        assert response.headers["Access-Control-Allow-Credentials"] == "true"
        assert response.headers["Access-Control-Allow-Headers"] == (
            "Content-Type, SP-Anonymous"
        )
        assert response.headers["Access-Control-Max-Age"] == "3600"
        assert micro.summary()["total"] == 0

    def test_no_origin_allows_any(self, micro: MicroCollector) -> None:
        """Without an Origin (or with ``null``) the collector allows ``*``."""
        plain = get(micro)
        null = get(micro, headers={"Origin": "null"})

        assert plain.headers["Access-Control-Allow-Origin"] == "*"
        assert null.headers["Access-Control-Allow-Origin"] == "*"


def _cookie(response: requests.Response) -> dict[str, str]:
    header = response.headers["Set-Cookie"]
    first, *attributes = (part.strip() for part in header.split(";"))
    name, _, value = first.partition("=")
    parsed = {"name": name, "value": value}
    for attribute in attributes:
        key, _, setting = attribute.partition("=")
        parsed[key] = setting or "yes"
    return parsed


class TestNetworkUserId:
    """The ``sp`` cookie, read as network_userid, configurable or off."""

    def test_new_visitor_gets_a_cookie(self, micro: MicroCollector) -> None:
        """No cookie: a new UUID, set for a year, and the event's network_userid."""
        response = get(micro)

        cookie = _cookie(response)
        assert cookie["name"] == "sp"
        assert str(uuid.UUID(cookie["value"])) == cookie["value"]
        assert (cookie["Path"], cookie["SameSite"]) == ("/", "None")
        assert (cookie["Secure"], cookie["HttpOnly"]) == ("yes", "yes")
        expires = email.utils.parsedate_to_datetime(cookie["Expires"]).timestamp()
        assert abs(expires - (time.time() + 365 * 86400)) < 120
        event = micro.good()[0]
        assert event["event"]["network_userid"] == cookie["value"]
        assert event["rawEvent"]["context"]["userId"] == cookie["value"]

    def test_returning_visitor_keeps_the_id(self, micro: MicroCollector) -> None:
        """The cookie sent back is the network user id, and is set again."""
        known = str(uuid.uuid4())

        response = post(micro, [GOOD], headers={"Cookie": f"theme=dark; sp={known}"})

        assert _cookie(response)["value"] == known
        assert micro.good()[0]["event"]["network_userid"] == known

    def test_precedence(self, micro: MicroCollector) -> None:
        """The URL's nuid beats the cookie; the tracker's tnuid beats both."""
        cookie, query = str(uuid.uuid4()), str(uuid.uuid4())

        get(micro, headers={"Cookie": f"sp={cookie}"}, nuid=query)
        get(micro, headers={"Cookie": f"sp={cookie}"}, tnuid="t-1")

        first, second = micro.good()
        assert first["event"]["network_userid"] == query
        assert second["event"]["network_userid"] == "t-1"
        assert second["rawEvent"]["context"]["userId"] == cookie

    def test_cookie_not_a_uuid(self, micro: MicroCollector) -> None:
        """A network user id that is no UUID: Enrich cannot read the request."""
        response = get(micro, headers={"Cookie": "sp=abc"})

        assert response.status_code == 200
        (bad,) = micro.bad()
        assert bad.errors == ("networkUserId: not a valid UUID (got 'abc')",)

    def test_other_cookie_name(self, resolver: IgluResolver) -> None:
        """cookie="visitor" reads and sets that cookie instead."""
        known = str(uuid.uuid4())
        with MicroCollector(resolver=resolver, cookie="visitor") as micro:
            response = get(micro, headers={"Cookie": f"sp=x; visitor={known}"})

            assert _cookie(response) | {"value": known} == _cookie(response)
            assert _cookie(response)["name"] == "visitor"
            assert micro.good()[0]["event"]["network_userid"] == known

    def test_cookie_off(self, resolver: IgluResolver) -> None:
        """cookie=None: no Set-Cookie, a new network user id on each request."""
        with MicroCollector(resolver=resolver, cookie=None) as micro:
            responses = [get(micro), get(micro)]

            assert all("Set-Cookie" not in r.headers for r in responses)
            ids = {e["event"]["network_userid"] for e in micro.good()}
            assert len(ids) == 2

    @pytest.mark.parametrize("cookie", ["", "sp=x", "a b", 5])
    def test_bad_cookie_setting(self, cookie: object) -> None:
        """A cookie name that is no HTTP token is refused when constructed."""
        with pytest.raises((ValueError, TypeError), match="'cookie' must be"):
            MicroCollector(cookie=cookie)  # type: ignore[arg-type]


class TestAnonymous:
    """SP-Anonymous: no cookie, the zero network user id, the IP masked."""

    def test_anonymous_request(self, micro: MicroCollector) -> None:
        headers = {
            "SP-Anonymous": "*",
            "X-Forwarded-For": "203.0.113.9",
            "X-Real-Ip": "203.0.113.9",
        }

        response = post(micro, [GOOD], headers=headers)

        assert "Set-Cookie" not in response.headers
        event = micro.good()[0]
        assert event["event"]["network_userid"] == ANONYMOUS_USER_ID
        assert event["event"]["user_ipaddress"] == "unknown"
        context = event["rawEvent"]["context"]
        assert context["ipAddress"] == "unknown"
        assert not [h for h in context["headers"] if "203.0.113.9" in h]

    def test_anonymous_with_a_cookie_expires_it(self, micro: MicroCollector) -> None:
        """An sp cookie sent anonymously is expired; its value is not used."""
        known = str(uuid.uuid4())

        response = get(micro, headers={"SP-Anonymous": "*", "Cookie": f"sp={known}"})

        cookie = _cookie(response)
        assert cookie["value"] == ""
        assert (
            email.utils.parsedate_to_datetime(cookie["Expires"]).timestamp()
            < time.time()
        )
        event = micro.good()[0]
        assert event["event"]["network_userid"] == ANONYMOUS_USER_ID
        assert not [h for h in event["rawEvent"]["context"]["headers"] if "Cookie" in h]

    def test_forwarded_for_is_the_client(self, micro: MicroCollector) -> None:
        """Without SP-Anonymous, the first X-Forwarded-For address is the client's."""
        get(micro, headers={"X-Forwarded-For": "203.0.113.9, 10.0.0.1"})

        event = micro.good()[0]
        assert event["event"]["user_ipaddress"] == "203.0.113.9"
        assert event["rawEvent"]["context"]["ipAddress"] == "203.0.113.9"


class TestNeverFiveHundred:
    """An internal error is a bad event with the reason, never an HTTP 500."""

    def test_validation_raising(
        self, micro: MicroCollector, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Validation raising for an event: that event bad, the request 200."""

        def boom(*args: object, **kwargs: object) -> object:
            raise RuntimeError("boom")

        monkeypatch.setattr(intake, "check_parts", boom)  # a JSON object's
        monkeypatch.setattr(intake, "check_payload", boom)  # anything else's

        response = post(micro, [GOOD, GOOD])

        assert response.status_code == 200
        assert [b.errors for b in micro.bad()] == [
            ("internal error while validating: RuntimeError: boom",)
        ] * 2

    def test_request_handling_raising(
        self, micro: MicroCollector, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The tracker path raising past validation: 200, one bad event naming it."""

        def boom(*args: object) -> object:
            raise KeyError("lost")

        monkeypatch.setattr(collect, "_events", boom)

        response = get(micro)
        again = get(micro)

        assert (response.status_code, again.status_code) == (200, 200)
        assert response.content == PIXEL
        assert micro.bad()[0].errors == ("internal error: KeyError: 'lost'",)
        assert micro.bad()[0].request.path == "/i"

    def test_rest_raising(
        self, micro: MicroCollector, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A /micro/* query raising: 400 with the reason, and a bad event says it."""

        def boom(*args: object) -> object:
            raise ValueError("broken store")

        monkeypatch.setattr(rest, "_reset", boom)

        response = requests.get(f"{micro.endpoint}/micro/reset", timeout=10)

        assert response.status_code == 400
        assert response.json()["error"] == "internal error: ValueError: broken store"
        assert micro.bad()[0].errors == ("internal error: ValueError: broken store",)


def _raw(micro: MicroCollector, request: bytes) -> bytes:
    """Send ``request`` as bytes on a new connection; the whole answer."""
    with socket.create_connection(("127.0.0.1", micro.port), timeout=10) as raw:
        raw.sendall(request)
        raw.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    return answer


class TestBodies:
    """Chunked bodies, other methods, short bodies: answered, never a 500."""

    def _chunked(self, chunks: bytes) -> bytes:
        return (
            f"POST {TP2} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {JSON}\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        ).encode() + chunks

    def test_chunked_body(self, micro: MicroCollector) -> None:
        body = json.dumps({"schema": PAYLOAD_DATA, "data": [GOOD]}).encode()
        half = len(body) // 2
        chunks = b"".join(
            f"{len(part):x};ext=1\r\n".encode() + part + b"\r\n"
            for part in (body[:half], body[half:])
        )

        answer = _raw(micro, self._chunked(chunks + b"0\r\nX-Trailer: 1\r\n\r\n"))

        assert answer.startswith(b"HTTP/1.1 200 ")
        assert len(micro.good()) == 1

    @pytest.mark.parametrize(
        ("chunks", "status"),
        [(b"zz\r\nabc\r\n0\r\n\r\n", b"400"), (b"ffff\r\n" + b"a" * 70_000, b"413")],
    )
    def test_bad_chunks(
        self, resolver: IgluResolver, chunks: bytes, status: bytes
    ) -> None:
        with MicroCollector(resolver=resolver, max_body_size=60_000) as micro:
            answer = _raw(micro, self._chunked(chunks))

            assert answer.startswith(b"HTTP/1.1 " + status), answer[:60]
            assert micro.summary() == {"total": 1, "good": 0, "bad": 1}

    def test_short_body(self, micro: MicroCollector) -> None:
        """A body shorter than its Content-Length: a bad event, 400."""
        answer = _raw(
            micro,
            f"POST {TP2} HTTP/1.1\r\nHost: x\r\nContent-Type: {JSON}\r\n"
            "Content-Length: 100\r\n\r\n{}".encode(),
        )

        assert answer.startswith(b"HTTP/1.1 400 ")
        assert micro.bad()[0].errors == ("body: 2 of 100 bytes arrived",)

    @pytest.mark.parametrize("method", ["PUT", "DELETE"])
    def test_other_methods(self, micro: MicroCollector, method: str) -> None:
        """PUT and DELETE have no route: 404 on every path, nothing recorded."""
        statuses = {
            requests.request(method, f"{micro.endpoint}{path}", timeout=10).status_code
            for path in (TP2, "/i", "/health", "/micro/all")
        }

        assert statuses == {404}
        assert micro.summary()["total"] == 0

    def test_target_not_a_url(self, micro: MicroCollector) -> None:
        answer = _raw(micro, b"GET http://[::1 HTTP/1.1\r\nHost: x\r\n\r\n")

        assert answer.startswith(b"HTTP/1.1 400 ")

    def test_non_finite_numbers_become_null(self) -> None:
        """The last guard of strict JSON: a NaN or infinity anywhere is written null."""
        value = {"a": [math.inf, {"b": math.nan}], "c": (1.5, -math.inf), "d": "x"}

        assert _finite(value) == {"a": [None, {"b": None}], "c": [1.5, None], "d": "x"}
