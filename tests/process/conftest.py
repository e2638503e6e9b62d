"""Process-model tests: real servers and workers in subprocesses, a real collector.

Each test runs an application under ``apps/`` in its own interpreter (or a
server that starts workers), logs events through ``SnowplowHandler`` and
counts the unique event ids (``eid``) that reached a :class:`MicroCollector`
in the test process. Waits are bounded and synchronised on process exit,
pipes or the collector's counts, never on sleeping.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from snowplow_logging.micro import MicroCollector
from tests.collector import free_port

APPS = Path(__file__).parent / "apps"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(name="micro")
def _micro() -> Iterator[MicroCollector]:
    with MicroCollector() as micro:
        yield micro


def app_env(url: str, **extra: str) -> dict[str, str]:
    """The environment of an app: the collector's URL and the repository on the path."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "SNOWPLOW_URL": url, "PYTHONPATH": path, **extra}


def run_app(
    script: str, *args: str, env: Mapping[str, str], timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run ``apps/<script>`` to completion with a bounded timeout."""
    return subprocess.run(
        [sys.executable, str(APPS / script), *args],
        capture_output=True,
        text=True,
        env=dict(env),
        timeout=timeout,
        cwd=REPO,
        check=False,
    )


def delivered(micro: MicroCollector) -> tuple[int, int]:
    """(unique event ids, good events) received; the two differ on duplicates."""
    good = micro.good()
    assert micro.bad() == []
    return len({event.payload["eid"] for event in good}), len(good)


class RedisServer:
    """A throw-away redis-server on 127.0.0.1 (no persistence), for Celery's broker."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process = subprocess.Popen(
            [
                "redis-server",
                *("--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(directory)),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._ready.wait(timeout=15):
            self.stop()
            pytest.fail("redis-server did not say it was ready within 15 s")

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:  # drains it, so the server never blocks
            if "Ready to accept connections" in line:
                self._ready.set()

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)
        self._reader.join(timeout=10)
        if self._process.stdout is not None:
            self._process.stdout.close()


@pytest.fixture(name="redis_server", scope="module")
def _redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()
