"""Servers stopped the way their supervisors stop them: every event arrives.

FastAPI under a real uvicorn, stopped with SIGTERM (uvicorn shuts down
gracefully, then raises SIGTERM again at the default action, so ``atexit``
never runs): with ``SnowplowLifespan`` wrapping the app, or with
``install_sigterm_handler()`` before ``uvicorn.run()``. gunicorn with
``--preload`` and ``--max-requests`` recycling its sync workers (they end
through ``sys.exit``, so the exit flush runs), then stopped with SIGTERM.
Each test waits for the server to say it is up, sends requests one
connection each, signals it and waits for its exit.
"""

from __future__ import annotations

import http.client
import signal
import sys
from pathlib import Path

import pytest

from snowplow_logging.micro import MicroCollector
from tests.collector import free_port
from tests.process.conftest import APPS, Running, app_env, delivered

REQUESTS = 5


def get(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


class TestUvicorn:
    """Five requests, one event each, and one event in the lifespan shutdown."""

    def serve(
        self, micro: MicroCollector, tmp_path: Path, command: list[str], **env: str
    ) -> tuple[int, str]:
        server = Running(
            command,
            env=app_env(micro.endpoint, PYTHONUNBUFFERED="1", **env),
            cwd=APPS,
            log=tmp_path / "server.log",
        )
        try:
            server.wait_line("Uvicorn running on", stream="stderr")
            statuses = [get(self.port, f"/event/{n}") for n in range(REQUESTS)]
            server.process.send_signal(signal.SIGTERM)
            code = server.wait()
        finally:
            server.stop()
        assert statuses == [200] * REQUESTS
        return code, server.stderr()

    @pytest.fixture(autouse=True)
    def _port(self) -> None:
        self.port = free_port()

    def test_lifespan_wrapper(self, micro: MicroCollector, tmp_path: Path) -> None:
        """``uvicorn asgi_app:app`` with the app wrapped in SnowplowLifespan."""
        command = [
            *(sys.executable, "-m", "uvicorn", "asgi_app:app"),
            *("--host", "127.0.0.1", "--port", str(self.port)),
        ]
        code, stderr = self.serve(micro, tmp_path, command, SNOWPLOW_LIFESPAN="1")

        assert code == -signal.SIGTERM, stderr
        assert delivered(micro) == (REQUESTS + 1, REQUESTS + 1)

    def test_sigterm_handler_before_uvicorn_run(
        self, micro: MicroCollector, tmp_path: Path
    ) -> None:
        """install_sigterm_handler(), then uvicorn.run(): uvicorn chains to it."""
        command = [sys.executable, "uvicorn_run.py", str(self.port)]
        code, stderr = self.serve(micro, tmp_path, command)

        assert code == -signal.SIGTERM, stderr
        assert delivered(micro) == (REQUESTS + 1, REQUESTS + 1)


def test_gunicorn_preload_recycled_workers(
    micro: MicroCollector, tmp_path: Path
) -> None:
    """Two sync workers replaced every 3 requests, then a graceful stop."""
    port = free_port()
    requests = 12
    server = Running(
        [
            *(sys.executable, "-m", "gunicorn", "--preload", "--workers", "2"),
            *("--max-requests", "3", "--bind", f"127.0.0.1:{port}"),
            *("--graceful-timeout", "10", "wsgi_app:app"),
        ],
        env=app_env(micro.endpoint),
        cwd=APPS,
        log=tmp_path / "server.log",
    )
    try:
        server.wait_line("Booting worker with pid", stream="stderr")
        statuses = [get(port, f"/event/{n}") for n in range(requests)]
        server.process.send_signal(signal.SIGTERM)
        code = server.wait()
    finally:
        server.stop()

    assert statuses == [200] * requests
    assert code == 0, server.stderr()
    assert server.stderr().count("Autorestarting worker") >= 2  # recycled
    assert delivered(micro) == (requests, requests)
