"""snowplow_logging.bind: subject fields and entities bound to the current context."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import re
import threading
from collections.abc import Iterator

import pytest

from snowplow_logging import (
    ConfigurationTypeError,
    SelfDescribingJson,
    SnowplowHandler,
    StructuredEvent,
    Subject,
    Tracker,
    bind,
)
from snowplow_logging._context import bound
from snowplow_logging.testing import CapturingEmitter

SCHEMA = "iglu:com.acme/request/jsonschema/1-0-0"
EVENT = StructuredEvent(category="c", action="a")


def _entity(name: str) -> SelfDescribingJson:
    return SelfDescribingJson(schema=SCHEMA, data={"name": name})


@pytest.fixture(name="emitter")
def _emitter() -> CapturingEmitter:
    return CapturingEmitter()


@pytest.fixture(name="tracker")
def _tracker(emitter: CapturingEmitter) -> Tracker:
    return Tracker(
        emitters=emitter,
        subject=Subject(user_id="default", lang="en"),
        encode_base64=False,
    )


def _entity_names(payload: dict[str, str]) -> list[str]:
    if "co" not in payload:
        return []
    return [e["data"]["name"] for e in json.loads(payload["co"])["data"]]


class TestBind:
    def test_subject_and_entities_on_every_event_in_the_block(
        self, tracker: Tracker, emitter: CapturingEmitter
    ) -> None:
        with bind(
            subject=Subject(user_id="u1", ip_address="10.0.0.1"), context=[_entity("r")]
        ):
            tracker.track(EVENT)
            tracker.submit(EVENT)
        tracker.track(EVENT)

        first, second, after = emitter.payloads
        for payload in (first, second):
            assert (payload["uid"], payload["ip"], payload["lang"]) == (
                "u1",
                "10.0.0.1",
                "en",
            )
            assert _entity_names(payload) == ["r"]
        assert (after["uid"], "ip" in after, _entity_names(after)) == (
            "default",
            False,
            [],
        )

    def test_nested_bindings_override_field_by_field_and_add_entities(
        self, tracker: Tracker, emitter: CapturingEmitter
    ) -> None:
        with bind(
            subject=Subject(user_id="outer", useragent="ua"), context=[_entity("a")]
        ):
            with bind(subject=Subject(user_id="inner"), context=[_entity("b")]):
                tracker.track(EVENT)
            tracker.track(EVENT)

        inner, outer = emitter.payloads
        assert (inner["uid"], inner["ua"], _entity_names(inner)) == (
            "inner",
            "ua",
            ["a", "b"],
        )
        assert (outer["uid"], _entity_names(outer)) == ("outer", ["a"])

    def test_event_subject_and_own_entities_win_field_by_field(
        self, tracker: Tracker, emitter: CapturingEmitter
    ) -> None:
        event = StructuredEvent(
            category="c",
            action="a",
            event_subject=Subject(user_id="event"),
            context=[_entity("own")],
        )
        with bind(
            subject=Subject(user_id="bound", ip_address="10.0.0.2"),
            context=[_entity("b")],
        ):
            tracker.track(event)

        (payload,) = emitter.payloads
        assert (payload["uid"], payload["ip"]) == ("event", "10.0.0.2")
        assert _entity_names(payload) == ["own", "b"]

    def test_token_style_reset(
        self, tracker: Tracker, emitter: CapturingEmitter
    ) -> None:
        binding = bind(subject=Subject(user_id="u"))
        tracker.track(EVENT)
        binding.reset()
        binding.reset()  # idempotent
        tracker.track(EVENT)

        assert [p["uid"] for p in emitter.payloads] == ["u", "default"]

    def test_asyncio_tasks_keep_their_own_binding(
        self, tracker: Tracker, emitter: CapturingEmitter
    ) -> None:
        async def request(user: str, started: asyncio.Event, go: asyncio.Event) -> None:
            with bind(subject=Subject(user_id=user)):
                started.set()
                await go.wait()  # the other request binds meanwhile
                tracker.track(EVENT)

        async def main() -> None:
            go = asyncio.Event()
            a, b = asyncio.Event(), asyncio.Event()
            tasks = [
                asyncio.create_task(request("a", a, go)),
                asyncio.create_task(request("b", b, go)),
            ]
            await a.wait()
            await b.wait()
            go.set()
            await asyncio.gather(*tasks)

        asyncio.run(main())

        assert sorted(p["uid"] for p in emitter.payloads) == ["a", "b"]

    def test_threads_see_it_through_copy_context(
        self, tracker: Tracker, emitter: CapturingEmitter
    ) -> None:
        with bind(subject=Subject(user_id="parent")):
            copied = contextvars.copy_context()
            plain = threading.Thread(target=tracker.track, args=(EVENT,))
            inherited = threading.Thread(target=copied.run, args=(tracker.track, EVENT))
            plain.start()
            plain.join()
            inherited.start()
            inherited.join()

        assert [p["uid"] for p in emitter.payloads] == ["default", "parent"]

    def test_through_the_logging_handler(self, emitter: CapturingEmitter) -> None:
        handler = SnowplowHandler(tracker=Tracker(emitters=emitter))
        log = logging.getLogger("tests.core.test_context")
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
        try:
            with bind(subject=Subject(user_id="h"), context=[_entity("req")]):
                log.info("x", extra={"snowplow": EVENT})
        finally:
            log.removeHandler(handler)

        (payload,) = emitter.payloads
        assert payload["uid"] == "h"
        assert "cx" in payload or "co" in payload

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"subject": {"user_id": "u"}}, "'subject' must be a Subject"),
            ({"context": _entity("x")}, "'context' must be a sequence"),
            ({"context": ["x"]}, "'context[0]' must be a SelfDescribingJson"),
        ],
    )
    def test_programmer_mistakes_raise(
        self, kwargs: dict[str, object], message: str
    ) -> None:
        with pytest.raises(ConfigurationTypeError, match=re.escape(message)):
            bind(**kwargs)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _nothing_bound() -> Iterator[None]:
    assert bound() is None
    yield
    assert bound() is None
