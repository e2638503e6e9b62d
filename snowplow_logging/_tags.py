"""What the logging integrations share: tags, entities, ignored loggers, claims.

``SnowplowHandler`` reads tags from log records and ``SnowplowProcessor`` from
structlog event dicts; both accept the same forms, normalised here. Claims keep
the two (and any number of structlog ``ProcessorFormatter`` copies of a record)
from sending the same record's events twice: see :func:`claim`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Final, TypeAlias

from snowplow_logging._events import Event, SelfDescribing, SelfDescribingJson
from snowplow_logging._exceptions import InvalidEventTypeError

__all__ = [
    "CLAIMS",
    "EXCEPTION",
    "IGNORED_CHILDREN",
    "IGNORED_LOGGERS",
    "IGNORED_NAMES",
    "Tag",
    "activate_claims",
    "claim",
    "entities",
    "events",
    "from_structlog",
    "is_ignored",
    "learn_ignored",
]

Tag: TypeAlias = Event | SelfDescribingJson | Mapping[str, object]
"""What a record or event dict may carry under the tag (or a list of these)."""

IGNORED_LOGGERS: Final = ("snowplow_logging", "urllib3", "requests", "http.client")
"""Loggers (and their children) whose records are never sent: our own send path."""

EXCEPTION: Final = "exc_info"
"""The claim name of a record's ``application_error`` event."""

IGNORED_CHILDREN: Final = tuple(f"{name}." for name in IGNORED_LOGGERS)
"""The prefixes of the ignored loggers' children, for ``str.startswith``."""
_CLAIMS_KEPT: Final = 1024


def is_ignored(name: object) -> bool:
    """True for a logger name in (or below) :data:`IGNORED_LOGGERS`."""
    return name in IGNORED_LOGGERS or (
        isinstance(name, str) and name.startswith(IGNORED_CHILDREN)
    )


IGNORED_NAMES: Final[dict[str, bool]] = {}
""":func:`is_ignored` of the logger names seen, for the handler's hot path:
one ``dict.get`` where the test is a tuple scan and a ``startswith``. A
program has a bounded set of loggers; past :data:`_NAMES_KEPT` names the
cache is emptied and starts again."""
_NAMES_KEPT: Final = 4096


def learn_ignored(name: object) -> bool:
    """:func:`is_ignored` of ``name``, remembered in :data:`IGNORED_NAMES` if a str."""
    ignored = is_ignored(name)
    if type(name) is not str:  # None from makeLogRecord(), or anything else
        return ignored
    if len(IGNORED_NAMES) >= _NAMES_KEPT:
        IGNORED_NAMES.clear()
    IGNORED_NAMES[name] = ignored
    return ignored


def from_structlog(record: logging.LogRecord) -> bool:
    """True for a record structlog's ``ProcessorFormatter.wrap_for_formatter`` made.

    The same test ``ProcessorFormatter`` uses: such a record carries the event
    dict as its message and ``_logger``/``_name`` as extras. Its tags and
    exceptions belong to ``SnowplowProcessor``.
    """
    attributes = record.__dict__
    return "_logger" in attributes and "_name" in attributes


def _json(item: object) -> SelfDescribingJson | None:
    if isinstance(item, SelfDescribingJson):
        return item
    if isinstance(item, Mapping) and set(item) == {"schema", "data"}:
        return SelfDescribingJson(schema=item["schema"], data=item["data"])
    return None


def _items(value: object) -> list[object] | tuple[object, ...]:
    return value if isinstance(value, list | tuple) else (value,)


