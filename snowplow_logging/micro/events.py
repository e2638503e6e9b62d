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
from snowplow_logging.micro.enrich import (
    BUILTIN_SCHEMAS,
    EVENT_NAMES,
    enriched,
    iso_time,
)

__all__ = ["BadEvent", "GoodEvent", "RequestInfo", "api", "payload_text"]

_SOURCE_NAME: Final = "snowplow-logging-micro"
_GET_API: Final = {"vendor": "com.snowplowanalytics.snowplow", "version": "tp1"}
_POST_API: Final = {"vendor": "com.snowplowanalytics.snowplow", "version": "tp2"}


def api(method: str) -> Mapping[str, str]:
    """The tracker API a request used: ``tp2`` for POST, ``tp1`` for GET."""
    return _POST_API if method == "POST" else _GET_API


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestInfo:
    """What the collector saw of one HTTP request; shared by its events.

    Attributes:
        method: ``GET`` or ``POST``.
        path: the URL path.
        query: the raw query string ("" when none).
        content_type: the ``Content-Type`` header, if any.
        body: the body as text (POST), or None.
        headers: the request headers, in order.
        ip: the client address.
        received_ms: when the request arrived (``collector_tstamp``).
    """

    method: str
    path: str
    query: str = ""
    content_type: str | None = None
    body: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    ip: str = ""
    received_ms: int = 0

    def _header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)

    def _common(self) -> dict[str, object]:
        return {
            "api": dict(api(self.method)),
            "contentType": self.content_type,
            "source": {"name": _SOURCE_NAME, "encoding": "UTF-8", "hostname": None},
            "context": {
                "timestamp": iso_time(self.received_ms),
                "ipAddress": self.ip,
                "useragent": self._header("User-Agent"),
                "refererUri": self._header("Referer"),
                "headers": [f"{name}: {value}" for name, value in self.headers],
                "userId": None,
            },
        }

    def collector_payload(self) -> dict[str, object]:
        """Micro's ``collectorPayload``: the request as the collector received it."""
        from urllib.parse import parse_qsl  # noqa: PLC0415 - only for the JSON view

        return {
            **self._common(),
            "querystring": [
                {"name": k, "value": v}
                for k, v in parse_qsl(self.query, keep_blank_values=True)
            ],
            "body": self.body,
        }

    def raw_event(self, payload: Mapping[str, object]) -> dict[str, object]:
        """Micro's ``rawEvent``: one event's parameters with the request context."""
        return {**self._common(), "parameters": dict(payload)}


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
        return BUILTIN_SCHEMAS.get(self.payload.get(proto.EVENT, ""), "")

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
        if key in _GOOD_KEYS:
            return getattr(self, _GOOD_KEYS[key])
        raise KeyError(key)

    def to_json(self) -> dict[str, object]:
        """The ``/micro/good`` object: ``event``, ``rawEvent``, ``eventType``..."""
        return {key: self[key] for key in ("event", "rawEvent", *_GOOD_KEYS)}


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
            return list(self.errors)
        raise KeyError(key)

    def to_json(self) -> dict[str, object]:
        """The ``/micro/bad`` object: ``collectorPayload``, ``rawEvent``, ``errors``."""
        return {key: self[key] for key in ("collectorPayload", "rawEvent", "errors")}


_GOOD_KEYS: Final = {
    "eventType": "event_type",
    "schema": "schema",
    "contexts": "contexts",
}
"""JSON keys of a good event served by an attribute of the same meaning."""


def payload_text(payload: Mapping[str, object] | None, name: str) -> str | None:
    """The field ``name`` of a payload received, when it is there as a string."""
    value = None if payload is None else payload.get(name)
    return value if isinstance(value, str) else None
