"""What the local collector keeps of each event, in Snowplow Micro's JSON shapes.

:class:`GoodEvent` and :class:`BadEvent` are built on the request thread from a
validated payload and a :class:`RequestInfo` shared by the events of one request;
their JSON form (:meth:`GoodEvent.to_json`, :meth:`BadEvent.to_json`) is only
built when someone asks, so ingesting stays cheap. :class:`EventFilter` holds the
``/micro/good`` and ``/micro/bad`` filters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from snowplow_logging import _protocol as proto
from snowplow_logging._exceptions import ConfigurationError, ConfigurationTypeError

__all__ = ["BadEvent", "EventFilter", "GoodEvent", "RequestInfo"]

EVENT_NAMES: Final[Mapping[str, str]] = {
    proto.PAGE_VIEW: "page_view",
    proto.PAGE_PING: "page_ping",
    proto.STRUCT_EVENT: "struct",
    proto.UNSTRUCT_EVENT: "unstruct",
    proto.TRANSACTION: "transaction",
    proto.TRANSACTION_ITEM: "transaction_item",
}
"""The ``event`` column Enrich writes for each tracker event type ``e``."""

_BUILTIN_SCHEMAS: Final[Mapping[str, str]] = {
    proto.PAGE_VIEW: "iglu:com.snowplowanalytics.snowplow/page_view/jsonschema/1-0-0",
    proto.PAGE_PING: "iglu:com.snowplowanalytics.snowplow/page_ping/jsonschema/1-0-0",
    proto.STRUCT_EVENT: "iglu:com.snowplowanalytics.snowplow/event/jsonschema/1-0-0",
    proto.TRANSACTION: "iglu:com.snowplowanalytics.snowplow/transaction/jsonschema/1-0-0",
    proto.TRANSACTION_ITEM: (
        "iglu:com.snowplowanalytics.snowplow/transaction_item/jsonschema/1-0-0"
    ),
}
"""The schema Enrich names (``event_vendor``... ``event_version``) for built-in events."""

_TEXT_COLUMNS: Final[Mapping[str, str]] = {
    proto.APP_ID: "app_id", proto.PLATFORM: "platform", proto.EVENT_ID: "event_id",
    proto.NAMESPACE: "name_tracker", proto.TRACKER_VERSION: "v_tracker",
    proto.USER_ID: "user_id", proto.IP_ADDRESS: "user_ipaddress",
    proto.DOMAIN_USER_ID: "domain_userid", proto.DOMAIN_SESSION_ID: "domain_sessionid",
    proto.NETWORK_USER_ID: "network_userid", proto.TRACKER_NETWORK_USER_ID: "network_userid",
    proto.USERAGENT: "useragent", proto.TIMEZONE: "os_timezone", proto.LANGUAGE: "br_lang",
    proto.COLOR_DEPTH: "br_colordepth", proto.PAGE_URL: "page_url",
    proto.PAGE_TITLE: "page_title", proto.PAGE_REFERRER: "page_referrer",
    proto.SE_CATEGORY: "se_category", proto.SE_ACTION: "se_action", proto.SE_LABEL: "se_label",
    proto.SE_PROPERTY: "se_property", proto.TR_ORDER_ID: "tr_orderid",
    proto.TR_AFFILIATION: "tr_affiliation", proto.TR_CITY: "tr_city", proto.TR_STATE: "tr_state",
    proto.TR_COUNTRY: "tr_country", proto.TR_CURRENCY: "tr_currency",
    proto.TI_ORDER_ID: "ti_orderid", proto.TI_SKU: "ti_sku", proto.TI_NAME: "ti_name",
    proto.TI_CATEGORY: "ti_category", proto.TI_CURRENCY: "ti_currency",
}  # fmt: skip
_INT_COLUMNS: Final[Mapping[str, str]] = {
    proto.DOMAIN_SESSION_INDEX: "domain_sessionidx", proto.PING_X_MIN: "pp_xoffset_min",
    proto.PING_X_MAX: "pp_xoffset_max", proto.PING_Y_MIN: "pp_yoffset_min",
    proto.PING_Y_MAX: "pp_yoffset_max", proto.TI_QUANTITY: "ti_quantity",
}  # fmt: skip
_DECIMAL_COLUMNS: Final[Mapping[str, str]] = {
    proto.SE_VALUE: "se_value", proto.TR_TOTAL: "tr_total", proto.TR_TAX: "tr_tax",
    proto.TR_SHIPPING: "tr_shipping", proto.TI_PRICE: "ti_price",
}  # fmt: skip
_TIME_COLUMNS: Final[Mapping[str, str]] = {
    proto.CREATED_TSTAMP: "dvce_created_tstamp",
    proto.SENT_TSTAMP: "dvce_sent_tstamp",
    proto.TRUE_TSTAMP: "true_tstamp",
}
_SIZE_COLUMNS: Final[Mapping[str, tuple[str, str]]] = {
    proto.RESOLUTION: ("dvce_screenwidth", "dvce_screenheight"),
    proto.VIEWPORT: ("br_viewwidth", "br_viewheight"),
}
_SOURCE_NAME: Final = "snowplow-logging-micro"
_GET_API: Final = {"vendor": "com.snowplowanalytics.snowplow", "version": "tp1"}
_POST_API: Final = {"vendor": "com.snowplowanalytics.snowplow", "version": "tp2"}


def iso_time(ms: int) -> str:
    """Milliseconds since the epoch as ISO 8601 UTC with a ``Z``, as Enrich writes."""
    moment = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
            "api": dict(_POST_API if self.method == "POST" else _GET_API),
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
        return _BUILTIN_SCHEMAS.get(self.payload.get(proto.EVENT, ""), "")

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
        return _enriched(self)

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
        code = _text(self.payload, proto.EVENT)
        return None if code is None else EVENT_NAMES.get(code, code)

    @property
    def app_id(self) -> str | None:
        """The application id (``aid``), if sent as a string."""
        return _text(self.payload, proto.APP_ID)

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


def _enriched(good: GoodEvent) -> dict[str, object]:
    payload = good.payload
    received = good.request.received_ms
    event: dict[str, object] = {
        "event": good.event_type,
        "collector_tstamp": iso_time(received),
    }
    for name, value in payload.items():
        if name in _TEXT_COLUMNS:
            event[_TEXT_COLUMNS[name]] = value
        elif name in _INT_COLUMNS:
            event[_INT_COLUMNS[name]] = int(value)
        elif name in _DECIMAL_COLUMNS:
            event[_DECIMAL_COLUMNS[name]] = float(value)
        elif name in _TIME_COLUMNS:
            event[_TIME_COLUMNS[name]] = iso_time(int(value))
        elif name in _SIZE_COLUMNS:
            width, height = value.split("x")
            event[_SIZE_COLUMNS[name][0]] = int(width)
            event[_SIZE_COLUMNS[name][1]] = int(height)
    if proto.TRACKER_NETWORK_USER_ID in payload:  # tnuid beats nuid (PROTOCOL.md 2.2)
        event["network_userid"] = payload[proto.TRACKER_NETWORK_USER_ID]
    event["derived_tstamp"] = iso_time(_derived_ms(payload, received))
    vendor, name, fmt, version = good.schema.removeprefix("iglu:").split("/")
    event.update(
        event_vendor=vendor, event_name=name, event_format=fmt, event_version=version
    )
    event["unstruct_event"] = (
        None
        if good.self_describing is None
        else {"schema": proto.UNSTRUCT_EVENT_SCHEMA, "data": good.self_describing}
    )
    event["contexts"] = {"schema": proto.CONTEXTS_SCHEMA, "data": list(good.entities)}
    return event


def _derived_ms(payload: Mapping[str, str], received_ms: int) -> int:
    """``derived_tstamp`` as PROTOCOL.md section 3 describes Enrich's rule."""
    if proto.TRUE_TSTAMP in payload:
        return int(payload[proto.TRUE_TSTAMP])
    created, sent = payload.get(proto.CREATED_TSTAMP), payload.get(proto.SENT_TSTAMP)
    if created is not None and sent is not None and int(created) < int(sent):
        return received_ms - (int(sent) - int(created))
    return received_ms


