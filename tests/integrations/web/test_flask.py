"""Flask behind the WSGI middleware, under gunicorn (sync and gthread workers)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from snowplow_logging.micro import MicroCollector
from tests.integrations.web.checks import ServerChecks
from tests.integrations.web.servers import Server

GUNICORN = [sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:{port}"]
APP = "tests.integrations.web.apps.flask_app:app"


class TestSyncWorker(ServerChecks):
    """One sync worker: a request at a time."""

    overlapping = False

    @pytest.fixture(name="server", scope="class")
    @classmethod
    def _server(
        cls, micro: MicroCollector, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[Server]:
        log = tmp_path_factory.mktemp("flask-sync") / "server.log"
        with Server([*GUNICORN, "--workers", "1", APP], micro=micro, log=log) as server:
            yield server


class TestThreadedWorker(ServerChecks):
    """One gthread worker with 8 threads: requests in the app at the same time."""

    @pytest.fixture(name="server", scope="class")
    @classmethod
    def _server(
        cls, micro: MicroCollector, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[Server]:
        log = tmp_path_factory.mktemp("flask-gthread") / "server.log"
        command = [*GUNICORN, "--worker-class", "gthread", "--threads", "8", APP]
        with Server(command, micro=micro, log=log) as server:
            yield server
