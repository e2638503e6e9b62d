"""A Django project with the Django middleware: under gunicorn (gthread workers,
the middleware in sync mode) and under uvicorn (ASGI, in async mode)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from snowplow_logging.micro import MicroCollector
from tests.conftest import APP_ERROR
from tests.integrations.web.checks import ServerChecks
from tests.integrations.web.servers import UNTRUSTED, Server, browser, subject

GUNICORN = [
    *(sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:{port}"),
    *("--worker-class", "gthread", "--threads", "8"),
    "tests.integrations.web.apps.djsite.wsgi:application",
]


UVICORN = [
    *(
        sys.executable,
        "-m",
        "uvicorn",
        "tests.integrations.web.apps.djsite.asgi:application",
    ),
    *("--host", "127.0.0.1", "--port", "{port}", "--no-proxy-headers"),
    *("--log-level", "warning", "--lifespan", "off"),
]


class TestDjango(ServerChecks):
    """settings.MIDDLEWARE, SNOWPLOW_* settings, LOGGING with SnowplowHandler."""

    async_mode = False

    @pytest.fixture(name="server", scope="class")
    @classmethod
    def _server(
        cls, micro: MicroCollector, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[Server]:
        log = tmp_path_factory.mktemp("django") / "server.log"
        with Server(GUNICORN, micro=micro, log=log) as server:
            yield server

    def test_view_error_carries_the_request_subject(
        self, server: Server, micro: MicroCollector
    ) -> None:
        """Django logs the view's exception on django.request inside the middleware
        chain: the application_error has the request's subject."""
        headers = browser("ivan", **{"X-Forwarded-For": "203.0.113.50"})
        assert server.get("/boom/first", headers)[0] == 500
        assert server.get("/boom/second", browser("judy"), source=UNTRUSTED)[0] == 500
        server.flush(micro, 2)

        errors = micro.good(schema=APP_ERROR)
        by_path = {}
        for event in errors:
            assert event.self_describing is not None
            data = event.self_describing["data"]
            assert isinstance(data, dict)
            assert data["exceptionName"] == "ValueError"
            # the message is "Internal Server Error: <path>: <exception>"
            by_path[str(data["message"]).split(": ")[1]] = event
        assert {path: subject(e) for path, e in by_path.items()} == {
            "/boom/first": {
                "uid": "ivan",
                "ip": "203.0.113.50",
                "ua": "agent-of-ivan",
                "lang": "en-GB",
            },
            "/boom/second": {
                "uid": "judy",
                "ip": UNTRUSTED,
                "ua": "agent-of-judy",
                "lang": "en-GB",
            },
        }

    def test_mode(self, server: Server, micro: MicroCollector) -> None:
        """Sync under WSGI; async under ASGI (no thread switch around it)."""
        assert server.flush(micro, 0)["async_mode"] is self.async_mode


class TestDjangoAsgi(TestDjango):
    """The same project under uvicorn: async middleware, sync views on one thread."""

    async_mode = True

    overlapping = False  # Django runs sync views one at a time under ASGI
    streams_bound = False  # the binding ends when the middleware returns

    @pytest.fixture(name="server", scope="class")
    @classmethod
    def _server(
        cls, micro: MicroCollector, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[Server]:
        log = tmp_path_factory.mktemp("django-asgi") / "server.log"
        with Server(UVICORN, micro=micro, log=log) as server:
            yield server
