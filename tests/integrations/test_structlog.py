"""SnowplowProcessor in structlog pipelines, pure and through stdlib logging."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import logging.handlers
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence

import pytest
from freezegun import freeze_time

pytest.importorskip("structlog")

import structlog

from snowplow_logging import (
    ConfigurationError,
    ConfigurationTypeError,
    PageView,
    SelfDescribingJson,
    SnowplowHandler,
    StructuredEvent,
    Tracker,
)
from snowplow_logging import _payloads as tracker_module
from snowplow_logging import structlog as snowplow_structlog
from snowplow_logging._delivery.sink import Pending
from snowplow_logging.pytest_plugin import MicroFixture
from snowplow_logging.structlog import SnowplowProcessor
from snowplow_logging.testing import (
    CapturingEmitter,
    decode_entities,
)
from tests.conftest import (
    APP_ERROR,
    AssertValid,
    assert_chained_app_error,
    raise_,
    sd_event,
)
from tests.processes import EXAMPLES, run_python, run_script

CHECKOUT = "iglu:com.acme/checkout/jsonschema/1-0-0"
CART = "iglu:com.acme/cart/jsonschema/1-0-0"
APPLICATION = "iglu:com.snowplowanalytics.snowplow/application/jsonschema/1-0-0"
Processors = Sequence[structlog.typing.Processor]


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    """Each test configures structlog itself; put the defaults back afterwards."""
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


@pytest.fixture(name="emitter")
def _emitter() -> CapturingEmitter:
    return CapturingEmitter()


@pytest.fixture(name="tracker")
def _tracker(emitter: CapturingEmitter) -> Tracker:
    return Tracker(emitters=emitter, app_id="test")


@pytest.fixture(name="processor")
def _processor(tracker: Tracker) -> SnowplowProcessor:
    return SnowplowProcessor(tracker, capture_exceptions=True)


@pytest.fixture(name="out")
def _out() -> io.StringIO:
    return io.StringIO()


def _pipeline(
    out: io.StringIO,
    *processors: structlog.typing.Processor,
    stamper: structlog.typing.Processor | None = None,
) -> structlog.typing.FilteringBoundLogger:
    """A pure structlog pipeline ending in JSONRenderer, printing to ``out``."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            stamper or structlog.processors.TimeStamper(fmt="iso"),
            *processors,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger()
    return logger


def _lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


