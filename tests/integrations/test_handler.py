"""SnowplowHandler with an in-memory emitter: tagging, entities, exceptions, safety."""

from __future__ import annotations

import io
import logging
import logging.config
import logging.handlers
import multiprocessing
import threading
from collections.abc import Iterator

import pytest
from pythonjsonlogger.json import JsonFormatter

from snowplow_logging import (
    ConfigurationError,
    ConfigurationTypeError,
    PageView,
    SelfDescribingJson,
    SnowplowHandler,
    StructuredEvent,
    Tracker,
)
from snowplow_logging.testing import (
    CapturingEmitter,
    decode_entities,
)
from tests.conftest import (
    AssertValid,
    assert_chained_app_error,
    raise_,
    sd_event,
)

CHECKOUT = "iglu:com.acme/checkout/jsonschema/1-0-0"
LOG_RECORD = "iglu:io.github.snowplow-logging/log_record/jsonschema/1-0-0"

EMITTER = CapturingEmitter()
TRACKER = Tracker(emitters=EMITTER, app_id="dictconfig")
"""Targets for dictConfig's ext:// in TestDictConfig."""


@pytest.fixture(name="emitter")
def _emitter() -> CapturingEmitter:
    return CapturingEmitter()


@pytest.fixture(name="handler")
def _handler(emitter: CapturingEmitter) -> SnowplowHandler:
    return SnowplowHandler(tracker=Tracker(emitters=emitter, app_id="test"))


