"""The event as Enrich would write it: atomic columns, ISO 8601 timestamps.

:func:`enriched` turns a :class:`~snowplow_logging.micro.GoodEvent`'s tracker
parameters into the ``event`` object of Snowplow Micro's ``/micro/good``: each
field under its atomic column name, numbers as numbers, millisecond timestamps
as ISO 8601 UTC, ``derived_tstamp`` by Enrich's rule and the event's schema
split into ``event_vendor``... ``event_version``. Built only when asked for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from snowplow_logging import _protocol as proto
from snowplow_logging.micro.fields import whole_number

if TYPE_CHECKING:
    from snowplow_logging.micro.events import GoodEvent

__all__ = ["BUILTIN_SCHEMAS", "EVENT_NAMES", "enriched", "iso_time"]

EVENT_NAMES: Final[Mapping[str, str]] = {
    proto.PAGE_VIEW: "page_view",
    proto.PAGE_PING: "page_ping",
    proto.STRUCT_EVENT: "struct",
    proto.UNSTRUCT_EVENT: "unstruct",
    proto.TRANSACTION: "transaction",
    proto.TRANSACTION_ITEM: "transaction_item",
}
"""The ``event`` column Enrich writes for each tracker event type ``e``."""

BUILTIN_SCHEMAS: Final[Mapping[str, str]] = {
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


def iso_time(ms: int) -> str:
    """Milliseconds since the epoch as ISO 8601 UTC with a ``Z``, as Enrich writes."""
    moment = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def enriched(good: GoodEvent) -> dict[str, object]:
    """The ``event`` object of ``/micro/good``: ``good`` in Enrich's atomic columns."""
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
            event[_INT_COLUMNS[name]] = whole_number(value)
        elif name in _DECIMAL_COLUMNS:
            event[_DECIMAL_COLUMNS[name]] = float(value)
        elif name in _TIME_COLUMNS:
            event[_TIME_COLUMNS[name]] = _iso_ms(value)
        elif name in _SIZE_COLUMNS:
            width, _, height = value.partition("x")
            event[_SIZE_COLUMNS[name][0]] = whole_number(width)
            event[_SIZE_COLUMNS[name][1]] = whole_number(height)
    if (
        proto.TRACKER_NETWORK_USER_ID in payload
    ):  # tnuid beats nuid (docs/protocol.md 2.2)
        event["network_userid"] = payload[proto.TRACKER_NETWORK_USER_ID]
    event["derived_tstamp"] = iso_time(_derived_ms(payload, received))
    vendor, name, form, version = good.schema.removeprefix("iglu:").split("/")
    event.update(
        event_vendor=vendor, event_name=name, event_format=form, event_version=version
    )
    event["unstruct_event"] = (
        None
        if good.self_describing is None
        else {"schema": proto.UNSTRUCT_EVENT_SCHEMA, "data": good.self_describing}
    )
    event["contexts"] = {"schema": proto.CONTEXTS_SCHEMA, "data": list(good.entities)}
    return event


def _iso_ms(value: str) -> str | None:
    """A millisecond field (validated) in ISO 8601; None if it is not one."""
    ms = whole_number(value)
    return None if ms is None else iso_time(ms)


def _derived_ms(payload: Mapping[str, str], received_ms: int) -> int:
    """``derived_tstamp`` as docs/protocol.md section 3 describes Enrich's rule."""
    true, created, sent = (
        whole_number(payload.get(name, ""))
        for name in (proto.TRUE_TSTAMP, proto.CREATED_TSTAMP, proto.SENT_TSTAMP)
    )
    if true is not None:
        return true
    if created is not None and sent is not None and created < sent:
        return received_ms - (sent - created)
    return received_ms