class TestTagForms:
    """Every tag form is tracked and the key never reaches the renderer."""

    def test_event_object(
        self,
        processor: SnowplowProcessor,
        emitter: CapturingEmitter,
        out: io.StringIO,
    ) -> None:
        """An event under snowplow= is tracked; the rendered line lacks the key."""
        log = _pipeline(out, processor)

        log.info("paid", snowplow=StructuredEvent(category="shop", action="paid"))

        (payload,) = emitter.payloads
        (line,) = _lines(out)
        assert (payload["e"], payload["se_ac"], payload["aid"]) == (
            "se",
            "paid",
            "test",
        )
        assert "snowplow" not in line
        assert line["event"] == "paid"

    def test_self_describing_json_and_dict(
        self,
        processor: SnowplowProcessor,
        emitter: CapturingEmitter,
        out: io.StringIO,
        assert_valid: AssertValid,
    ) -> None:
        """A SelfDescribingJson and a {"schema", "data"} dict are self-describing events."""
        log = _pipeline(out, processor)
        data = {"orderId": "A-1", "total": 30}

        log.info("a", snowplow=SelfDescribingJson(schema=CHECKOUT, data=data))
        log.info("b", snowplow={"schema": CHECKOUT, "data": data})

        assert [sd_event(p) for p in emitter.payloads] == [
            {"schema": CHECKOUT, "data": data}
        ] * 2
        assert all("snowplow" not in line for line in _lines(out))
        for payload in emitter.payloads:
            assert_valid(payload)

    def test_list_sends_each(
        self,
        processor: SnowplowProcessor,
        emitter: CapturingEmitter,
        out: io.StringIO,
    ) -> None:
        """A list of tags sends each one, in order."""
        log = _pipeline(out, processor)

        log.info(
            "many",
            snowplow=[
                PageView(page_url="https://x.test"),
                {"schema": CHECKOUT, "data": {"orderId": "A", "total": 1}},
                StructuredEvent(category="c", action="a"),
            ],
        )

        assert [p["e"] for p in emitter.payloads] == ["pv", "ue", "se"]

    def test_untagged_passes_through(
        self, processor: SnowplowProcessor, emitter: CapturingEmitter
    ) -> None:
        """An untagged event dict is returned as it came, and nothing is sent."""
        event_dict = {"event": "plain", "user": 7}

        returned = processor(None, "info", event_dict)

        assert returned is event_dict
        assert returned == {"event": "plain", "user": 7}
        assert emitter.payloads == []
        assert processor.stats == {"events": 0, "duplicates": 0, "errors": 0}

    def test_custom_keys(
        self, tracker: Tracker, emitter: CapturingEmitter, out: io.StringIO
    ) -> None:
        """key and context_key are configurable; the skip key follows key."""
        log = _pipeline(
            out, SnowplowProcessor(tracker, key="analytics", context_key="entities")
        )

        log.info(
            "x",
            analytics=StructuredEvent(category="c", action="a"),
            entities=SelfDescribingJson(schema=CART, data={}),
            snowplow="left alone",
        )
        log.info("y", analytics=PageView(page_url="https://x.test"), analytics_skip=1)

        (payload,) = emitter.payloads
        assert payload["e"] == "se"
        assert [e["schema"] for e in decode_entities(payload)] == [CART]
        assert _lines(out) == [
            {
                "event": "x",
                "snowplow": "left alone",
                "level": "info",
                "timestamp": _lines(out)[0]["timestamp"],
            },
            {"event": "y", "level": "info", "timestamp": _lines(out)[1]["timestamp"]},
        ]

    def test_skip_key(
        self,
        processor: SnowplowProcessor,
        emitter: CapturingEmitter,
        out: io.StringIO,
    ) -> None:
        """snowplow_skip=True sends neither the tag nor the exception, and is removed."""
        log = _pipeline(out, processor)

        try:
            raise_(RuntimeError("handled"))
        except RuntimeError:
            log.exception(
                "x",
                snowplow=StructuredEvent(category="c", action="a"),
                snowplow_skip=True,
            )

        assert emitter.payloads == []
        assert "snowplow_skip" not in _lines(out)[0]

    def test_bad_tag_never_raises(
        self,
        processor: SnowplowProcessor,
        emitter: CapturingEmitter,
        out: io.StringIO,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """A tag of the wrong type is dropped, counted and reported; the line is logged."""
        log = _pipeline(out, processor)

        with caplog.at_level(logging.WARNING, logger="snowplow_logging"):
            log.info("bad", snowplow=42)
            log.info("bad again", snowplow={"schema": "not-iglu", "data": {}})

        assert emitter.payloads == []
        assert [line["event"] for line in _lines(out)] == ["bad", "bad again"]
        assert processor.stats["errors"] == 2
        assert "SnowplowProcessor dropped the events of 'bad'" in caplog.text


class TestEntities:
    """Entities bound with bind() or contextvars go on every event."""

    def test_bound_logger(
        self,
        processor: SnowplowProcessor,
        emitter: CapturingEmitter,
        out: io.StringIO,
        assert_valid: AssertValid,
    ) -> None:
        """Entities bound with bind() are attached and removed from the line."""
        cart = SelfDescribingJson(schema=CART, data={"items": 2})
        log = _pipeline(out, processor).bind(snowplow_context=cart, user="u1")

        log.info("a", snowplow=StructuredEvent(category="c", action="a"))
        log.info("b", snowplow=PageView(page_url="https://x.test"))

        assert [decode_entities(p) for p in emitter.payloads] == [
            [{"schema": CART, "data": {"items": 2}}]
        ] * 2
        assert all(
            "snowplow_context" not in line and line["user"] == "u1"
            for line in _lines(out)
        )
        for payload in emitter.payloads:
            assert_valid(payload)

    def test_contextvars(
        self,
        processor: SnowplowProcessor,
        emitter: CapturingEmitter,
        out: io.StringIO,
    ) -> None:
        """A list bound with bind_contextvars is attached after the event's own."""
        log = _pipeline(out, processor)
        structlog.contextvars.bind_contextvars(
            snowplow_context=[
                SelfDescribingJson(schema=CART, data={"n": 1}),
                {"schema": CART, "data": {"n": 2}},
            ]
        )
        own = SelfDescribingJson(schema=CHECKOUT, data={"orderId": "A", "total": 1})

        log.info("a", snowplow=StructuredEvent(category="c", action="a", context=[own]))

        (payload,) = emitter.payloads
        assert [e["data"] for e in decode_entities(payload)] == [
            {"orderId": "A", "total": 1},
            {"n": 1},
            {"n": 2},
        ]
        assert "snowplow_context" not in _lines(out)[0]

    def test_context_without_tag_sends_nothing(
        self,
        processor: SnowplowProcessor,
        emitter: CapturingEmitter,
        out: io.StringIO,
    ) -> None:
        """Bound entities alone are no event, but still leave the line."""
        log = _pipeline(out, processor).bind(
            snowplow_context=SelfDescribingJson(schema=CART, data={})
        )

        log.info("plain")

        assert emitter.payloads == []
        assert "snowplow_context" not in _lines(out)[0]


class TestTimestamp:
    """The event time comes from the stamper when it is unambiguous."""

    @pytest.mark.parametrize(
        ("stamp", "expected"),
        [
            ("2024-05-01T12:00:00.250000Z", 1714564800250),
            ("2024-05-01T14:00:00.250+02:00", 1714564800250),
            (1714564800.25, 1714564800250),
            (1714564800, 1714564800000),
            (dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC), 1714564800000),
        ],
    )
    def test_from_stamp(
        self,
        processor: SnowplowProcessor,
        emitter: CapturingEmitter,
        stamp: object,
        expected: int,
    ) -> None:
        """ISO with Z or an offset, numeric seconds and aware datetimes become dtm."""
        processor(
            None,
            "info",
            {"event": "x", "timestamp": stamp, "snowplow": PageView(page_url="u")},
        )

        assert emitter.payloads[0]["dtm"] == str(expected)

    @pytest.mark.parametrize(
        "stamp",
        ["2024-05-01T12:00:00", "01/05/2024 12:00", 12.5, True, None, ["x"]],
    )
    def test_ambiguous_or_odd_stamp_is_now(
        self, processor: SnowplowProcessor, emitter: CapturingEmitter, stamp: object
    ) -> None:
        """A naive, unparsable or implausible stamp is ignored: the time is now."""
        before = time.time_ns() // 1_000_000

        processor(
            None,
            "info",
            {"event": "x", "timestamp": stamp, "snowplow": PageView(page_url="u")},
        )

        after = time.time_ns() // 1_000_000
        assert before <= int(emitter.payloads[0]["dtm"]) <= after

    @pytest.mark.parametrize(
        "stamper",
        [
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.TimeStamper(fmt=None),
        ],
    )
    def test_stamper_in_pipeline(
        self,
        processor: SnowplowProcessor,
        emitter: CapturingEmitter,
        out: io.StringIO,
        stamper: structlog.processors.TimeStamper,
    ) -> None:
        """The TimeStamper's time in the line is the event's dtm, to the millisecond."""
        log = _pipeline(out, processor, stamper=stamper)

        log.info("x", snowplow=PageView(page_url="u"))

        stamp = _lines(out)[0]["timestamp"]
        seconds = (
            stamp
            if isinstance(stamp, float)
            else dt.datetime.fromisoformat(str(stamp)).timestamp()
        )
        assert abs(int(emitter.payloads[0]["dtm"]) - seconds * 1000) < 1


