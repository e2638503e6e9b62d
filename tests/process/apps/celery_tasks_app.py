"""A Celery app with task entities: each task logs an event; one retries once.

The broker and result backend are $REDIS_URL, the collector $SNOWPLOW_URL. The
handler's flush interval is an hour: what the prefork child logs leaves only
when it closes its emitters on ``worker_process_shutdown``.
"""

from __future__ import annotations

import logging
import os

from celery import Celery, Task

from snowplow_logging import SnowplowHandler, StructuredEvent
from snowplow_logging.celery import install_task_context

app = Celery(
    "celery_tasks_app",
    broker=os.environ["REDIS_URL"],
    backend=os.environ["REDIS_URL"],
)
app.conf.worker_hijack_root_logger = False
app.conf.broker_connection_retry_on_startup = True
install_task_context()

log = logging.getLogger("celery_tasks_app.tasks")
log.addHandler(
    SnowplowHandler(
        endpoint=os.environ["SNOWPLOW_URL"], app_id="celery", flush_interval=3600
    )
)
log.setLevel(logging.INFO)
log.propagate = False


@app.task(name="celery_tasks_app.work")
def work(n: int) -> int:
    log.info(
        "work", extra={"snowplow": StructuredEvent(category="work", action=str(n))}
    )
    return os.getpid()


@app.task(name="celery_tasks_app.flaky", bind=True, max_retries=2)
def flaky(self: Task, n: int) -> int:  # type: ignore[type-arg]
    retries = self.request.retries
    event = StructuredEvent(category="flaky", action=str(n), value=retries)
    log.info("flaky", extra={"snowplow": event})
    if retries == 0:
        raise self.retry(countdown=0)
    return os.getpid()
