"""Fuzzing the collector's HTTP input: it answers every request and stays up."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import string
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snowplow_logging.micro import IgluResolver, MicroCollector

TP2 = "/com.snowplowanalytics.snowplow/tp2"
PAYLOAD_DATA = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
FIELDS = ["e", "eid", "tv", "p", "aid", "dtm", "stm", "se_ca", "se_ac", "se_va",
          "pp_mix", "vid", "sid", "res", "url", "ue_pr", "ue_px", "co", "cx", "zz"]  # fmt: skip
FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

tokens = st.text(
    alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=16
)
header_values = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60
)
paths = st.one_of(
    st.sampled_from([TP2, "/i", "/ice.png", "/micro/good", "/micro/bad", "/micro/all",
                     "/micro/iglu/com.acme/x/jsonschema/1-0-0", "/health", "/", "//x"]),
    st.text(alphabet=string.ascii_letters + "/%._~-", max_size=30).map("/".__add__),
)  # fmt: skip
queries = st.text(
    alphabet=string.ascii_letters + string.digits + "=&%+._-!*", max_size=80
).map(lambda q: f"?{q}" if q else "")
headers = st.lists(
    st.one_of(
        st.tuples(tokens, header_values),
        st.tuples(
            st.just("Content-Type"),
            st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", "x"]),
        ),
        st.tuples(st.just("Content-Length"), st.sampled_from(["0", "-1", "abc", "5", "99999999999"])),
        st.tuples(st.just("Transfer-Encoding"), st.just("chunked")),
    ),
    max_size=6,
)  # fmt: skip
bodies = st.one_of(
    st.binary(max_size=600),
    st.sampled_from(
        [b"3\r\nabc\r\n0\r\n\r\n", b"-5\r\nab\r\n", b"zz\r\n", b"ffffffffff\r\n"]
    ),
    st.just(json.dumps({"schema": PAYLOAD_DATA, "data": [{"e": "pv"}]}).encode()),
)


def _exchange(port: int, request: bytes) -> bytes:
    """Send raw bytes, half-close, read the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture(name="fuzzed", scope="module")
def _fuzzed(resolver: IgluResolver) -> Iterator[MicroCollector]:
    with MicroCollector(resolver=resolver, max_body_size=4096) as micro:
        yield micro


class TestRawHttp:
    """Random methods, paths, headers and bodies over a raw socket."""

    @FUZZ
    @given(
        method=st.one_of(
            st.sampled_from(["GET", "POST", "OPTIONS", "HEAD", "PUT"]), tokens
        ),
        path=paths,
        query=queries,
        extra=headers,
        body=bodies,
        declare_length=st.booleans(),
    )
    def test_always_answers(
        self,
        *,
        fuzzed: MicroCollector,
        method: str,
        path: str,
        query: str,
        extra: list[tuple[str, str]],
        body: bytes,
        declare_length: bool,
    ) -> None:
        """Every request gets an HTTP answer that is not a 500, and the server stays up."""
        lines = [f"{method} {path}{query} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{name}: {value}" for name, value in extra]
        if declare_length:
            lines.append(f"Content-Length: {len(body)}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body

        answer = _exchange(fuzzed.port, request)

        assert answer.startswith(b"HTTP/1."), answer[:100]
        assert answer[9:12] != b"500", answer[:300]
        assert _exchange(fuzzed.port, b"GET /health HTTP/1.1\r\n\r\n").startswith(
            b"HTTP/1.1 200"
        )

    def test_garbage_request_lines(self, fuzzed: MicroCollector) -> None:
        """Nonsense request lines are answered or dropped; the server carries on."""
        for request in (b"\r\n", b"\x00\xff garbage\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                        b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n"):  # fmt: skip
            _exchange(fuzzed.port, request)

        assert _exchange(fuzzed.port, b"GET /health HTTP/1.1\r\n\r\n").startswith(
            b"HTTP/1.1 200"
        )


def _b64(value: object) -> str:
    text = json.dumps(value)
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip
field_values = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["pv", "se", "ue", "srv", "1795420800123", "1.5", "True", "1x2",
                     "9a1e2f6c-0c5f-4b8e-9d5a-3c1f1e2d3b4a"]),
    json_values.map(_b64),
    json_values.map(json.dumps),
    json_values,
)  # fmt: skip
events = st.dictionaries(
    st.sampled_from(FIELDS) | st.text(max_size=4), field_values, max_size=8
)
envelopes = st.one_of(
    st.builds(lambda data: {"schema": PAYLOAD_DATA, "data": data}, st.lists(events | json_values, max_size=5)),
    st.dictionaries(st.sampled_from(["schema", "data", "x"]), json_values, max_size=3),
    json_values,
)  # fmt: skip


@pytest.fixture(name="json_fuzzed", scope="module")
def _json_fuzzed(resolver: IgluResolver) -> Iterator[MicroCollector]:
    with MicroCollector(resolver=resolver) as micro:
        yield micro


class TestJsonBodies:
    """Random JSON in POST bodies: a verdict per event, never a server error."""

    @settings(FUZZ, max_examples=80)
    @given(body=envelopes)
    def test_verdict_per_event(self, json_fuzzed: MicroCollector, body: object) -> None:
        """200 or 400; one record per event in data, or one for the request."""
        before = json_fuzzed.summary()["total"]
        connection = http.client.HTTPConnection(
            "127.0.0.1", json_fuzzed.port, timeout=10
        )
        try:
            connection.request(
                "POST", TP2, body=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
            )  # fmt: skip
            response = connection.getresponse()
            response.read()
        finally:
            connection.close()

        data = (
            body.get("data")
            if isinstance(body, dict) and set(body) == {"schema", "data"}
            else None
        )
        expected = max(1, len(data)) if isinstance(data, list) else 1
        assert response.status in {200, 400}
        assert json_fuzzed.summary()["total"] - before == expected