class DeferringEmitter:
    """Keeps payloads unbuilt, like ``Emitter``; :meth:`build` builds them later."""

    def __init__(self) -> None:
        self.pending: list[dict[str, str] | Pending] = []

    def input(self, payload: dict[str, str]) -> None:
        self.pending.append(payload)

    def defer(self, pending: Pending) -> None:
        self.pending.append(pending)

    def build(self) -> list[dict[str, str]]:
        """Build every payload on another thread, as the emitter's worker does."""
        built: list[dict[str, str]] = []
        worker = threading.Thread(
            target=lambda: built.extend(
                item if isinstance(item, dict) else item.build()
                for item in self.pending
            )
        )
        worker.start()
        worker.join()
        return built


class TestDeferredBuild:
    """With a deferring emitter the id and the stamp are resolved when built."""

    @pytest.fixture(name="deferring")
    def _deferring(self) -> DeferringEmitter:
        return DeferringEmitter()

    @pytest.fixture(name="deferred_processor")
    def _deferred_processor(self, deferring: DeferringEmitter) -> SnowplowProcessor:
        return SnowplowProcessor(Tracker(emitters=deferring))

    def test_id_drawn_when_built(
        self,
        deferred_processor: SnowplowProcessor,
        deferring: DeferringEmitter,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """The caller draws no event id; each built payload draws its own, once."""
        drawn_on: list[str] = []
        draw = tracker_module.event_id

        def recording_event_id() -> str:
            drawn_on.append(threading.current_thread().name)
            return draw()

        monkeypatch.setattr(tracker_module, "event_id", recording_event_id)
        for n in range(3):
            deferred_processor(
                None, "info", {"event": "x", "snowplow": PageView(page_url=f"u{n}")}
            )

        assert (drawn_on, len(deferring.pending)) == ([], 3)
        payloads = deferring.build()
        assert len(drawn_on) == 3
        assert threading.current_thread().name not in drawn_on
        assert [p["url"] for p in payloads] == ["u0", "u1", "u2"]
        assert len({p["eid"] for p in payloads}) == 3
        assert deferred_processor.stats["events"] == 3

    @pytest.mark.parametrize(
        ("stamp", "expected"),
        [
            ("2024-05-01T12:00:00.250999Z", 1714564800250),
            ("2024-05-01T14:00:00.250+02:00", 1714564800250),
            (1714564800.25, 1714564800250),
            (dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC), 1714564800000),
        ],
    )
    def test_stamp_is_dtm(
        self,
        deferred_processor: SnowplowProcessor,
        deferring: DeferringEmitter,
        stamp: object,
        expected: int,
    ) -> None:
        """A readable stamp is the event time, read on the caller or when built."""
        deferred_processor(
            None,
            "info",
            {"event": "x", "timestamp": stamp, "snowplow": PageView(page_url="u")},
        )

        assert deferring.build()[0]["dtm"] == str(expected)

    @pytest.mark.parametrize(
        "stamp",
        [
            "2024-05-01T12:00:00",  # TimeStamper(fmt="iso", utc=False): naive
            "2024-05-01 12:00:00",  # a custom fmt
            "2024-13-45T12:00:00.250000Z",  # shaped like ISO, not a date
            "1970-01-02T00:00:00+00:00",  # out of range: seconds, not ms
            "x",
        ],
    )
    def test_unreadable_stamp_is_the_call_time(
        self,
        deferred_processor: SnowplowProcessor,
        deferring: DeferringEmitter,
        stamp: str,
    ) -> None:
        """A stamp read too late to be used falls back to the call's time, not the build's."""
        with freeze_time("2026-11-23T08:00:00.123500Z"):  # mid-ms: a float clock
            deferred_processor(
                None,
                "info",
                {"event": "x", "timestamp": stamp, "snowplow": PageView(page_url="u")},
            )

        assert deferring.build()[0]["dtm"] == "1795420800123"

    def test_record_time_is_the_fallback(
        self, deferred_processor: SnowplowProcessor, deferring: DeferringEmitter
    ) -> None:
        """Inside ProcessorFormatter a naive stamp falls back to the record's time."""
        record = logging.LogRecord("app", logging.INFO, "f.py", 1, "x", None, None)
        record.created = 1_714_564_800.25

        deferred_processor(
            None,
            "info",
            {
                "event": "x",
                "timestamp": "2024-05-01 12:00:00",
                "_record": record,
                "snowplow": PageView(page_url="u"),
            },
        )

        assert deferring.build()[0]["dtm"] == "1714564800250"

    def test_implausible_record_time_is_an_error(
        self, deferred_processor: SnowplowProcessor, deferring: DeferringEmitter
    ) -> None:
        """A record time that is no plausible ms timestamp is counted, not sent."""
        record = logging.LogRecord("app", logging.INFO, "f.py", 1, "x", None, None)
        record.created = 5.0

        deferred_processor(
            None,
            "info",
            {"event": "x", "_record": record, "snowplow": PageView(page_url="u")},
        )

        assert (deferring.pending, deferred_processor.stats["errors"]) == ([], 1)


