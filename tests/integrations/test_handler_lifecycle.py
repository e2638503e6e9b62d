"""SnowplowHandler's life around its edges: reloads, closes, odd exceptions, SIGTERM.

Against a real local collector (:class:`tests.collector.Collector`) and real
emitters; the SIGTERM runs are real processes (:mod:`tests.processes`). Every
wait is on the collector's count, a thread's end or a pipe, never a sleep.
"""

from __future__ import annotations

import json
import logging
import logging.config
import signal
import subprocess
import textwrap
import threading
import time
from collections.abc import Iterator

import pytest
from pythonjsonlogger.json import JsonFormatter

from snowplow_logging import SnowplowHandler, StructuredEvent, Tracker
from tests.collector import Collector
from tests.conftest import APP_ERROR, sd_event
from tests.integrations.test_handler import RecursiveEmitter
from tests.processes import start_python

RELOADS = 5


@pytest.fixture(name="collector")
def _collector() -> Iterator[Collector]:
    with Collector() as collector:
        yield collector


def _config(url: str, *, app_id: str = "reload", **extra: object) -> dict[str, object]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "snowplow": {
                "class": "snowplow_logging.SnowplowHandler",
                "endpoint": url,
                "app_id": app_id,
                "flush_timeout": 5.0,
                "max_queue": 1_000_000,  # the test counts reload losses, not overflow
                **extra,
            }
        },
        "loggers": {
            "reload.app": {
                "handlers": ["snowplow"],
                "level": "INFO",
                "propagate": False,
            }
        },
    }


class _Writer(threading.Thread):
    """Logs tagged records without pause until stopped (or at ``LIMIT``); counts them."""

    LIMIT = 200_000  # a bound on the test's size, should a reload stall

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(name="writer", daemon=True)
        self.logger = logger
        self.logged = 0
        self.stop = threading.Event()
        self.progress = threading.Condition()

    def run(self) -> None:
        while not self.stop.is_set() and self.logged < self.LIMIT:
            event = StructuredEvent(category="reload", action=str(self.logged))
            self.logger.info("tick", extra={"snowplow": event})
            with self.progress:
                self.logged += 1
                self.progress.notify_all()

    def wait_for_more(self, count: int) -> None:
        """Block until ``count`` more records than now were logged."""
        with self.progress:
            target = self.logged + count
            assert self.progress.wait_for(
                lambda: self.logged >= min(target, self.LIMIT), 30
            )


def _only_handler(logger: logging.Logger) -> SnowplowHandler:
    (handler,) = logger.handlers
    assert isinstance(handler, SnowplowHandler)
    return handler


def _reload_while_logging(
    collector: Collector, configs: list[dict[str, object]]
) -> tuple[_Writer, list[SnowplowHandler], list[float]]:
    """Apply ``configs[0]``, then the others while a thread logs; stop it after."""
    logging.config.dictConfig(configs[0])
    logger = logging.getLogger("reload.app")
    writer = _Writer(logger)
    handlers = [_only_handler(logger)]
    took = []
    writer.start()
    try:
        for config in configs[1:]:
            writer.wait_for_more(200)  # reload in the middle of the stream
            started = time.monotonic()
            logging.config.dictConfig(config)
            took.append(time.monotonic() - started)
            handlers.append(_only_handler(logger))
            writer.wait_for_more(200)
    finally:
        writer.stop.set()
        writer.join(30)
    live = handlers[-1]
    live.flush()
    logger.removeHandler(live)
    live.close()
    return writer, handlers, took


