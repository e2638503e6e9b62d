"""SpoolEmitter: events kept in SQLite survive outages, exits and SIGKILL."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from snowplow_logging import (
    ConfigurationError,
    ConfigurationTypeError,
    Retry,
    StructuredEvent,
    Tracker,
)
from snowplow_logging.micro import MicroCollector
from snowplow_logging.spool import SpoolEmitter
from tests.collector import free_port
from tests.processes import run_python, start_python

FAST_RETRY = Retry(initial_delay=0.02, max_delay=0.1, jitter=0.0)

CHILD = """
import sys
from snowplow_logging import Retry, StructuredEvent, Tracker
from snowplow_logging.spool import SpoolEmitter

endpoint, path, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
retry = Retry(initial_delay=0.02, max_delay=0.1, jitter=0.0)
emitter = SpoolEmitter(endpoint, path=path, retry=retry, batch_size=50)
tracker = Tracker(emitters=emitter, app_id="spool")
for n in range(count):
    tracker.track(StructuredEvent(category="c", action="a", value=n))
assert emitter.sync(timeout=10)
print("synced", flush=True)
emitter.flush()
print("flushed", flush=True)
sys.stdin.read()  # wait to be killed
"""


@pytest.fixture(name="micro")
def _micro() -> Iterator[MicroCollector]:
    with MicroCollector() as micro:
        yield micro


def _identity(stats: dict[str, int]) -> bool:
    return stats["inputs"] + stats["recovered"] == (
        stats["sent"] + stats["failed"] + stats["dropped"] + stats["queued"]
    )


def _rows(path: Path) -> int:
    with sqlite3.connect(path) as db:
        (count,) = db.execute("SELECT COUNT(*) FROM events").fetchone()
    db.close()
    return int(count)


def _track(emitter: SpoolEmitter, count: int) -> None:
    tracker = Tracker(emitters=emitter, app_id="spool")
    for n in range(count):
        tracker.track(StructuredEvent(category="c", action="a", value=n))


def _eids(micro: MicroCollector) -> Counter[str]:
    return Counter(event.payload["eid"] for event in micro.good())


def _child(endpoint: str, path: Path, count: int) -> subprocess.Popen[str]:
    return start_python(
        "-c", CHILD, endpoint, str(path), str(count), stdin=subprocess.PIPE
    )


def _open_descriptors(path: Path) -> list[str]:
    """This process's file descriptors open on ``path`` (Linux's /proc)."""
    found = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = fd.readlink()
        except OSError:  # the descriptor that listed the directory, now closed
            continue
        if target == path.resolve():
            found.append(fd.name)
    return found


class TestSpoolEmitter:
    """The spool sends through the collector and keeps what it could not send."""

    def test_delivers_and_empties_the_file(
        self, tmp_path: Path, micro: MicroCollector
    ) -> None:
        """Events reach the collector valid; the file ends empty; stats add up."""
        path = tmp_path / "spool.sqlite"
        with SpoolEmitter(micro.endpoint, path=path) as emitter:
            _track(emitter, 120)
            flushed = emitter.flush(timeout=10)
            stats = emitter.stats

        assert flushed
        assert micro.summary() == {"total": 120, "good": 120, "bad": 0}
        assert (stats["sent"], stats["queued"], stats["spooled"]) == (120, 0, 0)
        assert _identity(stats)
        assert _rows(path) == 0

    def test_close_sends_more_than_max_queue(
        self, tmp_path: Path, micro: MicroCollector
    ) -> None:
        """close() feeds the file to the sender in rounds until it is empty."""
        path = tmp_path / "spool.sqlite"
        emitter = SpoolEmitter(micro.endpoint, path=path, max_queue=50)
        for _ in range(6):
            _track(emitter, 40)
            emitter.sync(timeout=5)
        closed = emitter.close(timeout=10)

        assert closed
        assert micro.summary() == {"total": 240, "good": 240, "bad": 0}
        assert _rows(path) == 0

    def test_outage_backlog_is_sent_by_the_next_start(
        self, tmp_path: Path, micro: MicroCollector
    ) -> None:
        """Closed while the collector is down, the events wait in the file."""
        path = tmp_path / "spool.sqlite"
        down = SpoolEmitter(
            f"http://127.0.0.1:{free_port()}", path=path, retry=FAST_RETRY
        )
        _track(down, 40)
        synced = down.sync(timeout=5)
        closed = down.close(timeout=0.2)
        left = _rows(path)
        with SpoolEmitter(micro.endpoint, path=path) as up:
            flushed = up.flush(timeout=10)
            stats = up.stats

        assert (synced, closed, left) == (True, False, 40)
        assert flushed
        assert len(_eids(micro)) == 40
        assert (stats["recovered"], stats["sent"], stats["inputs"]) == (40, 40, 0)
        assert _identity(stats)
        assert _rows(path) == 0

    def test_flush_after_close_returns_false_at_once(self, tmp_path: Path) -> None:
        """Events left in the file after close make a later flush False, not a hang."""
        emitter = SpoolEmitter(
            f"http://127.0.0.1:{free_port()}",
            path=tmp_path / "s.sqlite",
            retry=FAST_RETRY,
        )
        _track(emitter, 3)
        emitter.close(timeout=0.2)

        assert emitter.flush() is False

    def test_spool_limit_drops_newest_and_counts(self, tmp_path: Path) -> None:
        """Past max_spool events in the file, new ones are dropped and counted."""
        with SpoolEmitter(
            f"http://127.0.0.1:{free_port()}",
            path=tmp_path / "s.sqlite",
            max_spool=10,
            retry=FAST_RETRY,
        ) as emitter:
            _track(emitter, 25)
            emitter.sync(timeout=5)
            stats = emitter.stats
            emitter.close(timeout=0)

        assert stats["dropped_spool_full"] == 15
        assert stats["spooled"] == 10
        assert _identity(stats)

    def test_exit_without_close_keeps_the_events(self, tmp_path: Path) -> None:
        """A process exiting while the collector is down leaves its events on disk."""
        path = tmp_path / "spool.sqlite"
        code = (
            "from snowplow_logging import set_exit_timeout\n"
            "from snowplow_logging.spool import SpoolEmitter\n"
            "set_exit_timeout(0.5)\n"
            f"e = SpoolEmitter('http://127.0.0.1:{free_port()}', path={str(path)!r})\n"
            "for n in range(9):\n"
            "    e.input({'e': 'pv', 'eid': str(n), 'tv': 't', 'p': 'srv'})\n"
        )
        result = run_python(code, timeout=30)

        assert result.returncode == 0, result.stderr
        assert _rows(path) == 9

    def test_forked_child_does_not_share_the_file(
        self, tmp_path: Path, micro: MicroCollector
    ) -> None:
        """After fork the child's emitter is closed; the parent's keeps working."""
        emitter = SpoolEmitter(micro.endpoint, path=tmp_path / "s.sqlite")
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child exits here
            emitter.input({"e": "pv", "eid": "child"})
            os._exit(0 if emitter.stats["dropped_closed"] == 1 else 1)
        _, status = os.waitpid(pid, 0)
        _track(emitter, 5)
        flushed = emitter.flush(timeout=10)
        emitter.close()

        assert os.waitstatus_to_exitcode(status) == 0
        assert flushed
        assert micro.summary()["good"] == 5

    @pytest.mark.parametrize(
        ("kwargs", "error", "message"),
        [
            ({"path": 3}, ConfigurationTypeError, "'path' must be a file path"),
            ({"path": "/no/such/dir/s"}, ConfigurationError, "existing directory"),
            ({"max_spool": 0}, ConfigurationError, "'max_spool' must be > 0"),
            ({"spool_interval": 0}, ConfigurationError, "'spool_interval' must be"),
        ],
    )
    def test_bad_settings_name_the_setting(
        self,
        tmp_path: Path,
        kwargs: dict[str, object],
        error: type[Exception],
        message: str,
    ) -> None:
        """Each bad setting fails at construction with its name in the message."""
        arguments: dict[str, object] = {"path": tmp_path / "s.sqlite", **kwargs}

        with pytest.raises(error, match=message):
            SpoolEmitter("http://127.0.0.1:1", **arguments)  # type: ignore[arg-type]

    def test_a_file_that_is_not_a_spool_is_refused(self, tmp_path: Path) -> None:
        """Opening some other file fails at construction and names 'path'."""
        path = tmp_path / "notes.txt"
        path.write_text("not a database " * 100)

        with pytest.raises(ConfigurationError, match="'path' must be a spool file"):
            SpoolEmitter("http://127.0.0.1:1", path=path)

    def test_a_refused_file_is_closed_at_once(self, tmp_path: Path) -> None:
        """The refused file's connection is closed, not left to the collector.

        The exception's frames still hold it while the error propagates; Python
        3.13 warns (ResourceWarning) about a connection collected unclosed.
        """
        path = tmp_path / "notes.txt"
        path.write_text("not a database " * 100)

        with pytest.raises(ConfigurationError) as refused:
            SpoolEmitter("http://127.0.0.1:1", path=path)

        assert refused.value.__cause__ is not None  # its frames are alive
        assert _open_descriptors(path) == []


class TestSpoolCrash:
    """A spooling process killed with SIGKILL loses nothing it had written."""

    def test_sigkill_during_outage_then_restart(
        self, tmp_path: Path, micro: MicroCollector
    ) -> None:
        """Killed while the collector is down: the next start sends everything."""
        path = tmp_path / "spool.sqlite"
        child = _child(f"http://127.0.0.1:{free_port()}", path, 300)
        assert child.stdout is not None
        assert child.stdout.readline() == "synced\n"
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=10)
        with SpoolEmitter(micro.endpoint, path=path) as emitter:
            flushed = emitter.flush(timeout=10)
            recovered = emitter.stats["recovered"]

        assert flushed
        assert recovered == 300
        assert len(_eids(micro)) == 300
        assert micro.bad() == []

    def test_sigkill_mid_delivery_loses_nothing(
        self, tmp_path: Path, micro: MicroCollector
    ) -> None:
        """Killed while sending: every event arrives; duplicates are counted."""
        path = tmp_path / "spool.sqlite"
        total = 2000
        child = _child(micro.endpoint, path, total)
        assert child.stdout is not None
        assert child.stdout.readline() == "synced\n"
        micro.wait_for(100, timeout=10)
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=10)
        left = _rows(path)
        with SpoolEmitter(micro.endpoint, path=path) as emitter:
            flushed = emitter.flush(timeout=15)
        eids = _eids(micro)
        duplicates = sum(eids.values()) - len(eids)
        print(f"killed with {left} rows left; {duplicates} duplicates")

        assert flushed
        assert len(eids) == total
        # Only a request cut short by the kill may arrive bad, and it holds no event.
        assert all(bad.payload is None for bad in micro.bad())
        assert _rows(path) == 0
