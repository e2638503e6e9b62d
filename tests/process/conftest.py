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
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

import pytest

from snowplow_logging.micro import MicroCollector
from tests.collector import blackhole, free_port

APPS = Path(__file__).parent / "apps"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(name="blackhole_url")
def _blackhole_url() -> Iterator[str]:
    """A collector URL whose socket listens but never accepts: requests hang."""
    with blackhole() as url:
        yield url


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


class Running:
    """A process started in the background, its stdout and stderr read on threads.

    Lines are kept (stderr also written to ``log`` for failure messages) and
    waited for on a condition, with a bound.
    """

    def __init__(
        self, args: Sequence[str], *, env: Mapping[str, str], cwd: Path, log: Path
    ) -> None:
        self._log = log.open("w")
        self.process = subprocess.Popen(
            list(args),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(env),
            cwd=cwd,
        )
        self._cond = threading.Condition()
        self._lines: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._open = 2
        self._readers = [
            threading.Thread(target=self._read, args=(name, pipe), daemon=True)
            for name, pipe in (
                ("stdout", self.process.stdout),
                ("stderr", self.process.stderr),
            )
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, name: str, pipe: IO[str] | None) -> None:
        assert pipe is not None
        for line in pipe:
            with self._cond:
                self._lines[name].append(line.rstrip("\n"))
                if name == "stderr":
                    self._log.write(line)
                    self._log.flush()
                self._cond.notify_all()
        with self._cond:
            self._open -= 1
            self._cond.notify_all()

    def wait_line(
        self, expected: str, *, stream: str = "stdout", timeout: float = 30.0
    ) -> None:
        """Block until a line of ``stream`` contains ``expected`` (fail at EOF)."""
        lines = self._lines[stream]
        with self._cond:
            found = self._cond.wait_for(
                lambda: any(expected in line for line in lines) or self._open == 0,
                timeout,
            )
            seen = any(expected in line for line in lines)
        if not seen:
            why = "exited" if found else f"not within {timeout} s"
            pytest.fail(f"{expected!r} never printed ({why}):\n{self.stderr()}")

    def wait(self, *, timeout: float = 30.0) -> int:
        """The exit code (negative: killed by that signal), waiting at most ``timeout``."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            pytest.fail(f"still running after {timeout} s:\n{self.stderr()}")
        for reader in self._readers:
            reader.join(timeout=10)
        return code

    def close_stdin(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()

    def stop(self) -> None:
        """Kill it if it still runs and release its pipes (for finally blocks)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        for reader in self._readers:
            reader.join(timeout=10)
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()
        self._log.close()

    def stderr(self) -> str:
        with self._cond:
            return "\n".join(self._lines["stderr"])


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
