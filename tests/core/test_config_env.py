"""Configuration from the environment and from text: SNOWPLOW_* variables,
numeric and boolean strings, ``retry`` as a mapping, endpoint mistakes refused
with the fix, misspelt settings answered with the closest name, and
``SnowplowHandler.flush(timeout)``.

Delivery is checked against a real collector on 127.0.0.1 (tests/collector.py).
"""

from __future__ import annotations

import logging
import logging.config
import re
import threading
from collections.abc import Iterator

import pytest
import structlog

from snowplow_logging import (
    ConfigurationError,
    ConfigurationTypeError,
    Emitter,
    Retry,
    SnowplowHandler,
    StructuredEvent,
    Tracker,
)
from snowplow_logging._protocol import GET_PATH, POST_PATH
from snowplow_logging._retry import check_retry
from snowplow_logging.structlog import SnowplowProcessor
from tests.collector import Collector, Reply

VARIABLES = (
    "SNOWPLOW_ENDPOINT",
    "SNOWPLOW_APP_ID",
    "SNOWPLOW_NAMESPACE",
    "SNOWPLOW_METHOD",
    "SNOWPLOW_BATCH_SIZE",
    "SNOWPLOW_BYTE_LIMIT",
    "SNOWPLOW_FLUSH_INTERVAL",
    "SNOWPLOW_MAX_QUEUE",
    "SNOWPLOW_TIMEOUT",
    "SNOWPLOW_DISABLED",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SNOWPLOW_* variable of the machine running the tests leaks in."""
    for variable in VARIABLES:
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture(name="collector")
def _collector() -> Iterator[Collector]:
    with Collector() as collector:
        yield collector


def _event(n: int = 0) -> StructuredEvent:
    return StructuredEvent(category="config", action=f"a{n}")


def _log(handler: SnowplowHandler, count: int = 1) -> logging.Logger:
    logger = logging.getLogger(f"tests.config.{id(handler)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    for n in range(count):
        logger.info("event %d", n, extra={"snowplow": _event(n)})
    return logger


def _emitter(handler: SnowplowHandler) -> Emitter:
    (emitter,) = handler.tracker.emitters
    assert isinstance(emitter, Emitter)
    return emitter


def _emitter_threads() -> set[threading.Thread]:
    return {
        t
        for t in threading.enumerate()
        if t.name.startswith("snowplow_logging.Emitter")
    }


class TestEnvironment:
    """SNOWPLOW_* variables are read when no value is given, and only then."""

    def test_handler_from_the_environment(
        self, collector: Collector, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Endpoint, app id, namespace and method come from the variables."""
        monkeypatch.setenv("SNOWPLOW_ENDPOINT", collector.url)
        monkeypatch.setenv("SNOWPLOW_APP_ID", "shop")
        monkeypatch.setenv("SNOWPLOW_NAMESPACE", "backend")
        monkeypatch.setenv("SNOWPLOW_METHOD", "GET")
        handler = SnowplowHandler()

        _log(handler, 2)

        assert handler.flush(timeout=10) is True
        handler.close()
        requests = collector.requests
        assert [(r.method, r.path) for r in requests] == [("GET", GET_PATH)] * 2
        events = collector.accepted_events()
        assert {(e["aid"], e["tna"], e["se_ca"]) for e in events} == {
            ("shop", "backend", "config")
        }

    def test_explicit_values_win(
        self, collector: Collector, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A value given in code is used even where a variable is set."""
        with Collector(listening=False) as elsewhere:
            monkeypatch.setenv("SNOWPLOW_ENDPOINT", elsewhere.url)
            monkeypatch.setenv("SNOWPLOW_APP_ID", "from-env")
            monkeypatch.setenv("SNOWPLOW_METHOD", "get")
            monkeypatch.setenv("SNOWPLOW_DISABLED", "true")
            handler = SnowplowHandler(
                endpoint=collector.url,
                app_id="from-code",
                method="post",
                disabled=False,
            )

            _log(handler)

            assert handler.flush(timeout=10) is True
            handler.close()
        (request,) = collector.requests
        assert (request.method, request.path) == ("POST", POST_PATH)
        assert [e["aid"] for e in collector.accepted_events()] == ["from-code"]

    def test_batch_settings(
        self, collector: Collector, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """SNOWPLOW_BATCH_SIZE sends full batches without a flush; the timer
        (SNOWPLOW_FLUSH_INTERVAL, an hour) never fires during the test."""
        monkeypatch.setenv("SNOWPLOW_ENDPOINT", collector.url)
        monkeypatch.setenv("SNOWPLOW_BATCH_SIZE", "2")
        monkeypatch.setenv("SNOWPLOW_FLUSH_INTERVAL", "3600")
        monkeypatch.setenv("SNOWPLOW_TIMEOUT", "2.5")
        sent: list[int] = []
        two_batches = threading.Event()

        def on_success(payloads: list[object]) -> None:
            sent.append(len(payloads))
            if len(sent) == 2:  # two full batches
                two_batches.set()

        handler = SnowplowHandler(on_success=on_success)

        _log(handler, 5)

        assert two_batches.wait(10)
        assert sent == [2, 2]
        assert handler.stats["emitter_queued"] == 1  # the fifth waits for its batch
        handler.close()
        assert sent == [2, 2, 1]
        assert [len(r.events()) for r in collector.requests] == [2, 2, 1]

    def test_queue_and_byte_limits(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """SNOWPLOW_MAX_QUEUE bounds what is held; SNOWPLOW_BYTE_LIMIT is checked."""
        with Collector(listening=False) as down:  # connections refused
            monkeypatch.setenv("SNOWPLOW_ENDPOINT", down.url)
            monkeypatch.setenv("SNOWPLOW_MAX_QUEUE", "3")
            monkeypatch.setenv("SNOWPLOW_BYTE_LIMIT", "1000")
            emitter = Emitter(retry=Retry(initial_delay=30, jitter=0))
            tracker = Tracker(emitters=emitter)

            for n in range(5):
                tracker.track(_event(n))

            stats = emitter.stats
            assert (stats["inputs"], stats["dropped_queue_full"]) == (5, 2)
            emitter.close(timeout=0)
        monkeypatch.setenv("SNOWPLOW_BYTE_LIMIT", "0")
        with pytest.raises(
            ConfigurationError, match="'SNOWPLOW_BYTE_LIMIT' must be > 0"
        ):
            Emitter()

    def test_empty_variable_is_unset(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """An empty variable counts as unset (as in OpenTelemetry)."""
        monkeypatch.setenv("SNOWPLOW_ENDPOINT", "")
        with pytest.raises(
            ConfigurationError, match="or set SNOWPLOW_ENDPOINT \\(got neither\\)"
        ):
            Emitter()
        with pytest.raises(ConfigurationError, match="SNOWPLOW_ENDPOINT is not set"):
            SnowplowHandler()

    @pytest.mark.parametrize(
        ("variable", "value", "error", "message"),
        [
            (
                "SNOWPLOW_BATCH_SIZE",
                "lots",
                ConfigurationTypeError,
                (
                    "'SNOWPLOW_BATCH_SIZE' must be an int, such as 500 or \"500\" "
                    "(got 'lots')."
                ),
            ),
            (
                "SNOWPLOW_FLUSH_INTERVAL",
                "soon",
                ConfigurationTypeError,
                (
                    "'SNOWPLOW_FLUSH_INTERVAL' must be a number of seconds, such as 1.5 "
                    "or \"1.5\" (got 'soon')."
                ),
            ),
            (
                "SNOWPLOW_TIMEOUT",
                "-1",
                ConfigurationError,
                "'SNOWPLOW_TIMEOUT' must be > 0 and finite (got '-1').",
            ),
            (
                "SNOWPLOW_METHOD",
                "put",
                ConfigurationError,
                "'SNOWPLOW_METHOD' must be 'post' or 'get' (got 'put').",
            ),
            (
                "SNOWPLOW_DISABLED",
                "perhaps",
                ConfigurationTypeError,
                (
                    "'SNOWPLOW_DISABLED' must be a bool: True or False, or one of the "
                    "strings 'true', 'yes', 'on', '1', 'false', 'no', 'off', '0' "
                    "(got 'perhaps')."
                ),
            ),
            (
                "SNOWPLOW_ENDPOINT",
                "http//127.0.0.1:9090",
                ConfigurationError,
                (
                    "'SNOWPLOW_ENDPOINT' has a mistyped 'http://' (a ':' or '/' missing); "
                    "write 'http://127.0.0.1:9090' (got 'http//127.0.0.1:9090')."
                ),
            ),
        ],
    )
    def test_bad_variable_names_itself(
        self,
        monkeypatch: pytest.MonkeyPatch,
        variable: str,
        value: str,
        error: type[Exception],
        message: str,
    ) -> None:
        """A bad value fails at construction, naming the variable, what it must
        be and what it holds."""
        monkeypatch.setenv("SNOWPLOW_ENDPOINT", "http://127.0.0.1:9")
        monkeypatch.setenv(variable, value)

        with pytest.raises(error) as info:
            Emitter()

        assert str(info.value) == message

    def test_structlog_processor_from_the_environment(
        self, collector: Collector, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """SnowplowProcessor() builds its own tracker from the variables."""
        monkeypatch.setenv("SNOWPLOW_ENDPOINT", collector.url)
        monkeypatch.setenv("SNOWPLOW_APP_ID", "worker")
        processor = SnowplowProcessor()
        log = structlog.wrap_logger(
            structlog.ReturnLogger(),
            processors=[processor, structlog.processors.KeyValueRenderer()],
        )

        log.info("done", snowplow=_event())

        assert processor.tracker.flush(timeout=10) is True
        assert [e["aid"] for e in collector.accepted_events()] == ["worker"]
        processor.tracker.close()

    def test_structlog_processor_needs_an_endpoint(self) -> None:
        """Without a tracker and without SNOWPLOW_ENDPOINT it says what to set."""
        with pytest.raises(ConfigurationError, match="SNOWPLOW_ENDPOINT is not set"):
            SnowplowProcessor()


class TestDisabled:
    """SNOWPLOW_DISABLED (or disabled=True): events counted, nothing sent."""

    def test_nothing_sent_and_counted(
        self, collector: Collector, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A disabled emitter pointed at a live collector never contacts it and
        starts no thread; every event is counted as disabled."""
        monkeypatch.setenv("SNOWPLOW_ENDPOINT", collector.url)
        monkeypatch.setenv("SNOWPLOW_DISABLED", "yes")
        before = _emitter_threads()
        handler = SnowplowHandler()

        _log(handler, 3)

        assert handler.flush(timeout=5) is True
        stats = handler.stats
        assert (stats["events"], stats["emitter_disabled"]) == (3, 3)
        assert (stats["emitter_inputs"], stats["emitter_sent"]) == (0, 0)
        assert _emitter_threads() == before
        handler.close()
        assert collector.requests == []

    def test_no_endpoint_needed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With sending disabled, no endpoint is needed anywhere."""
        monkeypatch.setenv("SNOWPLOW_DISABLED", "1")
        handler = SnowplowHandler(app_id="shop")
        processor = SnowplowProcessor()

        _log(handler, 2)
        processor(None, "info", {"event": "x", "snowplow": _event()})

        assert handler.stats["emitter_disabled"] == 2
        assert "(sending disabled)" in repr(_emitter(handler))
        (emitter,) = processor.tracker.emitters
        assert isinstance(emitter, Emitter)
        assert emitter.stats["disabled"] == 1
        handler.close()
        emitter.close()

    def test_switched_off_sends(
        self, collector: Collector, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """SNOWPLOW_DISABLED=false sends as usual."""
        monkeypatch.setenv("SNOWPLOW_DISABLED", "false")
        with Emitter(collector.url) as emitter:
            Tracker(emitters=emitter).track(_event())
            assert emitter.flush(timeout=10) is True
        assert (emitter.stats["sent"], emitter.stats["disabled"]) == (1, 0)


def _dict_config(**settings: object) -> dict[str, object]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "snowplow": {"class": "snowplow_logging.SnowplowHandler", **settings}
        },
        "loggers": {"tests.config.dict": {"handlers": ["snowplow"], "level": "INFO"}},
    }


class TestText:
    """dictConfig from INI, YAML or the environment gives strings: converted."""

    def test_strings_from_a_file(self, collector: Collector) -> None:
        """Numbers and bools as text, and retry as a plain mapping, all work."""
        logging.config.dictConfig(
            _dict_config(
                endpoint=collector.url,
                batch_size="2",
                byte_limit="40000",
                max_queue=" 100 ",
                flush_interval="3600",
                timeout="2.5",
                flush_timeout="5",
                capture_exceptions="yes",
                encode_base64="false",
                disabled="no",
                retry={"max_attempts": "3", "initial_delay": "0.01", "jitter": "0"},
            )
        )
        logger = logging.getLogger("tests.config.dict")
        (handler,) = logger.handlers
        assert isinstance(handler, SnowplowHandler)
        assert (handler.capture_exceptions, handler.flush_timeout) == (True, 5.0)
        collector.script(Reply(503), Reply(503))  # retried: 3 attempts at most

        logger.info("one", extra={"snowplow": _event(1)})
        logger.info("two", extra={"snowplow": _event(2)})

        assert collector.wait_for(events=2)  # a full batch of 2, no timer
        assert [r.status for r in collector.requests] == [503, 503, 200]
        event_a, _ = collector.accepted_events()
        assert "cx" not in event_a  # encode_base64="false": no base64 entities
        assert handler.flush(timeout=5) is True

    def test_retry_mapping_limits_attempts(self, collector: Collector) -> None:
        """retry={"max_attempts": 2, ...} gives up after two attempts."""
        collector.default = Reply(503)
        with Emitter(
            collector.url, retry={"max_attempts": 2, "initial_delay": 0.01, "jitter": 0}
        ) as emitter:
            Tracker(emitters=emitter).track(_event())
            assert emitter.flush(timeout=10) is True
        assert (emitter.stats["requests"], emitter.stats["failed"]) == (2, 1)

    @pytest.mark.parametrize("retry", [False, "off", "no", "0"])
    def test_retry_switched_off(self, collector: Collector, retry: object) -> None:
        """retry=False (or its string) makes one attempt: a 503 fails the event."""
        collector.default = Reply(503)
        with Emitter(collector.url, retry=retry) as emitter:  # type: ignore[arg-type]
            Tracker(emitters=emitter).track(_event())
            assert emitter.flush(timeout=10) is True
        assert (emitter.stats["requests"], emitter.stats["failed"]) == (1, 1)

    @pytest.mark.parametrize("retry", [True, "true", "yes", None])
    def test_retry_switched_on(self, retry: object) -> None:
        """retry=True (or its string) is the default policy."""
        assert check_retry(retry) == Retry()

    @pytest.mark.parametrize(
        ("settings", "message"),
        [
            (
                {"batch_size": "2.5"},
                "'batch_size' must be an int, such as 500 or \"500\" (got '2.5').",
            ),
            (
                {"flush_timeout": "a while"},
                (
                    "'flush_timeout' must be a number of seconds, such as 1.5 or \"1.5\" "
                    "(got 'a while')."
                ),
            ),
            (
                {"capture_exceptions": "sometimes"},
                (
                    "'capture_exceptions' must be a bool: True or False, or one of the "
                    "strings 'true', 'yes', 'on', '1', 'false', 'no', 'off', '0' "
                    "(got 'sometimes')."
                ),
            ),
            (
                {"retry": {"attempts": 5, "backoff": 0.5}},
                "'retry' has no setting 'attempts': did you mean 'max_attempts'?",
            ),
            (
                {"retry": {"max_attempts": "five"}},
                "'max_attempts' must be an int, such as 500 or \"500\" (got 'five').",
            ),
            (
                {"bach_size": 5},
                "SnowplowHandler has no setting 'bach_size': did you mean 'batch_size'?",
            ),
            (
                {"capture_exception": True},
                (
                    "SnowplowHandler has no setting 'capture_exception': did you mean "
                    "'capture_exceptions'?"
                ),
            ),
            (
                {"levle": "INFO"},
                "SnowplowHandler has no setting 'levle': did you mean 'level'?",
            ),
            (
                {"flush_timout": 1},
                (
                    "SnowplowHandler has no setting 'flush_timout': did you mean "
                    "'flush_timeout'?"
                ),
            ),
            (
                {"endpont": "http://127.0.0.1:9"},
                "SnowplowHandler has no setting 'endpont': did you mean 'endpoint'?",
            ),
        ],
    )
    def test_bad_text_fails_when_applied(
        self, settings: dict[str, object], message: str
    ) -> None:
        """A bad string or a misspelt key fails when the configuration is
        applied, naming the setting, what it must be and what came in."""
        config = _dict_config(endpoint="http://127.0.0.1:9", **settings)
        if "endpont" in settings:
            config["handlers"]["snowplow"].pop("endpoint")  # type: ignore[index]

        with pytest.raises(ValueError, match="Unable to configure handler") as info:
            logging.config.dictConfig(config)

        assert str(info.value.__cause__) == message

    def test_unknown_setting_without_a_close_name(self) -> None:
        """With nothing close, the message lists the settings."""
        with pytest.raises(ConfigurationTypeError) as info:
            SnowplowHandler(endpoint="http://127.0.0.1:9", zzz=1)

        text = str(info.value)
        assert text.startswith(
            "SnowplowHandler has no setting 'zzz': the settings are "
        )
        for name in ("batch_size", "flush_timeout", "retry", "disabled", "tag"):
            assert f" {name}," in text or text.endswith(f" {name}.")


class TestEndpointMistakes:
    """Refused at construction, with what to type instead."""

    @pytest.mark.parametrize(
        ("endpoint", "why", "instead"),
        [
            (
                "http//127.0.0.1:9090",
                "has a mistyped 'http://'",
                "http://127.0.0.1:9090",
            ),
            (
                "https:/collector.example.com",
                "has a mistyped 'https://'",
                "https://collector.example.com",
            ),
            (
                "http:collector.example.com",
                "has a mistyped 'http://'",
                "http://collector.example.com",
            ),
            (
                "htps://collector.example.com",
                "must be a host name or an http(s) URL",
                "https://collector.example.com",
            ),
            (
                "http:///collector.example.com",
                "must be a host name or an http(s) URL with a host",
                "http://collector.example.com",
            ),
            (
                "http://127.0.0.1:9090/com.snowplowanalytics.snowplow/tp2",
                "must not end with the collector's path '/com.snowplowanalytics.snowplow/tp2'",
                "http://127.0.0.1:9090",
            ),
            (
                "https://c.example.com/sp/com.snowplowanalytics.snowplow/tp2/",
                "must not end with the collector's path",
                "https://c.example.com/sp",
            ),
            (
                "http://127.0.0.1:9090/i",
                "must not end with the collector's path '/i'",
                "http://127.0.0.1:9090",
            ),
            (
                "c.example.com/i",
                "must not end with the collector's path '/i'",
                "c.example.com",
            ),
            (
                " http://127.0.0.1:9090\n",
                "has spaces or line breaks around it",
                "http://127.0.0.1:9090",
            ),
            (
                "http://127.0.0. 1:9090",
                "has a space in its host",
                "http://127.0.0.1:9090",
            ),
        ],
    )
    def test_refused_with_the_fix(self, endpoint: str, why: str, instead: str) -> None:
        """The message says what is wrong and what to write."""
        with pytest.raises(ConfigurationError) as info:
            Emitter(endpoint)

        message = str(info.value)
        assert message.startswith(f"'endpoint' {why}"), message
        assert f"; write {instead!r} (got {endpoint!r})." in message

    @pytest.mark.parametrize("endpoint", ["", "http://", "http://:9090"])
    def test_no_host(self, endpoint: str) -> None:
        """No host at all: the message shows what an endpoint looks like."""
        with pytest.raises(ConfigurationError) as info:
            Emitter(endpoint)

        assert "write e.g. 'http://127.0.0.1:9090'" in str(info.value)

    def test_credentials_never_in_the_message(self) -> None:
        """The suggestion masks a user:password like the rest of the message."""
        with pytest.raises(ConfigurationError) as info:
            Emitter(
                "https://me:secret@c.example.com/com.snowplowanalytics.snowplow/tp2"
            )

        message = str(info.value)
        assert "secret" not in message
        assert "me:" not in message
        assert "write 'https://***@c.example.com'" in message

    def test_the_fix_delivers(self, collector: Collector) -> None:
        """What the message says to write reaches the collector."""
        with pytest.raises(ConfigurationError) as info:
            Emitter(f"{collector.url}{POST_PATH}")
        found = re.search(r"; write '([^']*)'", str(info.value))
        assert found is not None

        with Emitter(found.group(1)) as emitter:
            Tracker(emitters=emitter).track(_event())
            assert emitter.flush(timeout=10) is True
        assert [r.path for r in collector.requests] == [POST_PATH]

    def test_port_as_text(self, collector: Collector) -> None:
        """port="9090" from a configuration file is converted."""
        with Emitter("127.0.0.1", protocol="http", port=str(collector.port)) as emitter:  # type: ignore[arg-type]
            Tracker(emitters=emitter).track(_event())
            assert emitter.flush(timeout=10) is True
        assert len(collector.accepted_events()) == 1


class TestHandlerFlush:
    """flush(timeout=None) -> bool, as the emitter's."""

    def test_true_when_delivered(self, collector: Collector) -> None:
        handler = SnowplowHandler(endpoint=collector.url, flush_interval=3600)
        _log(handler)

        assert handler.flush(timeout=10) is True
        assert len(collector.accepted_events()) == 1
        handler.close()

    def test_false_when_not_in_time(self) -> None:
        """A collector refusing connections: flush gives up at the timeout."""
        with Collector(listening=False) as down:
            handler = SnowplowHandler(
                endpoint=down.url,
                flush_timeout=0.2,
                retry={"initial_delay": 30, "jitter": 0},
            )
            _log(handler)

            assert handler.flush(timeout=0.2) is False
            assert handler.flush() is False  # None: flush_timeout
            handler.close()
