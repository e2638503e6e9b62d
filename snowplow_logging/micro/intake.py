"""Tracker requests in, checked events out: what the collector makes of a request.

:func:`events_from_post` and :func:`events_from_get` read the events of one
tracker request (docs/protocol.md 1.2, 1.3), validate each one with
:func:`~snowplow_logging.micro.check_payload` and sort them into good and bad,
as a pipeline would. A request-level fault (content type, an invalid envelope,
unreadable JSON or query) makes every event of the request bad. A check that
raises makes its event bad with the reason (never a 500). No I/O: the collector's
routes (:mod:`~snowplow_logging.micro.collect`) feed these.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final, NamedTuple
from urllib.parse import parse_qsl

from snowplow_logging._protocol import GET_PATH, POST_PATH
from snowplow_logging.micro.events import BadEvent, GoodEvent, RequestInfo, good_event
from snowplow_logging.micro.validate import (
    CheckedEvent,
    IgluResolver,
    check_envelope,
    check_parts,
    check_payload,
    collector_content_type,
    read_json,
)

__all__ = [
    "CONTENT_TYPES",
    "GET_PATHS",
    "EventSink",
    "Intake",
    "events_from_get",
    "events_from_post",
]

GET_PATHS: Final = frozenset({GET_PATH, "/ice.png", POST_PATH})
CONTENT_TYPES: Final = (
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=UTF-8",
)
"""The only ``Content-Type`` strings Enrich accepts on a POST (docs/protocol.md 1.2)."""

EventSink = Callable[[GoodEvent | BadEvent], object]
"""Called with each event after it is stored, on the request's thread."""


class Intake(NamedTuple):
    """What one request carried, and whether the request was refused whole."""

    good: list[GoodEvent]
    bad: list[BadEvent]
    refused: bool = False
    """True when no event of the request could be read, or the request as a whole
    fails (its envelope, content type...): every event of it is bad. The collector
    still answers 200, as a real one does; Enrich writes the bad rows."""


def events_from_post(info: RequestInfo, body: bytes, resolver: IgluResolver) -> Intake:
    """Validate a POST: its content type, URL, envelope and each event in it.

    A request-level fault (content type, query parameters on the URL, invalid
    envelope) makes every event of the request bad, as Enrich rejects the whole
    request; each event also carries its own faults.
    """
    refused: list[str] = []
    if collector_content_type(info.content_type) not in CONTENT_TYPES:
        refused.append(
            f"Content-Type: must be one of {', '.join(CONTENT_TYPES)}, any case "
            f"(got {info.content_type!r})"
        )
    try:
        parsed = read_json(body.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        return Intake(
            [],
            [BadEvent(errors=(*refused, f"body: not JSON: {exc}"), request=info)],
            refused=True,
        )
    events, envelope_errors = check_envelope(parsed, resolver)
    refused.extend(envelope_errors)
    if info.query:  # Enrich merges the URL's parameters into every event, winning
        extra = dict(parse_qsl(info.query, keep_blank_values=True))
        events = [{**e, **extra} if isinstance(e, dict) else e for e in events]
    if refused and not events:
        return Intake([], [BadEvent(errors=tuple(refused), request=info)], refused=True)
    return _check_events(events, info, resolver, refused)


def events_from_get(info: RequestInfo, resolver: IgluResolver) -> Intake:
    """Validate a GET: the query string is one event (``+`` and ``%20`` are spaces)."""
    try:
        pairs = parse_qsl(info.query, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        return Intake(
            [],
            [BadEvent(errors=(f"query string: not UTF-8: {exc}",), request=info)],
            refused=True,
        )
    if not pairs:
        return Intake(
            [],
            [BadEvent(errors=("query string: no event parameters",), request=info)],
            refused=True,
        )
    return _check_events([dict(pairs)], info, resolver, [])


def _check_events(
    events: list[object], info: RequestInfo, resolver: IgluResolver, refused: list[str]
) -> Intake:
    good: list[GoodEvent] = []
    bad: list[BadEvent] = []
    for event in events:
        try:
            if type(event) is dict:  # the usual case, without a CheckedEvent
                errors, decoded, entities = check_parts(event, resolver, post=False)
                if not errors and not refused:
                    good.append(good_event(event, decoded, entities, info))
                    continue
                checked = CheckedEvent(event, errors, decoded, entities)
            else:
                checked = check_payload(
                    event, resolver, post=False
                )  # body: the envelope's
        except Exception as exc:  # noqa: BLE001 - a bad event says why, never a 500
            reason = f"internal error while validating: {type(exc).__name__}: {exc}"
            payload = event if isinstance(event, Mapping) else None
            bad.append(
                BadEvent(
                    errors=(*refused, reason[:1000]), payload=payload, request=info
                )
            )
            continue
        if checked.errors or refused:
            bad.append(
                BadEvent(
                    errors=(*refused, *checked.errors),
                    payload=event if isinstance(event, Mapping) else None,
                    schema=checked.schema,
                    request=info,
                )
            )
        else:
            good.append(
                good_event(
                    checked.payload,  # type: ignore[arg-type]
                    checked.event,
                    checked.entities,
                    info,
                )
            )
    return Intake(good, bad, refused=bool(refused))
