"""FastAPI (Starlette) behind the ASGI middleware, under uvicorn."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from snowplow_logging.micro import MicroCollector
from tests.integrations.web.checks import ServerChecks
from tests.integrations.web.servers import Server, browser, by_action

UVICORN = [
    *(sys.executable, "-m", "uvicorn", "tests.integrations.web.apps.fastapi_app:app"),
    *("--host", "127.0.0.1", "--port", "{port}", "--no-proxy-headers"),
    *("--log-level", "warning"),
]


class TestUvicorn(ServerChecks):
    """One event loop: the overlapping requests are interleaved tasks."""

    @pytest.fixture(name="server", scope="class")
    @classmethod
    def _server(
        cls, micro: MicroCollector, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[Server]:
        log = tmp_path_factory.mktemp("uvicorn") / "server.log"
        with Server(UVICORN, micro=micro, log=log) as server:
            yield server

    def test_sync_endpoint_on_the_thread_pool(
        self, server: Server, micro: MicroCollector
    ) -> None:
        """A sync endpoint runs on a worker thread, in a copy of the request's context."""
        assert server.get("/sync/threaded", browser("tom"))[0] == 200
        server.flush(micro, 1)

        assert by_action(micro)["threaded"].payload["uid"] == "tom"


def test_lifespan_shutdown_delivers(
    micro: MicroCollector, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """SIGTERM: the middleware closes the emitters at the lifespan shutdown.

    The handler would send within 50 ms anyway; the point is the clean exit
    with nothing lost and nothing reported after the close.
    """
    micro.reset()
    server = Server(UVICORN, micro=micro, log=tmp_path_factory.mktemp("uv") / "log")
    with server:
        assert server.get("/event/before-stop", browser("zoe"))[0] == 200
        server.stop()
    micro.wait_for(1)
    assert micro.summary() == {"total": 1, "good": 1, "bad": 0}
    assert "Traceback" not in server.output()
