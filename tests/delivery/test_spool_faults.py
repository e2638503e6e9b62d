"""SpoolEmitter and a spool file it cannot trust (issue #14, findings 14 and 15).

A real SQLite file and a real collector: rows that are not payloads are put in
quarantine when they are reached and the rest is sent; a second process (real
ones, started with subprocess) opening a file that another holds is refused.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from snowplow_logging import ConfigurationError, Retry
from snowplow_logging.micro import MicroCollector
from snowplow_logging.spool import SpoolEmitter
from tests.collector import free_port
from tests.processes import run_python, start_python

FAST_RETRY = Retry(initial_delay=0.02, max_delay=0.1, jitter=0.0)

# Bodies a spool file may hold that are not a payload (a JSON object of strings).
UNREADABLE: dict[str, object] = {
    "not-json": "not json {",
    "truncated": '{"e": "pv", "eid": "x", "p": "sr',
    "array": '["e", "pv"]',
    "string": '"pv"',
    "null": "null",
    "number-values": '{"e": "pv", "eid": "n", "tv": 3}',
    "nested": '{"e": "pv", "eid": "o", "cx": {"a": "b"}}',
    "deep": "[" * 100_000,
    "huge-int": '{"e": "pv", "n": ' + "9" * 5000 + "}",
    "not-utf8": b"\xff\xfe{}",
    "blob-json": b'{"e": 1}',
    "integer": 42,
}


@pytest.fixture(name="micro")
def _micro() -> Iterator[MicroCollector]:
    with MicroCollector() as micro:
        yield micro


def _identity(stats: dict[str, int]) -> bool:
    return stats["inputs"] + stats["recovered"] == (
        stats["sent"] + stats["failed"] + stats["dropped"] + stats["queued"]
    )


def _event(n: int) -> dict[str, str]:
    return {
        "e": "pv",
        "eid": f"00000000-0000-4000-8000-{n:012d}",
        "p": "srv",
        "tv": "py-test",
        "url": f"https://shop.test/{n}",
    }


def _spool_with(path: Path, rows: list[object]) -> None:
    """A spool file (made by a spool) holding ``rows``: dicts as JSON, the rest as is."""
    spool = SpoolEmitter(f"http://127.0.0.1:{free_port()}", path=path, retry=FAST_RETRY)
    spool.close(timeout=0)  # creates the file and its table, sends nothing
    with sqlite3.connect(path) as db:
        for row in rows:
            body = json.dumps(row) if isinstance(row, dict) else row
            db.execute("INSERT INTO events (body) VALUES (?)", (body,))
    db.close()


def _table(path: Path, table: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        rows = db.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()  # noqa: S608
    db.close()
    return rows


def _eids(micro: MicroCollector) -> Counter[str]:
    return Counter(event.payload["eid"] for event in micro.good())


class TestUnreadableRows:
    """A row that is not a payload is quarantined; the spool starts and sends."""

    @pytest.mark.parametrize("kind", list(UNREADABLE))
    def test_one_unreadable_row_does_not_stop_the_start(
        self, tmp_path: Path, micro: MicroCollector, kind: str
    ) -> None:
        """Good rows around one unreadable row are sent; it goes to quarantine."""
        path = tmp_path / "spool.sqlite"
        _spool_with(path, [_event(1), UNREADABLE[kind], _event(2)])
        stored = _table(path, "events")[1][1]  # as SQLite keeps it (42 -> '42')

        with SpoolEmitter(micro.endpoint, path=path) as spool:
            flushed = spool.flush(timeout=10)
            stats = spool.stats

        assert flushed
        assert sorted(_eids(micro)) == [_event(1)["eid"], _event(2)["eid"]]
        assert (stats["recovered"], stats["sent"], stats["quarantined"]) == (3, 2, 1)
        assert stats["failed"] == 1  # a quarantined row counts as failed
        assert _identity(stats)
        assert _table(path, "events") == []
        quarantined = _table(path, "quarantine")
        assert len(quarantined) == 1
        assert quarantined[0][2] == stored  # the body, kept as it was

    def test_many_unreadable_rows_warn_once_and_stats_add_up(
        self,
        tmp_path: Path,
        micro: MicroCollector,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """Bad rows past what the first read takes are reached and moved too."""
        path = tmp_path / "spool.sqlite"
        bad = list(UNREADABLE.values())
        rows: list[object] = [*bad, *(_event(n) for n in range(30)), *bad]
        rows[20:20] = bad  # some among the good rows, past max_queue
        _spool_with(path, rows)

        with (
            caplog.at_level(logging.WARNING, logger="snowplow_logging"),
            SpoolEmitter(micro.endpoint, path=path, max_queue=5) as spool,
        ):
            flushed = spool.flush(timeout=10)
            stats = spool.stats
        warnings = [r for r in caplog.records if "quarantine" in r.getMessage()]

        assert flushed
        assert len(_eids(micro)) == 30
        assert stats["quarantined"] == 3 * len(bad)
        assert stats["sent"] == 30
        assert _identity(stats)
        assert _table(path, "events") == []
        assert len(_table(path, "quarantine")) == 3 * len(bad)
        assert len(warnings) == 1
        assert warnings[0].name == "snowplow_logging"
        assert str(path) in warnings[0].getMessage()

    def test_quarantine_table_is_kept_across_starts(
        self, tmp_path: Path, micro: MicroCollector
    ) -> None:
        """A later start appends to the quarantine table it finds."""
        path = tmp_path / "spool.sqlite"
        _spool_with(path, ["first bad", _event(1)])
        with SpoolEmitter(micro.endpoint, path=path) as spool:
            assert spool.flush(timeout=10)
        with sqlite3.connect(path) as db:
            db.execute("INSERT INTO events (body) VALUES ('second bad')")
        db.close()
        with SpoolEmitter(micro.endpoint, path=path) as spool:
            assert spool.flush(timeout=10)
            stats = spool.stats

        assert [row[2] for row in _table(path, "quarantine")] == [
            "first bad",
            "second bad",
        ]
        assert (stats["recovered"], stats["quarantined"]) == (1, 1)
        assert len(_eids(micro)) == 1


HOLDER = """
import sys
from snowplow_logging.spool import SpoolEmitter

