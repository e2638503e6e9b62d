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
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from snowplow_logging.micro import MicroCollector

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
