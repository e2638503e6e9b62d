"""install_task_context: the celery_task entity on events tracked inside a task.

Eagerly run tasks (``task_always_eager``: the same tracer, signals included)
and a real in-process worker with a threads pool, two tasks at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from celery import Celery, Task
from celery.contrib.testing.worker import start_worker

from snowplow_logging import (
    SelfDescribingJson,
    StructuredEvent,
    Tracker,
    _celery_tasks,
    bind,
)
from snowplow_logging.celery import TASK_SCHEMA, install_task_context, task_stats
from snowplow_logging.testing import CapturingEmitter, decode_entities

OUTER = SelfDescribingJson(
    schema="iglu:com.acme/request/jsonschema/1-0-0", data={"n": 1}
)


@pytest.fixture(name="emitter")
def _emitter() -> CapturingEmitter:
    return CapturingEmitter()


@pytest.fixture(name="tracker")
def _tracker(emitter: CapturingEmitter) -> Iterator[Tracker]:
    install_task_context()
    install_task_context()  # twice: still one entity per event
    with Tracker(emitters=emitter) as tracker:
        yield tracker


def _tasks(payload: dict[str, str]) -> list[object]:
    return [e["data"] for e in decode_entities(payload) if e["schema"] == TASK_SCHEMA]


def _schemas(payload: dict[str, str]) -> list[object]:
    return [e["schema"] for e in decode_entities(payload)]


def test_eager_task_events_carry_the_task(
    tracker: Tracker, emitter: CapturingEmitter
) -> None:
    """Inside the task: the entity after the outer binding's; after it: the outer only."""
    app = Celery("eager", set_as_current=False)
    app.conf.task_always_eager = True

    @app.task(name="shop.charge")
    def charge(order: str) -> None:
        tracker.track(StructuredEvent(category="shop", action="charge", label=order))

    before = task_stats()["tasks"]
    with bind(context=[OUTER]):
        result = charge.delay("o-1")
        tracker.track(StructuredEvent(category="shop", action="after"))
    tracker.track(StructuredEvent(category="shop", action="outside"))

    inside, after, outside = emitter.payloads
    assert _tasks(inside) == [{"name": "shop.charge", "id": result.id, "retries": 0}]
    assert _schemas(inside) == [OUTER.schema, TASK_SCHEMA]
    assert _schemas(after) == [OUTER.schema]
    assert _schemas(outside) == []
    assert task_stats()["tasks"] == before + 1
    assert _celery_tasks._BINDINGS == {}


def test_eager_retries_count_up_and_unwind(
    tracker: Tracker, emitter: CapturingEmitter
) -> None:
    """An eager retry runs inside the first run: each run has its own count."""
    app = Celery("retries", set_as_current=False)
    app.conf.task_always_eager = True

    @app.task(name="shop.flaky", bind=True, max_retries=2)
    def flaky(self: Task) -> str:  # type: ignore[type-arg]
        tracker.track(StructuredEvent(category="shop", action="try"))
        if self.request.retries < 2:
            raise self.retry(countdown=0)
        tracker.track(StructuredEvent(category="shop", action="done"))
        return "ok"

    result = flaky.delay()
    tracker.track(StructuredEvent(category="shop", action="outside"))

    assert result.get() == "ok"
    seen = [_tasks(p) for p in emitter.payloads]
    assert [t[0]["retries"] if t else None for t in seen] == [0, 1, 2, 2, None]  # type: ignore[index]
    assert all(len(t) <= 1 for t in seen)
    assert _celery_tasks._BINDINGS == {}


def test_a_threads_pool_runs_two_tasks_at_once_each_with_its_own(
    tracker: Tracker, emitter: CapturingEmitter
) -> None:
    """Two tasks on two worker threads, both inside at the same time (a barrier)."""
    app = Celery(
        "threads", broker="memory://", backend="cache+memory://", set_as_current=False
    )
    app.conf.broker_transport_options = {"polling_interval": 0.01}
    both_inside = threading.Barrier(2, timeout=30)

    @app.task(name="shop.pair")
    def pair(n: int) -> None:
        both_inside.wait()
        tracker.track(StructuredEvent(category="shop", action="pair", value=n))
        both_inside.wait()

    with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False):
        results = [pair.delay(n) for n in range(2)]
        for result in results:
            result.get(timeout=30)

    by_value = {p["se_va"]: _tasks(p) for p in emitter.payloads}
    assert by_value == {
        str(n): [{"name": "shop.pair", "id": results[n].id, "retries": 0}]
        for n in range(2)
    }


def test_odd_task_objects_still_give_an_entity() -> None:
    """No name, a non-int retries: the entity is still valid-shaped."""

    class Odd:
        request = type("Request", (), {"retries": "many"})()

    entity = _celery_tasks.task_entity(Odd(), "x" * 300)

    assert entity.data == {"name": "None", "id": "x" * 255, "retries": 0}