def events(tagged: object) -> list[Event]:
    """The events a tag stands for: an event, a self-describing JSON, or a list.

    A ``SelfDescribingJson`` or a ``{"schema": ..., "data": ...}`` dict is a
    self-describing event; ``None`` is no event.

    Raises:
        InvalidEventTypeError: an item is none of these.
        InvalidEventError: a dict's schema or data is invalid.
    """
    if isinstance(tagged, Event):
        return [tagged]
    if tagged is None:
        return []
    out: list[Event] = []
    for item in _items(tagged):
        if isinstance(item, Event):
            out.append(item)
            continue
        event_json = _json(item)
        if event_json is None:
            msg = (
                "a tagged record must carry an event, a SelfDescribingJson, a "
                f"{{'schema': ..., 'data': ...}} dict or a list of these (got {type(item).__name__})."
            )
            raise InvalidEventTypeError(msg)
        out.append(SelfDescribing(event_json=event_json))
    return out


def entities(bound: object) -> tuple[SelfDescribingJson, ...]:
    """The entities bound as context: a self-describing JSON or a list of them.

    Raises:
        InvalidEventTypeError: an item is neither a ``SelfDescribingJson`` nor a
            ``{"schema": ..., "data": ...}`` dict.
        InvalidEventError: a dict's schema or data is invalid.
    """
    if bound is None:
        return ()
    out: list[SelfDescribingJson] = []
    for item in _items(bound):
        entity = _json(item)
        if entity is None:
            msg = (
                "bound entities must be a SelfDescribingJson, a "
                f"{{'schema': ..., 'data': ...}} dict or a list of these (got {type(item).__name__})."
            )
            raise InvalidEventTypeError(msg)
        out.append(entity)
    return tuple(out)


class _Claims:
    """The most recent claims, each keeping alive the objects its key names.

    A key is ``(id(record.created), id(owner), what)``. Holding the ``created``
    float and the owner makes their ids unique while the claim is kept, so a key
    match means the very same objects. Every ``LogRecord`` gets a float of its
    own when it is made, and the copies that ``ProcessorFormatter`` and
    ``QueueHandler`` make share it: one original record, one key.
    """

    __slots__ = ("_kept", "_lock", "_size", "active")

    def __init__(self, size: int) -> None:
        self.active = False
        # Reentrant: a signal handler that logs runs between two bytecodes of
        # the main thread, possibly inside this lock (as logging's own are).
        self._lock = threading.RLock()
        self._size = size
        self._kept: OrderedDict[tuple[int, int, str], tuple[float, object]] = (
            OrderedDict()
        )

    def renew_lock(self) -> None:
        """Give a forked child a fresh lock: another thread may have held it."""
        self._lock = threading.RLock()

    def first(self, record: logging.LogRecord, owner: object, what: str) -> bool:
        created = record.__dict__.get("created")
        if type(created) is not float:  # a hand-made record: cannot tell, so send
            return True
        key = (id(created), id(owner), what)
        with self._lock:
            if key in self._kept:
                return False
            self._kept[key] = (created, owner)
            if len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return True


CLAIMS: Final = _Claims(_CLAIMS_KEPT)
"""The process-wide claims; :func:`claim` is ``not CLAIMS.active or CLAIMS.first(...)``,
which ``SnowplowHandler`` inlines on its hot path."""

if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=CLAIMS.renew_lock)


def activate_claims() -> None:
    """Start keeping claims: called when the first ``SnowplowProcessor`` is built."""
    CLAIMS.active = True


def claim(record: logging.LogRecord, owner: object, what: str) -> bool:
    """Claim sending ``what`` (a tag name or :data:`EXCEPTION`) of a record.

    Returns True the first time for an original record (or any copy of it) and
    ``owner`` (the tracker), False afterwards. ``SnowplowHandler`` and
    ``SnowplowProcessor`` inside ``ProcessorFormatter`` claim before sending, so
    whichever sees a record first sends it, whatever the order of handlers and
    however many formatters run the processor. Integrations with different
    trackers each send. The last 1024 claims are kept, process-wide, so a
    ``QueueListener`` thread far behind the logging thread may send again.
    Thread-safe; takes a lock briefly, and only once a ``SnowplowProcessor``
    exists: until then there is nothing to agree with, and it returns True.
    """
    return not CLAIMS.active or CLAIMS.first(record, owner, what)
