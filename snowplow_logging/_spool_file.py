"""The spool's SQLite file: one process's lock, its rows in, out and deleted.

:class:`SpoolFile` is the file side of :class:`~snowplow_logging.spool.SpoolEmitter`:
it holds ``<path>.lock``, appends rows up to a limit, feeds the rows it has not
fed yet to a sender (moving rows that hold no payload to a ``quarantine``
table), and deletes each row once its event is resolved.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final, NamedTuple, cast

from snowplow_logging._diagnostics import LOGGER, RateLimitedLog
from snowplow_logging._exceptions import ConfigurationError
from snowplow_logging._json import dumps_compact
from snowplow_logging._protocol import Payload

if sys.platform == "win32":  # pragma: no cover - the tests run on POSIX
    import msvcrt
else:
    import fcntl

__all__ = ["FileCounts", "SpoolFile", "encode_row", "retryable_error"]

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


def encode_row(payload: Payload) -> tuple[str]:
    """One payload as the row :meth:`SpoolFile.append` writes."""
    return (dumps_compact(payload),)


def retryable_error(exc: Exception) -> bool:
    """Whether a failed write may succeed later (locked, disk full, I/O)."""
    return isinstance(exc, sqlite3.OperationalError)


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


def _connect(path: Path) -> sqlite3.Connection:
    """Open ``path`` as a spool (WAL, ``events`` table), creating it if new.

    Raises:
        ConfigurationError: the file is not a spool.
    """
    db: sqlite3.Connection | None = None
    try:
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # commits survive a killed process
        db.execute(_SCHEMA)
        db.execute("SELECT id, body FROM events LIMIT 0")
    except BaseException as exc:
        if db is not None:  # closed now, not when the exception's frames are freed
            db.close()
        if isinstance(exc, sqlite3.DatabaseError):
            msg = (
                f"'path' must be a spool file or a new file (got {str(path)!r}: {exc})."
            )
            raise ConfigurationError(msg) from exc
        raise
    return db


class FileCounts(NamedTuple):
    """A snapshot of a :class:`SpoolFile`'s counters, taken at one moment."""

    rows: int
    """Rows in the file now."""
    full: int
    """Rows not written because the file held ``max_rows``."""
    delivered: int
    """Rows deleted because the collector accepted their event."""
    refused: int
    """Rows deleted because the collector refused their event for good."""
    quarantined: int
    """Rows that held no payload, moved to the quarantine table (or skipped)."""


class SpoolFile:
    """One spool file, held by one process from construction to :meth:`close`.

    Takes ``<path>.lock`` exclusively (before the file is read), opens the
    file, and counts the rows an earlier run left (:attr:`recovered`). Rows
    are fed to ``send`` in order, at most ``max_fed`` unresolved at a time;
    :meth:`resolve` deletes the rows of resolved events and feeds more. Every
    method is thread-safe; ``send`` is called with the file's lock held, so it
    must not block.

    Args:
        path: the spool file (its directory exists).
        max_rows: most rows kept in the file.
        max_fed: most rows given to ``send`` and not yet resolved.
        send: takes one payload read from the file; never blocks.

    Raises:
        ConfigurationError: the file is not a spool, or another process (or
            emitter) holds its lock.
    """

    def __init__(
        self,
        path: Path,
        *,
        max_rows: int,
        max_fed: int,
        send: Callable[[Payload], None],
    ) -> None:
        self.path = path
        self.describe = f"spool {str(path)!r}"
        self._max_rows, self._max_fed, self._send = max_rows, max_fed, send
        self._mutex = threading.Lock()
        self._lock_pid = os.getpid()
        self._lock_fd: int | None = _lock(path)
        self._db: sqlite3.Connection | None = None
        try:
            self._db = _connect(path)
            (rows,) = self._db.execute("SELECT COUNT(*) FROM events").fetchone()
        except BaseException:
            if self._db is not None:
                self._db.close()
            self.release_lock()
            raise
        self.recovered: Final = int(rows)
        """Rows the file held when it was opened."""
        self._rows = self.recovered
        self._fed_upto = 0  # the last row id given to send
        self._ids: dict[str, list[int]] = {}  # eid -> row ids in flight
        self._fed = 0
        self._full = self._delivered = self._refused = self._quarantined = 0
        self._quarantine_reported = False
        self._notices = RateLimitedLog()

    def counts(self) -> FileCounts:
        """The counters, all read at one moment."""
        with self._mutex:
            return FileCounts(
                self._rows,
                self._full,
                self._delivered,
                self._refused,
                self._quarantined,
            )

    def append(self, rows: Sequence[tuple[str]]) -> int:
        """Write ``rows`` (from :func:`encode_row`) in one transaction, then feed.

        Rows past ``max_rows`` are dropped, counted in :attr:`FileCounts.full`
        and reported (rate-limited) on the ``snowplow_logging`` logger.

        Returns:
            How many rows were lost because the file is closed: all or none.

        Raises:
            sqlite3.Error: the transaction failed; nothing was written.
        """
        with self._mutex:
            db = self._db
            if db is None:  # closed while this batch waited: it is lost
                return len(rows)
            keep = max(0, min(len(rows), self._max_rows - self._rows))
            if keep:
                with db:  # one transaction
                    db.execute("BEGIN")
                    db.executemany("INSERT INTO events (body) VALUES (?)", rows[:keep])
                self._rows += keep
            self._full += len(rows) - keep
            full = self._full
            self._feed_locked()
        if len(rows) > keep:
            self._notices.warning(
                "spool_full",
                "Snowplow %s: full (%d events); %d new events dropped so far.",
                self.describe,
                self._max_rows,
                full,
            )
        return 0

    def position(self) -> tuple[int, int]:
        """Rows in the file and the last row id fed: changes as rows move on."""
        with self._mutex:
            return (self._rows, self._fed_upto)

    def feed(self) -> tuple[int, int] | None:
        """Give ``send`` rows it does not hold yet, up to ``max_fed``.

        Returns:
            The :meth:`position` after feeding, or None if the file is empty.
        """
        with self._mutex:
            if not self._rows:
                return None
            self._feed_locked()
            return (self._rows, self._fed_upto)

    def _feed_locked(self) -> None:
        """Feed rows; those that hold no payload go to quarantine, making room."""
        db = self._db
        while db is not None and (room := self._max_fed - self._fed) > 0:
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
                self._fed += 1
                self._send(payload)
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
                self.describe,
                len(rows),
                where,
                row_id,
                reason,
            )

    def resolve(self, payloads: Sequence[Payload], *, sent: bool) -> None:
        """Delete the rows of events the collector accepted (``sent``) or refused.

        Each payload resolves the oldest fed row of its ``eid``; then more
        rows are fed.

        Raises:
            sqlite3.Error: the rows could not be deleted.
        """
        with self._mutex:
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
            self._fed -= len(ids)
            if sent:
                self._delivered += len(ids)
            else:
                self._refused += len(ids)
            self._feed_locked()

    def close(self) -> None:
        """Close the file and release its lock; rows left stay for the next start."""
        with self._mutex:
            if self._db is not None:
                self._db.close()
                self._db = None
            self.release_lock()

    def release_lock(self) -> None:
        """Release the lock; in a forked child, only close its copy of the descriptor.

        The child's copy is closed so that it never holds the file once the
        parent closes; the lock stays the parent's. Idempotent.
        """
        fd, self._lock_fd = self._lock_fd, None
        if fd is None:
            return
        if self._lock_pid == os.getpid() and sys.platform != "win32":
            # A child forked without the at-fork hooks may hold a copy: unlock.
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