class TestReload:
    """dictConfig applied again while a thread logs: nothing lost, nothing waits."""

    def test_same_config_five_times_delivers_every_record(
        self, collector: Collector, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Every record arrives once: the replaced handlers' late records included."""
        caplog.set_level(logging.WARNING, logger="snowplow_logging")
        config = _config(collector.url)

        writer, handlers, took = _reload_while_logging(
            collector, [config] * (RELOADS + 1)
        )

        assert collector.wait_for(events=writer.logged, timeout=30), (
            writer.logged,
            [h.stats for h in handlers],
        )
        eids = [e["eid"] for e in collector.accepted_events()]
        assert len(set(eids)) == len(eids) == writer.logged
        assert sum(h.stats["records"] for h in handlers) == writer.logged
        print(
            "records at replaced handlers after their close:",
            sum(h.stats.get("after_close", 0) for h in handlers[:-1]),
        )
        assert handlers[-1].stats["emitter_dropped"] == 0
        # A reload waits for nothing: the worker cannot log (urllib3 does)
        # while dictConfig holds logging's lock, so waiting stalled it.
        assert max(took) < 2.5, took
        assert caplog.records == []

    def test_changed_config_sends_the_late_records_or_reports_them(
        self, collector: Collector, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A new app_id each time: no handler takes the old tracker over, so each
        is closed once the reconfiguration is over, after sending what reached
        it meanwhile. A record still reaching it after that (a thread that had
        it in hand when the reconfiguration ended) is counted and reported."""
        caplog.set_level(logging.WARNING, logger="snowplow_logging")
        configs = [_config(collector.url, app_id=f"v{i}") for i in range(RELOADS + 1)]

        writer, handlers, took = _reload_while_logging(collector, configs)

        dropped = 0
        for old in handlers[:-1]:
            lease = getattr(old, "_lease", None)  # who closes the tracker
            closer = getattr(lease, "closer", None)  # closes it after the reconfig
            if closer is not None:
                closer.join(30)
            (emitter,) = old.tracker.emitters
            assert emitter.closed  # type: ignore[attr-defined]
            stats = old.stats
            assert (
                stats["records"]
                == stats["emitter_sent"] + stats["emitter_dropped_closed"]
            )
            assert stats["emitter_dropped"] == stats["emitter_dropped_closed"], stats
            dropped += stats["emitter_dropped_closed"]
        assert collector.wait_for(events=writer.logged - dropped, timeout=30)
        eids = [e["eid"] for e in collector.accepted_events()]
        assert len(set(eids)) == len(eids) == writer.logged - dropped
        warned = [
            r.getMessage() for r in caplog.records if r.name == "snowplow_logging"
        ]
        assert len(warned) == sum(1 for h in handlers if h.stats["emitter_dropped"])
        assert all("logged after the handler was closed" in w for w in warned), warned
        print(f"changed config: {writer.logged} logged, {dropped} dropped and reported")
        assert max(took) < 2.5, took

    def test_record_after_a_plain_close_is_counted_and_warned_once(
        self, collector: Collector, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Closed outside a reconfiguration: late records are dropped, never silently."""
        handler = SnowplowHandler(endpoint=collector.url)
        logger = logging.getLogger("lifecycle.closed")
        logger.propagate = False
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
        try:
            logger.info(
                "ok", extra={"snowplow": StructuredEvent(category="c", action="0")}
            )
            handler.close()
            for i in (1, 2):
                logger.info(
                    "late",
                    extra={"snowplow": StructuredEvent(category="c", action=str(i))},
                )
        finally:
            logger.removeHandler(handler)

        assert collector.wait_for(events=1, timeout=10)
        assert [e["se_ac"] for e in collector.accepted_events()] == ["0"]
        stats = handler.stats
        assert (stats["after_close"], stats["emitter_dropped_closed"]) == (2, 2)
        warnings = [
            r.getMessage() for r in caplog.records if r.name == "snowplow_logging"
        ]
        assert len(warnings) == 1, warnings
        assert "logged after the handler was closed" in warnings[0]


class TestReentry:
    """A record logged from inside the handler by anything but a signal handler."""

    def test_dropped_counted_and_reported_once(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """An emitter that logs a tagged record from input(): no loop, never silent."""
        emitter = RecursiveEmitter()
        handler = SnowplowHandler(tracker=Tracker(emitters=emitter))
        logger = logging.getLogger("app")  # RecursiveEmitter logs to app.inner
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        try:
            for action in ("a", "b"):
                event = StructuredEvent(category="c", action=action)
                logger.info("once", extra={"snowplow": event})
        finally:
            logger.removeHandler(handler)

        assert [p["se_ac"] for p in emitter.payloads] == ["a", "b"]
        assert handler.stats["reentrant_dropped"] == 2
        warned = [
            r.getMessage() for r in caplog.records if r.name == "snowplow_logging"
        ]
        assert len(warned) == 1, warned
        assert "logged from inside the handler" in warned[0]


class _UnprintableError(ValueError):
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


class TestUnprintableException:
    """An exception whose __str__ raises drops nothing."""

    def test_tagged_event_and_app_error_are_both_sent(
        self, collector: Collector, capsys: pytest.CaptureFixture[str]
    ) -> None:
        handler = SnowplowHandler(endpoint=collector.url, capture_exceptions=True)
        logger = logging.getLogger("lifecycle.unprintable")
        logger.propagate = False
        logger.addHandler(handler)
        try:
            try:
                raise _UnprintableError
            except ValueError:
                logger.exception(
                    "x", extra={"snowplow": StructuredEvent(category="c", action="a")}
                )
            handler.flush()
        finally:
            logger.removeHandler(handler)
            handler.close()

        assert collector.wait_for(events=2, timeout=10)
        structured, error = collector.accepted_events()
        assert structured["se_ac"] == "a"
        event = sd_event(error)
        assert event["schema"] == APP_ERROR
        data = event["data"]
        assert isinstance(data, dict)
        assert data["message"] == "x: <unprintable _UnprintableError>"
        assert data["exceptionName"] == "_UnprintableError"
        assert "raise _UnprintableError" in data["stackTrace"]
        assert handler.stats["errors"] == 0
        assert "Logging error" not in capsys.readouterr().err


class _SignalInside(JsonFormatter):
    """Raises SIGTERM once, while the handler builds the record entity: inside it."""

    raised = False

    def add_fields(self, *args: object) -> None:
        if not self.raised:
            self.raised = True
            signal.raise_signal(signal.SIGTERM)  # its handler runs before this returns
        super().add_fields(*args)  # type: ignore[arg-type]


class TestSigterm:
    """A SIGTERM handler's own event is sent, even if it interrupted the handler."""

    def test_signal_handler_event_sent_when_it_interrupts_the_handler(
        self, collector: Collector
    ) -> None:
        handler = SnowplowHandler(
            endpoint=collector.url,
            record_entity_schema="iglu:com.acme/log_record/jsonschema/1-0-0",
            record_entity_formatter=_SignalInside(),
        )
        logger = logging.getLogger("lifecycle.sigterm")
        logger.propagate = False
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
        seen: list[str] = []

        def on_term(signum: int, frame: object) -> None:
            seen.append("term")
            logger.info(
                "term", extra={"snowplow": StructuredEvent(category="c", action="term")}
            )
            raise SystemExit(0)

        previous = signal.signal(signal.SIGTERM, on_term)
        try:
            with pytest.raises(SystemExit):
                logger.info(
                    "work",
                    extra={"snowplow": StructuredEvent(category="c", action="work")},
                )
        finally:
            signal.signal(signal.SIGTERM, previous)
            logger.removeHandler(handler)
        handler.close()

        assert seen == ["term"]
        assert collector.wait_for(events=1, timeout=10)
        actions = sorted(e["se_ac"] for e in collector.accepted_events())
        assert "term" in actions, (actions, handler.stats)
        assert handler.stats["reentrant_dropped"] == 0

    def test_signal_handler_event_in_25_processes(self, collector: Collector) -> None:
        """25 apps log without pause; SIGTERM's handler logs and exits. Each run's
        events arrive, that one included, or what is missing is counted in the
        app's final stats and said on its stderr: never lost silently."""
        runs = [_sigterm_run(collector, i) for i in range(25)]

        events = collector.accepted_events()
        delivered = reported = 0
        for run, (process, stderr, stats) in enumerate(runs):
            mine = [e for e in events if e["aid"] == f"run{run}"]
            term = sum(1 for e in mine if e["se_ac"] == "sigterm")
            keys = ["records", "reentrant_dropped", "errors", "emitter_inputs"]
            keys += ["emitter_sent", "emitter_dropped"]
            seen = (run, term, len(mine), {k: stats[k] for k in keys}, stderr[-300:])
            assert process.returncode == 0, seen
            assert len({e["eid"] for e in mine}) == len(mine), seen  # each once
            lost = (
                stats["emitter_dropped"] + stats["reentrant_dropped"] + stats["errors"]
            )
            if lost:
                # An emitter's lock left held by the signal's SystemExit stalls
                # its worker: the exit close counts and reports what it held.
                assert len(mine) + lost >= stats["emitter_inputs"], seen
                assert "Snowplow" in stderr, seen
                reported += 1
            else:
                assert len(mine) == stats["emitter_inputs"] == stats["emitter_sent"]
                assert term == 1, seen
            delivered += term
        print(
            f"SIGTERM handler events: {delivered} of 25 delivered, {reported} runs reported losses"
        )


_SIGTERM_APP = textwrap.dedent(
    """
    import atexit, json, sys
    final = {}
    atexit.register(lambda: print("STATS " + json.dumps(final["handler"].stats), flush=True))
    import logging, os, signal
    import snowplow_logging
    from snowplow_logging import SnowplowHandler, StructuredEvent
    snowplow_logging.set_exit_timeout(3.0)
    # A queue that cannot fill: the app logs faster than one worker sends.
    handler = SnowplowHandler(endpoint=sys.argv[1], app_id=sys.argv[2], max_queue=1_000_000)
    final["handler"] = handler
    log = logging.getLogger("app")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    def on_term(signum, frame):
        log.info("bye", extra={"snowplow": StructuredEvent(category="app", action="sigterm")})
        sys.exit(0)
    signal.signal(signal.SIGTERM, on_term)
    print("ready", flush=True)
    while True:
        log.info("work", extra={"snowplow": StructuredEvent(category="app", action="work")})
    """
)


def _sigterm_run(
    collector: Collector, run: int
) -> tuple[subprocess.Popen[str], str, dict[str, int]]:
    before = len(collector.accepted_events())
    process = start_python(
        "-c",
        _SIGTERM_APP,
        collector.url,
        f"run{run}",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        # Its first batch arrived: the app is in its logging loop.
        assert collector.wait_for(events=before + 1, timeout=20)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    line = next(x for x in reversed(out.splitlines()) if x.startswith("STATS "))
    stats: dict[str, int] = json.loads(line[len("STATS ") :])
    return process, err, stats
