"""Security: credentials stay secret, TLS stays verified, the local collector stays local."""

from __future__ import annotations

import base64
import http.client
import socket

import pytest
import requests

from snowplow_logging import (
    ConfigurationError,
    ConfigurationTypeError,
    Emitter,
    Retry,
    SnowplowHandler,
    StructuredEvent,
    Tracker,
)
from snowplow_logging.micro import MicroCollector
from tests.collector import Collector, LogWatch
from tests.reliability.faults import (
    TLS_CERT,
    Fault,
    FaultCollector,
    Kind,
    always,
    tls_context,
)

PASSWORD = "s3cret-pw"  # noqa: S105 - a test value that must not leak
TOKEN = "t0ken-value"  # noqa: S105
SECRETS = (PASSWORD, TOKEN, base64.b64encode(f"user:{PASSWORD}".encode()).decode())
TWO_ATTEMPTS = Retry(max_attempts=2, initial_delay=0.01, max_delay=0.02, jitter=0.0)


def _send_one(endpoint: str, **options: object) -> dict[str, int]:
    """Track one event through a new emitter, flush, return its stats."""
    with Emitter(endpoint, **options) as emitter:  # type: ignore[arg-type]
        Tracker(emitters=emitter).track(StructuredEvent(category="c", action="a"))
        emitter.flush(timeout=10)
        return emitter.stats


def _with_password(url: str) -> str:
    return url.replace("://", f"://user:{PASSWORD}@")


