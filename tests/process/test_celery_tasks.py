"""Task entities from a real prefork Celery worker, delivered when its child ends.

``celery worker --pool prefork`` against a real redis-server runs an app that
calls ``install_task_context()``; its tasks log events through SnowplowHandler
with an hour-long flush interval, so nothing leaves before the worker is
stopped (SIGTERM, a warm shutdown): the child's ``worker_process_shutdown``
close delivers them. Every event carries its own task's entity.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from celery import Celery

from snowplow_logging.celery import TASK_SCHEMA
from snowplow_logging.micro import MicroCollector
from tests.process.conftest import APPS, RedisServer, app_env, delivered

TASKS = 4


def test_prefork_events_carry_their_task_and_leave_at_child_shutdown(
    micro: MicroCollector, redis_server: RedisServer, tmp_path: Path
) -> None:
    """4 plain tasks and one retried once: 6 events, each with its run's entity."""
    env = app_env(micro.endpoint, REDIS_URL=redis_server.url)
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log_file:
        worker = subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "celery_tasks_app", "worker"),
                *("--pool", "prefork", "--concurrency", "1", "--loglevel", "WARNING"),
                *("--without-heartbeat", "--without-gossip", "--without-mingle"),
            ],
            cwd=APPS,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        client = Celery("client", broker=redis_server.url, backend=redis_server.url)
        try:
            plain = [
                client.send_task("celery_tasks_app.work", args=[n])
                for n in range(TASKS)
            ]
            retried = client.send_task("celery_tasks_app.flaky", args=[9])
            pids = {result.get(timeout=60) for result in [*plain, retried]}
            before_shutdown = micro.summary()["total"]
        finally:
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(timeout=60)
            client.close()

    assert code == 0, log_path.read_text()
    assert len(pids) == 1  # one child ran them all, and ended at the shutdown
    assert before_shutdown == 0  # the hour-long interval held them all
    assert delivered(micro) == (TASKS + 2, TASKS + 2)
    tasks = {}
    for event in micro.good():
        (entity,) = [e["data"] for e in event.entities if e["schema"] == TASK_SCHEMA]
        key = (
            event.payload["se_ca"],
            event.payload["se_ac"],
            event.payload.get("se_va"),
        )
        tasks[key] = entity
    for n, result in enumerate(plain):
        assert tasks["work", str(n), None] == {
            "name": "celery_tasks_app.work",
            "id": result.id,
            "retries": 0,
        }
    for retries in (0, 1):
        assert tasks["flaky", "9", str(retries)] == {
            "name": "celery_tasks_app.flaky",
            "id": retried.id,
            "retries": retries,
        }
