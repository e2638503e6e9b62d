"""Payloads from events: the protocol's fields, entities and ids, on the worker thread.

:class:`PayloadBuilder` turns an already-checked event into its payloads: the
common fields (docs/protocol.md 2.1) and subject fields, in precedence order
(6), the event's own fields, entities as a ``contexts`` envelope, plain JSON or
URL-safe base64 (4), placed last so a truncating proxy cuts them first. With
:class:`~snowplow_logging.Emitter` it runs on the emitter's worker thread, and
counts (and reports once) the events it drops because their JSON cannot be
encoded.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from typing import Final

from snowplow_logging import _format as fmt
from snowplow_logging import _protocol as proto
from snowplow_logging._diagnostics import RateLimitedLog
from snowplow_logging._events import Event, Part, SelfDescribingJson
from snowplow_logging._exceptions import InvalidEventTypeError
from snowplow_logging._json import JsonEncoding
from snowplow_logging._protocol import Payload

__all__ = ["PayloadBuilder", "event_id", "event_parts"]

BuildError: Final = (ValueError, TypeError, RecursionError)
"""What building a payload raises for JSON that cannot be encoded."""

_urandom: Final = os.urandom
_VARIANT: Final = "89ab"


def event_id() -> str:
    """A random (version 4) UUID as text, without building a ``uuid.UUID`` object."""
    h = _urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def event_parts(event: Event) -> tuple[tuple[Part, ...], str | None]:
    """The protocol events an event sends (a transaction: one per item) and its ``ttm``.

    Both are made and checked once, by the event's constructor; this is their
    one reader outside ``_events``.
    """
    return event._parts, event._ttm  # noqa: SLF001 - Event's own results, read-only here


class PayloadBuilder:
    """Builds a tracker's payloads.

    Args:
        common: the tracker's fields for every event (``tv``, ``tna``, ``aid``,
            ``p`` and its subject's).
        encode_base64: entities and self-describing events as base64
            (``cx``/``ue_px``) or plain JSON (``co``/``ue_pr``).
        encoding: the tracker's JSON encoding (its ``json_encoder``).
        log: where a dropped event is reported (rate-limited).
    """

    __slots__ = ("_co", "_common", "_encoding", "_log", "_ue", "failures")

    def __init__(
        self,
        common: dict[str, str],
        *,
        encode_base64: bool,
        encoding: JsonEncoding,
        log: RateLimitedLog,
    ) -> None:
        self._common = common
        self._ue = proto.UNSTRUCT_ENCODED if encode_base64 else proto.UNSTRUCT
        self._co = proto.CONTEXT_ENCODED if encode_base64 else proto.CONTEXT
        self._encoding = encoding
        self._log = log
        self.failures = itertools.count()
        """Events dropped because their JSON could not be encoded (``next()`` is atomic)."""

    def failed(self, exc: BaseException, count: int) -> None:
        """Count ``count`` events dropped for ``exc`` and report it (rate-limited)."""
        for _ in range(count):
            next(self.failures)
        self._log.warning(
            "encoding",
            "Dropped an event whose JSON could not be encoded: %s: %s",
            type(exc).__name__,
            exc,
        )

    def build_one(
        self,
        event: Event,
        dtm: int | str,
        entities: tuple[SelfDescribingJson, ...],
        eid: str | None,
        stamp: str | None = None,
        *,
        fields: Mapping[str, str] | None = None,
    ) -> Payload:
        """Build a one-part event's payload; runs on the emitter's worker thread.

        ``eid`` is ``None`` when the caller did not need the id: it is drawn
        here. A ``stamp`` that :func:`~snowplow_logging._format.iso_ms` can
        read (a log line's time) replaces ``dtm``; ``fields`` are bound subject
        fields (see :func:`~snowplow_logging.bind`). An event that cannot be
        encoded is counted and reported, and the error raised to the worker,
        which counts it as failed.

        Raises:
            TypeError: ValueError: RecursionError: JSON that cannot be encoded.
            InvalidEventTypeError: an entity is not a ``SelfDescribingJson``.
        """
        if stamp is not None:
            dtm = fmt.iso_ms(stamp) or dtm
        try:
            payloads = self.build(event, str(dtm), entities, eid, fields)
        except BuildError as exc:
            self.failed(exc, 1)
            raise
        if len(payloads) != 1:  # never deferred: the tracker builds these itself
            msg = f"a deferred event must send one payload (got {len(payloads)})."
            raise InvalidEventTypeError(msg)
        return payloads[0]

    def build(
        self,
        event: Event,
        dtm: str,
        entities: tuple[SelfDescribingJson, ...],
        first_id: str | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> list[Payload]:
        """The payloads of ``event``: one, or one per part (a transaction's items).

        ``dtm`` is the creation time as text; ``first_id`` the first part's
        event id, drawn here when ``None``; ``fields`` bound subject fields,
        between the tracker's and the event's own.

        Raises:
            InvalidEventTypeError: an entity is not a ``SelfDescribingJson``.
            TypeError: ValueError: RecursionError: JSON that cannot be encoded.
        """
        common = self._common
        if fields:  # bound subject fields, between the tracker's and the event's
            common = {**common, **fields}
        if event.event_subject is not None:
            common = {**common, **event.event_subject.fields}
        tail: dict[str, str] = {}
        if entities:
            if any(not isinstance(entity, SelfDescribingJson) for entity in entities):
                msg = "'context' must be a sequence of SelfDescribingJson."
                raise InvalidEventTypeError(msg)
            text = self._encoding.dumps(
                {
                    "schema": proto.CONTEXTS_SCHEMA,
                    "data": [e.to_dict() for e in entities],
                }
            )
            tail[self._co] = (
                self._encoding.b64(text) if self._co == proto.CONTEXT_ENCODED else text
            )
        parts, ttm = event_parts(event)
        payloads = []
        for part in parts:
            eid = first_id or event_id()
            first_id = None
            payload = {proto.EVENT: part.event_type, proto.EVENT_ID: eid, **common}
            payload[proto.CREATED_TSTAMP] = dtm
            if ttm is not None:
                payload[proto.TRUE_TSTAMP] = ttm
            payload.update(part.fields)
            if part.unstruct is not None:
                text = self._encoding.dumps(
                    {
                        "schema": proto.UNSTRUCT_EVENT_SCHEMA,
                        "data": part.unstruct.to_dict(),
                    }
                )
                payload[self._ue] = (
                    self._encoding.b64(text)
                    if self._ue == proto.UNSTRUCT_ENCODED
                    else text
                )
            if tail:  # co/cx last: a truncating proxy cuts entities first
                payload.update(tail)
            payloads.append(payload)
        return payloads