class TestCaptureExceptions:
    """capture_exceptions sends the handler's application_error event."""

    def test_exception_event(
        self,
        processor: SnowplowProcessor,
        emitter: CapturingEmitter,
        out: io.StringIO,
        assert_valid: AssertValid,
    ) -> None:
        """log.exception() sends a valid application_error; the line keeps exc_info."""
        log = _pipeline(out, processor)
        try:
            try:
                raise_(KeyError("sku"))
            except KeyError as exc:
                raise ValueError("bad order") from exc
        except ValueError:
            log.exception("checkout failed")

        (payload,) = emitter.payloads
        data = assert_chained_app_error(
            payload,
            message="checkout failed: bad order",
            file_name="test_structlog.py",
            class_name="test_exception_event",
        )
        assert data["threadId"] == threading.get_native_id()
        assert _lines(out)[0]["exc_info"] is True
        assert_valid(payload)

    @pytest.mark.parametrize("form", ["instance", "tuple", "true"])
    def test_exc_info_forms(
        self, processor: SnowplowProcessor, emitter: CapturingEmitter, form: str
    ) -> None:
        """exc_info as an exception, a sys.exc_info() tuple or True is captured."""
        try:
            raise_(RuntimeError("x"))
        except RuntimeError as exc:
            exc_info = {
                "instance": exc,
                "tuple": sys.exc_info(),
                "true": True,
            }[form]
            processor(None, "error", {"event": "e", "exc_info": exc_info})

        data = sd_event(emitter.payloads[0])["data"]
        assert isinstance(data, dict)
        assert (data["exceptionName"], data["message"]) == ("RuntimeError", "e: x")

    @pytest.mark.parametrize(
        ("method_name", "level", "sent"),
        [
            ("warning", None, 0),
            ("error", None, 1),
            ("critical", None, 1),
            ("exception", None, 1),
            ("info", "error", 1),
            ("error", "warning", 0),
            ("msg", None, 0),
        ],
    )
    def test_error_level_and_above(
        self,
        processor: SnowplowProcessor,
        emitter: CapturingEmitter,
        method_name: str,
        level: str | None,
        sent: int,
    ) -> None:
        """The level key (else the method name) must be error or above."""
        event_dict: dict[str, object] = {"event": "e", "exc_info": RuntimeError("x")}
        if level is not None:
            event_dict["level"] = level

        processor(None, method_name, event_dict)

        assert len(emitter.payloads) == sent

    def test_off_by_default_and_no_exception(
        self, tracker: Tracker, emitter: CapturingEmitter
    ) -> None:
        """Without capture_exceptions, or with exc_info=True outside except, nothing is sent."""
        SnowplowProcessor(tracker)(
            None, "error", {"event": "e", "exc_info": RuntimeError("x")}
        )
        SnowplowProcessor(tracker, capture_exceptions=True)(
            None, "error", {"event": "e", "exc_info": True}
        )

        assert emitter.payloads == []

    def test_callsite_parameters_and_fatal(
        self,
        processor: SnowplowProcessor,
        emitter: CapturingEmitter,
        out: io.StringIO,
        assert_valid: AssertValid,
    ) -> None:
        """CallsiteParameterAdder's keys and the logger name fill the site; critical is fatal."""
        log = _pipeline(
            out,
            structlog.processors.CallsiteParameterAdder(
                [
                    structlog.processors.CallsiteParameter.FILENAME,
                    structlog.processors.CallsiteParameter.LINENO,
                    structlog.processors.CallsiteParameter.FUNC_NAME,
                    structlog.processors.CallsiteParameter.THREAD_NAME,
                ]
            ),
            processor,
        ).bind(logger="shop.pay")

        def charge() -> None:
            try:
                raise_(RuntimeError("declined"))
            except RuntimeError:
                log.critical("charge failed", exc_info=True)

        charge()

        data = sd_event(emitter.payloads[0])["data"]
        assert isinstance(data, dict)
        assert data["className"] == "shop.pay.charge"
        assert data["fileName"] == "test_structlog.py"
        assert data["lineNumber"] == _lines(out)[0]["lineno"]
        assert data["isFatal"] is True
        assert_valid(emitter.payloads[0])

    def test_tag_and_exception_both_sent(
        self, processor: SnowplowProcessor, emitter: CapturingEmitter
    ) -> None:
        """A tagged error with an exception sends the event, then the error."""
        processor(
            None,
            "error",
            {
                "event": "e",
                "exc_info": RuntimeError("x"),
                "snowplow": StructuredEvent(category="c", action="a"),
            },
        )

        assert [p["e"] for p in emitter.payloads] == ["se", "ue"]


