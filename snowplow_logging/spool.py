"""A durable spool: unsent events kept in SQLite across crashes and outages.

:class:`SpoolEmitter` is for a single process whose events must survive a
``SIGKILL`` or an outage longer than memory allows (issue #9)::

    input() ─ memory queue ─(thread)─ INSERT ─▶ spool.sqlite ─ SELECT ─▶ Emitter ─▶ collector
                                                     ▲                         │
                                                     └──── DELETE once accepted┘

Only ``sqlite3`` from the standard library is needed. Delivery is at least
once: a row leaves the file when the collector accepted (or refused for good)
its event, so a process killed between the two sends it again at the next start.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

import errno
import json
import math
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Final, Self, cast

from snowplow_logging._checks import check_count, check_seconds
from snowplow_logging._delivery.engine import Engine, Settings
from snowplow_logging._delivery.relay import PushSink
from snowplow_logging._delivery.sink import Pending
from snowplow_logging._diagnostics import LOGGER, RateLimitedLog
from snowplow_logging._emitter import Emitter
from snowplow_logging._exceptions import ConfigurationError, ConfigurationTypeError
from snowplow_logging._json import dumps_compact
from snowplow_logging._protocol import Payload
from snowplow_logging._retry import Retry

if sys.platform == "win32":  # pragma: no cover - the tests run on POSIX
    import msvcrt
else:
    import fcntl

__all__ = ["SpoolEmitter"]

_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS events "
    "(id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL)"
)
# Rows of ``events`` that hold no payload, moved aside with the reason; created
# the first time one is found. ``body`` has no type, so it keeps what was there.
_QUARANTINE: Final = (
    "CREATE TABLE IF NOT EXISTS quarantine "
    "(id INTEGER PRIMARY KEY AUTOINCREMENT, event_id INTEGER NOT NULL, body, "
    "reason TEXT NOT NULL, quarantined_at TEXT NOT NULL)"
)


def _read(body: object) -> Payload | str:
    """The payload a row's body holds, or why it holds none."""
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            return "not UTF-8 text"
    if not isinstance(body, str):
        return f"not text ({type(body).__name__})"
    try:
        value = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        return f"not JSON: {exc}"[:200]
    if not isinstance(value, dict):
        return f"JSON {type(value).__name__}, not an object"
    if not all(isinstance(item, str) for item in value.values()):
        return "a JSON object with values that are not strings"
    return cast("Payload", value)


def _lock(path: Path) -> int:
    """Hold ``<path>.lock`` exclusively, without waiting; its descriptor.

    Raises:
        ConfigurationError: another process (or emitter) holds it, or it
            cannot be taken.
    """
    lock = path.with_name(f"{path.name}.lock")
    try:  # not inherited by exec'd children (PEP 446)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        msg = f"'path' {str(path)!r}: its lock file {str(lock)!r} cannot be opened ({exc})."
        raise ConfigurationError(msg) from exc
    try:
        if sys.platform == "win32":  # pragma: no cover
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in {errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES, errno.EDEADLK}:
            msg = (
                f"'path' {str(path)!r} is in use: another process (or another "
                f"SpoolEmitter) holds its lock {str(lock)!r}; one spool per file."
            )
        else:
            msg = (
                f"'path' {str(path)!r}: its lock {str(lock)!r} cannot be taken ({exc})."
            )
        raise ConfigurationError(msg) from exc
    return fd


def _path(value: object) -> Path:
    if not isinstance(value, str | os.PathLike) or not str(value):
        msg = f"'path' must be a file path (got {value!r})."
        raise ConfigurationTypeError(msg)
    path = Path(value)
    if not path.parent.is_dir():
        msg = f"'path' must be in an existing directory (got {str(value)!r})."
        raise ConfigurationError(msg)
    return path


