"""The event as Enrich writes it: every atomic column, as Snowplow Micro serves it.

:func:`enriched` turns a :class:`~snowplow_logging.micro.GoodEvent` into the
``event`` object of Snowplow Micro's ``/micro/good``: all the columns of the
enriched event, in their order, ``null`` where nothing fills them (no
enrichment runs here, so geo, ``ip_*``, ``br_name``... stay null). The tracker
parameters go to their columns as Enrich's transform maps them (numbers as
numbers, ``f_*``/``cookie`` flags as booleans, timestamps as ISO 8601 UTC);
Enrich's derived columns are filled as it fills them: ``user_ipaddress`` and
``useragent`` from the request when the tracker sent none, the page URL (or the
``Referer`` header) and the referrer split into scheme, host, port, path, query
and fragment, ``collector_tstamp``, ``etl_tstamp``, ``derived_tstamp``,
``v_collector``, ``v_etl``, ``network_userid`` from the collector's cookie, and
the event's schema split into ``event_vendor``... ``event_version``.
Built only when asked for.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from snowplow_logging._version import __version__
from snowplow_logging.micro.columns import COLUMNS

if TYPE_CHECKING:
    from snowplow_logging.micro.events import GoodEvent

__all__ = [
    "BUILTIN_SCHEMAS",
    "COLLECTOR_NAME",
    "COLUMNS",
    "ETL_NAME",
    "EVENT_NAMES",
    "enriched",
    "instant",
    "iso_time",
]

COLLECTOR_NAME: Final = f"snowplow-logging-micro-{__version__}"
"""``v_collector``, and the collector named in every collector payload."""
ETL_NAME: Final = f"snowplow-logging-micro-{__version__}"
"""``v_etl``: who enriched the event."""

EVENT_NAMES: Final[Mapping[str, str]] = {
    "pv": "page_view", "pp": "page_ping", "se": "struct", "ev": "struct",
    "ue": "unstruct", "ad": "ad_impression", "tr": "transaction",
    "ti": "transaction_item",
}  # fmt: skip
"""The ``event`` column Enrich writes for each tracker event type ``e``."""

_SNOWPLOW: Final = "iglu:com.snowplowanalytics.snowplow"
BUILTIN_SCHEMAS: Final[Mapping[str, str]] = {
    "page_view": f"{_SNOWPLOW}/page_view/jsonschema/1-0-0",
    "page_ping": f"{_SNOWPLOW}/page_ping/jsonschema/1-0-0",
    "struct": "iglu:com.google.analytics/event/jsonschema/1-0-0",
    "transaction": f"{_SNOWPLOW}/transaction/jsonschema/1-0-0",
    "transaction_item": f"{_SNOWPLOW}/transaction_item/jsonschema/1-0-0",
}
"""The schema Enrich names (``event_vendor``... ``event_version``) per ``event`` column."""
_CONTEXTS: Final = f"{_SNOWPLOW}/contexts/jsonschema/1-0-0"
_UNSTRUCT: Final = f"{_SNOWPLOW}/unstruct_event/jsonschema/1-0-0"


_INT: Final = re.compile(r"([+-]?)0*([0-9]{1,10})")
_MS: Final = re.compile(r"(-?)0*([0-9]{1,16})")
_JAVA_INT: Final = range(-(2**31), 2**31)
_ZERO_UUID: Final = uuid.UUID(int=0)
_EPOCH: Final = dt.datetime(1970, 1, 1)  # noqa: DTZ001 - naive UTC, printed with Z


def _text(value: str) -> object:
    return value


def _int(value: str) -> object:
    """A Java ``int`` as Enrich parses it: a sign, leading zeros, ASCII digits."""
    match = _INT.fullmatch(value)
    if match is None:
        return None
    number = -int(match[2]) if match[1] == "-" else int(match[2])
    return number if number in _JAVA_INT else None


def _millis(value: str | None) -> int | None:
    """Milliseconds since the epoch: an optional minus, leading zeros, digits."""
    match = None if value is None else _MS.fullmatch(value)
    if match is None:
        return None
    return -int(match[2]) if match[1] else int(match[2])


def _decimal(value: str) -> object:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None  # strict JSON: no Infinity


def _flag(value: str) -> object:
    return {"1": True, "0": False}.get(value)


def _ms(value: str) -> object:
    ms = _millis(value)
    return None if ms is None else instant(ms)


_Convert = Callable[[str], object]
_TRANSFORM: Final[Mapping[str, tuple[str, _Convert]]] = {
    "e": ("event", lambda v: EVENT_NAMES.get(v, v)), "ip": ("user_ipaddress", _text),
    "aid": ("app_id", _text), "p": ("platform", _text), "tid": ("txn_id", _int),
    "uid": ("user_id", _text), "duid": ("domain_userid", _text),
    "nuid": ("network_userid", _text), "ua": ("useragent", _text),
    "fp": ("user_fingerprint", _text), "vid": ("domain_sessionidx", _int),
    "sid": ("domain_sessionid", _text), "dtm": ("dvce_created_tstamp", _ms),
    "ttm": ("true_tstamp", _ms), "stm": ("dvce_sent_tstamp", _ms),
    "tna": ("name_tracker", _text), "tv": ("v_tracker", _text),
    "cv": ("v_collector", _text), "lang": ("br_lang", _text),
    "f_pdf": ("br_features_pdf", _flag), "f_fla": ("br_features_flash", _flag),
    "f_java": ("br_features_java", _flag), "f_dir": ("br_features_director", _flag),
    "f_qt": ("br_features_quicktime", _flag),
    "f_realp": ("br_features_realplayer", _flag),
    "f_wma": ("br_features_windowsmedia", _flag),
    "f_gears": ("br_features_gears", _flag),
    "f_ag": ("br_features_silverlight", _flag), "cookie": ("br_cookies", _flag),
    "cd": ("br_colordepth", _text), "tz": ("os_timezone", _text),
    "refr": ("page_referrer", _text), "url": ("page_url", _text),
    "page": ("page_title", _text), "cs": ("doc_charset", _text),
    "eid": ("event_id", str.lower), "ev_ca": ("se_category", _text),
    "ev_ac": ("se_action", _text), "ev_la": ("se_label", _text),
    "ev_pr": ("se_property", _text), "ev_va": ("se_value", _decimal),
    "se_ca": ("se_category", _text), "se_ac": ("se_action", _text),
    "se_la": ("se_label", _text), "se_pr": ("se_property", _text),
    "se_va": ("se_value", _decimal), "tr_id": ("tr_orderid", _text),
    "tr_af": ("tr_affiliation", _text), "tr_tt": ("tr_total", _decimal),
    "tr_tx": ("tr_tax", _decimal), "tr_sh": ("tr_shipping", _decimal),
    "tr_ci": ("tr_city", _text), "tr_st": ("tr_state", _text),
    "tr_co": ("tr_country", _text), "ti_id": ("ti_orderid", _text),
    "ti_sk": ("ti_sku", _text), "ti_na": ("ti_name", _text),
    "ti_nm": ("ti_name", _text), "ti_ca": ("ti_category", _text),
    "ti_pr": ("ti_price", _decimal), "ti_qu": ("ti_quantity", _int),
    "pp_mix": ("pp_xoffset_min", _int), "pp_max": ("pp_xoffset_max", _int),
    "pp_miy": ("pp_yoffset_min", _int), "pp_may": ("pp_yoffset_max", _int),
    "tr_cu": ("tr_currency", _text), "ti_cu": ("ti_currency", _text),
    "tnuid": ("network_userid", _text),
}  # fmt: skip
"""Enrich's transform: tracker parameter to column, in the order it applies them
(``tnuid`` last, so it beats both the collector's cookie and ``nuid``)."""
_SIZES: Final[Mapping[str, tuple[str, str]]] = {
    "res": ("dvce_screenwidth", "dvce_screenheight"),
    "ds": ("doc_width", "doc_height"),
    "vp": ("br_viewwidth", "br_viewheight"),
}


def instant(ms: int) -> str:
    """Milliseconds since the epoch as Java's ``Instant`` prints it (Micro's columns).

    ``2026-11-23T08:00:00.623Z``; a whole second has no fraction:
    ``2026-11-23T08:00:00Z``.
    """
    seconds, millis = divmod(ms, 1000)
    text = _utc(seconds).isoformat(timespec="seconds")
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


def _utc(seconds: int) -> dt.datetime:
    """The UTC time ``seconds`` after the epoch; year 1 or 9999 at the extremes."""
    try:
        return _EPOCH + dt.timedelta(seconds=seconds)
    except OverflowError:  # before year 1 or after 9999: Python has no such date
        extreme = dt.datetime.min if seconds < 0 else dt.datetime.max  # noqa: DTZ901
        return extreme.replace(microsecond=0)


def iso_time(ms: int) -> str:
    """Milliseconds since the epoch as ISO 8601 UTC, always with milliseconds.

    The form of a collector payload's ``timestamp`` (Joda-Time's ``DateTime``).
    """
    seconds, millis = divmod(ms, 1000)
    return f"{_utc(seconds).isoformat(timespec='seconds')}.{millis:03d}Z"


def _url_parts(url: object, prefix: str, event: dict[str, object]) -> None:
    """Split a URL into Enrich's six columns; nothing when it is not a URL."""
    if not isinstance(url, str):
        return
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return
    if not parts.scheme or not parts.netloc:
        return
    host = parts.netloc.rpartition("@")[2]
    host = host[: host.rindex("]") + 1] if host.startswith("[") else host.split(":")[0]
    event[f"{prefix}scheme"] = parts.scheme
    event[f"{prefix}host"] = host
    event[f"{prefix}port"] = port or (443 if parts.scheme == "https" else 80)
    event[f"{prefix}path"] = parts.path or None
    event[f"{prefix}query"] = parts.query or None
    event[f"{prefix}fragment"] = parts.fragment or None


def _fixed(text: str) -> str:
    """A header value as Enrich keeps it: newlines dropped, tabs as 4 spaces."""
    return text.replace("\r", "").replace("\n", "").replace("\t", "    ")


def enriched(good: GoodEvent) -> dict[str, object]:
    """The ``event`` object of ``/micro/good``: ``good`` in every atomic column."""
    request = good.request
    received = instant(request.received_ms)
    event: dict[str, object] = dict.fromkeys(COLUMNS)
    event.update(
        etl_tstamp=received,
        collector_tstamp=received,
        event_id=str(uuid.uuid5(_ZERO_UUID, f"{request.received_ms}:{id(good)}")),
        v_collector=COLLECTOR_NAME,
        v_etl=ETL_NAME,
        network_userid=request.network_userid,
        user_ipaddress=request.ip or None,
        contexts={},
        derived_contexts={},
    )
    agent = request.header("User-Agent")
    if agent is not None:
        event["useragent"] = _fixed(agent)
    _transform(good.payload, event)
    if isinstance(event["user_ipaddress"], str):  # the first of a list, as Enrich
        event["user_ipaddress"] = re.split(
            r"[,| ]", event["user_ipaddress"], maxsplit=1
        )[0]
    if event["page_url"] is None:  # Enrich falls back on the Referer header
        event["page_url"] = request.header("Referer")
    _url_parts(event["page_url"], "page_url", event)
    _url_parts(event["page_referrer"], "refr_url", event)
    event["derived_tstamp"] = instant(_derived_ms(good.payload, request.received_ms))
    _schema_columns(good, event)
    return event


def _transform(payload: Mapping[str, str], event: dict[str, object]) -> None:
    """The tracker parameters into their columns, as Enrich's transform maps them."""
    for name, (column, convert) in _TRANSFORM.items():
        value = payload.get(name)
        if value is not None:
            event[column] = convert(value)
    for name, (width, height) in _SIZES.items():
        value = payload.get(name)
        if value is not None:
            event[width], _, event[height] = (
                _int(part) for part in value.partition("x")
            )


def _schema_columns(good: GoodEvent, event: dict[str, object]) -> None:
    """``event_vendor``... ``event_version``, ``unstruct_event`` and ``contexts``."""
    schema = good.schema
    if schema:
        vendor, name, form, version = schema.removeprefix("iglu:").split("/")
        event.update(
            event_vendor=vendor,
            event_name=name,
            event_format=form,
            event_version=version,
        )
    if good.self_describing is not None:
        event["unstruct_event"] = {"schema": _UNSTRUCT, "data": good.self_describing}
    if good.entities:
        event["contexts"] = {"schema": _CONTEXTS, "data": list(good.entities)}


def _derived_ms(payload: Mapping[str, str], received_ms: int) -> int:
    """``derived_tstamp`` by Enrich's rule: ``ttm``, else the clock-skew correction."""
    true, created, sent = (_millis(payload.get(name)) for name in ("ttm", "dtm", "stm"))
    if true is not None:
        return true
    if created is not None and sent is not None and created < sent:
        return received_ms - (sent - created)
    return received_ms
