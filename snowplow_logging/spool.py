"""A durable spool: unsent events kept in SQLite across crashes and outages.

:class:`SpoolEmitter` is for a single process whose events must survive a
``SIGKILL`` or an outage longer than memory allows (issue #9)::

    input() ─ memory queue ─(thread)─ INSERT ─▶ spool.sqlite ─ SELECT ─▶ Emitter ─▶ collector
                                                     ▲                         │
                                                     └──── DELETE once accepted┘

Only ``sqlite3`` from the standard library is needed. Delivery is at least
once: a row leaves the file when the collector accepted (or refused for good)
its event, so a process killed between the two sends it again at the next start.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Self

from snowplow_logging._checks import check_count, check_seconds
from snowplow_logging._delivery.engine import Engine, Settings
from snowplow_logging._delivery.relay import PushSink
from snowplow_logging._delivery.sink import Pending
from snowplow_logging._diagnostics import LOGGER
from snowplow_logging._emitter import Emitter
from snowplow_logging._exceptions import ConfigurationError, ConfigurationTypeError
from snowplow_logging._protocol import Payload
from snowplow_logging._retry import Retry
from snowplow_logging._spool_file import SpoolFile, encode_row, retryable_error

__all__ = ["SpoolEmitter"]


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

    .. versionadded:: 0.1.0
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
        try:
            self._file = SpoolFile(
                self.path,
                max_rows=self._max_spool,
                max_fed=max_queue,
                send=self._sender.input,
            )
        except BaseException:
            self._sender.close(timeout=0)
            raise
        self._describe = self._file.describe
        sink = PushSink(
            describe=self._describe,
            batch_size=batch_size,
            encode=encode_row,
            push=self._file.append,
            retryable=retryable_error,
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
        if self._file.recovered:
            self._file.feed()

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
        self._file.release_lock()
        LOGGER.warning(
            "Snowplow %s: closed in the forked child %d; give it its own spool.",
            self._describe,
            os.getpid(),
        )
        return False

    def _delivered(self, payloads: list[Payload]) -> None:
        """``on_success``, on the sender's thread: delete the rows."""
        self._file.resolve(payloads, sent=True)

    def _refused(self, sent_count: int, payloads: list[Payload]) -> None:
        """``on_failure``, on the sender's thread: delete the rows."""
        self._file.resolve(payloads, sent=False)

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
        spooled, full, sent, refused, quarantined = self._file.counts()
        return {
            "inputs": relay["inputs"],
            "recovered": self._file.recovered,
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
            before = self._file.feed()
            if before is None:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._sender.flush(
                None if math.isinf(remaining) else remaining
            ):
                return False
            if self._file.position() == before:
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
        self._file.close()
        return sent and delivered