def _assert_secret_free(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, text


class TestRepr:
    """No repr shows the endpoint's password or a header value."""

    def test_emitter_tracker_and_handler(self) -> None:
        """Emitter, Tracker and SnowplowHandler reprs hide credentials."""
        endpoint = f"https://user:{PASSWORD}@collector.test"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        emitter = Emitter(endpoint, headers=headers)
        handler = SnowplowHandler(endpoint=endpoint, headers=headers)
        try:
            texts = [repr(emitter), repr(Tracker(emitters=emitter)), repr(handler)]
        finally:
            emitter.close()
            handler.close()

        for text in texts:
            _assert_secret_free(text)
        assert "***@collector.test" in texts[0]


class TestErrorMessages:
    """A bad endpoint is reported without the credentials it carries."""

    @pytest.mark.parametrize(
        "endpoint",
        [
            f"https://user:{PASSWORD}@host?x=1",
            f"https://user:{PASSWORD}@host#fragment",
            f"https://user:{PASSWORD}@host:99999",
            f"https://user:{PASSWORD}@host:port",
            f"https://user:{PASSWORD}@[::1",
            f"ftp://user:{PASSWORD}@host",
            f"https://user:{PASSWORD}@",
            f"user:{PASSWORD}@host:99999",
            f"https://user:{PASSWORD}@odd@host?x",
        ],
    )
    def test_endpoint_errors_hide_the_password(self, endpoint: str) -> None:
        """The ConfigurationError names the problem, not the password."""
        with pytest.raises(ConfigurationError) as caught:
            Emitter(endpoint)

        _assert_secret_free(str(caught.value))
        assert "'endpoint'" in str(caught.value)
        assert "***@" in str(caught.value)

    @pytest.mark.parametrize(
        "headers",
        [
            {"Authorization": f"Bearer {PASSWORD}", "X-Count": 1},
            {"Authorization": f"Bearer {PASSWORD}", 5: "x"},
            [("Authorization", f"Bearer {PASSWORD}")],
        ],
    )
    def test_header_errors_hide_the_values(self, headers: object) -> None:
        """A bad headers setting names the key and type, never a header value."""
        with pytest.raises(ConfigurationTypeError) as caught:
            Emitter("https://c.example", headers=headers)  # type: ignore[arg-type]

        _assert_secret_free(str(caught.value))
        assert "'headers' must be a mapping of str to str" in str(caught.value)


class TestLogMessages:
    """The library's own log lines never carry credentials, whatever fails."""

    @pytest.mark.parametrize(
        "fault",
        [
            Fault(status=503),
            Fault(status=401),
            Fault(kind=Kind.RESET),
            Fault(kind=Kind.DROP),
        ],
    )
    def test_failing_collector(self, logs: LogWatch, fault: Fault) -> None:
        """Retries, failures and recoveries are logged without secrets."""
        with FaultCollector(always(fault)) as collector:
            stats = _send_one(
                _with_password(collector.url),
                retry=TWO_ATTEMPTS,
                headers={"Authorization-Extra": f"Bearer {TOKEN}"},
            )

        assert stats["failed"] == 1
        assert logs.formatted()
        for line in logs.formatted():
            _assert_secret_free(line)

    def test_refused_connection(self, logs: LogWatch) -> None:
        """A refused connection's error message carries no secrets either."""
        with FaultCollector(listening=False) as down:
            stats = _send_one(_with_password(down.url), retry=TWO_ATTEMPTS)

        assert stats["failed"] == 1
        assert any("unreachable" in line for line in logs.formatted())
        for line in logs.formatted():
            _assert_secret_free(line)

    def test_proxy_credentials(self, logs: LogWatch) -> None:
        """A proxy URL's password, set on the user's session, is not logged."""
        session = requests.Session()
        session.trust_env = False
        with FaultCollector(listening=False) as proxy, FaultCollector() as collector:
            session.proxies = {"http": _with_password(proxy.url)}
            stats = _send_one(collector.url, session=session, retry=TWO_ATTEMPTS)

        assert stats["failed"] == 1
        assert any("ProxyError" in line for line in logs.formatted())
        for line in logs.formatted():
            _assert_secret_free(line)

    def test_credentials_reach_the_collector_only(self) -> None:
        """The password travels as Basic auth in the request, as promised."""
        collector = Collector()
        try:
            stats = _send_one(_with_password(collector.url))
            (request,) = collector.requests
        finally:
            collector.close()

        assert stats["sent"] == 1
        assert request.headers["Authorization"] == f"Basic {SECRETS[2]}"


class TestTls:
    """TLS verification is on unless the user's own session turns it off."""

    @pytest.fixture(autouse=True)
    def _no_ca_bundle_variables(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override session.verify
        # when trust_env is on (as Session.request does); start without them.
        monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
        monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)

    def _send(self, collector: FaultCollector, **options: object) -> dict[str, int]:
        with Emitter(collector.url, retry=TWO_ATTEMPTS, **options) as emitter:  # type: ignore[arg-type]
            tracker = Tracker(emitters=emitter)
            for n in range(3):
                tracker.track(StructuredEvent(category="tls", action=str(n)))
            emitter.flush(timeout=10)
            return emitter.stats

    def test_self_signed_certificate_fails_by_default(self, logs: LogWatch) -> None:
        """An untrusted certificate fails every attempt: counted and reported."""
        with FaultCollector(tls=tls_context()) as collector:
            stats = self._send(collector)
            tally = collector.tally()

        assert (stats["sent"], stats["failed"], stats["requests"]) == (0, 3, 2)
        assert tally.requests == 0
        assert any("CERTIFICATE_VERIFY_FAILED" in line for line in logs.formatted())

    def test_trusting_the_certificate_delivers(self) -> None:
        """With the certificate as the session's CA bundle, events arrive."""
        session = requests.Session()
        session.verify = str(TLS_CERT)
        with FaultCollector(tls=tls_context()) as collector:
            stats = self._send(collector, session=session)
            tally = collector.tally()

        assert (stats["sent"], stats["failed"]) == (3, 0)
        assert tally.delivered == 3

    @pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
    def test_only_the_users_session_turns_verification_off(self) -> None:
        """session.verify = False is the one way to skip verification."""
        session = requests.Session()
        session.verify = False
        with FaultCollector(tls=tls_context()) as collector:
            stats = self._send(collector, session=session)

        assert (stats["sent"], stats["failed"]) == (3, 0)

    def test_environment_cannot_turn_verification_off(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An empty CA-bundle variable does not disable verification."""
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", "")
        monkeypatch.setenv("CURL_CA_BUNDLE", "")
        with FaultCollector(tls=tls_context()) as collector:
            stats = self._send(collector)

        assert (stats["sent"], stats["failed"]) == (0, 3)


class TestLocalCollector:
    """The local collector listens on loopback only and caps what it reads."""

    def test_binds_to_loopback_by_default(self) -> None:
        """MicroCollector() listens on 127.0.0.1, not on every interface."""
        with MicroCollector() as micro:
            address = micro._server.server_address if micro._server else None

        assert address is not None
        assert address[0] == "127.0.0.1"

    def test_oversized_body_is_refused_and_the_collector_survives(self) -> None:
        """A body over max_body_size gets 413, then the next request is served."""
        with MicroCollector(max_body_size=1_000) as micro:
            with socket.create_connection(("127.0.0.1", micro.port), timeout=5) as raw:
                raw.sendall(
                    b"POST /com.snowplowanalytics.snowplow/tp2 HTTP/1.1\r\n"
                    b"Host: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 100000000\r\n\r\n" + b"x" * 2_000
                )
                first = raw.recv(100)
            connection = http.client.HTTPConnection("127.0.0.1", micro.port, timeout=5)
            connection.request("GET", "/micro/all")
            status = connection.getresponse().status
            connection.close()

        assert first.startswith((b"HTTP/1.1 413", b"HTTP/1.0 413"))
        assert status == 200
