"""SnowplowHandler end to end: examples, exit flush and recursion against real HTTP servers."""

from __future__ import annotations

import json
import socket
import subprocess
import textwrap
import time

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from snowplow_logging.pytest_plugin import MicroFixture
from tests.processes import EXAMPLES, run_interpreter

APP_ERROR = "iglu:com.snowplowanalytics.snowplow/application_error/jsonschema/1-0-2"


def _run(
    args: list[str], endpoint: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return run_interpreter(*args, env={"SNOWPLOW_ENDPOINT": endpoint}, timeout=timeout)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class TestExamples:
    """The handler examples deliver valid events to a real local collector."""

    def test_logging_basic(self, snowplow_micro: MicroFixture) -> None:
        """Two tagged records arrive, the untagged one does not."""
        result = _run([str(EXAMPLES / "logging_basic.py")], snowplow_micro.endpoint)

        assert result.returncode == 0, result.stderr
        snowplow_micro.wait_for(2, timeout=10)
        assert len(snowplow_micro.good()) == 2
        assert snowplow_micro.bad() == []

    def test_dictconfig(self, snowplow_micro: MicroFixture) -> None:
        """A pure dictConfig setup delivers its events."""
        result = _run([str(EXAMPLES / "dictconfig.py")], snowplow_micro.endpoint)

        assert result.returncode == 0, result.stderr
        snowplow_micro.wait_for(2, timeout=10)
        assert sorted(e["eventType"] for e in snowplow_micro.good()) == [
            "page_view",
            "struct",
        ]
        assert snowplow_micro.bad() == []

    def test_errors(self, snowplow_micro: MicroFixture) -> None:
        """logger.exception() becomes a valid application_error event."""
        result = _run([str(EXAMPLES / "errors.py")], snowplow_micro.endpoint)

        assert result.returncode == 0, result.stderr
        snowplow_micro.wait_for(1, timeout=10)
        (event,) = snowplow_micro.good()
        assert event.schema == APP_ERROR
        assert snowplow_micro.bad() == []


class TestExitFlush:
    """A batch job that never calls flush() loses nothing and never hangs."""

    def test_every_event_arrives(self, snowplow_micro: MicroFixture) -> None:
        """500 events logged just before exit all arrive, each once."""
        result = _run([str(EXAMPLES / "batch_job.py"), "500"], snowplow_micro.endpoint)

        assert result.returncode == 0, result.stderr
        snowplow_micro.wait_for(500, timeout=10)
        good = snowplow_micro.good()
        assert len(good) == 500
        assert len({e.payload["eid"] for e in good}) == 500

    def test_collector_down_exits_within_deadline(self) -> None:
        """With nothing listening, exit takes about the deadline and reports the loss."""
        script = textwrap.dedent(
            """
            import logging, os
            import snowplow_logging
            from snowplow_logging import SnowplowHandler, StructuredEvent
            snowplow_logging.set_exit_timeout(1.0)
            log = logging.getLogger("job")
            log.addHandler(SnowplowHandler(endpoint=os.environ["SNOWPLOW_ENDPOINT"], flush_timeout=1.0))
            log.setLevel(logging.INFO)
            for i in range(20):
                log.info("x", extra={"snowplow": StructuredEvent(category="c", action=str(i))})
            """
        )
        started = time.monotonic()
        result = _run(["-c", script], f"http://127.0.0.1:{_closed_port()}")
        elapsed = time.monotonic() - started

        assert result.returncode == 0, result.stderr
        assert elapsed < 8.0
        assert "20" in result.stderr
        assert "snowplow_logging" in result.stderr or "Snowplow" in result.stderr


class TestRecursion:
    """A root handler at DEBUG with the collector failing produces no feedback loop."""

    def test_no_feedback_loop(self, httpserver: HTTPServer) -> None:
        """urllib3's DEBUG logs while retrying are never sent: requests carry only the app's events."""
        bodies: list[dict[str, object]] = []

        def failing(request: Request) -> Response:
            bodies.append(json.loads(request.get_data()))
            return Response("down", status=500)

        httpserver.expect_request(
            "/com.snowplowanalytics.snowplow/tp2"
        ).respond_with_handler(failing)
        script = textwrap.dedent(
            """
            import json, logging, os
            import snowplow_logging
            from snowplow_logging import SnowplowHandler, StructuredEvent
            snowplow_logging.set_exit_timeout(0.5)
            handler = SnowplowHandler(
                endpoint=os.environ["SNOWPLOW_ENDPOINT"], capture_exceptions=True, flush_timeout=0.5
            )
            root = logging.getLogger()
            root.setLevel(logging.DEBUG)
            root.addHandler(handler)
            logging.getLogger("urllib3").setLevel(logging.DEBUG)
            log = logging.getLogger("app")
            log.info("paid", extra={"snowplow": StructuredEvent(category="c", action="paid")})
            try:
                1 / 0
            except ZeroDivisionError:
                log.exception("boom")
            handler.flush_timeout = 3.0
            handler.flush()
            print(json.dumps(handler.stats))
            """
        )
        started = time.monotonic()
        result = _run(["-c", script], httpserver.url_for("/"), timeout=30)
        elapsed = time.monotonic() - started

        assert result.returncode == 0, result.stderr
        stats = json.loads(result.stdout.strip().splitlines()[-1])
        assert (stats["records"], stats["events"]) == (2, 2)
        assert stats["tracker_tracked"] == 2
        assert 1 <= len(bodies) <= 10
        assert all(len(body["data"]) <= 2 for body in bodies)  # type: ignore[arg-type]
        assert elapsed < 15.0
