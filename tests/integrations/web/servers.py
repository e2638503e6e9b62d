"""Real web servers for the middleware tests, and what their events say at the collector.

A :class:`Server` runs a command (gunicorn, uvicorn) from ``apps/`` on a free
port of 127.0.0.1, with ``$SNOWPLOW_URL`` pointing at a :class:`MicroCollector`
of the test process, and is ready once ``GET /health`` answers 200: polled
with a bounded deadline, failing at once if the process exits. Requests come
from 127.0.0.1, the trusted proxy of every app, or from 127.0.0.2, a peer no
app trusts (Linux routes all of 127.0.0.0/8 to the loopback interface).

Each app logs one tagged ``StructuredEvent(category=<app>, action=<label>)``
per request (``/event/<label>``), and flushes its handler on ``GET /flush``,
answering the middleware's ``stats`` as JSON; a test then waits for the exact
count at the collector.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any, Self

import pytest

from snowplow_logging.micro import GoodEvent, MicroCollector
from tests.collector import free_port

APPS = Path(__file__).parent / "apps"
REPO = Path(__file__).resolve().parents[3]
TRUSTED = "127.0.0.1"
"""The address every app trusts as its proxy."""
UNTRUSTED = "127.0.0.2"
"""A peer no app trusts."""
HOSTILE: dict[str, str | bytes] = {
    # 5,012 characters in UTF-8; 7,012 bytes, within gunicorn's 8,190 per header
    "User-Agent": ("Mozilla/5.0 " + "\u00e9" * 2000 + "x" * 3000).encode(),
    "X-Forwarded-For": "garbage, , ::::, 999.1.1.1, [::1, " + "1" * 3000,
    "Forwarded": 'for="_hidden";by=x, for=unknown;;;,,',
    "Accept-Language": "*;q=0,,;;" + "x" * 300,
    "Referer": "http://\xff\xfe/" + "r" * 5000,  # invalid UTF-8
    "X-User": "u" * 300,
}
"""Headers no pipeline would take as they are (text is sent as Latin-1: the
Referer is invalid UTF-8)."""


class Server:
    """A server process on ``127.0.0.1:<port>``; a context manager that stops it."""

    def __init__(
        self, command: Sequence[str], *, micro: MicroCollector, log: Path, **env: str
    ) -> None:
        self.port = free_port()
        self.command = [part.format(port=self.port) for part in command]
        path = os.pathsep.join(
            p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p
        )
        self.env = {
            **os.environ,
            "SNOWPLOW_URL": micro.endpoint,
            "PYTHONPATH": path,
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.log = log
        self._log: IO[str] | None = None
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> Self:
        self._log = self.log.open("w")
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
            cwd=REPO,
        )
        self._wait_ready(timeout=30.0)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def _wait_ready(self, *, timeout: float) -> None:
        """Poll ``/health`` until it answers 200, the process exits or time is up."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"{self.command[:3]} exited:\n{self.output()}")
            try:
                if get(self.port, "/health", timeout=2.0)[0] == 200:
                    return
            except OSError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"no answer within {timeout} s:\n{self.output()}")
            time.sleep(0.05)  # a bounded poll: the process is starting

    def stop(self) -> int | None:
        """SIGTERM (a graceful stop), at most 15 s, then kill; the exit code."""
        process, self.process = self.process, None
        code = None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def get(
        self,
        path: str,
        headers: Mapping[str, str | bytes] | None = None,
        *,
        source: str = TRUSTED,
    ) -> tuple[int, bytes]:
        return get(self.port, path, headers, source=source)

    def flush(self, micro: MicroCollector, count: int) -> dict[str, Any]:
        """Flush the app's handler, wait for ``count`` events; the middleware's stats."""
        status, body = self.get("/flush")
        assert status == 200, body
        micro.wait_for(count, timeout=10)
        assert micro.bad() == [], [event.errors for event in micro.bad()]
        stats: dict[str, Any] = json.loads(body)
        return stats


def get(
    port: int,
    path: str,
    headers: Mapping[str, str | bytes] | None = None,
    *,
    source: str = TRUSTED,
    timeout: float = 10.0,
) -> tuple[int, bytes]:
    """One GET on its own connection from ``source``: (status, body)."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=timeout, source_address=(source, 0)
    )
    try:
        connection.request(
            "GET", path, headers={"Connection": "close", **(headers or {})}
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def concurrently(
    server: Server, requests: Sequence[tuple[str, Mapping[str, str | bytes], str]]
) -> list[int]:
    """Send ``(path, headers, source)`` requests all at once; their statuses."""
    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        futures = [
            pool.submit(server.get, path, headers, source=source)
            for path, headers, source in requests
        ]
        return [future.result()[0] for future in futures]


def by_action(micro: MicroCollector) -> dict[str, GoodEvent]:
    """The good events of the apps' structured events, by action (the request's label)."""
    events: dict[str, GoodEvent] = {}
    for event in micro.good(event_type="struct"):
        action = event.payload["se_ac"]
        assert action not in events, f"two events labelled {action!r}"
        events[action] = event
    return events


def subject(event: GoodEvent) -> dict[str, str | None]:
    """The subject fields the middlewares set: uid, ip, ua, lang."""
    return {key: event.payload.get(key) for key in ("uid", "ip", "ua", "lang")}


def browser(user: str, *, lang: str = "en-GB", **extra: str) -> dict[str, str]:
    """A browser's headers for ``user`` (its own user agent), plus ``extra``."""
    return {
        "User-Agent": f"agent-of-{user}",
        "Accept-Language": f"{lang},en;q=0.8",
        "X-User": user,
        **extra,
    }