def _stdlib_setup(
    name: str,
    chain: Processors,
    *,
    handler: SnowplowHandler | None,
    formatters: int,
    handler_at: int = 0,
    foreign_chain: Processors | None = None,
    formatter_processors: Processors = (),
) -> tuple[logging.Logger, list[io.StringIO]]:
    """Handlers with ProcessorFormatter on a logger of the test's own."""
    structlog.configure(
        processors=[*chain, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    parent = logging.getLogger(name)
    parent.setLevel(logging.DEBUG)
    parent.propagate = False
    streams = [io.StringIO() for _ in range(formatters)]
    handlers: list[logging.Handler] = []
    for index, stream in enumerate(streams):
        stream_handler = logging.StreamHandler(stream)
        renderer = (
            structlog.processors.JSONRenderer()
            if index == 0
            # Plain tracebacks: rich's (when installed) quote the source lines,
            # which name the tag; what is checked is the record, not the source.
            else structlog.dev.ConsoleRenderer(
                colors=False, exception_formatter=structlog.dev.plain_traceback
            )
        )
        stream_handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                processors=[
                    *formatter_processors,
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    renderer,
                ],
                foreign_pre_chain=chain if foreign_chain is None else foreign_chain,
            )
        )
        handlers.append(stream_handler)
    if handler is not None:
        handlers.insert(handler_at, handler)
    parent.handlers[:] = handlers
    return parent, streams


