"""A Celery app whose task logs one Snowplow event: run by a prefork worker.

The broker and result backend are $REDIS_URL, the collector $SNOWPLOW_URL.
Logging is set up at import, in the worker's main process, so its prefork
children (billiard, leaving through ``os._exit``) inherit the handler. Each
task logs one event, and so does each child as it ends, from the app's own
``worker_process_shutdown`` receiver.
"""

from __future__ import annotations

import logging
import os

from celery import Celery
from celery.signals import worker_process_shutdown

from snowplow_logging import SnowplowHandler, StructuredEvent

app = Celery(
    "celery_app", broker=os.environ["REDIS_URL"], backend=os.environ["REDIS_URL"]
)
app.conf.worker_hijack_root_logger = False
app.conf.broker_connection_retry_on_startup = True

log = logging.getLogger("celery_app.tasks")
log.addHandler(SnowplowHandler(endpoint=os.environ["SNOWPLOW_URL"], app_id="celery"))
log.setLevel(logging.INFO)
log.propagate = False


@app.task(name="celery_app.work")
def work(n: int) -> int:
    event = StructuredEvent(category="task", action=f"task-{n}", value=os.getpid())
    log.info("task %d", n, extra={"snowplow": event})
    return os.getpid()


@worker_process_shutdown.connect
def say_goodbye(**_: object) -> None:
    """The app's own shutdown receiver, connected after the library's import."""
    event = StructuredEvent(category="child", action="exit", value=os.getpid())
    log.info("child exit", extra={"snowplow": event})