class SpoolEmitter:
    """Keeps every event in an SQLite file until the collector has accepted it.

    ``input()`` only appends to a bounded in-memory queue (never blocks on
    disk, never raises). A daemon thread writes queued events to the spool
    file in one transaction per batch, at most ``spool_interval`` seconds after
    they came, or at once on :meth:`sync`; from then on they survive the
    process being killed. Rows are read back in order and sent by an
    :class:`~snowplow_logging.Emitter`, and deleted once the collector accepted
    them or refused them for good. Events already in the file when the emitter
    opens it (from an earlier run) are sent first.

    The file holds at most ``max_spool`` events: past that, new events are
    dropped and counted in ``stats["dropped_spool_full"]``. :meth:`close` (and
    interpreter exit) writes what is in memory, gives the collector what is
    left of the timeout, and leaves the rest in the file for the next start.
    One process per file: the emitter holds an exclusive lock on
    ``<path>.lock`` (``flock``, beside the file) from construction to
    :meth:`close`, and a second opener, in another process or this one, fails
    at construction with :class:`~snowplow_logging.ConfigurationError`, before
    the file is read. After ``os.fork()`` the child's emitter is closed (its
    events count in ``dropped_closed``) and drops its copy of the lock, which
    stays the parent's; give the child its own file.

    A row that holds no payload (its body is not JSON, or not a JSON object of
    strings: written by something else, or damaged) never stops the emitter:
    when it is reached it moves, with the reason, to a ``quarantine`` table in
    the same file (created then), counts in ``stats["quarantined"]`` and in
    ``failed``, and the first one is reported once on the ``snowplow_logging``
    logger; the other rows are sent.

    Args:
        endpoint: the collector, as for :class:`~snowplow_logging.Emitter`.
        path: the spool file, created if missing (with ``-wal``/``-shm``
            files and the ``.lock`` file beside it).
        max_spool: most events kept in the file.
        spool_interval: seconds an event may wait in memory before it is written.
        max_queue: most events held in memory, and most read from the file
            and not yet resolved.
        method: batch_size: byte_limit: flush_interval: timeout: retry:
            headers: the :class:`~snowplow_logging.Emitter`'s options.

    Raises:
        ConfigurationError: a setting has a value that cannot work, the
            file is not a spool, or another process (or emitter) has it open.
        ConfigurationTypeError: a setting has the wrong type.

    .. versionadded:: 0.2.0
    """

    def __init__(
        self,
        endpoint: str,
        *,
        path: str | os.PathLike[str],
        max_spool: int = 1_000_000,
        spool_interval: float = 0.1,
        max_queue: int = 10_000,
        method: str = "post",
        batch_size: int = 500,
        byte_limit: int = 40_000,
        flush_interval: float = 1.0,
        timeout: float = 5.0,
        retry: Retry | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.path = _path(path)
        self._max_spool = check_count("max_spool", max_spool)
        interval = check_seconds("spool_interval", spool_interval, positive=True)
        self._sender = Emitter(
            endpoint,
            method=method,
            batch_size=batch_size,
            byte_limit=byte_limit,
            flush_interval=flush_interval,
            max_queue=check_count("max_queue", max_queue),
            timeout=timeout,
            retry=retry,
            headers=headers,
            on_success=self._delivered,
            on_failure=self._refused,
        )
        self._db_lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self._lock_pid = os.getpid()
        try:
            self._lock_fd = _lock(self.path)
            self._db = self._open()
            (rows,) = self._db.execute("SELECT COUNT(*) FROM events").fetchone()
        except BaseException:
            self._sender.close(timeout=0)
            if self._db is not None:
                self._db.close()
            self._unlock()
            raise
        self._rows = self._recovered = int(rows)
        self._fed_upto = 0  # the last row id given to the sender
        self._ids: dict[str, list[int]] = {}  # eid -> row ids in flight
        self._feeding = 0
        self._max_in_flight = max_queue
        self._spool_full = self._delivered_count = self._refused_count = 0
        self._quarantined = 0
        self._quarantine_reported = False
        self._notices = RateLimitedLog()
        self._describe = f"spool {str(self.path)!r}"
        sink = PushSink(
            describe=self._describe,
            batch_size=batch_size,
            encode=_row,
            push=self._push,
            retryable=_retryable,
            after_fork=self._forked,
            close=self._close_file,
        )
        self._writer = Engine(
            sink,
            name="SpoolEmitter",
            settings=Settings(
                max_queue, interval, Retry(initial_delay=0.05, max_delay=1.0)
            ),
        )
        if self._rows:
            with self._db_lock:
                self._feed_locked()

    def _open(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # commits survive a killed process
            db.execute(_SCHEMA)
            db.execute("SELECT id, body FROM events LIMIT 0")
        except sqlite3.DatabaseError as exc:
            msg = f"'path' must be a spool file or a new file (got {str(self.path)!r}: {exc})."
            raise ConfigurationError(msg) from exc
        return db

    def __repr__(self) -> str:
        return f"<SpoolEmitter {self._describe} closed={self._writer.closed}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def input(self, payload: Payload) -> None:
        """Queue one payload for the file; never blocks on disk, never raises."""
        self._writer.put(payload)

    def defer(self, pending: Pending) -> None:
        """Queue one pending event, built on the writer thread."""
        self._writer.put(pending)

    def _forked(self) -> bool:
        # Two processes sending one file's rows would send them twice. The
        # child drops its copy of the lock's descriptor (the lock stays the
        # parent's), so that it never holds the file once the parent closes.
        self._unlock()
        LOGGER.warning(
            "Snowplow %s: closed in the forked child %d; give it its own spool.",
            self._describe,
            os.getpid(),
        )
        return False

    def _push(self, rows: list[tuple[str]]) -> int:
        """Write ``rows`` to the file in one transaction (the writer thread)."""
        with self._db_lock:
            db = self._db
            if db is None:  # closed while this batch waited: it is lost
                return len(rows)
            keep = max(0, min(len(rows), self._max_spool - self._rows))
            if keep:
                with db:  # one transaction
                    db.execute("BEGIN")
                    db.executemany("INSERT INTO events (body) VALUES (?)", rows[:keep])
                self._rows += keep
            self._spool_full += len(rows) - keep
            self._feed_locked()
        if len(rows) > keep:
            self._notices.warning(
                "spool_full",
                "Snowplow %s: full (%d events); %d new events dropped so far.",
                self._describe,
                self._max_spool,
                self._spool_full,
            )
        return 0

    def _feed_locked(self) -> None:
        """Give the sender rows it does not hold yet, up to ``max_queue``.

        Rows that hold no payload go to quarantine and leave room for more.
        """
        db = self._db
        while db is not None and (room := self._max_in_flight - self._feeding) > 0:
            rows = db.execute(
                "SELECT id, body FROM events WHERE id > ? ORDER BY id LIMIT ?",
                (self._fed_upto, room),
            ).fetchall()
            unreadable: list[tuple[int, object, str]] = []
            for row_id, body in rows:
                self._fed_upto = row_id
                payload = _read(body)
                if isinstance(payload, str):
                    unreadable.append((row_id, body, payload))
                    continue
                self._ids.setdefault(str(payload.get("eid")), []).append(row_id)
                self._feeding += 1
                self._sender.input(payload)
            if not unreadable:
                return  # the room is used, or the file has no more rows
            self._quarantine_locked(db, unreadable)
            if len(rows) < room:
                return

    def _quarantine_locked(
        self, db: sqlite3.Connection, rows: list[tuple[int, object, str]]
    ) -> None:
        """Move rows that hold no payload to the quarantine table; never raises."""
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        try:
            with db:
                db.execute("BEGIN")
                db.execute(_QUARANTINE)
                db.executemany(
                    "INSERT INTO quarantine (event_id, body, reason, quarantined_at) "
                    "VALUES (?, ?, ?, ?)",
                    [(row_id, body, reason, now) for row_id, body, reason in rows],
                )
                db.executemany(
                    "DELETE FROM events WHERE id = ?", [(row[0],) for row in rows]
                )
            where = "moved to its 'quarantine' table"
        except sqlite3.Error as exc:  # they stay; the next start tries again
            where = f"skipped, left in the file ({exc})"
        self._rows -= len(rows)
        self._quarantined += len(rows)
        if not self._quarantine_reported:
            self._quarantine_reported = True
            row_id, _, reason = rows[0]
            LOGGER.warning(
                "Snowplow %s: %d rows hold no Snowplow payload and were %s, not "
                "sent (row %d: %s); later ones count in stats['quarantined'] only.",
                self._describe,
                len(rows),
                where,
                row_id,
                reason,
            )

    def _resolved(self, payloads: list[Payload], *, sent: bool) -> None:
        """Delete delivered or refused rows; runs on the sender's thread."""
        with self._db_lock:
            ids = []
            for payload in payloads:
                row_ids = self._ids.get(str(payload.get("eid")))
                if row_ids:
                    ids.append(row_ids.pop(0))
                    if not row_ids:
                        del self._ids[str(payload.get("eid"))]
            db = self._db
            if ids and db is not None:
                with db:
                    db.execute("BEGIN")
                    db.executemany(
                        "DELETE FROM events WHERE id = ?", [(i,) for i in ids]
                    )
            self._rows -= len(ids)
            self._feeding -= len(ids)
            if sent:
                self._delivered_count += len(ids)
            else:
                self._refused_count += len(ids)
            self._feed_locked()

    def _delivered(self, payloads: list[Payload]) -> None:
        self._resolved(payloads, sent=True)

    def _refused(self, sent_count: int, payloads: list[Payload]) -> None:
        self._resolved(payloads, sent=False)

    @property
    def stats(self) -> dict[str, int]:
        """A snapshot; ``inputs + recovered == sent + failed + dropped + queued``.

        ``recovered`` events were in the file when it was opened; ``queued``
        counts events in memory and in the file (``spooled`` of them);
        ``sent`` and ``failed`` count the collector's answers (``failed`` also
        counts events that could not be written, and the ``quarantined`` rows
        that held no payload); ``dropped`` adds
        ``dropped_spool_full`` to :class:`~snowplow_logging.Emitter`'s three
        reasons. ``requests`` and ``retried`` are HTTP attempts.
        """
        relay = self._writer.stats
        sender = self._sender.stats
        with self._db_lock:
            spooled, full = self._rows, self._spool_full
            sent, refused = self._delivered_count, self._refused_count
            quarantined = self._quarantined
        return {
            "inputs": relay["inputs"],
            "recovered": self._recovered,
            "queued": relay["queued"] + spooled,
            "spooled": spooled,
            "sent": sent,
            "failed": refused + relay["failed"] + quarantined,
            "quarantined": quarantined,
            "dropped": relay["dropped"] + full,
            "dropped_queue_full": relay["dropped_queue_full"],
            "dropped_closed": relay["dropped_closed"],
            "dropped_unsent": relay["dropped_unsent"],
            "dropped_spool_full": full,
            "requests": sender["requests"],
            "retried": sender["retried"],
        }

    def sync(self, timeout: float | None = None) -> bool:
        """Write every event queued so far to the file; then they survive a crash.

        Returns:
            True if all of them were written (or dropped) within ``timeout``.
        """
        return self._writer.flush(timeout)

    def flush(self, timeout: float | None = None) -> bool:
        """Write what is queued, then wait until the file is empty.

        Returns:
            True if every event was delivered or failed within ``timeout``.
        """
        deadline = math.inf if timeout is None else time.monotonic() + timeout
        return self.sync(timeout) and self._send_file(deadline)

    def _send_file(self, deadline: float) -> bool:
        """Feed and flush the sender until the file is empty or ``deadline``."""
        while True:
            with self._db_lock:
                if not self._rows:
                    return True
                self._feed_locked()
                before = (self._rows, self._fed_upto)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._sender.flush(
                None if math.isinf(remaining) else remaining
            ):
                return False
            with self._db_lock:
                if (self._rows, self._fed_upto) == before:
                    return False  # closed: what is left waits for the next start

    def close(self, timeout: float | None = 5.0) -> bool:
        """Write what is in memory, send the file until ``timeout``, then close.

        What the collector has not accepted by then stays in the file for the
        next start. Idempotent.

        Returns:
            True if everything was written and delivered or failed in time.
        """
        return self._writer.close(timeout)

    def _close_file(self, deadline: float) -> bool:
        # Runs once the writer stopped: more rows than the sender holds are fed
        # in rounds, so drain before closing it; the rest stays in the file.
        sent = self._send_file(deadline)
        remaining = deadline - time.monotonic()
        delivered = self._sender.close(
            None if math.isinf(remaining) else max(0.0, remaining)
        )
        with self._db_lock:
            if self._db is not None:
                self._db.close()
                self._db = None
            self._unlock()
        return sent and delivered

    def _unlock(self) -> None:
        """Release the file's lock; in a forked child, only close the descriptor."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is None:
            return
        if self._lock_pid == os.getpid() and sys.platform != "win32":
            # A child forked without the at-fork hooks may hold a copy: unlock.
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _row(payload: Payload) -> tuple[str]:
    return (dumps_compact(payload),)


def _retryable(exc: Exception) -> bool:
    return isinstance(exc, sqlite3.OperationalError)  # locked, disk full, I/O
