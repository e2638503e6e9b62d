"""The snowplow-logging command: micro serves and prints, demo passes, errors are clear."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from snowplow_logging import _demo
from snowplow_logging._cli import main

TP2 = "/com.snowplowanalytics.snowplow/tp2"
GOOD = {
    "e": "pv",
    "eid": "9a1e2f6c-0c5f-4b8e-9d5a-3c1f1e2d3b4a",
    "tv": "py-x",
    "p": "srv",
    "aid": "shop",
    "url": "https://shop.test/",
}
HIDE_JSONSCHEMA = (
    "import sys; sys.modules['jsonschema'] = None\n"
    "from snowplow_logging._cli import main\n"
    "raise SystemExit(main(sys.argv[1:]))\n"
)


def _script() -> str:
    """The console script installed beside this interpreter."""
    path = Path(sys.executable).parent / "snowplow-logging"
    if not path.exists():
        pytest.skip("the package is not installed with its console script")
    return str(path)


class _Micro:
    """A `snowplow-logging micro` subprocess and the port it announced."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "snowplow_logging", "micro", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        banner_stream = self.process.stderr if "--json" in args else self.process.stdout
        assert banner_stream is not None
        self.banner = banner_stream.readline()
        assert "listening on http://127.0.0.1:" in self.banner, self.banner
        self.endpoint = self.banner.split("listening on ")[1].split()[0]

    def stop(self) -> tuple[int, str, str]:
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=10)
        return self.process.returncode, out, err


@pytest.fixture(name="micro_process")
def _micro_process() -> Iterator[_Micro]:
    micro = _Micro()
    yield micro
    if micro.process.poll() is None:
        micro.process.kill()
        micro.process.communicate()


class TestMicroCommand:
    """`snowplow-logging micro` in a subprocess, as a user runs it."""

    def test_serves_prints_and_stops(self, micro_process: _Micro) -> None:
        """It announces its URL, validates, prints a line per event, stops on SIGTERM."""
        response = requests.get(f"{micro_process.endpoint}/i", params=GOOD, timeout=10)
        bad = requests.get(f"{micro_process.endpoint}/i?e=pv&vid=x", timeout=10)
        summary = requests.get(f"{micro_process.endpoint}/micro/all", timeout=10).json()
        assert micro_process.process.stdout is not None
        lines = [micro_process.process.stdout.readline() for _ in range(2)]

        status, out, _ = micro_process.stop()

        assert (response.status_code, bad.status_code) == (200, 200)
        assert summary == {"total": 2, "good": 1, "bad": 1}
        assert " GOOD page_view app=shop  https://shop.test/" in lines[0]
        assert " BAD  page_view  " in lines[1]
        assert status == 0
        assert "stopped: 2 events, 1 good, 1 bad" in out

    def test_json_lines(self) -> None:
        """--json prints one JSON object per good event; the banner goes to stderr."""
        micro = _Micro("--json")
        try:
            requests.post(
                f"{micro.endpoint}{TP2}",
                json={
                    "schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4",
                    "data": [GOOD],
                },
                timeout=10,
            )
            assert micro.process.stdout is not None
            line = json.loads(micro.process.stdout.readline())
        finally:
            status, _, err = micro.stop()

        assert (line["app_id"], line["event"]) == ("shop", "page_view")
        assert line["event_id"] == GOOD["eid"]
        assert status == 0
        assert "stopped: 1 event," in err

    def test_port_taken(self) -> None:
        """A port already in use: exit 1 naming the address."""
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]

            status = main(["micro", "--port", str(port)])

        assert status == 1

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--port", "70000"], "'--port' must be a number from 0 to 65535"),
            (["--schemas", "/nonexistent/dir"], "'--schemas' must be a directory"),
            (["--history", "-1"], "'--history' must be a whole number >= 0"),
            (["--max-body-size", "0"], "'--max-body-size' must be a whole number >= 1"),
        ],
    )
    def test_bad_arguments(
        self, capsys: pytest.CaptureFixture[str], args: list[str], message: str
    ) -> None:
        """Bad arguments exit 2 with a message naming the option."""
        with pytest.raises(SystemExit) as exit_info:
            main(["micro", *args])

        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err

    @pytest.mark.parametrize("args", [["micro", "--port", "0"], ["demo"]])
    def test_missing_jsonschema(self, args: list[str]) -> None:
        """Without jsonschema: exit 2, saying exactly what to install."""
        result = subprocess.run(
            [sys.executable, "-c", HIDE_JSONSCHEMA, *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

        assert result.returncode == 2
        assert result.stderr == (
            f"snowplow-logging {args[0]}: validating events needs the 'jsonschema' "
            "package: pip install 'snowplow-logging[micro]'\n"
        )
        assert result.stdout == ""


class TestDemoCommand:
    """`snowplow-logging demo`: every event type good, a table, the right exit status."""

    def test_console_script(self) -> None:
        """The installed console script runs the demo and exits 0."""
        result = subprocess.run(
            [_script(), "demo"], capture_output=True, text=True, timeout=60, check=False
        )

        assert result.returncode == 0, result.stdout + result.stderr
        assert "event type" in result.stdout
        for kind in (
            "page_view",
            "page_ping",
            "struct",
            "unstruct",
            "transaction_item",
        ):
            assert kind in result.stdout
        assert (
            "iglu:com.snowplowanalytics.mobile/screen_view/jsonschema/1-0-0"
            in result.stdout
        )
        assert result.stdout.rstrip().endswith("events are good.")
        assert result.stderr == ""

    def test_bad_event_fails_the_demo(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A section sending a bad event makes the demo exit 1 and show the reason."""

        def bad_section(run: _demo.DemoRun) -> None:
            tracker = run.tracker("bad")
            emitter = tracker.emitters[0]
            emitter.input({**GOOD, "eid": "not-a-uuid"})

        monkeypatch.setattr(_demo, "SECTIONS", (("bad", bad_section),))
        out = io.StringIO()

        status = _demo.run_demo(out=out)

        assert status == 1
        assert "BAD page_view: eid: must be a UUID" in out.getvalue()