@dataclass(frozen=True, slots=True, kw_only=True)
class EventFilter:
    """Which stored events a query returns.

    Attributes:
        event_type: the ``event`` column (``page_view``, ``unstruct``...) or the
            tracker code (``pv``, ``ue``...).
        schema: the event's schema URI (see :attr:`GoodEvent.schema`).
        app_id: the ``aid`` sent.
        contexts: schema URIs that must all be among the event's entities.
        vendor: the API vendor (Snowplow Micro's bad-event filter).
        version: the API version, ``tp2`` for POST and ``tp1`` for GET.
        limit: return at most this many, the most recent ones.
    """

    event_type: str | None = None
    schema: str | None = None
    app_id: str | None = None
    contexts: tuple[str, ...] = ()
    vendor: str | None = None
    version: str | None = None
    limit: int | None = None

    def __post_init__(self) -> None:
        for name in ("event_type", "schema", "app_id", "vendor", "version"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                msg = f"{name!r} must be a string (got {value!r})."
                raise ConfigurationTypeError(msg)
        contexts: object = self.contexts  # checked at run time, whatever the hints
        if not isinstance(contexts, tuple) or not all(
            isinstance(c, str) for c in contexts
        ):
            msg = f"'contexts' must be a list of schema URIs (got {self.contexts!r})."
            raise ConfigurationTypeError(msg)
        if self.limit is not None and (type(self.limit) is not int or self.limit < 0):
            msg = f"'limit' must be a non-negative integer (got {self.limit!r})."
            raise ConfigurationError(msg)

    @classmethod
    def from_json(cls, value: object) -> EventFilter:
        """Read filters from a request: query parameters or a POSTed JSON object.

        Raises:
            ConfigurationError: an unknown key or a value of the wrong type.
        """
        if not isinstance(value, Mapping):
            msg = f"filters must be a JSON object (got {type(value).__name__})."
            raise ConfigurationTypeError(msg)
        unknown = sorted(set(value) - _FILTER_KEYS)
        if unknown:
            msg = f"unknown filter {unknown[0]!r}; use one of {sorted(_FILTER_KEYS)}."
            raise ConfigurationError(msg)
        contexts = value.get("contexts") or ()
        limit = value.get("limit")
        if isinstance(limit, str):
            if not limit.isdigit():
                msg = f"'limit' must be a non-negative integer (got {limit!r})."
                raise ConfigurationError(msg)
            limit = int(limit)
        return cls(
            event_type=value.get("event_type"),
            schema=value.get("schema"),
            app_id=value.get("app_id"),
            contexts=tuple(contexts) if isinstance(contexts, list) else contexts,
            vendor=value.get("vendor"),
            version=value.get("version"),
            limit=limit,
        )

    def keeps(self, event: GoodEvent | BadEvent) -> bool:
        """True when ``event`` matches every filter set."""
        api = _POST_API if event.request.method == "POST" else _GET_API
        return (
            (self.app_id is None or event.app_id == self.app_id)
            and (
                self.event_type is None
                or self.event_type
                in (event.event_type, _text(event.payload, proto.EVENT))
            )
            and (self.schema is None or event.schema == self.schema)
            and (self.vendor is None or api["vendor"] == self.vendor)
            and (self.version is None or api["version"] == self.version)
            and (
                not self.contexts
                or (
                    isinstance(event, GoodEvent)
                    and all(c in event.contexts for c in self.contexts)
                )
            )
        )


_FILTER_KEYS: Final = frozenset(
    {"event_type", "schema", "app_id", "contexts", "vendor", "version", "limit"}
)


def _text(payload: Mapping[str, object] | None, name: str) -> str | None:
    value = None if payload is None else payload.get(name)
    return value if isinstance(value, str) else None
