"""Hostile requests to a real collector (issue 14): no file, secret or 500 leaks out.

Every test runs a real :class:`MicroCollector` on 127.0.0.1, port 0, and talks to
it over real HTTP (``requests``, or ``http.client`` where a client would tidy the
request, as ``requests`` removes ``..`` from a path).
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import requests

from snowplow_logging import Emitter, StructuredEvent, Tracker
from snowplow_logging.micro import IgluResolver, MicroCollector

TP2 = "/com.snowplowanalytics.snowplow/tp2"
JSON = "application/json; charset=utf-8"
PAYLOAD_DATA = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
UNSTRUCT = "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0"
GOOD = {
    "e": "se",
    "eid": "9a1e2f6c-0c5f-4b8e-9d5a-3c1f1e2d3b4a",
    "tv": "py-x",
    "p": "srv",
    "dtm": "1795420800123",
    "se_ca": "c",
    "se_ac": "a",
}
SECRET = "PRIVATE-KEY-0123456789"  # noqa: S105 - a test value that must not leak
"""The content of a file outside every schema directory; must never come out."""


def _post(
    micro: MicroCollector, events: list[Mapping[str, object]]
) -> requests.Response:
    body = json.dumps({"schema": PAYLOAD_DATA, "data": events})
    return requests.post(
        f"{micro.endpoint}{TP2}",
        data=body.encode(),
        headers={"Content-Type": JSON},
        timeout=10,
    )


def _send(
    micro: MicroCollector, method: str, payload: dict[str, str]
) -> requests.Response:
    """One event by POST (a batch of one) or GET (its fields as the query)."""
    if method == "POST":
        return _post(micro, [payload])
    return requests.get(f"{micro.endpoint}/i", params=payload, timeout=10)


def _raw_get(micro: MicroCollector, target: str) -> tuple[int, bytes]:
    """GET ``target`` exactly as written (no client-side path clean-up)."""
    connection = http.client.HTTPConnection("127.0.0.1", micro.port, timeout=10)
    try:
        connection.request("GET", target)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _ue(schema: str, data: object) -> dict[str, str]:
    wrapper = {"schema": UNSTRUCT, "data": {"schema": schema, "data": data}}
    return {**GOOD, "e": "ue", "ue_pr": json.dumps(wrapper)}


@pytest.fixture(name="registry")
def _registry(tmp_path: Path) -> Path:
    """A --schemas root (``<tmp>/schemas``) with a secret file one level above it.

    ``<tmp>/private/keys/1-0-0`` is valid JSON and, read as a schema, accepts
    anything: if it is ever used, events naming it come out good.
    """
    (tmp_path / "schemas" / "com.acme" / "ok" / "jsonschema").mkdir(parents=True)
    (tmp_path / "schemas" / "com.acme" / "ok" / "jsonschema" / "1-0-0").write_text(
        '{"type": "object"}', encoding="utf-8"
    )
    keys = tmp_path / "private" / "keys"
    keys.mkdir(parents=True)
    (keys / "1-0-0").write_text(json.dumps({"description": SECRET}), encoding="utf-8")
    return tmp_path


@pytest.fixture(name="guarded")
def _guarded(registry: Path) -> Iterator[MicroCollector]:
    with MicroCollector(schemas=[registry]) as micro:
        yield micro


class TestSchemaPaths:
    """Finding 5: an Iglu URI never names a file outside the schema directories."""

    @pytest.mark.parametrize(
        "target",
        [
            "/micro/iglu/../private/keys/1-0-0",
            "/micro/iglu/./../private/keys/1-0-0",
            "/micro/iglu/.../private/keys/1-0-0",
        ],
    )
    def test_iglu_endpoint_stays_inside(
        self, guarded: MicroCollector, target: str
    ) -> None:
        """/micro/iglu/<..>/... is a 404, never the file above the root."""
        status, body = _raw_get(guarded, target)

        assert status == 404
        assert SECRET.encode() not in body

    def test_iglu_endpoint_still_serves(self, guarded: MicroCollector) -> None:
        status, body = _raw_get(guarded, "/micro/iglu/com.acme/ok/jsonschema/1-0-0")

        assert status == 200
        assert json.loads(body) == {"type": "object"}

    def test_validation_stays_inside(self, guarded: MicroCollector) -> None:
        """An event naming iglu:../private/keys/1-0-0 is bad: not an Iglu URI."""
        response = _post(guarded, [_ue("iglu:../private/keys/1-0-0", {})])

        assert response.status_code == 200
        assert guarded.summary() == {"total": 1, "good": 0, "bad": 1}
        (bad,) = guarded.bad()
        assert any("not an Iglu URI" in error for error in bad.errors), bad.errors

    def test_entity_stays_inside(self, guarded: MicroCollector) -> None:
        entity = {"schema": "iglu:../private/keys/1-0-0", "data": {}}
        contexts = {
            "schema": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1",
            "data": [entity],
        }

        _post(guarded, [{**GOOD, "co": json.dumps(contexts)}])

        assert guarded.summary()["bad"] == 1

    def test_resolver_stays_inside(self, registry: Path) -> None:
        resolver = IgluResolver([registry], bundled=False)

        for uri in (
            "iglu:../private/keys/1-0-0",
            "iglu:./../private/keys/1-0-0",
            "iglu:../private/keys/1-0-0\n",
        ):
            assert resolver.schema_path(uri) is None, uri
            assert resolver.validator(uri) is None, uri
            assert resolver.errors(uri, {}) == [f"schema not found: {uri}"]
        assert resolver.schema_path("iglu:com.acme/ok/jsonschema/1-0-0") is not None

    def test_symlink_out_of_the_root(self, registry: Path) -> None:
        """A link inside the root to a file outside it is not followed out."""
        link = registry / "schemas" / "com.acme" / "link" / "jsonschema"
        link.mkdir(parents=True)
        (link / "1-0-0").symlink_to(registry / "private" / "keys" / "1-0-0")

        with MicroCollector(schemas=[registry]) as micro:
            status, body = _raw_get(micro, "/micro/iglu/com.acme/link/jsonschema/1-0-0")
            _post(micro, [_ue("iglu:com.acme/link/jsonschema/1-0-0", {})])

            assert (status, SECRET.encode() in body) == (404, False)
            assert micro.summary()["bad"] == 1


FOREIGN_ORIGINS = [
    "https://evil.test",
    "null",
    "http://localhost.evil.test:9090",
    "http://127.0.0.1.evil.test",
    "http://evil.test@127.0.0.1:9090",
]
LOOPBACK_ORIGINS = [
    "http://localhost:3000",
    "http://127.0.0.1:8080",
    "http://[::1]:5173",
]


@pytest.fixture(name="micro")
def _micro(resolver: IgluResolver) -> Iterator[MicroCollector]:
    with MicroCollector(resolver=resolver) as micro:
        yield micro


class TestCredentialsAndOrigins:
    """Finding 6: no stored credentials, and no web page reads or resets the store."""

    def test_basic_credentials_are_not_stored(self, micro: MicroCollector) -> None:
        """An endpoint with user:password@ sends Basic auth; it is kept redacted."""
        with Emitter(micro.endpoint.replace("://", "://alice:pw-s3cret@")) as emitter:
            Tracker(emitters=emitter).track(StructuredEvent(category="c", action="a"))
            assert emitter.flush(timeout=10)
        micro.wait_for(1, timeout=10)

        served = requests.get(f"{micro.endpoint}/micro/good", timeout=10)
        (event,) = served.json()
        token = base64.b64encode(b"alice:pw-s3cret").decode()
        assert token not in served.text
        assert "pw-s3cret" not in served.text
        assert (
            "Authorization: Basic <redacted>" in event["rawEvent"]["context"]["headers"]
        )
        assert token not in json.dumps(micro.good()[0].to_json())

    @pytest.mark.parametrize("path", [TP2, "/i"])
    def test_secret_headers_are_redacted(
        self, micro: MicroCollector, path: str
    ) -> None:
        """Authorization, Proxy-Authorization and Cookie: name kept, value not."""
        secrets = {
            "Authorization": "Bearer tok-123",
            "Proxy-Authorization": "Basic cHJveHk6cHc=",
            "Cookie": "theme=c6a3bbb0; session=sess-456",
        }
        if path == TP2:
            body = json.dumps({"schema": PAYLOAD_DATA, "data": [GOOD]})
            headers = {**secrets, "Content-Type": JSON}
            requests.post(micro.endpoint + path, data=body, headers=headers, timeout=10)
        else:
            requests.get(
                micro.endpoint + path, params=GOOD, headers=secrets, timeout=10
            )

        served = requests.get(f"{micro.endpoint}/micro/good", timeout=10).text
        (event,) = micro.good()
        kept = event["rawEvent"]["context"]["headers"]
        for secret in ("tok-123", "cHJveHk6cHc=", "c6a3bbb0", "sess-456"):
            assert secret not in served
            assert secret not in json.dumps(kept)
        assert "Authorization: Bearer <redacted>" in kept
        assert "Proxy-Authorization: Basic <redacted>" in kept
        assert "Cookie: <redacted>" in kept

    @pytest.mark.parametrize("origin", FOREIGN_ORIGINS)
    @pytest.mark.parametrize("method", ["GET", "POST", "OPTIONS"])
    def test_micro_api_is_not_shared_with_other_origins(
        self, micro: MicroCollector, origin: str, method: str
    ) -> None:
        """/micro/* never names a foreign origin nor allows credentials for it."""
        response = requests.request(
            method,
            f"{micro.endpoint}/micro/good",
            headers={"Origin": origin},
            timeout=10,
        )

        assert response.headers.get("Access-Control-Allow-Origin") is None
        assert response.headers.get("Access-Control-Allow-Credentials") is None

    @pytest.mark.parametrize("origin", LOOPBACK_ORIGINS)
    def test_micro_api_is_shared_with_loopback_pages(
        self, micro: MicroCollector, origin: str
    ) -> None:
        """A page served from this machine (a local dashboard) may read /micro/*."""
        response = requests.get(
            f"{micro.endpoint}/micro/all", headers={"Origin": origin}, timeout=10
        )

        assert response.status_code == 200
        assert response.headers["Access-Control-Allow-Origin"] == origin
        assert response.headers.get("Access-Control-Allow-Credentials") is None
        assert "Origin" in response.headers["Vary"]

    @pytest.mark.parametrize(
        "headers",
        [
            *({"Origin": origin} for origin in FOREIGN_ORIGINS),
            {"Sec-Fetch-Site": "cross-site"},
            {"Host": "evil.test"},
        ],
    )
    @pytest.mark.parametrize("method", ["GET", "POST"])
    def test_reset_refuses_other_sites(
        self, micro: MicroCollector, headers: dict[str, str], method: str
    ) -> None:
        """A cross-site /micro/reset (a form, an <img>, DNS rebinding) is a 403."""
        _post(micro, [GOOD])

        response = requests.request(
            method, f"{micro.endpoint}/micro/reset", headers=headers, timeout=10
        )

        assert response.status_code == 403
        assert "error" in response.json()
        assert micro.summary()["total"] == 1

    @pytest.mark.parametrize(
        "headers",
        [
            {},
            *({"Origin": origin} for origin in LOOPBACK_ORIGINS),
            {"Sec-Fetch-Site": "same-origin"},
            {"Sec-Fetch-Site": "none"},
            {"Host": "localhost"},
        ],
    )
    def test_reset_from_this_machine(
        self, micro: MicroCollector, headers: dict[str, str]
    ) -> None:
        _post(micro, [GOOD])

        response = requests.post(
            f"{micro.endpoint}/micro/reset", headers=headers, timeout=10
        )

        assert response.status_code == 200
        assert micro.summary()["total"] == 0

    def test_rebound_host_cannot_read(self, micro: MicroCollector) -> None:
        """A page on evil.test re-resolved to 127.0.0.1 is same-origin: Host tells."""
        _post(micro, [GOOD])

        response = requests.get(
            f"{micro.endpoint}/micro/good",
            headers={"Host": f"evil.test:{micro.port}"},
            timeout=10,
        )

        assert response.status_code == 403
        assert GOOD["eid"] not in response.text

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("POST", TP2),
            ("GET", TP2),
            ("GET", "/i"),
            ("OPTIONS", TP2),
            ("OPTIONS", "/i"),
        ],
    )
    def test_tracker_paths_keep_their_cors(
        self, micro: MicroCollector, method: str, path: str
    ) -> None:
        """Browser trackers on any site still send, with cookies: origin echoed."""
        body = json.dumps({"schema": PAYLOAD_DATA, "data": [GOOD]})
        response = requests.request(
            method,
            f"{micro.endpoint}{path}",
            params=GOOD if method == "GET" else None,
            data=body if method == "POST" else None,
            headers={"Origin": "https://shop.test", "Content-Type": JSON},
            timeout=10,
        )

        assert response.status_code == 200
        assert response.headers["Access-Control-Allow-Origin"] == "https://shop.test"
        assert response.headers["Access-Control-Allow-Credentials"] == "true"
        without = requests.get(f"{micro.endpoint}/i", params=GOOD, timeout=10)
        assert without.headers["Access-Control-Allow-Origin"] == "*"


CONTEXTS = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1"
MAX_CACHED_SCHEMAS = 1024
"""The most schema lookups (found or not) a resolver may remember."""
MAX_CACHED_CHARS = 4 * 1024 * 1024
"""The most characters of ``ue_*``/``co``/``cx`` values a resolver may remember."""


class TestBoundedCaches:
    """Finding 11: with history=0, what the resolver remembers stays bounded."""

    def test_distinct_large_entities_and_missing_schemas(self) -> None:
        """200 requests, each with new 60 KB entities and 6 unknown schemas."""
        resolver = IgluResolver()
        with MicroCollector(resolver=resolver, history=0) as micro:
            with requests.Session() as session:
                for request in range(200):
                    entities = [
                        {
                            "schema": f"iglu:com.acme/missing_{request}_{i}/jsonschema/1-0-0",
                            "data": {"blob": f"{request}-{i}-" + "x" * 10_000},
                        }
                        for i in range(6)
                    ]
                    co = json.dumps({"schema": CONTEXTS, "data": entities})
                    body = json.dumps(
                        {"schema": PAYLOAD_DATA, "data": [{**GOOD, "co": co}]}
                    )
                    response = session.post(
                        f"{micro.endpoint}{TP2}",
                        data=body,
                        headers={"Content-Type": JSON},
                        timeout=10,
                    )
                    assert response.status_code == 200
            assert micro.summary() == {"total": 200, "good": 0, "bad": 200}

        sizes = {
            "schemas": len(resolver._cache),
            "chars": sum(len(value) for _, value in resolver._decoded),
        }
        within = (
            sizes["chars"] <= MAX_CACHED_CHARS,
            sizes["schemas"] <= MAX_CACHED_SCHEMAS,
        )
        assert within == (True, True), sizes
        assert micro.bad() == []  # history=0 keeps none

    def test_repeated_entities_still_decoded_once(self, resolver: IgluResolver) -> None:
        """The cache still serves what it is for: the same small entity on every event."""
        entity = {"schema": "iglu:com.acme/cart/jsonschema/1-0-0", "data": {"n": 1}}
        co = json.dumps({"schema": CONTEXTS, "data": [entity]})
        with MicroCollector(resolver=resolver, history=0) as micro:
            for _ in range(3):
                assert _post(micro, [{**GOOD, "co": co}]).status_code == 200
            assert micro.summary()["good"] == 3

        assert ("co", co) in set(resolver._decoded)


MAX_HEADERS = 64
MAX_HEADER_VALUE = 1024
MAX_HEADERS_CHARS = 16 * 1024


def _send_with_headers(
    micro: MicroCollector, headers: list[tuple[str, str]], path: str = TP2
) -> int:
    """POST one good event with these headers, in this order; return the status."""
    body = json.dumps({"schema": PAYLOAD_DATA, "data": [GOOD]}).encode()
    connection = http.client.HTTPConnection("127.0.0.1", micro.port, timeout=10)
    try:
        connection.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
        host = ("Host", f"127.0.0.1:{micro.port}")
        for name, value in [*headers, host, ("Content-Type", JSON)]:
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def _kept(micro: MicroCollector) -> list[str]:
    (event,) = micro.good()
    headers: list[str] = event["rawEvent"]["context"]["headers"]
    return headers


class TestBoundedHeaders:
    """Finding 12: what is kept of a request's headers is bounded, and says it was cut."""

    def test_many_large_headers(self, micro: MicroCollector) -> None:
        """95 headers of 60,000 characters (5.7 MB) keep at most 16 KiB per event."""
        headers = [(f"X-Big-{i}", f"{i}-" + "v" * 60_000) for i in range(95)]

        assert _send_with_headers(micro, headers) == 200

        kept = _kept(micro)
        stored = micro.good()[0].request.headers
        assert len(stored) <= MAX_HEADERS + 1
        assert all(len(value) <= MAX_HEADER_VALUE for _, value in stored)
        assert (
            sum(len(name) + len(value) for name, value in stored) <= MAX_HEADERS_CHARS
        )
        assert "cut" in kept[0]
        assert "cut" in kept[-1]  # the marker: how many were left out

    def test_many_small_headers(self, micro: MicroCollector) -> None:
        """More than 64 headers: the first 64 kept whole, then one marker."""
        headers = [(f"X-H-{i}", str(i)) for i in range(90)]

        _send_with_headers(micro, headers)

        kept = _kept(micro)
        assert kept[:MAX_HEADERS] == [f"X-H-{i}: {i}" for i in range(MAX_HEADERS)]
        assert len(kept) == MAX_HEADERS + 1
        assert "cut" in kept[-1]
        assert "29 more" in kept[-1]  # 26 X-H-*, Host, Content-Type, Content-Length

    def test_one_long_value_is_cut(self, micro: MicroCollector) -> None:
        """A long User-Agent is cut with a marker; useragent reads the cut value."""
        _send_with_headers(micro, [("User-Agent", "agent/" + "a" * 5000)])

        (event,) = micro.good()
        useragent = event["rawEvent"]["context"]["useragent"]
        assert useragent.startswith("agent/aaa")
        assert len(useragent) <= MAX_HEADER_VALUE
        assert "5006" in useragent  # the marker tells the length sent

    def test_long_name_and_content_type(self, micro: MicroCollector) -> None:
        """A huge header name and Content-Type are bounded too (the event is bad, 200)."""
        body = json.dumps({"schema": PAYLOAD_DATA, "data": [GOOD]}).encode()
        connection = http.client.HTTPConnection("127.0.0.1", micro.port, timeout=10)
        connection.putrequest("POST", TP2, skip_accept_encoding=True)
        connection.putheader("X-" + "n" * 60_000, "v")
        connection.putheader("Content-Type", "application/json" + " " * 60_000 + "x")
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        assert connection.getresponse().status == 200
        connection.close()

        (bad,) = micro.bad()
        stored = bad.request.headers
        assert (
            sum(len(name) + len(value) for name, value in stored) <= MAX_HEADERS_CHARS
        )
        assert len(bad.request.content_type or "") <= MAX_HEADER_VALUE
        assert sum(map(len, bad.errors)) < 4 * MAX_HEADER_VALUE

    def test_ordinary_headers_untouched(self, micro: MicroCollector) -> None:
        _send_with_headers(micro, [("User-Agent", "app/1.0"), ("X-Trace", "abc")])

        kept = _kept(micro)
        assert kept[:2] == ["User-Agent: app/1.0", "X-Trace: abc"]
        assert not any("cut" in header for header in kept)


BIG = "1" * 5000
"""An integer over Python's int-string limit (4,300 digits)."""
NUMBER_FIELDS = [
    ("vid", BIG, {}),
    ("pp_mix", BIG, {"e": "pp", "url": "u"}),
    ("pp_may", "-" + BIG, {"e": "pp", "url": "u"}),
    ("ti_qu", BIG, {"e": "ti", "ti_id": "o", "ti_sk": "s", "ti_pr": "1"}),
    ("dtm", BIG, {}),
    ("stm", "9" * 5000, {}),
    ("ttm", BIG, {}),
    ("res", f"{BIG}x1", {}),
    ("vp", f"1x{BIG}", {}),
    ("se_va", "1e" + BIG, {}),  # BigDecimal's scale is a Java int
    ("tr_tt", "1e2147483648", {"e": "tr", "tr_id": "o"}),
]
LONG_DECIMALS = [
    ("tr_tt", BIG, {"e": "tr", "tr_id": "o"}),
    ("se_va", BIG, {}),
    ("ti_pr", "9" * 400 + ".5", {"e": "ti", "ti_id": "o", "ti_sk": "s"}),
    ("se_va", "1e999", {}),
]
"""Decimals java.math.BigDecimal reads, however long: Enrich keeps them."""


def _raw(micro: MicroCollector, request: bytes) -> bytes:
    """Send raw bytes, half-close, read the whole answer."""
    with socket.create_connection(("127.0.0.1", micro.port), timeout=10) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


class TestHugeNumbers:
    """Finding 16: numbers past Python's int-string limit are bad events, never a 500."""

    @pytest.mark.parametrize(("name", "value", "extra"), NUMBER_FIELDS)
    @pytest.mark.parametrize("method", ["POST", "GET"])
    def test_number_fields(
        self,
        micro: MicroCollector,
        method: str,
        name: str,
        value: str,
        extra: dict[str, str],
    ) -> None:
        response = _send(micro, method, {**GOOD, **extra, name: value})

        assert response.status_code == 200, response.text[:200]
        assert micro.summary() == {"total": 1, "good": 0, "bad": 1}
        (bad,) = micro.bad()
        (error,) = [e for e in bad.errors if e.startswith(f"{name}:")]
        assert error.startswith(f"{name}: must be "), error
        assert len(error) < 200
        served = requests.get(f"{micro.endpoint}/micro/bad", timeout=10)
        assert served.status_code == 200

    @pytest.mark.parametrize(("name", "value", "extra"), LONG_DECIMALS)
    @pytest.mark.parametrize("method", ["POST", "GET"])
    def test_long_decimals_are_good(
        self,
        micro: MicroCollector,
        method: str,
        name: str,
        value: str,
        extra: dict[str, str],
    ) -> None:
        """Enrich reads any length of decimal digits (a BigDecimal): good, and served."""
        response = _send(micro, method, {**GOOD, **extra, name: value})

        assert response.status_code == 200, response.text[:200]
        assert micro.summary() == {"total": 1, "good": 1, "bad": 0}, micro.bad()
        assert (
            requests.get(f"{micro.endpoint}/micro/good", timeout=10).status_code == 200
        )

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("vid", "12\n"),
            ("vid", "1\u00b2"),  # a superscript 2: isdigit(), but no digit to Java
            (
                "dtm",
                "1700000000000\u00b2",
            ),  # the crash of issue 16: isdigit(), then int()
            ("dtm", "\U0001d7ce" * 13),  # mathematical digits: Java reads UTF-16 units
            ("stm", "1795420800123\n"),
            ("stm", " 1795420800123"),
            ("res", "1920x1080\n"),
            ("res", "\u0661x1"),  # Enrich's size pattern is ASCII \\d
            ("se_va", "1.5\n"),
            ("eid", GOOD["eid"] + "\n"),
        ],
    )
    def test_only_java_digits_matched_whole(
        self, micro: MicroCollector, name: str, value: str
    ) -> None:
        """Enrich reads the whole value, digits Java reads: anything else is bad."""
        response = requests.get(
            f"{micro.endpoint}/i", params={**GOOD, name: value}, timeout=10
        )

        assert response.status_code == 200, response.text[:200]
        assert micro.summary()["bad"] == 1
        (error,) = micro.bad()[0].errors
        assert error.startswith(f"{name}: must be"), error

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("vid", "\u0661\u0662"),  # Arabic-Indic digits: Java's parseInt reads them
            (
                "dtm",
                "\u0661\u0667\u0669\u0665\u0664\u0662\u0660\u0668\u0660\u0660\u0661\u0662\u0663",
            ),
            ("vid", "+5"),
            ("se_va", ".5"),
            ("se_va", "+5."),
            ("dtm", "5"),  # 1970: Enrich takes any year from 0 to 9999
            ("dtm", "-62167219200000"),  # 0000-01-01T00:00:00.000Z
            ("vid", "null"),  # Enrich's legacy "no value"
        ],
    )
    def test_what_java_reads_is_good(
        self, micro: MicroCollector, name: str, value: str
    ) -> None:
        """Signs, bare fractions, other scripts' digits, early years: as Enrich reads them."""
        requests.get(f"{micro.endpoint}/i", params={**GOOD, name: value}, timeout=10)

        assert micro.summary() == {"total": 1, "good": 1, "bad": 0}, micro.bad()

    def test_in_range_values_still_good(self, micro: MicroCollector) -> None:
        payload = {
            **GOOD,
            "vid": "0007",
            "se_va": "-1.5e3",
            "dtm": "0" * 5000 + GOOD["dtm"],
        }

        _post(micro, [payload])

        (good,) = micro.good()
        assert (good.event["domain_sessionidx"], good.event["se_value"]) == (7, -1500.0)
        assert good.event["dvce_created_tstamp"] == "2026-11-23T08:00:00.123Z"

    @pytest.mark.parametrize("length", ["9" * 5000, "\u00b2", "0" * 5000 + "5"])
    def test_content_length(self, micro: MicroCollector, length: str) -> None:
        """A Content-Length no int() reads is a 400, and the collector goes on."""
        answer = _raw(
            micro,
            f"POST {TP2} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {JSON}\r\n"
            f"Content-Length: {length}\r\n\r\n".encode("latin-1"),
        )

        assert answer.startswith(b"HTTP/1.1 400 "), answer[:80]
        assert requests.get(f"{micro.endpoint}/health", timeout=10).text == "OK"

    @pytest.mark.parametrize("limit", ["9" * 5000, "\u00b2"])
    def test_filter_limit(self, micro: MicroCollector, limit: str) -> None:
        by_query = requests.get(
            f"{micro.endpoint}/micro/good", params={"limit": limit}, timeout=10
        )
        by_body = requests.post(
            f"{micro.endpoint}/micro/good", json={"limit": limit}, timeout=10
        )

        assert (by_query.status_code, by_body.status_code) == (400, 422)  # as Micro
        for response in (by_query, by_body):
            assert "'limit' must be a non-negative integer" in response.json()["error"]
            assert len(response.text) < 200


def _refuse(name: str) -> object:
    """A strict JSON reader: NaN and Infinity are errors."""
    msg = f"{name} is not JSON"
    raise ValueError(msg)


class TestFuzzedRequests:
    """Other hostile requests found by fuzzing: a clear 4xx or a bad event, never a 500."""

    @pytest.mark.parametrize("depth", [990, 5000, 100_000])
    def test_deeply_nested_filter_body(self, micro: MicroCollector, depth: int) -> None:
        """A /micro/good filter POSTed as JSON nested past the parser's depth: 400."""
        body = "[" * depth + "]" * depth

        response = requests.post(f"{micro.endpoint}/micro/good", data=body, timeout=10)

        assert response.status_code == 400
        assert "filters" in response.json()["error"]

    def test_lone_surrogates_are_served(self, micro: MicroCollector) -> None:
        """A JSON escape of half a UTF-16 pair (\\ud800) must not break /micro/*.

        Stored, it made every later /micro/good or /micro/bad a 500 until a reset.
        """
        event = json.dumps({**GOOD, "se_la": "\ud800"})
        broken = json.dumps({**GOOD, "eid": "x", "se_la": "a\udfffb"})
        body = f'{{"schema": "{PAYLOAD_DATA}", "data": [{event}, {broken}]}}'
        entity = {
            "schema": "iglu:com.acme/cart/jsonschema/1-0-0",
            "data": {"k": "\udbff"},
        }
        contexts = json.dumps({"schema": CONTEXTS, "data": [entity]})
        cx = base64.urlsafe_b64encode(contexts.encode()).decode()

        posted = requests.post(
            f"{micro.endpoint}{TP2}",
            data=body,
            headers={"Content-Type": JSON},
            timeout=10,
        )
        got = requests.get(f"{micro.endpoint}/i", params={**GOOD, "cx": cx}, timeout=10)

        assert (posted.status_code, got.status_code) == (200, 200)
        assert micro.summary() == {"total": 3, "good": 2, "bad": 1}
        good = requests.get(f"{micro.endpoint}/micro/good", timeout=10)
        bad = requests.get(f"{micro.endpoint}/micro/bad", timeout=10)
        assert (good.status_code, bad.status_code) == (200, 200)
        newest, oldest = good.json()  # newest first, as Micro lists them
        assert oldest["rawEvent"]["parameters"]["se_la"] == "\ud800"
        assert newest["event"]["contexts"]["data"][0]["data"] == {"k": "\udbff"}
        assert bad.json()[0]["rawEvent"]["parameters"]["se_la"] == "a\udfffb"

    @pytest.mark.parametrize(
        "number", ["NaN", "Infinity", "-Infinity", "1e999", "-2e400"]
    )
    def test_numbers_json_has_not(self, micro: MicroCollector, number: str) -> None:
        """NaN, Infinity and numbers past a double are not JSON: never served as such.

        Python's decoder reads them (as nan and inf), then /micro/* wrote them out
        as NaN/Infinity, which no strict JSON reader accepts.
        """
        wrapper = f'{{"schema": "{UNSTRUCT}", "data": {{"schema": "iglu:com.acme/cart/jsonschema/1-0-0", "data": {{"x": {number}}}}}}}'
        entity = f'{{"schema": "iglu:com.acme/cart/jsonschema/1-0-0", "data": {{"y": [{number}]}}}}'
        contexts = f'{{"schema": "{CONTEXTS}", "data": [{entity}]}}'
        cx = base64.urlsafe_b64encode(contexts.encode()).decode()
        body = f'{{"schema": "{PAYLOAD_DATA}", "data": [{{"e": {number}}}]}}'

        _post(micro, [{**GOOD, "e": "ue", "ue_pr": wrapper}])
        requests.get(f"{micro.endpoint}/i", params={**GOOD, "cx": cx}, timeout=10)
        refused = requests.post(
            f"{micro.endpoint}{TP2}",
            data=body,
            headers={"Content-Type": JSON},
            timeout=10,
        )

        assert refused.status_code == 200  # the collector's answer; a bad row
        assert micro.summary() == {"total": 3, "good": 0, "bad": 3}
        errors = [error for event in micro.bad() for error in event.errors]
        assert any(error.startswith("ue_pr: not JSON") for error in errors), errors
        assert any(error.startswith("cx: not base64 JSON") for error in errors), errors
        for path in ("good", "bad"):
            served = requests.get(f"{micro.endpoint}/micro/{path}", timeout=10)
            assert served.status_code == 200
            json.loads(served.text, parse_constant=_refuse)

    @pytest.mark.parametrize("part", ["vendor", "name", "version"])
    def test_schema_names_too_long_for_a_file(
        self, micro: MicroCollector, part: str
    ) -> None:
        """A URI part over the file-name limit (255 bytes) is an unknown schema.

        It raised OSError (File name too long) out of the lookup: a 500 naming the
        package's install path.
        """
        long = "n" * 300
        vendor, name, version = "com.acme", "cart", "1-0-0"
        if part == "vendor":
            vendor = f"com.{long}"
        elif part == "name":
            name = long
        else:
            version = f"1-0-{'0' * 300}"
        uri = f"iglu:{vendor}/{name}/jsonschema/{version}"

        response = _post(micro, [_ue(uri, {})])
        status, body = _raw_get(micro, f"/micro/iglu/{uri.removeprefix('iglu:')}")

        assert response.status_code == 200, response.text[:200]
        (bad,) = micro.bad()
        assert any("schema not found" in error for error in bad.errors), bad.errors
        assert status == 404
        assert b"snowplow_logging" not in body
