"""SIGTERM: with install_sigterm_handler() everything queued arrives first.

A script logs five events (kept queued: its flush interval is 60 s), says
"ready" on stdout and waits; the test sends SIGTERM and waits for its exit,
so the collector has everything by then. Without the helper the default
action kills the process with its queue.
"""

from __future__ import annotations

import re
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from snowplow_logging import ConfigurationError, install_sigterm_handler
from snowplow_logging.micro import MicroCollector
from tests.collector import free_port
from tests.process.conftest import APPS, REPO, Running, app_env, delivered

EVENTS = 5


def start(mode: str, env: dict[str, str], tmp_path: Path) -> Running:
    return Running(
        [sys.executable, str(APPS / "sigterm_app.py"), mode],
        env=env,
        cwd=REPO,
        log=tmp_path / "stderr.log",
    )


def test_default_action_still_ends_the_process_by_sigterm(
    micro: MicroCollector, tmp_path: Path
) -> None:
    """SIG_DFL before: every event arrives, and the process is still killed by it."""
    app = start("default", app_env(micro.endpoint, SNOWPLOW_SIGTERM="1"), tmp_path)
    try:
        app.wait_line("ready")
        app.process.send_signal(signal.SIGTERM)
        code = app.wait()
    finally:
        app.stop()

    assert code == -signal.SIGTERM, app.stderr()
    assert delivered(micro) == (EVENTS, EVENTS)
    assert app.stderr() == ""


def test_graceful_shutdown_that_raises_sigterm_again(
    micro: MicroCollector, tmp_path: Path
) -> None:
    """As uvicorn does: its own handler, a graceful shutdown logging two more
    events, the previous handler put back and SIGTERM raised again."""
    app = start("graceful", app_env(micro.endpoint, SNOWPLOW_SIGTERM="1"), tmp_path)
    try:
        app.wait_line("ready")
        app.process.send_signal(signal.SIGTERM)
        code = app.wait()
    finally:
        app.stop()

    assert code == -signal.SIGTERM, app.stderr()
    assert delivered(micro) == (EVENTS + 2, EVENTS + 2)


def test_ignored_sigterm_stays_ignored_after_the_flush(
    micro: MicroCollector, tmp_path: Path
) -> None:
    """SIG_IGN before: the events are flushed and the process goes on."""
    app = start("ignore", app_env(micro.endpoint, SNOWPLOW_SIGTERM="1"), tmp_path)
    try:
        app.wait_line("ready")
        app.process.send_signal(signal.SIGTERM)
        micro.wait_for(EVENTS, timeout=10)
        assert app.process.poll() is None  # still running
        app.close_stdin()
        app.wait_line("bye")
        code = app.wait()
    finally:
        app.stop()

    assert code == 0, app.stderr()
    assert delivered(micro) == (EVENTS, EVENTS)


def test_previous_handler_is_called_after_the_flush(
    micro: MicroCollector, tmp_path: Path
) -> None:
    """A Python handler before (here one leaving through os._exit): flush first."""
    app = start("callable", app_env(micro.endpoint, SNOWPLOW_SIGTERM="1"), tmp_path)
    try:
        app.wait_line("ready")
        app.process.send_signal(signal.SIGTERM)
        code = app.wait()
    finally:
        app.stop()

    assert code == 3, app.stderr()
    assert delivered(micro) == (EVENTS, EVENTS)


@pytest.mark.parametrize("down", ["refused", "hanging"])
def test_collector_down_is_bounded_and_reported(
    down: str, tmp_path: Path, blackhole_url: str
) -> None:
    """Nothing can be sent: the process still ends by SIGTERM at the deadline,
    after saying how many events it dropped."""
    url = f"http://127.0.0.1:{free_port()}" if down == "refused" else blackhole_url
    env = app_env(url, SNOWPLOW_SIGTERM="1", SIGTERM_TIMEOUT="0.5")
    app = start("default", env, tmp_path)
    try:
        app.wait_line("ready")
        sent = time.monotonic()
        app.process.send_signal(signal.SIGTERM)
        code = app.wait()
        elapsed = time.monotonic() - sent
    finally:
        app.stop()

    assert code == -signal.SIGTERM, app.stderr()
    assert elapsed < 0.5 + 2.0
    dropped = re.findall(r"(\d+) events? could not be delivered", app.stderr())
    assert dropped == [str(EVENTS)], app.stderr()


def test_only_from_the_main_thread() -> None:
    """From another thread: a clear error, and no handler installed."""
    before = signal.getsignal(signal.SIGTERM)
    errors: list[BaseException] = []

    def install() -> None:
        try:
            install_sigterm_handler()
        except ConfigurationError as error:
            errors.append(error)

    thread = threading.Thread(target=install)
    thread.start()
    thread.join(timeout=10)

    assert len(errors) == 1
    assert "must be called from the main thread" in str(errors[0])
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize("timeout", [-1.0, float("inf"), float("nan")])
def test_bad_timeout_names_the_setting(timeout: float) -> None:
    with pytest.raises(ConfigurationError, match="'timeout'"):
        install_sigterm_handler(timeout)
