"""The collector's console: key fields per line, colours on a terminal, -v, --json, the gate.

The unit tests build events by hand; the command tests run the real
``snowplow-logging micro`` in a subprocess (stdout a pipe, or a pseudo-terminal
for the colours) and send events to it with our tracker.
"""

from __future__ import annotations

import base64
import io
import json
import os
import pty
import select
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from snowplow_logging import (
    Emitter,
    PageView,
    SelfDescribing,
    SelfDescribingJson,
    StructuredEvent,
    Subject,
    Tracker,
)
from snowplow_logging._cli import main
from snowplow_logging.micro import BadEvent, GoodEvent, RequestInfo
from snowplow_logging.micro.console import (
    EventGate,
    EventPrinter,
    decoded_parameters,
    micro_json,
)
from tests.processes import start_python

INFO = RequestInfo(method="GET", path="/i", received_ms=1_795_420_800_123)
EID = "9a1e2f6c-0c5f-4b8e-9d5a-3c1f1e2d3b4a"
LINK_CLICK = "iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1"
APPLICATION = "iglu:com.snowplowanalytics.snowplow/application/jsonschema/1-0-0"
MISSING = "iglu:com.example/missingThing/jsonschema/2-0-0"
ESC = "\x1b"


def _b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _good(payload: dict[str, str], **kwargs: object) -> GoodEvent:
    return GoodEvent(payload={"eid": EID, **payload}, request=INFO, **kwargs)  # type: ignore[arg-type]


STRUCT = _good(
    {
        "e": "se",
        "aid": "shop",
        "uid": "alice",
        "se_ca": "basket",
        "se_ac": "add",
        "se_la": "sku-1",
    },
    entities=({"schema": APPLICATION, "data": {"version": "1.2"}},),
)
UNSTRUCT = _good(
    {"e": "ue", "aid": "blog"},
    self_describing={"schema": LINK_CLICK, "data": {"targetUrl": "https://b.test/"}},
    entities=(
        {"schema": APPLICATION, "data": {"version": "1"}},
        {"schema": APPLICATION, "data": {"version": "2"}},
    ),
)
BAD = BadEvent(
    errors=("ue_px: schema not found: " + MISSING, "eid: must be a UUID"),
    payload={
        "e": "ue",
        "aid": "broken",
        "ue_px": _b64({"schema": "x", "data": {"schema": MISSING, "data": {}}}),
        "cx": _b64({"schema": "x", "data": [{"schema": APPLICATION, "data": {}}]}),
    },
    schema=MISSING,
    request=INFO,
)


class TestLines:
    """One line per event with its key fields; colours only when asked."""

    def test_structured_event(self) -> None:
        """Time, GOOD, type, app, uid, category / action / label, entities."""
        line = EventPrinter.text_line(STRUCT)

        assert line.endswith(
            " GOOD struct app=shop uid=alice  basket / add / sku-1  [application/1-0-0]"
        )
        assert ESC not in line

    def test_self_describing_event(self) -> None:
        """A self-describing event shows its schema and each entity."""
        line = EventPrinter.text_line(UNSTRUCT)

        assert line.endswith(
            f" GOOD unstruct app=blog  {LINK_CLICK}"
            "  [application/1-0-0, application/1-0-0]"
        )

    def test_page_view(self) -> None:
        """A page view shows its URL; no uid when none was sent."""
        line = EventPrinter.text_line(
            _good({"e": "pv", "aid": "shop", "url": "https://shop.test/"})
        )

        assert line.endswith(" GOOD page_view app=shop  https://shop.test/")

    def test_bad_event(self) -> None:
        """A bad event: BAD, its schema, its entities decoded, every reason."""
        line = EventPrinter.text_line(BAD)

        assert line.endswith(
            f" BAD  unstruct app=broken  {MISSING}  [application/1-0-0]"
            f"  ue_px: schema not found: {MISSING}; eid: must be a UUID"
        )

    def test_colour(self) -> None:
        """With colour, GOOD is green, BAD red, each part reset after."""
        good = EventPrinter.text_line(STRUCT, colour=True)
        bad = EventPrinter.text_line(BAD, colour=True)

        assert "\x1b[1;32mGOOD\x1b[0m" in good
        assert "\x1b[1;31mBAD \x1b[0m" in bad
        assert "\x1b[33m" in bad  # the reasons
        assert good.count("\x1b[0m") == good.count(ESC) // 2

    def test_control_characters_are_escaped(self) -> None:
        """Escape sequences sent in event fields never reach the terminal raw."""
        line = EventPrinter.text_line(
            _good({"e": "se", "aid": "a\x1b[2J", "se_ca": "c\n", "se_ac": "\x9b1m"})
        )

        assert ESC not in line
        assert "\n" not in line
        assert "\x9b" not in line
        assert "app=a\\x1b[2J" in line

    def test_verbose(self) -> None:
        """-v: the whole decoded event, indented, nulls left out."""
        good = EventPrinter.details(UNSTRUCT)
        bad = EventPrinter.details(BAD)

        assert all(line.startswith("    ") for line in good.splitlines())
        assert json.loads(good)["unstruct_event"]["data"] == UNSTRUCT.self_describing
        assert None not in json.loads(good).values()
        assert json.loads(bad)["errors"] == list(BAD.errors)
        assert json.loads(bad)["parameters"]["ue_px"]["data"]["schema"] == MISSING