spool = SpoolEmitter(sys.argv[1], path=sys.argv[2])
print("open", flush=True)
sys.stdin.readline()
print("closed" if spool.close(timeout=5) else "not closed", flush=True)
sys.stdin.read()  # stay alive, the file closed, until told to end
"""

OPENER = """
import sys
from snowplow_logging import ConfigurationError
from snowplow_logging.spool import SpoolEmitter

try:
    spool = SpoolEmitter(sys.argv[1], path=sys.argv[2])
except ConfigurationError as exc:
    print("refused:", exc)
    sys.exit(3)
spool.input({"e": "pv", "eid": sys.argv[3], "p": "srv", "tv": "t", "url": "https://a.test/"})
print("opened", spool.flush(timeout=10))
spool.close()
"""


OPENER_EID = "00000000-0000-4000-8000-000000000999"


def _open_elsewhere(endpoint: str, path: Path) -> subprocess.CompletedProcess[str]:
    return run_python(OPENER, endpoint, str(path), OPENER_EID, timeout=30)


class TestOneProcessPerFile:
    """A spool file is locked while open: a second opener is refused."""

    def test_second_process_is_refused_until_the_first_closes(
        self, tmp_path: Path, micro: MicroCollector
    ) -> None:
        """Process B fails at construction naming the path; after A closes, C opens."""
        path = tmp_path / "spool.sqlite"
        holder = start_python(
            "-c", HOLDER, micro.endpoint, str(path), stdin=subprocess.PIPE
        )
        try:
            assert holder.stdin is not None
            assert holder.stdout is not None
            assert holder.stdout.readline() == "open\n"
            second = _open_elsewhere(micro.endpoint, path)
            holder.stdin.write("close\n")
            holder.stdin.flush()
            closed = holder.stdout.readline()
            third = _open_elsewhere(micro.endpoint, path)  # A is still running
        finally:
            holder.kill()
            holder.communicate(timeout=10)

        assert second.returncode == 3, second.stderr
        assert "refused:" in second.stdout
        assert str(path) in second.stdout
        assert "another process" in second.stdout
        assert closed == "closed\n"
        assert third.returncode == 0, third.stderr
        assert third.stdout.strip() == "opened True"
        assert [event.payload["eid"] for event in micro.good()] == [OPENER_EID]

    def test_second_emitter_in_the_same_process_is_refused(
        self, tmp_path: Path, micro: MicroCollector
    ) -> None:
        """Two emitters of one process on one file would send its rows twice too."""
        path = tmp_path / "spool.sqlite"
        first = SpoolEmitter(micro.endpoint, path=path)
        with pytest.raises(ConfigurationError, match="another process") as refused:
            SpoolEmitter(micro.endpoint, path=path)
        first.close()
        with SpoolEmitter(micro.endpoint, path=path) as again:
            reopened = again.flush(timeout=5)

        assert str(path) in str(refused.value)
        assert reopened

    def test_refused_opener_leaves_the_file_alone(
        self, tmp_path: Path, micro: MicroCollector
    ) -> None:
        """The refusal comes before the file is read: its rows stay for the holder."""
        path = tmp_path / "spool.sqlite"
        _spool_with(path, [_event(n) for n in range(20)])
        holder = SpoolEmitter(f"http://127.0.0.1:{free_port()}", path=path)
        try:
            second = _open_elsewhere(micro.endpoint, path)
            rows = len(_table(path, "events"))
        finally:
            holder.close(timeout=0)

        assert second.returncode == 3, second.stderr
        assert rows == 20
        assert micro.summary()["total"] == 0

    def test_forked_child_does_not_keep_the_lock(
        self, tmp_path: Path, micro: MicroCollector
    ) -> None:
        """A child forked while the spool is open never holds the file after it."""
        path = tmp_path / "spool.sqlite"
        spool = SpoolEmitter(micro.endpoint, path=path)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child waits for the pipe, then exits
            os.close(write_end)
            os.read(read_end, 1)
            os._exit(0)
        os.close(read_end)
        try:
            while_open = _open_elsewhere(micro.endpoint, path)
            spool.close()
            after_close = _open_elsewhere(micro.endpoint, path)  # the child lives on
        finally:
            os.close(write_end)  # the child's read returns: it exits
            _, status = os.waitpid(pid, 0)

        assert while_open.returncode == 3, while_open.stderr
        assert after_close.returncode == 0, after_close.stderr
        assert os.waitstatus_to_exitcode(status) == 0
