"""Bad input through the public API: refused when built, or a valid payload; never raised at log time.

Complements ``test_properties.py`` (event fields) with subjects, whatever a log
record's tag may hold, and whatever a structlog event dict may hold.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snowplow_logging import (
    PageView,
    SelfDescribingJson,
    SnowplowHandler,
    SnowplowLoggingError,
    StructuredEvent,
    Subject,
    Tracker,
)
from snowplow_logging.micro import IgluResolver, check_payload
from snowplow_logging.structlog import SnowplowProcessor
from snowplow_logging.testing import CapturingEmitter
from tests.conftest import TEST_SCHEMAS

RESOLVER = IgluResolver([TEST_SCHEMAS])
CART = "iglu:com.acme/cart/jsonschema/1-0-0"
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)

any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=20)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    any_text,
    st.binary(max_size=8),
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(any_text, children, max_size=3)
    ),
    max_leaves=8,
)


def _built(factory: Callable[[], object]) -> object:
    """The object, or the error it was refused with (a clear, library error)."""
    try:
        return factory()
    except SnowplowLoggingError as exc:
        refused = exc
    message = str(refused)
    assert "(got" in message or "JSON" in message or "surrogate" in message, message
    return refused


@st.composite
def _events(draw: st.DrawFn) -> object:
    category, action = draw(any_text), draw(any_text)
    return _built(lambda: StructuredEvent(category=category, action=action))


@st.composite
def _self_describing(draw: st.DrawFn) -> object:
    schema = draw(st.sampled_from([CART, "iglu:com.acme/cart/jsonschema/1-0", "x"]))
    data = draw(json_values)
    return _built(lambda: SelfDescribingJson(schema=schema, data=data))  # type: ignore[arg-type]


single_tags = st.one_of(
    scalars,
    _events(),
    _self_describing(),
    st.fixed_dictionaries(
        {"schema": st.sampled_from([CART, "nope"]), "data": json_values}
    ),
    st.dictionaries(any_text, json_values, max_size=3),
)
tags = st.one_of(single_tags, st.lists(single_tags, max_size=3))


def _assert_payloads_valid(emitter: CapturingEmitter) -> None:
    for payload in emitter.payloads:
        assert all(isinstance(value, str) for value in payload.values())
        checked = check_payload(payload, RESOLVER)
        assert checked.errors == [], (payload, checked.errors)


@pytest.fixture(name="raise_exceptions", params=[False, True])
def _raise_exceptions(request: pytest.FixtureRequest) -> Iterator[bool]:
    saved = logging.raiseExceptions
    logging.raiseExceptions = request.param
    yield request.param
    logging.raiseExceptions = saved


class TestSubjects:
    """Any subject fields are refused when built or sent valid."""

    @FUZZ
    @given(
        values=st.fixed_dictionaries(
            {},
            optional={
                "platform": st.one_of(st.sampled_from(["srv", "web", "mob"]), any_text),
                "user_id": any_text,
                "screen_resolution": st.one_of(
                    st.tuples(st.integers(), st.integers()), scalars
                ),
                "viewport": st.one_of(st.tuples(st.integers(), st.integers()), scalars),
                "color_depth": st.one_of(st.integers(), any_text, scalars),
                "timezone": any_text,
                "lang": any_text,
                "ip_address": any_text,
                "useragent": any_text,
                "domain_user_id": any_text,
                "domain_session_id": st.one_of(
                    st.uuids(), st.uuids().map(str), any_text
                ),
                "domain_session_index": st.one_of(st.integers(), scalars),
                "network_user_id": any_text,
            },
        )
    )
    def test_subject_fields(self, values: dict[str, object]) -> None:
        """A subject is refused with a clear error, or every event it is on is valid."""
        subject = _built(lambda: Subject(**values))  # type: ignore[arg-type]
        if isinstance(subject, SnowplowLoggingError):
            return
        assert isinstance(subject, Subject)
        emitter = CapturingEmitter()
        Tracker(emitters=emitter, subject=subject).track(
            PageView(page_url="https://x.test", event_subject=subject)
        )

        assert len(emitter.payloads) == 1
        _assert_payloads_valid(emitter)


class TestHandlerTags:
    """Whatever a record's tag holds, logging never raises and sends only valid payloads."""

    @FUZZ
    @given(
        tag=tags,
        level=st.sampled_from([logging.DEBUG, logging.INFO, logging.ERROR, 60]),
        with_exception=st.booleans(),
    )
    def test_any_tag(
        self,
        raise_exceptions: bool,
        tag: object,
        level: int,
        with_exception: bool,
    ) -> None:
        """The call returns; each record is either tracked valid or counted as an error."""
        emitter = CapturingEmitter()
        handler = SnowplowHandler(
            tracker=Tracker(emitters=emitter),
            capture_exceptions=True,
            app_version="1.0.0",
        )
        log = logging.getLogger(f"fuzz.handler.{raise_exceptions}")
        log.propagate = False
        log.setLevel(logging.DEBUG)
        log.addHandler(handler)
        try:
            try:
                raise ValueError(tag)  # noqa: TRY301 - a real exc_info to capture
            except ValueError:
                log.log(
                    level,
                    "fuzzed %r",
                    tag,
                    extra={"snowplow": tag},
                    exc_info=with_exception,
                )
        finally:
            log.removeHandler(handler)
        stats = handler.stats

        assert stats["records"] <= 1
        assert stats["errors"] <= 1
        assert stats["events"] == len(emitter.payloads)
        _assert_payloads_valid(emitter)


class TestStructlogEventDicts:
    """Whatever an event dict holds, the processor never raises and passes it on."""

    @FUZZ
    @given(
        event_dict=st.dictionaries(
            st.sampled_from(
                [
                    "snowplow",
                    "snowplow_context",
                    "snowplow_skip",
                    "timestamp",
                    "level",
                    "exc_info",
                    "event",
                    "_record",
                    "logger",
                ]
            ),
            st.one_of(
                tags,
                st.datetimes(timezones=st.none() | st.just(dt.UTC)),
                st.datetimes().map(dt.datetime.isoformat),
                st.just(ValueError("boom")),
                st.just(
                    logging.LogRecord("x", logging.ERROR, "f.py", 1, "m", None, None)
                ),
            ),
        ),
        method_name=st.one_of(
            st.sampled_from(["info", "error", "exception", "critical", "msg"]), any_text
        ),
    )
    def test_any_event_dict(
        self, event_dict: dict[str, object], method_name: str
    ) -> None:
        """The three keys are removed, the rest is untouched, payloads are valid."""
        emitter = CapturingEmitter()
        processor = SnowplowProcessor(
            Tracker(emitters=emitter), capture_exceptions=True
        )
        given_dict = dict(event_dict)
        if "event" in given_dict:
            given_dict["event"] = str(uuid.uuid4())  # a marker that must survive

        returned = processor(None, method_name, dict(given_dict))

        expected = {
            k: v
            for k, v in given_dict.items()
            if k not in {"snowplow", "snowplow_context", "snowplow_skip"}
        }
        assert returned == expected
        assert processor.stats["events"] == len(emitter.payloads)
        _assert_payloads_valid(emitter)