def _log_all_kinds(name: str) -> None:
    """One tagged event and one exception each through structlog and logging."""
    slog = structlog.get_logger(f"{name}.sl")
    std = logging.getLogger(f"{name}.std")
    slog.info("sl", snowplow=StructuredEvent(category="c", action="sl"))
    std.info(
        "std %s", 1, extra={"snowplow": StructuredEvent(category="c", action="std")}
    )
    try:
        raise_(RuntimeError("sl boom"))
    except RuntimeError:
        slog.exception("sl failed")
    try:
        raise_(RuntimeError("std boom"))
    except RuntimeError:
        std.exception("std failed")


def _sent(emitter: CapturingEmitter) -> list[str]:
    out = []
    for payload in emitter.payloads:
        if payload["e"] == "se":
            out.append(payload["se_ac"])
        else:
            data = sd_event(payload)["data"]
            assert isinstance(data, dict)
            out.append(str(data["message"]))
    return sorted(out)


class TestStdlib:
    """Through stdlib logging and ProcessorFormatter: one event per tagged record."""

    EXPECTED = sorted(["sl", "std", "sl failed: sl boom", "std failed: std boom"])

    @pytest.mark.parametrize(
        ("handler_at", "formatters"),
        [(None, 1), (None, 2), (0, 1), (1, 1), (0, 2), (1, 3), (3, 3)],
    )
    def test_exactly_once(
        self,
        request: pytest.FixtureRequest,
        tracker: Tracker,
        emitter: CapturingEmitter,
        handler_at: int | None,
        formatters: int,
    ) -> None:
        """The processor in the shared chain, with or without SnowplowHandler, sends each once."""
        processor = SnowplowProcessor(tracker, capture_exceptions=True)
        chain: Processors = [
            structlog.stdlib.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            processor,
        ]
        handler = (
            SnowplowHandler(tracker=tracker, capture_exceptions=True)
            if handler_at is not None
            else None
        )
        name = f"test_structlog.{request.node.name}"
        _, streams = _stdlib_setup(
            name,
            chain,
            handler=handler,
            formatters=formatters,
            handler_at=handler_at or 0,
        )

        _log_all_kinds(name)

        assert _sent(emitter) == self.EXPECTED
        for stream in streams:
            assert "snowplow" not in stream.getvalue()
            assert "StructuredEvent" not in stream.getvalue()
        lines = [json.loads(line) for line in streams[0].getvalue().splitlines()]
        assert [line["event"] for line in lines] == [
            "sl",
            "std 1",
            "sl failed",
            "std failed",
        ]

    def test_handler_for_stdlib_records(
        self,
        request: pytest.FixtureRequest,
        tracker: Tracker,
        emitter: CapturingEmitter,
    ) -> None:
        """With the processor only in structlog.configure, SnowplowHandler sends the rest."""
        processor = SnowplowProcessor(tracker, capture_exceptions=True)
        name = f"test_structlog.{request.node.name}"
        _stdlib_setup(
            name,
            [structlog.stdlib.add_log_level, processor],
            foreign_chain=[structlog.stdlib.add_log_level],
            handler=SnowplowHandler(tracker=tracker, capture_exceptions=True),
            formatters=2,
        )

        _log_all_kinds(name)

        assert _sent(emitter) == self.EXPECTED
        assert processor.stats["events"] == 2

    def test_in_formatter_processors(
        self,
        request: pytest.FixtureRequest,
        tracker: Tracker,
        emitter: CapturingEmitter,
    ) -> None:
        """In ProcessorFormatter.processors of two handlers, structlog events go once."""
        processor = SnowplowProcessor(tracker)
        name = f"test_structlog.{request.node.name}"
        _, streams = _stdlib_setup(
            name,
            [structlog.stdlib.add_log_level],
            handler=None,
            formatters=2,
            formatter_processors=[processor],
        )

        structlog.get_logger(f"{name}.sl").info(
            "sl", snowplow=StructuredEvent(category="c", action="sl")
        )

        assert [p["se_ac"] for p in emitter.payloads] == ["sl"]
        assert processor.stats["duplicates"] == 1
        assert all("StructuredEvent" not in s.getvalue() for s in streams)

    def test_foreign_record_time_and_ignored_loggers(
        self,
        request: pytest.FixtureRequest,
        tracker: Tracker,
        emitter: CapturingEmitter,
    ) -> None:
        """A stdlib record's time is its creation time; our own send path is never sent."""
        processor = SnowplowProcessor(tracker, capture_exceptions=True)
        name = f"test_structlog.{request.node.name}"
        parent, _ = _stdlib_setup(
            name,
            [structlog.stdlib.add_log_level, processor],
            handler=None,
            formatters=1,
        )
        record = logging.LogRecord(
            f"{name}.std", logging.INFO, __file__, 1, "m", (), None
        )
        record.snowplow = PageView(page_url="u")
        own = logging.LogRecord(
            "snowplow_logging.worker", logging.ERROR, __file__, 1, "m", (), None
        )
        own.snowplow = PageView(page_url="u")

        parent.handle(record)
        parent.handle(own)

        (payload,) = emitter.payloads
        assert payload["dtm"] == str(int(record.created * 1000))

    def test_different_trackers_each_send(
        self,
        request: pytest.FixtureRequest,
        tracker: Tracker,
        emitter: CapturingEmitter,
    ) -> None:
        """A handler with a tracker of its own still sends what the processor sent."""
        other = CapturingEmitter()
        name = f"test_structlog.{request.node.name}"
        _stdlib_setup(
            name,
            [structlog.stdlib.add_log_level, SnowplowProcessor(tracker)],
            handler=SnowplowHandler(tracker=Tracker(emitters=other)),
            formatters=1,
        )

        logging.getLogger(f"{name}.std").info(
            "x", extra={"snowplow": PageView(page_url="u")}
        )

        assert [p["e"] for p in emitter.payloads] == ["pv"]
        assert [p["e"] for p in other.payloads] == ["pv"]

    def test_queue_listener_thread(
        self,
        request: pytest.FixtureRequest,
        tracker: Tracker,
        emitter: CapturingEmitter,
    ) -> None:
        """SnowplowHandler on the logging thread, the processor on a QueueListener: once."""
        processor = SnowplowProcessor(tracker, capture_exceptions=True)
        stream = io.StringIO()
        console = logging.StreamHandler(stream)
        console.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                processor=structlog.processors.JSONRenderer(),
                foreign_pre_chain=[structlog.stdlib.add_log_level, processor],
            )
        )
        records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        listener = logging.handlers.QueueListener(records, console)
        logger = logging.getLogger(f"test_structlog.{request.node.name}")
        logger.propagate = False
        logger.setLevel(logging.INFO)
        logger.handlers[:] = [
            SnowplowHandler(tracker=tracker, capture_exceptions=True),
            logging.handlers.QueueHandler(records),
        ]
        listener.start()
        try:
            logger.info("x", extra={"snowplow": PageView(page_url="u")})
            try:
                raise_(RuntimeError("boom"))
            except RuntimeError:
                logger.exception("failed")
        finally:
            listener.stop()

        assert [p["e"] for p in emitter.payloads] == ["pv", "ue"]
        assert processor.stats["duplicates"] == 1  # QueueHandler drops exc_info
        assert len(stream.getvalue().splitlines()) == 2


