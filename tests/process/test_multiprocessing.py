"""multiprocessing children leave through os._exit: their events still arrive.

Pool (closed and joined, or left by ``with``, which terminates the workers),
ProcessPoolExecutor and Process, under each start method. Every child logs
its events and ends; the app exits only after all children did, so the
collector has seen everything by then: no waiting on the collector.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from snowplow_logging.micro import MicroCollector
from tests.collector import free_port
from tests.process.conftest import app_env, delivered, run_app

MODELS = ["pool", "pool_with", "executor", "process"]
METHODS = ["fork", "forkserver", "spawn"]
EVENTS = 21


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("model", MODELS)
def test_every_event_logged_in_a_child_arrives(
    micro: MicroCollector, model: str, method: str
) -> None:
    """21 tasks, one event each: 21 unique event ids at the collector, no more."""
    result = run_app("mp_app.py", model, method, env=app_env(micro.endpoint))

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"logged": EVENTS}
    assert delivered(micro) == (EVENTS, EVENTS), result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize("method", METHODS)
def test_terminate_does_not_wait_for_a_busy_worker(
    micro: MicroCollector, method: str
) -> None:
    """``with Pool()`` left while a task computes for a minute: its worker closes
    (on a thread of its own) and ends at once; both tasks' events arrive."""
    result = run_app("mp_app.py", "pool_busy", method, env=app_env(micro.endpoint))

    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[-1] == {"logged": 2}
    assert lines[0]["left_after"] < 20.0  # not the task's 60 s
    assert delivered(micro) == (2, 2), result.stderr


@pytest.mark.parametrize("model", ["pool", "pool_with", "process"])
def test_collector_down_in_children_is_bounded_and_counted(model: str) -> None:
    """Nothing can be sent: each child gives up at the exit deadline and says how
    many events it dropped; the counts add up to every event logged."""
    env = app_env(f"http://127.0.0.1:{free_port()}", SNOWPLOW_EXIT_TIMEOUT="0.5")
    started = time.monotonic()
    result = run_app("mp_app.py", model, "fork", env=env)
    elapsed = time.monotonic() - started

    assert result.returncode == 0, result.stderr
    dropped = re.findall(r"(\d+) events? could not be delivered", result.stderr)
    assert sum(int(n) for n in dropped) == EVENTS, result.stderr
    assert len(dropped) <= 3  # at most one report per worker
    assert elapsed < 0.5 + 10.0  # one deadline per child, in parallel, plus start-up
