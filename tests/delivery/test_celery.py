"""CeleryEmitter: batches as Celery tasks, run eagerly or by a real in-process worker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker

from snowplow_logging import (
    ConfigurationError,
    ConfigurationTypeError,
    Retry,
    StructuredEvent,
    Tracker,
)
from snowplow_logging.celery import TASK_NAME, CeleryEmitter
from snowplow_logging.micro import MicroCollector
from tests.collector import free_port


@pytest.fixture(name="micro")
def _micro() -> Iterator[MicroCollector]:
    with MicroCollector() as micro:
        yield micro


def _identity(stats: dict[str, int]) -> bool:
    return stats["inputs"] == (
        stats["sent"] + stats["failed"] + stats["dropped"] + stats["queued"]
    )


def _track(emitter: CeleryEmitter, count: int) -> None:
    tracker = Tracker(emitters=emitter, app_id="celery")
    for n in range(count):
        tracker.track(StructuredEvent(category="c", action="a", value=n))


class TestCeleryEmitter:
    """Each batch becomes one task that delivers it with an Emitter."""

    def test_eager_mode_delivers_through_the_task(self, micro: MicroCollector) -> None:
        """With task_always_eager the task runs at once; events arrive valid."""
        app = Celery("eager", set_as_current=False)
        app.conf.task_always_eager = True
        with CeleryEmitter(app, endpoint=micro.endpoint, batch_size=40) as emitter:
            _track(emitter, 100)
            flushed = emitter.flush(timeout=10)
            stats = emitter.stats

        assert flushed
        assert micro.summary() == {"total": 100, "good": 100, "bad": 0}
        assert (stats["sent"], stats["requests"]) == (100, 3)
        assert _identity(stats)

    def test_real_worker_consumes_the_named_queue(self, micro: MicroCollector) -> None:
        """A Celery worker on the memory broker runs the tasks sent to `queue`."""
        app = Celery("real", broker="memory://", set_as_current=False)
        app.conf.broker_transport_options = {"polling_interval": 0.01}
        with (
            start_worker(
                app, pool="solo", perform_ping_check=False, queues=["snowplow"]
            ),
            CeleryEmitter(app, endpoint=micro.endpoint, queue="snowplow") as emitter,
        ):
            _track(emitter, 30)
            emitter.flush(timeout=10)
            micro.wait_for(30, timeout=10)

        assert micro.summary() == {"total": 30, "good": 30, "bad": 0}
        assert TASK_NAME in app.tasks

    def test_broker_down_bounds_memory_and_counts(self) -> None:
        """Broker unreachable: max_queue holds, close gives up, all counted."""
        app = Celery(
            "down", broker=f"redis://127.0.0.1:{free_port()}/0", set_as_current=False
        )
        app.conf.broker_connection_retry = False
        app.conf.task_publish_retry = False
        emitter = CeleryEmitter(
            app,
            endpoint="http://127.0.0.1:1",
            max_queue=5,
            retry=Retry(initial_delay=0.02, max_delay=0.1, jitter=0.0),
        )
        for _ in range(8):
            emitter.input({"e": "pv", "eid": "x"})
        closed = emitter.close(timeout=0.3)
        stats = emitter.stats

        assert not closed
        assert (stats["dropped_queue_full"], stats["dropped_unsent"]) == (3, 5)
        assert _identity(stats)

    @pytest.mark.parametrize(
        ("kwargs", "error", "message"),
        [
            ({"app": 3}, ConfigurationTypeError, "'app' must be a celery.Celery"),
            ({"queue": ""}, ConfigurationTypeError, "'queue' must be a non-empty"),
            ({"method": "put"}, ConfigurationError, "'method' must be"),
            ({"endpoint": ""}, ConfigurationError, "endpoint"),
            ({"batch_size": 0}, ConfigurationError, "'batch_size' must be > 0"),
        ],
    )
    def test_bad_settings_name_the_setting(
        self, kwargs: dict[str, object], error: type[Exception], message: str
    ) -> None:
        """Each bad setting fails at construction with its name in the message."""
        arguments: dict[str, object] = {
            "app": Celery("bad", set_as_current=False),
            "endpoint": "http://127.0.0.1:1",
            **kwargs,
        }

        with pytest.raises(error, match=message):
            CeleryEmitter(**arguments)  # type: ignore[arg-type]
