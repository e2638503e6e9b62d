"""``POST /micro/events``: Snowplow Micro's paged, sorted, filtered list of events.

The request is Micro's ``EventsRequest``: ``{"filters": [{"column", "values"}],
"validEvents": true|false|null, "timeRange": {"start", "end"}, "sorting":
{"column", "desc"}, "page": 1, "pageSize": 50}`` (``filters``, ``page`` and
``pageSize`` required). The answer is ``{"events", "totalPages", "totalItems"}``,
each event in the analytics SDK's flat ("lossy") JSON: the atomic columns, then
one ``contexts_<vendor>_<name>_<model>`` list per entity schema (each item with
its ``_schema_version``) and ``unstruct_event_<vendor>_<name>_<model>``. Good
events and bad ones that carried an event (Micro's "incomplete" events, shown
with ``validEvents: false``) are listed, newest first unless sorted; a filter
keeps events whose column equals one of its values (any case), ignoring
``contexts_*``/``unstruct_event*`` columns as Micro does.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from snowplow_logging.micro.enrich import enriched
from snowplow_logging.micro.events import BadEvent, GoodEvent

__all__ = ["EventsRequest", "RequestError", "flat_event", "page_of_events"]


class RequestError(ValueError):
    """The request body is not an ``EventsRequest`` (answered 422, as Micro does)."""


_COMPLEX: Final = ("contexts_", "unstruct_event")


def _snake(text: str) -> str:
    return re.sub(r"([^A-Z_])([A-Z])", r"\1_\2", re.sub(r"[.-]", "_", text)).lower()


def _shredded(prefix: str, schema: str) -> tuple[str, str]:
    """The flat column of a schema (``contexts_com_acme_cart_1``) and its version."""
    vendor, name, _, version = schema.removeprefix("iglu:").split("/")
    model = version.split("-")[0]
    return f"{prefix}{_snake(vendor)}_{_snake(name)}_{model}", version


def flat_event(event: GoodEvent) -> dict[str, object]:
    """An event as the analytics SDK's lossy JSON, as ``/micro/events`` lists it."""
    columns = enriched(event)
    flat = {
        k: v
        for k, v in columns.items()
        if k not in {"contexts", "unstruct_event", "derived_contexts"}
    }
    for entity in event.entities:
        column, version = _shredded("contexts_", str(entity.get("schema")))
        data = entity.get("data")
        item = {**data, "_schema_version": version} if isinstance(data, dict) else data
        entries = flat.setdefault(column, [])
        if isinstance(entries, list):
            entries.append(item)
    if event.self_describing is not None:
        column, _ = _shredded("unstruct_event_", str(event.self_describing["schema"]))
        flat[column] = event.self_describing.get("data")
    return flat


@dataclass(frozen=True, slots=True)
class EventsRequest:
    """Micro's ``EventsRequest``, checked."""

    filters: tuple[tuple[str, tuple[str, ...]], ...]
    valid: bool | None
    start: dt.datetime | None
    end: dt.datetime | None
    sort: tuple[str, bool] | None
    page: int
    page_size: int

    @classmethod
    def from_json(cls, value: object) -> EventsRequest:
        """Read the request body; unknown keys are ignored, as Micro's decoder does.

        Raises:
            RequestError: a required key is missing or a value has the wrong type.
        """
        if not isinstance(value, Mapping):
            raise RequestError("the body must be a JSON object")
        page, size = value.get("page"), value.get("pageSize")
        if type(page) is not int or type(size) is not int:
            raise RequestError("'page' and 'pageSize' must be integers")
        if page < 1 or size < 1:
            raise RequestError("'page' and 'pageSize' must be 1 or more")
        valid = value.get("validEvents")
        if valid is not None and not isinstance(valid, bool):
            raise RequestError("'validEvents' must be true, false or null")
        return cls(
            _filters(value.get("filters")),
            valid,
            *_time_range(value.get("timeRange")),
            _sorting(value.get("sorting")),
            page,
            size,
        )


def _filters(value: object) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(value, list):
        raise RequestError("'filters' must be a list of {column, values}")
    filters = []
    for item in value:
        column = item.get("column") if isinstance(item, Mapping) else None
        values = item.get("values") if isinstance(item, Mapping) else None
        if not isinstance(column, str) or not isinstance(values, list):
            raise RequestError("each filter must be {column: text, values: [text]}")
        if not all(isinstance(v, str) for v in values):
            raise RequestError(f"the values of filter {column!r} must be strings")
        filters.append((column, tuple(v for v in values if v)))
    return tuple(filters)


def _instant(value: object, name: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise RequestError(f"'timeRange.{name}' must be an ISO 8601 instant") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _time_range(value: object) -> tuple[dt.datetime | None, dt.datetime | None]:
    if value is None:
        return None, None
    if not isinstance(value, Mapping):
        raise RequestError("'timeRange' must be {start, end}")
    return _instant(value.get("start"), "start"), _instant(value.get("end"), "end")


def _sorting(value: object) -> tuple[str, bool] | None:
    if value is None:
        return None
    column = value.get("column") if isinstance(value, Mapping) else None
    desc = value.get("desc") if isinstance(value, Mapping) else None
    if not isinstance(column, str) or not isinstance(desc, bool):
        raise RequestError("'sorting' must be {column: text, desc: true|false}")
    return column, desc


def _text(value: object) -> str | None:
    """A column's value as Micro compares it: strings as they are, others as JSON."""
    import json  # noqa: PLC0415 - only for a filtered or sorted query

    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _received(event: GoodEvent | BadEvent) -> dt.datetime:
    return dt.datetime.fromtimestamp(event.request.received_ms / 1000, dt.UTC)


def page_of_events(
    request: EventsRequest,
    good: Sequence[GoodEvent],
    incomplete: Sequence[GoodEvent],
) -> dict[str, object]:
    """The answer to ``POST /micro/events``: ``{"events", "totalPages", "totalItems"}``.

    Args:
        request: the query.
        good: the good events, newest first.
        incomplete: the bad events that carried an event, newest first, as events.
    """
    chosen: list[tuple[GoodEvent, bool]] = []
    if request.valid is not False:
        chosen += [(event, True) for event in good]
    if request.valid is not True:
        chosen += [(event, False) for event in incomplete]
    chosen.sort(key=lambda pair: pair[0].request.received_ms, reverse=True)
    if request.start is not None or request.end is not None:
        chosen = [
            pair
            for pair in chosen
            if (request.start is None or _received(pair[0]) >= request.start)
            and (request.end is None or _received(pair[0]) < request.end)
        ]
    rows = [flat_event(event) for event, _ in chosen]
    for column, values in request.filters:
        if column.startswith(_COMPLEX) or not values:
            continue
        wanted = {v.lower() for v in values}
        rows = [row for row in rows if (_text(row.get(column)) or "").lower() in wanted]
    if request.sort is not None and not request.sort[0].startswith(_COMPLEX):
        column, desc = request.sort
        present = [r for r in rows if r.get(column) is not None]
        absent = [r for r in rows if r.get(column) is None]
        present.sort(key=lambda row: _text(row.get(column)) or "", reverse=desc)
        rows = [*absent, *present] if desc else [*present, *absent]
    total = len(rows)
    start = (request.page - 1) * request.page_size
    return {
        "events": rows[start : start + request.page_size],
        "totalPages": max(1, -(-total // request.page_size)),
        "totalItems": total,
    }
