"""The README's gunicorn and uvicorn recipes, served by the real servers.

Each recipe (the ```python block after its ``<!-- ...-recipe -->`` marker) is
written out as the module its first line names, with the placeholder collector
URL pointed at a :class:`MicroCollector`, and served as that line says, with
two workers: gunicorn ``--preload`` (the handler built before the fork) and
uvicorn ``--workers 2`` (spawned workers, stopped through SIGTERM, which skips
``atexit``: the middleware's lifespan shutdown delivers). Requests carry a user
agent and a user id; every event must arrive with them and the client's
address.
"""

from __future__ import annotations

import http.client
import re
import signal
import sys
from pathlib import Path

import pytest

from snowplow_logging.micro import MicroCollector
from tests.collector import free_port
from tests.process.conftest import REPO, Running, app_env, delivered

README = (REPO / "README.md").read_text(encoding="utf-8")
PLACEHOLDER = "https://collector.example.com"
REQUESTS = 6


def recipe(marker: str) -> tuple[str, str]:
    """The module name and code of the recipe after ``<!-- marker -->``."""
    found = re.search(
        rf"<!-- {marker} -->\n```python\n(.*?)^```", README, re.MULTILINE | re.DOTALL
    )
    assert found is not None, marker
    code = found.group(1)
    name = re.match(r"# (\w+)\.py: ", code)
    assert name is not None, code.splitlines()[0]
    return name.group(1), code


def wait_lines(server: Running, text: str, count: int, timeout: float = 60) -> None:
    """Block until ``count`` stderr lines contain ``text`` (fail at EOF or timeout)."""
    lines = server._lines["stderr"]

    def seen() -> int:
        return sum(text in line for line in lines)

    with server._cond:
        server._cond.wait_for(lambda: seen() >= count or server._open == 0, timeout)
        found = seen()
    if found < count:
        pytest.fail(f"{text!r} printed {found} times, not {count}:\n{server.stderr()}")


def get(port: int, n: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"User-Agent": f"agent/{n}", "X-User-Id": f"u-{n}"}
        connection.request("GET", "/", headers={"Connection": "close", **headers})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("marker", "command", "ready"),
    [
        (
            "gunicorn-recipe",
            ["-m", "gunicorn", "--workers", "2", "--preload", "--bind"],
            "Booting worker",
        ),
        (
            "uvicorn-recipe",
            ["-m", "uvicorn", "--workers", "2", "--no-proxy-headers", "--port"],
            "Application startup complete",
        ),
    ],
)
def test_recipe_served_by_two_workers_delivers_every_event(
    marker: str,
    command: list[str],
    ready: str,
    micro: MicroCollector,
    tmp_path: Path,
) -> None:
    """Six requests over two workers, then SIGTERM: six events, uid/ip/ua each."""
    module, code = recipe(marker)
    (tmp_path / f"{module}.py").write_text(code.replace(PLACEHOLDER, micro.endpoint))
    port = free_port()
    where = f"127.0.0.1:{port}" if "gunicorn" in command else str(port)
    server = Running(
        [sys.executable, *command, where, f"{module}:app"],
        env=app_env(micro.endpoint, PYTHONUNBUFFERED="1"),
        cwd=tmp_path,
        log=tmp_path / "server.log",
    )
    try:
        wait_lines(server, ready, 2)  # both workers are up
        statuses = [get(port, n) for n in range(REQUESTS)]
        server.process.send_signal(signal.SIGTERM)
        code_ = server.wait(timeout=60)
    finally:
        server.stop()

    assert statuses == [200] * REQUESTS
    assert code_ == 0, server.stderr()
    assert delivered(micro) == (REQUESTS, REQUESTS)
    fields = sorted(
        (e.payload["uid"], e.payload["ip"], e.payload["ua"]) for e in micro.good()
    )
    assert fields == sorted(
        (f"u-{n}", "127.0.0.1", f"agent/{n}") for n in range(REQUESTS)
    )