class TestMicroJson:
    """--json prints what Snowplow Micro's --output-json prints."""

    def test_flattened_event(self) -> None:
        """Atomic columns, then the event and entities under shredded keys."""
        value = micro_json(UNSTRUCT)

        assert value["event_id"] == EID
        assert value["app_id"] == "blog"
        assert "contexts" not in value
        assert "unstruct_event" not in value
        assert value["unstruct_event_com_snowplowanalytics_snowplow_link_click_1"] == {
            "targetUrl": "https://b.test/"
        }
        assert value["contexts_com_snowplowanalytics_snowplow_application_1"] == [
            {"version": "1", "_schema_version": APPLICATION},
            {"version": "2", "_schema_version": APPLICATION},
        ]

    def test_camel_case_and_dashes(self) -> None:
        """Vendor dots and dashes become _, a camelCase name snake_case."""
        event = _good(
            {"e": "ue"},
            self_describing={
                "schema": "iglu:com.my-co/addToCart/jsonschema/3-1-0",
                "data": {},
            },
        )

        assert "unstruct_event_com_my_co_add_to_cart_3" in micro_json(event)


class TestPrinter:
    """The printer writes where it should and never raises."""

    def test_json_mode_splits_streams(self) -> None:
        """Good events as JSON on the stream, bad ones as lines on errors."""
        out, err = io.StringIO(), io.StringIO()
        printer = EventPrinter(stream=out, errors=err, as_json=True)

        printer(STRUCT)
        printer(BAD)

        assert json.loads(out.getvalue())["se_action"] == "add"
        assert " BAD  unstruct app=broken" in err.getvalue()

    def test_closed_stream(self) -> None:
        """Writing to a closed stream is ignored."""
        stream = io.StringIO()
        stream.close()

        EventPrinter(stream=stream)(STRUCT)

    def test_decoded_parameters_keep_garbage(self) -> None:
        """A value that does not decode is shown as it came."""
        assert decoded_parameters({"cx": "%%%", "co": "{", "e": "pv"}) == {
            "cx": "%%%",
            "co": "{",
            "e": "pv",
        }


class TestGate:
    """EventGate counts events and says when --until is reached."""

    def test_until(self) -> None:
        """done is set at the Nth event, bad ones counted apart."""
        gate = EventGate(until=3)
        gate(STRUCT)
        gate(BAD)
        before = gate.done.is_set()
        gate(UNSTRUCT)

        assert (before, gate.done.is_set()) == (False, True)
        assert (gate.events, gate.bad) == (3, 1)

    def test_no_until(self) -> None:
        """Without until, done is never set."""
        gate = EventGate()
        for _ in range(100):
            gate(STRUCT)

        assert not gate.done.is_set()


# --- the real command ------------------------------------------------------------