class TestThreads:
    """One processor serves many threads without mixing their fields."""

    def test_eight_threads_no_bleed(
        self, processor: SnowplowProcessor, emitter: CapturingEmitter, out: io.StringIO
    ) -> None:
        """Each thread's bound entity and contextvars go only with its own events."""
        log = _pipeline(out, processor)
        start = threading.Barrier(8)

        def work(n: int) -> None:
            structlog.contextvars.bind_contextvars(worker=n)
            bound = log.bind(
                snowplow_context=SelfDescribingJson(schema=CART, data={"worker": n})
            )
            start.wait()
            for i in range(200):
                bound.info(
                    "tick", snowplow=StructuredEvent(category=f"w{n}", action=str(i))
                )

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        payloads = emitter.payloads
        assert len(payloads) == 1600
        for payload in payloads:
            (entity,) = decode_entities(payload)
            assert entity["data"] == {"worker": int(payload["se_ca"][1:])}
        lines = _lines(out)
        assert len(lines) == 1600
        assert all(
            set(line) == {"event", "worker", "level", "timestamp"} for line in lines
        )
        assert processor.stats == {"events": 1600, "duplicates": 0, "errors": 0}


class TestConfiguration:
    """Bad settings fail when the processor is built."""

    @pytest.mark.parametrize(
        ("kwargs", "error"),
        [
            ({"key": ""}, ConfigurationError),
            ({"key": "a", "context_key": "a"}, ConfigurationError),
            ({"key": 1}, ConfigurationTypeError),
            ({"context_key": None}, ConfigurationTypeError),
            ({"capture_exceptions": "yes"}, ConfigurationTypeError),
        ],
    )
    def test_bad_settings(
        self, tracker: Tracker, kwargs: dict[str, object], error: type[Exception]
    ) -> None:
        """Each bad setting raises the typed error naming it."""
        with pytest.raises(error, match=next(iter(kwargs))):
            SnowplowProcessor(tracker, **kwargs)  # type: ignore[arg-type]

    def test_tracker_required(self) -> None:
        """Something other than a Tracker is refused."""
        with pytest.raises(ConfigurationTypeError, match="'tracker' must be a Tracker"):
            SnowplowProcessor(CapturingEmitter())  # type: ignore[arg-type]

    def test_repr_and_exports(self, processor: SnowplowProcessor) -> None:
        """The repr names the settings; the module exports only the processor."""
        assert repr(processor).startswith("<SnowplowProcessor <Tracker")
        assert "key='snowplow'" in repr(processor)
        assert snowplow_structlog.__all__ == ["SnowplowProcessor"]


