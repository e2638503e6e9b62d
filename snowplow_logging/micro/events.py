"""What the local collector keeps of each event, in Snowplow Micro's JSON shapes.

:class:`GoodEvent` and :class:`BadEvent` are built on the request thread from a
validated payload and a :class:`RequestInfo` shared by the events of one request;
their JSON form (:meth:`GoodEvent.to_json`, :meth:`BadEvent.to_json`) is only
built when someone asks, so ingesting stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from snowplow_logging import _protocol as proto
from snowplow_logging.micro.badrows import micro_errors
from snowplow_logging.micro.enrich import (
    BUILTIN_SCHEMAS,
    COLLECTOR_NAME,
    EVENT_NAMES,
    enriched,
    iso_time,
)

__all__ = [
    "BadEvent",
    "GoodEvent",
    "RequestInfo",
    "api_of",
    "good_event",
    "payload_text",
]

_SNOWPLOW: Final = "com.snowplowanalytics.snowplow"
_TP1_PATHS: Final = frozenset({"/i", "/ice.png"})


def api_of(path: str) -> tuple[str, str]:
    """The ``(vendor, version)`` Enrich reads from a request path.

    ``/i`` and ``/ice.png`` are ``tp1``; ``/<vendor>/<version>`` names its own
    (``/com.snowplowanalytics.snowplow/tp2`` is ``tp2``, by POST or GET).
    """
    if path in _TP1_PATHS or path.startswith("/ice.png"):
        return _SNOWPLOW, "tp1"
    vendor, _, version = path.strip("/").partition("/")
    return vendor, version


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestInfo:
    """What the collector saw of one HTTP request; shared by its events.

    Attributes:
        method: ``GET``, ``POST``...
        path: the URL path.
        query: the raw query string ("" when none).
        content_type: the ``Content-Type`` header, if any.
        body: the body as text (POST), or None.
        headers: the request headers kept, in order (an ``SP-Anonymous`` request
            keeps no ``Cookie``, ``X-Forwarded-For`` or ``X-Real-Ip``).
        ip: the client address as Enrich reads it (the first ``X-Forwarded-For``
            address, else the peer's); ``unknown`` for an ``SP-Anonymous`` request.
        received_ms: when the request arrived (``collector_tstamp``).
        network_userid: the collector's network user id: the ``sp`` cookie's
            value, or a new one it set; all zeros for ``SP-Anonymous``.
    """

    method: str
    path: str
    query: str = ""
    content_type: str | None = None
    body: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    ip: str = ""
    received_ms: int = 0
    network_userid: str | None = None

    @property
    def api(self) -> dict[str, str]:
        """Micro's ``api``: the vendor and version of the path."""
        vendor, version = api_of(self.path)
        return {"vendor": vendor, "version": version}

    def header(self, name: str) -> str | None:
        """The first kept header called ``name`` (any case), or None."""
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)

    def _common(self) -> dict[str, object]:
        header_lines = [f"{name}: {value}" for name, value in self.headers]
        return {
            "api": self.api,
            "contentType": (
                None if self.content_type is None else self.content_type.lower()
            ),
            "source": {"name": COLLECTOR_NAME, "encoding": "UTF-8", "hostname": None},
            "context": {
                "timestamp": iso_time(self.received_ms),
                "ipAddress": self.ip or None,
                "useragent": self.header("User-Agent"),
                "refererUri": self.header("Referer"),
                "headers": header_lines,
                "userId": self.network_userid,
            },
        }

    def collector_payload(self) -> dict[str, object]:
        """Micro's ``collectorPayload``: the request as the collector received it.

        Its ``querystring`` lists ``name=value`` strings, decoded, as Micro does.
        """
        from urllib.parse import parse_qsl  # noqa: PLC0415 - only for the JSON view

        common = self._common()
        return {
            "api": common["api"],
            "querystring": [
                f"{k}={v}" for k, v in parse_qsl(self.query, keep_blank_values=True)
            ],
            "contentType": common["contentType"],
            "body": self.body,
            "source": common["source"],
            "context": common["context"],
        }

    def raw_event(self, payload: Mapping[str, object]) -> dict[str, object]:
        """Micro's ``rawEvent``: one event's parameters with the request context."""
        common = self._common()
        return {
            "api": common["api"],
            "parameters": dict(payload),
            "contentType": common["contentType"],
            "source": common["source"],
            "context": common["context"],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class GoodEvent:
    """An event a pipeline would accept.

    ``event["eventType"]``, ``event["event"]["app_id"]``... read its Snowplow
    Micro JSON form (:meth:`to_json`) key by key. Treat the mappings as
    read-only: identical entities are decoded once and shared between events.

    Attributes:
        payload: the tracker parameters as received (``e``, ``eid``, ``aid``...).
        self_describing: the inner ``{"schema", "data"}`` of a self-describing
            event (screen views included), else None.
        entities: the decoded entities, each ``{"schema", "data"}``.
        request: the request that carried the event.
    """

    payload: Mapping[str, str]
    self_describing: Mapping[str, object] | None = None
    entities: Sequence[Mapping[str, object]] = ()
    request: RequestInfo = field(repr=False)

    @property
    def event_type(self) -> str:
        """The ``event`` column Enrich writes: ``page_view``, ``unstruct``..."""
        code = self.payload.get(proto.EVENT, "")
        return EVENT_NAMES.get(code, code)

    @property
    def schema(self) -> str:
        """The event's schema: the self-describing event's, or Enrich's built-in one."""
        if self.self_describing is not None:
            return str(self.self_describing.get("schema"))
        return BUILTIN_SCHEMAS.get(self.event_type, "")

    @property
    def contexts(self) -> list[str]:
        """The schemas of the entities, in order."""
        return [str(entity.get("schema")) for entity in self.entities]

    @property
    def app_id(self) -> str | None:
        """The application id (``aid``), if sent."""
        return self.payload.get(proto.APP_ID)

    @property
    def event(self) -> dict[str, object]:
        """The event as Enrich would write it: atomic columns, timestamps in ISO 8601."""
        return enriched(self)

    def __getitem__(self, key: str) -> Any:  # JSON, as json.loads returns
        """One key of :meth:`to_json`, computed alone: ``event["eventType"]``."""
        if key == "event":
            return self.event
        if key == "rawEvent":
            return self.request.raw_event(self.payload)
        if key == "schema":
            return self.schema or None
        if key == "incomplete":
            return False
        if key in _GOOD_KEYS:
            return getattr(self, _GOOD_KEYS[key])
        raise KeyError(key)

    def to_json(self) -> dict[str, object]:
        """The ``/micro/good`` object, Micro's keys in Micro's order.

        ``rawEvent``, ``eventType``, ``schema``, ``contexts``, ``event`` (every
        atomic column, see :mod:`~snowplow_logging.micro.enrich`) and
        ``incomplete`` (always false: an event here is good or bad).
        """
        return {key: self[key] for key in _GOOD_JSON}


@dataclass(frozen=True, slots=True, kw_only=True)
class BadEvent:
    """An event, or a whole request, a pipeline would refuse.

    ``event["errors"]``, ``event["rawEvent"]``... read its Snowplow Micro JSON
    form (:meth:`to_json`) key by key.

    Attributes:
        errors: why, one reason per item (field name first).
        payload: the event's parameters as received, or None when no event could
            be read from the request (bad JSON, wrong content type...).
        schema: the self-describing event's schema, when it could be decoded.
        request: the request that carried it.
    """

    errors: tuple[str, ...]
    payload: Mapping[str, object] | None = None
    schema: str | None = None
    request: RequestInfo = field(repr=False)

    @property
    def event_type(self) -> str | None:
        """The ``event`` column name for the ``e`` sent, if any."""
        code = payload_text(self.payload, proto.EVENT)
        return None if code is None else EVENT_NAMES.get(code, code)

    @property
    def app_id(self) -> str | None:
        """The application id (``aid``), if sent as a string."""
        return payload_text(self.payload, proto.APP_ID)

    def __getitem__(self, key: str) -> Any:  # JSON, as json.loads returns
        """One key of :meth:`to_json`, computed alone: ``event["errors"]``."""
        if key == "collectorPayload":
            return self.request.collector_payload()
        if key == "rawEvent":
            return (
                None if self.payload is None else self.request.raw_event(self.payload)
            )
        if key == "errors":
            return micro_errors(self)
        raise KeyError(key)

    def to_json(self) -> dict[str, object]:
        """The ``/micro/bad`` object: ``collectorPayload``, ``rawEvent``, ``errors``."""
        return {key: self[key] for key in ("collectorPayload", "rawEvent", "errors")}


_new_event = object.__new__
_set_payload, _set_self_describing, _set_entities, _set_request = (
    GoodEvent.__dict__[name].__set__  # the slots' own setters
    for name in ("payload", "self_describing", "entities", "request")
)


def good_event(
    payload: Mapping[str, str],
    self_describing: Mapping[str, object] | None,
    entities: Sequence[Mapping[str, object]],
    request: RequestInfo,
) -> GoodEvent:
    """``GoodEvent(payload=..., ...)``, built at half the cost: the intake's hot path.

    The frozen dataclass's ``__init__`` sets each slot through
    ``object.__setattr__``; this sets the slots directly.
    """
    event: GoodEvent = _new_event(GoodEvent)
    _set_payload(event, payload)
    _set_self_describing(event, self_describing)
    _set_entities(event, entities)
    _set_request(event, request)
    return event


_GOOD_KEYS: Final = {"eventType": "event_type", "contexts": "contexts"}
"""JSON keys of a good event served by an attribute of the same meaning."""
_GOOD_JSON: Final = (
    "rawEvent",
    "eventType",
    "schema",
    "contexts",
    "event",
    "incomplete",
)


def payload_text(payload: Mapping[str, object] | None, name: str) -> str | None:
    """The field ``name`` of a payload received, when it is there as a string."""
    value = None if payload is None else payload.get(name)
    return value if isinstance(value, str) else None