class _Output:
    """Reads a child's output (a pipe or a pty master) until some text arrives."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.text = ""

    def until(self, needle: str, *, timeout: float = 20.0) -> str:
        """All the output so far, once ``needle`` is in it."""
        return self.until_true(lambda text: needle in text, needle, timeout=timeout)

    def lines(self, count: int, *, timeout: float = 20.0) -> list[str]:
        """The first ``count`` complete lines."""
        self.until_true(
            lambda text: text.count("\n") >= count, f"{count} lines", timeout=timeout
        )
        return self.text.splitlines()[:count]

    def until_true(
        self, done: Callable[[str], bool], what: str, *, timeout: float
    ) -> str:
        deadline = time.monotonic() + timeout
        needle = what
        while not done(self.text):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"never printed {needle!r}; got {self.text!r}"
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:  # a pty whose child is gone
                    chunk = b""
                assert chunk, f"output ended before {needle!r}; got {self.text!r}"
                self.text += chunk.decode("utf-8", errors="replace")
        return self.text


@contextmanager
def _micro(
    *args: str, terminal: bool = False, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[str], _Output, _Output, str]]:
    """`snowplow-logging micro` on a free port: process, stdout, stderr, endpoint."""
    if terminal:
        master, slave = pty.openpty()
        out_fd, child_out = master, slave
    else:
        out_fd, child_out = os.pipe()
    err_fd, child_err = os.pipe()
    environment = {"PYTHONUNBUFFERED": "1", "NO_COLOR": "", **(env or {})}
    process = start_python(
        "-m",
        "snowplow_logging",
        "micro",
        "--port",
        "0",
        *args,
        stdout=child_out,
        stderr=child_err,
        env=environment,
    )
    os.close(child_out)
    os.close(child_err)
    out, err = _Output(out_fd), _Output(err_fd)
    banner = (err if "--json" in args else out).until("Ctrl-C stops")
    endpoint = banner.split("listening on ")[1].split()[0]
    try:
        yield process, out, err, endpoint
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=10)
        os.close(out_fd)
        os.close(err_fd)


def _send(endpoint: str, *, bad: bool = True, delivered: bool = True) -> int:
    """A page view, a structured event with entity and uid, maybe a bad event.

    ``delivered=False`` for a collector that exits at its last event: the
    answer to that request may not come (the event is counted before).
    """
    tracker = Tracker(
        emitters=Emitter(endpoint, flush_interval=0.05),
        app_id="shop",
        subject=Subject(user_id="alice"),
    )
    tracker.track(PageView(page_url="https://shop.test/"))
    tracker.track(
        StructuredEvent(
            category="basket",
            action="add",
            label="sku-1",
            context=[SelfDescribingJson(schema=APPLICATION, data={"version": "1.2"})],
        )
    )
    if bad:
        tracker.track(
            SelfDescribing(event_json=SelfDescribingJson(schema=MISSING, data={}))
        )
    closed = tracker.close(timeout=10 if delivered else 2)
    assert closed or not delivered
    return 3 if bad else 2


class TestCommand:
    """`snowplow-logging micro` as a user and a CI job run it."""

    def test_plain_when_piped(self) -> None:
        """stdout a pipe: plain lines with the key fields, no escape codes."""
        with _micro() as (process, out, _, endpoint):
            _send(endpoint)
            text = out.until(MISSING)
            process.terminate()
            assert process.wait(timeout=10) == 0
            text = out.until("stopped: 3 events")

        assert ESC not in text
        assert " GOOD page_view app=shop uid=alice  https://shop.test/" in text
        assert (
            " GOOD struct app=shop uid=alice  basket / add / sku-1  [application/1-0-0]"
            in text
        )
        assert f" BAD  unstruct app=shop uid=alice  {MISSING}" in text

    def test_coloured_on_a_terminal(self) -> None:
        """stdout a terminal: GOOD in green, BAD in red."""
        with _micro(terminal=True) as (_, out, _, endpoint):
            _send(endpoint)
            text = out.until(MISSING)

        assert "\x1b[1;32mGOOD\x1b[0m" in text
        assert "\x1b[1;31mBAD \x1b[0m" in text

    def test_no_color_on_a_terminal(self) -> None:
        """NO_COLOR set: plain even on a terminal."""
        with _micro(terminal=True, env={"NO_COLOR": "1"}) as (_, out, _, endpoint):
            _send(endpoint)
            text = out.until(MISSING)

        assert " GOOD struct app=shop" in text
        assert ESC not in text

    def test_verbose(self) -> None:
        """-v: the decoded event under its line."""
        with _micro("-v") as (_, out, _, endpoint):
            _send(endpoint, bad=False)
            text = out.until('"se_label": "sku-1"')
            text = out.until('"version": "1.2"')

        assert '    "event": "struct",' in text
        assert f'"schema": "{APPLICATION}"' in text

    def test_json(self) -> None:
        """--json: good events as Micro's JSON lines on stdout, bad ones on stderr."""
        with _micro("--json") as (_, out, err, endpoint):
            _send(endpoint)
            err.until(MISSING)
            lines = out.lines(2)

        events = [json.loads(line) for line in lines]
        assert [event["event"] for event in events] == ["page_view", "struct"]
        assert events[1]["contexts_com_snowplowanalytics_snowplow_application_1"] == [
            {"version": "1.2", "_schema_version": APPLICATION}
        ]
        assert " BAD  unstruct app=shop" in err.text

    def test_until_and_fail_on_bad(self) -> None:
        """--until 3 --fail-on-bad: exits by itself after 3 events, status 1."""
        with _micro("--until", "3", "--fail-on-bad") as (process, out, err, endpoint):
            _send(endpoint, delivered=False)
            status = process.wait(timeout=20)
            out.until("stopped: 3 events, 2 good, 1 bad")
            err.until("1 bad event (--fail-on-bad)")

        assert status == 1

    def test_until_all_good(self) -> None:
        """--until 2 --fail-on-bad with good events only: exits 0."""
        with _micro("--until", "2", "--fail-on-bad") as (process, out, _, endpoint):
            _send(endpoint, bad=False, delivered=False)
            status = process.wait(timeout=20)
            out.until("stopped: 2 events, 2 good, 0 bad")

        assert status == 0

    @pytest.mark.parametrize("value", ["0", "-1", "x"])
    def test_until_must_be_positive(self, value: str) -> None:
        """--until takes a whole number >= 1."""
        with pytest.raises(SystemExit) as exit_info:
            main(["micro", "--until", value])

        assert exit_info.value.code == 2
