"""Trace correlation: events tracked in a recording OpenTelemetry span carry its ids.

With the real SDK: a ``TracerProvider`` (its tracers record unless a sampler
says otherwise), spans made current with ``start_as_current_span``.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from snowplow_logging import (
    ConfigurationTypeError,
    Emitter,
    SnowplowHandler,
    StructuredEvent,
    Tracker,
    _trace,
)
from snowplow_logging._trace import TRACE_SCHEMA
from snowplow_logging.micro import MicroCollector
from snowplow_logging.testing import CapturingEmitter, decode_entities
from tests.processes import REPO

TRACER = TracerProvider().get_tracer("tests")


@pytest.fixture(name="micro")
def _micro() -> Iterator[MicroCollector]:
    with MicroCollector() as micro:
        yield micro


def _event(n: int = 0) -> StructuredEvent:
    return StructuredEvent(category="c", action="a", value=n)


def _ids(span: trace.Span) -> dict[str, str]:
    context = span.get_span_context()
    return {
        "trace_id": f"{context.trace_id:032x}",
        "span_id": f"{context.span_id:016x}",
    }


def _trace_data(payload: dict[str, str]) -> list[object]:
    return [e["data"] for e in decode_entities(payload) if e["schema"] == TRACE_SCHEMA]


class TestTraceContext:
    """The trace entity is attached while a span records, and only then."""

    def test_track_in_a_span_carries_its_ids(self) -> None:
        """Tracker.track inside a recording span: one trace entity, the span's ids."""
        emitter = CapturingEmitter()
        tracker = Tracker(emitters=emitter)
        with TRACER.start_as_current_span("request") as span:
            tracker.track(_event())
        tracker.track(_event(1))

        inside, outside = emitter.payloads
        assert _trace_data(inside) == [_ids(span)]
        assert _trace_data(outside) == []

    def test_nested_spans_give_the_innermost(self) -> None:
        """The current span is the innermost one; its trace id is the outer one's."""
        emitter = CapturingEmitter()
        tracker = Tracker(emitters=emitter)
        with TRACER.start_as_current_span("outer") as outer:
            with TRACER.start_as_current_span("inner") as inner:
                tracker.track(_event())
            tracker.track(_event(1))

        first, second = (_trace_data(p)[0] for p in emitter.payloads)
        assert first == _ids(inner)
        assert second == _ids(outer)
        assert first["trace_id"] == second["trace_id"]

    def test_ids_are_read_on_the_callers_thread(self, micro: MicroCollector) -> None:
        """Through the handler and a real Emitter (built on its worker thread,
        after the span ended), the entity has the span that was current at the
        call; the event is valid against the bundled schema."""
        log = logging.getLogger("tests.trace.handler")
        log.propagate = False
        handler = SnowplowHandler(endpoint=micro.endpoint, flush_interval=60)
        log.addHandler(handler)
        try:
            with TRACER.start_as_current_span("request") as span:
                log.warning("in", extra={"snowplow": _event(0)})

            def elsewhere() -> None:  # a thread has its own context: no span
                log.warning("thread", extra={"snowplow": _event(1)})

            thread = threading.Thread(target=elsewhere)
            thread.start()
            thread.join()
            assert handler.tracker.flush(timeout=10)
        finally:
            log.removeHandler(handler)
            handler.close()

        events = {e.payload["se_va"]: e for e in micro.good()}
        assert micro.bad() == []
        traced = [e for e in events["0"].entities if e["schema"] == TRACE_SCHEMA]
        assert [e["data"] for e in traced] == [_ids(span)]
        assert TRACE_SCHEMA not in events["1"].contexts

    def test_a_span_that_does_not_record_adds_nothing(self) -> None:
        """A sampled-out span (ALWAYS_OFF) is not recording: no entity."""
        emitter = CapturingEmitter()
        tracer = TracerProvider(sampler=ALWAYS_OFF).get_tracer("off")
        with tracer.start_as_current_span("dropped") as span:
            Tracker(emitters=emitter).track(_event())

        assert not span.is_recording()
        assert _trace_data(emitter.payloads[0]) == []

    def test_switched_off(self) -> None:
        """trace_context=False (tracker or handler): no entity inside a span."""
        emitter = CapturingEmitter()
        tracker = Tracker(emitters=emitter, trace_context=False)
        with TRACER.start_as_current_span("request"):
            tracker.track(_event())
            tracker.submit(_event(1))

        assert [_trace_data(p) for p in emitter.payloads] == [[], []]

    def test_handler_switched_off(self, micro: MicroCollector) -> None:
        """SnowplowHandler(endpoint=..., trace_context=False): no entity in a span."""
        log = logging.getLogger("tests.trace.off")
        log.propagate = False
        handler = SnowplowHandler(endpoint=micro.endpoint, trace_context=False)
        log.addHandler(handler)
        try:
            with TRACER.start_as_current_span("request"):
                log.warning("in", extra={"snowplow": _event(0)})
            assert handler.flush()
        finally:
            log.removeHandler(handler)
            handler.close()

        (event,) = micro.good()
        assert event.contexts == []

    def test_trace_context_must_be_a_bool(self) -> None:
        """A string is refused at construction, naming the setting."""
        with pytest.raises(ConfigurationTypeError, match="trace_context"):
            Tracker(emitters=CapturingEmitter(), trace_context="no")  # type: ignore[arg-type]

    def test_a_broken_tracing_setup_never_stops_the_event(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Reading the context raising: the event is sent without the entity."""

        class Broken:
            def get(self) -> object:
                raise RuntimeError("broken context")

        _trace.current_ids()  # the reader is set up
        monkeypatch.setattr(_trace, "_variable", Broken())
        emitter = CapturingEmitter()
        with TRACER.start_as_current_span("request"):
            Tracker(emitters=emitter).track(_event())

        assert len(emitter.payloads) == 1
        assert _trace_data(emitter.payloads[0]) == []

    def test_the_public_reader_when_the_runtime_context_is_not_the_default(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without the context variable, get_current_span gives the same ids."""
        _trace.current_ids()
        monkeypatch.setattr(_trace, "_variable", None)
        emitter = CapturingEmitter()
        with TRACER.start_as_current_span("request") as span:
            Tracker(emitters=emitter).track(_event())
        Tracker(emitters=emitter).track(_event(1))

        assert [_trace_data(p) for p in emitter.payloads] == [[_ids(span)], []]

    def test_a_detached_context_has_no_span(self) -> None:
        """After the span's context is detached, events carry no entity."""
        emitter = CapturingEmitter()
        tracker = Tracker(emitters=emitter)
        span = TRACER.start_span("manual")
        token = otel_context.attach(trace.set_span_in_context(span))
        tracker.track(_event())
        otel_context.detach(token)
        tracker.track(_event(1))
        span.end()

        assert [len(_trace_data(p)) for p in emitter.payloads] == [1, 0]

    def test_real_emitter_events_are_valid(self, micro: MicroCollector) -> None:
        """Deferred submit path, real collector: the entity validates."""
        tracker = Tracker(emitters=Emitter(micro.endpoint))
        with TRACER.start_as_current_span("request") as span:
            tracker.submit(_event())
        assert tracker.flush(timeout=10)
        tracker.close()

        (event,) = micro.good()
        assert micro.bad() == []
        assert [e["data"] for e in event.entities if e["schema"] == TRACE_SCHEMA] == [
            _ids(span)
        ]


def test_import_and_tracking_never_import_opentelemetry() -> None:
    """Without the application importing it, OpenTelemetry is never imported."""
    code = (
        "import sys\n"
        "import snowplow_logging\n"
        "from snowplow_logging import StructuredEvent, Tracker\n"
        "from snowplow_logging.testing import CapturingEmitter\n"
        "Tracker(emitters=CapturingEmitter()).track(StructuredEvent(category='c', action='a'))\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=60,
    )

    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.strip() == "[]"