@pytest.fixture(name="logger")
def _logger(
    request: pytest.FixtureRequest, handler: SnowplowHandler
) -> Iterator[logging.Logger]:
    """A logger of its own per test, at DEBUG, with only the handler."""
    logger = logging.getLogger(f"test.{request.node.name}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(handler)
    yield logger
    logger.removeHandler(handler)


class TestTagging:
    """Tagged records become events; untagged ones cost nothing."""

    def test_event_object(
        self, logger: logging.Logger, emitter: CapturingEmitter
    ) -> None:
        """An event under extra={"snowplow": ...} is tracked."""
        logger.info(
            "paid", extra={"snowplow": StructuredEvent(category="shop", action="paid")}
        )

        (payload,) = emitter.payloads
        assert (payload["e"], payload["se_ac"], payload["aid"]) == (
            "se",
            "paid",
            "test",
        )

    def test_self_describing_json_and_dict(
        self,
        logger: logging.Logger,
        emitter: CapturingEmitter,
        assert_valid: AssertValid,
    ) -> None:
        """A SelfDescribingJson and a {"schema", "data"} dict are self-describing events."""
        data = {"orderId": "A-1", "total": 30}
        logger.info(
            "a", extra={"snowplow": SelfDescribingJson(schema=CHECKOUT, data=data)}
        )
        logger.info("b", extra={"snowplow": {"schema": CHECKOUT, "data": data}})

        assert [sd_event(p) for p in emitter.payloads] == [
            {"schema": CHECKOUT, "data": data}
        ] * 2
        for payload in emitter.payloads:
            assert_valid(payload)

    def test_list_sends_each(
        self, logger: logging.Logger, emitter: CapturingEmitter
    ) -> None:
        """A list of tags sends each one, in order."""
        logger.info(
            "many",
            extra={
                "snowplow": [
                    PageView(page_url="https://x.test"),
                    StructuredEvent(category="c", action="a"),
                ]
            },
        )

        assert [p["e"] for p in emitter.payloads] == ["pv", "se"]

    def test_untagged_ignored(
        self,
        logger: logging.Logger,
        handler: SnowplowHandler,
        emitter: CapturingEmitter,
    ) -> None:
        """A record without the tag is not sent and not even counted."""
        logger.info("plain")
        logger.error("with extra", extra={"other": 1})

        assert emitter.payloads == []
        assert handler.stats["records"] == 0

    def test_custom_tag(self, emitter: CapturingEmitter) -> None:
        """The tag attribute's name is configurable."""
        handler = SnowplowHandler(tracker=Tracker(emitters=emitter), tag="analytics")
        record = logging.makeLogRecord(
            {
                "analytics": StructuredEvent(category="c", action="a"),
                "snowplow": "ignored",
            }
        )

        handler.handle(record)

        assert len(emitter.payloads) == 1

    def test_record_time_is_dtm(
        self, handler: SnowplowHandler, emitter: CapturingEmitter
    ) -> None:
        """The event's dtm is the record's creation time in ms, not the handler's."""
        record = logging.makeLogRecord(
            {"snowplow": StructuredEvent(category="c", action="a")}
        )
        record.created = 1_700_000_000.1239

        handler.handle(record)

        assert emitter.payloads[0]["dtm"] == "1700000000123"

    def test_levels_and_filters(
        self,
        logger: logging.Logger,
        handler: SnowplowHandler,
        emitter: CapturingEmitter,
    ) -> None:
        """The handler's level and filters are respected."""
        handler.setLevel(logging.WARNING)
        handler.addFilter(lambda record: record.getMessage() != "drop me")
        event = StructuredEvent(category="c", action="a")

        logger.info("too low", extra={"snowplow": event})
        logger.warning("drop me", extra={"snowplow": event})
        logger.warning("kept", extra={"snowplow": event})

        assert len(emitter.payloads) == 1

    @pytest.mark.parametrize(
        "name",
        [
            "snowplow_logging",
            "snowplow_logging.x",
            "urllib3.connectionpool",
            "requests",
            "http.client",
        ],
    )
    def test_own_send_path_never_sent(
        self, handler: SnowplowHandler, emitter: CapturingEmitter, name: str
    ) -> None:
        """Records of our own send path are ignored even when tagged."""
        record = logging.makeLogRecord(
            {"name": name, "snowplow": StructuredEvent(category="c", action="a")}
        )

        handler.handle(record)

        assert emitter.payloads == []

    def test_similar_names_are_sent(
        self, handler: SnowplowHandler, emitter: CapturingEmitter
    ) -> None:
        """A logger merely starting with an ignored name is not ignored."""
        record = logging.makeLogRecord(
            {
                "name": "requests_app",
                "snowplow": StructuredEvent(category="c", action="a"),
            }
        )

        handler.handle(record)

        assert len(emitter.payloads) == 1


class TestEntities:
    """Entities from the handler's settings and the record."""

    def test_app_version(
        self, emitter: CapturingEmitter, assert_valid: AssertValid
    ) -> None:
        """app_version attaches the application entity to every event."""
        handler = SnowplowHandler(
            tracker=Tracker(emitters=emitter), app_version="2.3.1+g1a2b3c4"
        )
        event = StructuredEvent(
            category="c",
            action="a",
            context=[
                SelfDescribingJson(schema=CHECKOUT, data={"orderId": "1", "total": 1})
            ],
        )
        handler.handle(logging.makeLogRecord({"snowplow": event}))

        entities = decode_entities(emitter.payloads[0])
        assert [e["schema"] for e in entities] == [
            CHECKOUT,
            "iglu:com.snowplowanalytics.snowplow/application/jsonschema/1-0-0",
        ]
        assert entities[1]["data"] == {"version": "2.3.1+g1a2b3c4"}
        assert_valid(emitter.payloads[0])

    def test_record_entity_default(
        self, emitter: CapturingEmitter, assert_valid: AssertValid
    ) -> None:
        """The log-record entity has level, logger, message and extras, not the tag."""
        handler = SnowplowHandler(
            tracker=Tracker(emitters=emitter), record_entity_schema=LOG_RECORD
        )
        logger = logging.getLogger("test.record_entity_default")
        logger.addHandler(handler)
        logger.warning(
            "paid %s",
            "EUR",
            extra={
                "snowplow": StructuredEvent(category="c", action="a"),
                "order": "A-1",
            },
        )
        logger.removeHandler(handler)

        (entity,) = decode_entities(emitter.payloads[0])
        assert entity == {
            "schema": LOG_RECORD,
            "data": {
                "levelname": "WARNING",
                "name": "test.record_entity_default",
                "message": "paid EUR",
                "order": "A-1",
            },
        }
        assert_valid(emitter.payloads[0])

    def test_record_entity_pjl_settings(
        self, emitter: CapturingEmitter, assert_valid: AssertValid
    ) -> None:
        """python-json-logger settings select, rename and add fields, as in a formatter."""
        handler = SnowplowHandler(
            tracker=Tracker(emitters=emitter),
            record_entity_schema=LOG_RECORD,
            record_entity_formatter={
                "fmt": "%(levelname)s %(message)s %(lineno)d",
                "rename_fields": {"levelname": "level"},
                "static_fields": {"service": "shop"},
            },
        )
        record = logging.makeLogRecord(
            {
                "msg": "hi",
                "levelname": "INFO",
                "lineno": 7,
                "snowplow": PageView(page_url="https://x.test"),
                "nan": float("nan"),
            }
        )
        handler.handle(record)

        (entity,) = decode_entities(emitter.payloads[0])
        assert entity["data"] == {
            "level": "INFO",
            "message": "hi",
            "lineno": 7,
            "service": "shop",
            "nan": "nan",
        }
        assert_valid(emitter.payloads[0])

    def test_record_entity_formatter_instance(self, emitter: CapturingEmitter) -> None:
        """An existing python-json-logger formatter can be reused as is."""
        formatter = JsonFormatter("%(name)s", rename_fields={"name": "logger"})
        handler = SnowplowHandler(
            tracker=Tracker(emitters=emitter),
            record_entity_schema=LOG_RECORD,
            record_entity_formatter=formatter,
        )
        handler.handle(
            logging.makeLogRecord(
                {"name": "a.b", "snowplow": PageView(page_url="https://x.test")}
            )
        )

        assert decode_entities(emitter.payloads[0])[0]["data"] == {"logger": "a.b"}


class TestCaptureExceptions:
    """capture_exceptions sends application_error events."""

    def _handler(
        self, emitter: CapturingEmitter
    ) -> tuple[SnowplowHandler, logging.Logger]:
        handler = SnowplowHandler(
            tracker=Tracker(emitters=emitter), capture_exceptions=True
        )
        logger = logging.getLogger("test.capture")
        logger.handlers[:] = [handler]
        logger.propagate = False
        return handler, logger

    def test_exception_event(
        self, emitter: CapturingEmitter, assert_valid: AssertValid
    ) -> None:
        """logger.exception() sends a valid application_error with the record's details."""
        _, logger = self._handler(emitter)
        try:
            try:
                raise_(KeyError("sku"))
            except KeyError as exc:
                raise ValueError("bad order") from exc
        except ValueError:
            logger.exception("checkout failed")

        (payload,) = emitter.payloads
        data = assert_chained_app_error(
            payload,
            message="checkout failed: bad order",
            file_name="test_handler.py",
            class_name="test.capture.test_exception_event",
        )
        assert isinstance(data["lineNumber"], int)
        assert_valid(payload)

    def test_only_error_and_above(self, emitter: CapturingEmitter) -> None:
        """exc_info below ERROR, or without capture_exceptions, sends nothing."""
        _, logger = self._handler(emitter)
        try:
            raise_(RuntimeError("x"))
        except RuntimeError:
            logger.warning("just a warning", exc_info=True)

        assert emitter.payloads == []

    def test_tagged_and_exception_both_sent(self, emitter: CapturingEmitter) -> None:
        """A tagged record with an exception sends its event and the error."""
        _, logger = self._handler(emitter)
        try:
            raise_(RuntimeError("x"))
        except RuntimeError:
            logger.critical(
                "boom",
                exc_info=True,
                extra={"snowplow": StructuredEvent(category="c", action="a")},
            )

        first, second = emitter.payloads
        assert first["e"] == "se"
        data = sd_event(second)["data"]
        assert isinstance(data, dict)
        assert data["isFatal"] is True

    def test_fields_truncated_to_schema(
        self, emitter: CapturingEmitter, assert_valid: AssertValid
    ) -> None:
        """Huge messages and traces are cut to the schema's limits, keeping the trace's end."""
        _, logger = self._handler(emitter)

        def deep(n: int) -> None:
            if n:
                deep(n - 1)
            raise RuntimeError("é" * 9000 + "\ud800")

        try:
            deep(200)
        except RuntimeError:
            logger.exception("m" * 3000)

        data = sd_event(emitter.payloads[0])["data"]
        assert isinstance(data, dict)
        assert len(data["message"]) == 2048
        assert len(data["stackTrace"]) == 8192
        assert data["stackTrace"].rstrip().endswith("?")
        assert_valid(emitter.payloads[0])


class RecursiveEmitter(CapturingEmitter):
    """An emitter that logs a tagged record from inside input()."""

    def input(self, payload: dict[str, str]) -> None:
        super().input(payload)
        logging.getLogger("app.inner").error(
            "again", extra={"snowplow": StructuredEvent(category="c", action="b")}
        )


class TestSafety:
    """emit() never raises and never loops."""

    def test_reentry_is_dropped(self) -> None:
        """A record logged from inside the handler on the same thread is dropped and counted."""
        emitter = RecursiveEmitter()
        handler = SnowplowHandler(tracker=Tracker(emitters=emitter))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)

        logging.getLogger("app").info(
            "once", extra={"snowplow": StructuredEvent(category="c", action="a")}
        )

        assert [p["se_ac"] for p in emitter.payloads] == ["a"]
        assert handler.stats["reentrant_dropped"] == 1

    def test_bad_tag_goes_to_handle_error(
        self,
        handler: SnowplowHandler,
        logger: logging.Logger,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A tag that is not an event is reported through handleError, not raised."""
        stderr = io.StringIO()
        monkeypatch.setattr("sys.stderr", stderr)

        logger.info("oops", extra={"snowplow": "not an event"})

        assert handler.stats["errors"] == 1
        assert "a tagged record must carry an event" in stderr.getvalue()

    def test_raise_exceptions_off_is_silent(
        self,
        handler: SnowplowHandler,
        logger: logging.Logger,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """With logging.raiseExceptions off, handleError prints nothing."""
        stderr = io.StringIO()
        monkeypatch.setattr("sys.stderr", stderr)
        monkeypatch.setattr(logging, "raiseExceptions", False)

        logger.info("oops", extra={"snowplow": {"schema": "not-iglu", "data": {}}})

        assert (handler.stats["errors"], stderr.getvalue()) == (1, "")

    def test_eight_threads(
        self, logger: logging.Logger, emitter: CapturingEmitter
    ) -> None:
        """8 threads logging concurrently: every event exactly once."""
        barrier = threading.Barrier(8)

        def work(n: int) -> None:
            barrier.wait()
            for i in range(300):
                logger.info(
                    "e",
                    extra={"snowplow": StructuredEvent(category=str(n), action=str(i))},
                )

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert sorted((p["se_ca"], p["se_ac"]) for p in emitter.payloads) == sorted(
            (str(n), str(i)) for n in range(8) for i in range(300)
        )


def _child(queue: multiprocessing.Queue[logging.LogRecord]) -> None:
    logger = logging.getLogger("child")
    logger.addHandler(logging.handlers.QueueHandler(queue))
    logger.setLevel(logging.INFO)
    for i in range(5):
        logger.info(
            "from child %d",
            i,
            extra={"snowplow": StructuredEvent(category="child", action=str(i))},
        )


class TestQueueHandler:
    """Behind QueueHandler/QueueListener, also across processes."""

    def test_across_processes(
        self, handler: SnowplowHandler, emitter: CapturingEmitter
    ) -> None:
        """Records from another process, pickled through a multiprocessing queue, arrive."""
        context = multiprocessing.get_context("spawn")
        queue: multiprocessing.Queue[logging.LogRecord] = context.Queue()
        listener = logging.handlers.QueueListener(queue, handler)
        listener.start()
        process = context.Process(target=_child, args=(queue,))
        process.start()
        process.join(timeout=60)
        listener.stop()

        assert process.exitcode == 0
        assert [p["se_ac"] for p in emitter.payloads] == ["0", "1", "2", "3", "4"]


class TestDictConfig:
    """logging.config.dictConfig builds the handler; bad values fail there."""

    def test_tracker_ext(self) -> None:
        """ "tracker": "ext://..." with the "class" form."""
        EMITTER.clear()
        logging.config.dictConfig(
            {
                "version": 1,
                "disable_existing_loggers": False,
                "handlers": {
                    "snowplow": {
                        "class": "snowplow_logging.SnowplowHandler",
                        "tracker": "ext://tests.integrations.test_handler.TRACKER",
                        "level": "INFO",
                        "app_version": "1.0.0",
                    }
                },
                "loggers": {"dc.app": {"handlers": ["snowplow"], "level": "DEBUG"}},
            }
        )
        logger = logging.getLogger("dc.app")
        logger.debug(
            "below level", extra={"snowplow": StructuredEvent(category="c", action="a")}
        )
        logger.info(
            "sent", extra={"snowplow": StructuredEvent(category="c", action="b")}
        )
        for handler in logger.handlers[:]:
            logger.removeHandler(handler)

        assert [(p["aid"], p["se_ac"]) for p in EMITTER.payloads] == [
            ("dictconfig", "b")
        ]

    def test_factory_form(self) -> None:
        """The "()" factory form works with the same settings."""
        EMITTER.clear()
        logging.config.dictConfig(
            {
                "version": 1,
                "disable_existing_loggers": False,
                "handlers": {
                    "snowplow": {
                        "()": "snowplow_logging.SnowplowHandler",
                        "tracker": "ext://tests.integrations.test_handler.TRACKER",
                        "tag": "sp",
                    }
                },
                "loggers": {"dc.factory": {"handlers": ["snowplow"], "level": "INFO"}},
            }
        )
        logger = logging.getLogger("dc.factory")
        logger.info("sent", extra={"sp": StructuredEvent(category="c", action="f")})
        for handler in logger.handlers[:]:
            logger.removeHandler(handler)

        assert [p["se_ac"] for p in EMITTER.payloads] == ["f"]

    @pytest.mark.parametrize(
        ("settings", "message"),
        [
            ({}, "'endpoint' (the collector URL) or 'tracker' is required"),
            (
                {
                    "tracker": "ext://tests.integrations.test_handler.TRACKER",
                    "endpoint": "http://x",
                },
                "give either 'tracker' or 'endpoint'",
            ),
            (
                {"tracker": "ext://tests.integrations.test_handler.EMITTER"},
                "'tracker' must be a Tracker",
            ),
            (
                {
                    "tracker": "ext://tests.integrations.test_handler.TRACKER",
                    "tag": "not valid",
                },
                "'tag' must be a record attribute name",
            ),
            (
                {
                    "tracker": "ext://tests.integrations.test_handler.TRACKER",
                    "capture_exceptions": "maybe",
                },
                "'capture_exceptions' must be a bool",
            ),
            (
                {
                    "tracker": "ext://tests.integrations.test_handler.TRACKER",
                    "app_version": "x" * 300,
                },
                "'app_version' must be at most 255",
            ),
            (
                {
                    "tracker": "ext://tests.integrations.test_handler.TRACKER",
                    "record_entity_schema": "log_record",
                },
                "'record_entity_schema' must be an Iglu URI",
            ),
            (
                {
                    "tracker": "ext://tests.integrations.test_handler.TRACKER",
                    "record_entity_formatter": {"fmt": "%(x)s"},
                },
                "'record_entity_formatter' needs 'record_entity_schema'",
            ),
            (
                {
                    "tracker": "ext://tests.integrations.test_handler.TRACKER",
                    "flush_timeout": -1,
                },
                "'flush_timeout' must be >= 0 (got -1)",
            ),
        ],
    )
    def test_bad_settings_fail_when_applied(
        self, settings: dict[str, object], message: str
    ) -> None:
        """dictConfig raises at configuration time, naming the setting."""
        config = {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "snowplow": {"class": "snowplow_logging.SnowplowHandler", **settings}
            },
        }

        with pytest.raises(
            ValueError, match="Unable to configure handler 'snowplow'"
        ) as info:
            logging.config.dictConfig(config)

        assert message in str(info.value.__cause__)

    def test_direct_errors_are_typed(self) -> None:
        """Constructed directly, the package's own error types are raised."""
        with pytest.raises(ConfigurationError):
            SnowplowHandler()
        with pytest.raises(ConfigurationTypeError):
            SnowplowHandler(tracker=TRACKER, capture_exceptions=1)  # type: ignore[arg-type]
