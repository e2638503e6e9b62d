"""Celery prefork with --max-tasks-per-child 1: each child's event arrives.

billiard's pool children leave through ``os._exit`` once their task limit is
reached; the library closes their emitters from Celery's
``worker_process_shutdown`` signal. A real worker (``celery worker --pool
prefork``) runs against a real redis-server; the test sends tasks by name
from a client app, waits for each result, then for the collector's count,
then stops the worker with SIGTERM (a warm shutdown) and waits for its exit.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from celery import Celery

from snowplow_logging.micro import MicroCollector
from tests.process.conftest import APPS, RedisServer, app_env, delivered

TASKS = 10


def test_prefork_children_recycled_after_each_task_deliver_everything(
    micro: MicroCollector, redis_server: RedisServer, tmp_path: Path
) -> None:
    """10 tasks, one child each: 10 task events and 10 events logged by the app's
    own shutdown receiver, from 10 processes."""
    env = app_env(micro.endpoint, REDIS_URL=redis_server.url)
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log_file:
        worker = subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "celery_app", "worker"),
                *("--pool", "prefork", "--concurrency", "1"),
                *("--max-tasks-per-child", "1", "--loglevel", "WARNING"),
                *("--without-heartbeat", "--without-gossip", "--without-mingle"),
            ],
            cwd=APPS,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        client = Celery("client", broker=redis_server.url, backend=redis_server.url)
        try:
            results = [
                client.send_task("celery_app.work", args=[n]) for n in range(TASKS)
            ]
            pids = {result.get(timeout=60) for result in results}
            micro.wait_for(2 * TASKS - 1, timeout=30)  # the last child still runs
        finally:
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(timeout=60)
            client.close()

    assert code == 0, log_path.read_text()
    assert len(pids) == TASKS  # one child per task: each left through os._exit
    assert delivered(micro) == (2 * TASKS, 2 * TASKS)
    by_kind: dict[str, set[str]] = {"task": set(), "child": set()}
    for event in micro.good():
        by_kind[event.payload["se_ca"]].add(event.payload["se_va"])
    assert by_kind == {"task": {str(p) for p in pids}, "child": {str(p) for p in pids}}