class TestOptionalImport:
    """structlog is imported by snowplow_logging.structlog only.

    Without structlog installed, see test_package.py::TestMissingExtras.
    """

    def test_package_import_leaves_structlog_alone(self) -> None:
        """import snowplow_logging does not import structlog; the submodule does."""
        code = (
            "import sys, snowplow_logging\n"
            "print('structlog' in sys.modules)\n"
            "import snowplow_logging.structlog\n"
            "print('structlog' in sys.modules)\n"
        )

        result = run_python(code)

        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["False", "True"]


def _run_example(name: str, endpoint: str) -> subprocess.CompletedProcess[str]:
    return run_script(EXAMPLES / name, env={"SNOWPLOW_ENDPOINT": endpoint})


class TestExamples:
    """The structlog examples deliver valid events to a real local collector."""

    def test_pipeline(self, snowplow_micro: MicroFixture) -> None:
        """structlog_pipeline.py: three valid events, the application entity on each."""
        result = _run_example("structlog_pipeline.py", snowplow_micro.endpoint)

        assert result.returncode == 0, result.stderr
        assert snowplow_micro.wait_for(3, timeout=10)["bad"] == 0
        good = snowplow_micro.good()
        assert sorted(e.event_type for e in good) == ["page_view", "struct", "unstruct"]
        assert all(e.contexts == [APPLICATION] for e in good)
        assert snowplow_micro.good(schema=APP_ERROR)[0].app_id == "shop"
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        assert len(lines) == 4
        assert all("snowplow" not in line for line in lines)
        assert all("snowplow_context" not in line for line in lines)

    def test_stdlib(self, snowplow_micro: MicroFixture) -> None:
        """structlog_stdlib.py: processor and handler together send each record once."""
        result = _run_example("structlog_stdlib.py", snowplow_micro.endpoint)

        assert result.returncode == 0, result.stderr
        assert snowplow_micro.wait_for(3, timeout=10)["bad"] == 0
        good = snowplow_micro.good()
        assert sorted(e.payload.get("se_ac", e.event_type) for e in good) == [
            "coupon",
            "paid",
            "unstruct",
        ]
        assert good[0].contexts == [APPLICATION]
        assert snowplow_micro.bad() == []
        assert snowplow_micro.summary()["total"] == 3
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        assert [line["event"] for line in lines] == [
            "order paid",
            "coupon applied",
            "bad quantity",
            "an ordinary log line: not sent to Snowplow",
        ]
