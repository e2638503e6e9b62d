"""The Snowplow tracker protocol in one place: field names, kinds and limits.

Every protocol fact the tracker writes and the local collector checks lives
here, as ``Final`` constants: the field names (docs/protocol.md section 2), the
event types and the fields each requires, the Iglu schema URIs, the platform
codes, the numeric bounds Enrich enforces and the collector paths. :data:`FIELDS`
is the table of every field ``payload_data`` 1-0-4 allows, with the kind of its
value and the length of its atomic column: event construction reads its length
limits from it when the module is imported, and the local collector's field
rules are built from it, so the two cannot drift apart.

Nothing here does I/O; importing it only builds these values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal, TypeAlias

__all__ = [
    "ALWAYS_REQUIRED",
    "FIELDS",
    "GET_FIELDS",
    "GET_PATH",
    "GET_REQUEST_LINE_MAX",
    "MAX_JSON_DEPTH",
    "POST_PATH",
    "REQUIRED_BY_EVENT",
    "URL_PARTS",
    "Field",
    "Kind",
    "Payload",
    "max_length",
    "shortest",
]

Payload: TypeAlias = dict[str, str]
"""One event on the wire: protocol field names to string values."""

# --- Collector paths (docs/protocol.md 1.1) -------------------------------------
POST_PATH: Final = "/com.snowplowanalytics.snowplow/tp2"
"""Where a tracker POSTs a ``payload_data`` envelope."""
GET_PATH: Final = "/i"
"""Where a tracker sends one event as a query string."""

# --- Common fields (docs/protocol.md 2.1) -------------------------------------------
EVENT: Final = "e"
EVENT_ID: Final = "eid"
TRACKER_VERSION: Final = "tv"
NAMESPACE: Final = "tna"
APP_ID: Final = "aid"
PLATFORM: Final = "p"
CREATED_TSTAMP: Final = "dtm"
SENT_TSTAMP: Final = "stm"
TRUE_TSTAMP: Final = "ttm"
CONTEXT: Final = "co"
CONTEXT_ENCODED: Final = "cx"
UNSTRUCT: Final = "ue_pr"
UNSTRUCT_ENCODED: Final = "ue_px"

# --- Subject fields (docs/protocol.md 2.2) ------------------------------------------
USER_ID: Final = "uid"
DOMAIN_USER_ID: Final = "duid"
DOMAIN_SESSION_ID: Final = "sid"
DOMAIN_SESSION_INDEX: Final = "vid"
NETWORK_USER_ID: Final = "nuid"
TRACKER_NETWORK_USER_ID: Final = "tnuid"
IP_ADDRESS: Final = "ip"
USERAGENT: Final = "ua"
TIMEZONE: Final = "tz"
LANGUAGE: Final = "lang"
RESOLUTION: Final = "res"
VIEWPORT: Final = "vp"
COLOR_DEPTH: Final = "cd"

# --- Event-specific fields (docs/protocol.md 2.3) -----------------------------------
PAGE_URL: Final = "url"
PAGE_TITLE: Final = "page"
PAGE_REFERRER: Final = "refr"
PING_X_MIN: Final = "pp_mix"
PING_X_MAX: Final = "pp_max"
PING_Y_MIN: Final = "pp_miy"
PING_Y_MAX: Final = "pp_may"
SE_CATEGORY: Final = "se_ca"
SE_ACTION: Final = "se_ac"
SE_LABEL: Final = "se_la"
SE_PROPERTY: Final = "se_pr"
SE_VALUE: Final = "se_va"
TR_ORDER_ID: Final = "tr_id"
TR_TOTAL: Final = "tr_tt"
TR_AFFILIATION: Final = "tr_af"
TR_TAX: Final = "tr_tx"
TR_SHIPPING: Final = "tr_sh"
TR_CITY: Final = "tr_ci"
TR_STATE: Final = "tr_st"
TR_COUNTRY: Final = "tr_co"
TR_CURRENCY: Final = "tr_cu"
TI_ORDER_ID: Final = "ti_id"
TI_SKU: Final = "ti_sk"
TI_NAME: Final = "ti_nm"
TI_CATEGORY: Final = "ti_ca"
TI_PRICE: Final = "ti_pr"
TI_QUANTITY: Final = "ti_qu"
TI_CURRENCY: Final = "ti_cu"

# --- Event types ---------------------------------------------------------------
PAGE_VIEW: Final = "pv"
PAGE_PING: Final = "pp"
STRUCT_EVENT: Final = "se"
UNSTRUCT_EVENT: Final = "ue"
TRANSACTION: Final = "tr"
TRANSACTION_ITEM: Final = "ti"
EVENT_TYPES: Final = frozenset(
    {PAGE_VIEW, PAGE_PING, STRUCT_EVENT, UNSTRUCT_EVENT, TRANSACTION, TRANSACTION_ITEM}
)
"""Every value ``e`` this tracker writes."""
LEGACY_STRUCT_EVENT: Final = "ev"
ENRICH_EVENT_TYPES: Final = EVENT_TYPES | {LEGACY_STRUCT_EVENT}
"""Every value of ``e`` Enrich makes an event of: ours and the legacy ``ev``
(a structured event). ``ad`` passes its first step, then fails for want of a schema."""

# --- Schemas -------------------------------------------------------------------
PAYLOAD_DATA_SCHEMA: Final = (
    "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
)
CONTEXTS_SCHEMA: Final = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1"
UNSTRUCT_EVENT_SCHEMA: Final = (
    "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0"
)
SCREEN_VIEW_SCHEMA: Final = (
    "iglu:com.snowplowanalytics.mobile/screen_view/jsonschema/1-0-0"
)
APPLICATION_SCHEMA: Final = (
    "iglu:com.snowplowanalytics.snowplow/application/jsonschema/1-0-0"
)
APPLICATION_ERROR_SCHEMA: Final = (
    "iglu:com.snowplowanalytics.snowplow/application_error/jsonschema/1-0-2"
)

PLATFORMS: Final = frozenset(
    {"web", "mob", "pc", "srv", "app", "tv", "cnsl", "iot", "headset"}
)
"""The platform codes Enrich accepts in ``p``."""

INT_MIN: Final = -(2**31)
INT_MAX: Final = 2**31 - 1
"""Integer fields are Java ``int`` in Enrich."""

MS_MIN: Final = 100_000_000_000
"""The smallest timestamp the tracker builds (1973-03-03): anything lower is
most likely seconds, not ms, so a programmer's value below it is refused."""
MS_MAX: Final = 253_402_300_799_999
"""The largest timestamp accepted (9999-12-31T23:59:59.999Z)."""
ENRICH_MS_MIN: Final = -62_167_219_200_000
"""The smallest timestamp Enrich accepts (0000-01-01T00:00:00.000Z): it refuses
only a year outside 0..9999."""

MAX_JSON_DEPTH: Final = 40
"""Enrich's (and Snowplow Micro's) ``maxJsonDepth``: a JSON value inside 40 or
more arrays and objects is refused, counted over the whole ``ue_*``/``co``/``cx``
text (wrapper included) and over a POST body."""
EVENT_DATA_DEPTH: Final = MAX_JSON_DEPTH - 4
"""How many levels of arrays/objects a self-describing event's ``data`` may hold
below itself (the data is level 0): the ``unstruct_event`` wrapper and the event
hold the data at depth 2, and a value at depth 40 is refused."""
ENTITY_DATA_DEPTH: Final = MAX_JSON_DEPTH - 5
"""The same for an entity's ``data``, one level deeper: the contexts wrapper, its
array and the entity hold it at depth 3. Event construction applies this one to
every self-describing JSON (it cannot tell which it will be)."""
GET_REQUEST_LINE_MAX: Final = 20_480
"""The most bytes the collector reads in a request line (``GET /i?... HTTP/1.1``);
a longer GET is refused before Enrich sees it."""
TAB_WIDTH: Final = 4
"""Enrich stores text TSV-safe: each tab becomes this many spaces."""

IGLU_URI: Final = re.compile(
    r"^iglu:[a-zA-Z0-9\-_.]+/[a-zA-Z0-9\-_]+/[a-zA-Z0-9\-_]+/[0-9]+-[0-9]+-[0-9]+$"
)
UUID_PATTERN: Final = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)

# --- The field table (payload_data 1-0-4, Enrich's atomic columns) -------------
Kind: TypeAlias = Literal[
    "text",
    "int",
    "decimal",
    "ms",
    "uuid",
    "platform",
    "event",
    "size",
    "json",
    "b64",
    "flag",
    "ip",
    "url",
    "ignored",
]
"""What a field's value is on the wire: free ``text``; an ``int`` within
``INT_MIN``..``INT_MAX``; ``decimal`` digits; ``ms`` since the epoch within
``ENRICH_MS_MIN``..``MS_MAX``; a canonical ``uuid``; a ``platform`` code; an
``event`` type; a ``size`` ``WIDTHxHEIGHT``; self-describing ``json``, or that
JSON as URL-safe ``b64``; a ``flag`` ``1`` or ``0``; an ``ip`` (Enrich keeps what
comes before the first ``,``, ``|`` or space); a ``url`` (text whose parts have
limits of their own, :data:`URL_PARTS`); ``ignored``: allowed, and unread by Enrich."""


@dataclass(frozen=True, slots=True)
class Field:
    """One payload field: its wire name, the kind of its value, its length limit.

    Args:
        name: the key on the wire, such as ``"se_ca"``.
        kind: what the value must look like (see :data:`Kind`).
        max_length: the most characters Enrich's atomic column keeps, or
            ``None`` when the column has no limit the collector enforces.
    """

    name: str
    kind: Kind = "text"
    max_length: int | None = None


def _table(*fields: Field) -> Mapping[str, Field]:
    return MappingProxyType({f.name: f for f in fields})


def _unused(
    names: str, kind: Kind = "ignored", limit: int | None = None
) -> tuple[Field, ...]:
    """Fields that payload_data allows and this tracker never writes.

    Browser features, ad and social fields...: they are named only here, with
    the rule Enrich applies to each (``ignored``: none, Enrich does not read it).
    """
    return tuple(Field(name, kind, limit) for name in names.split())


FIELDS: Final[Mapping[str, Field]] = _table(
    Field(NAMESPACE, max_length=128),
    Field(APP_ID, max_length=255),
    Field(PLATFORM, "platform"),
    Field(CREATED_TSTAMP, "ms"),
    Field(TIMEZONE, max_length=255),
    Field(EVENT, "event"),
    *_unused("tid", "int"),
    Field(EVENT_ID, "uuid", max_length=36),
    Field(TRACKER_VERSION, max_length=100),
    Field(DOMAIN_USER_ID, max_length=128),
    Field(NETWORK_USER_ID, max_length=128),
    Field(USER_ID, max_length=255),
    Field(DOMAIN_SESSION_INDEX, "int"),
    Field(IP_ADDRESS, "ip", max_length=128),
    Field(RESOLUTION, "size"),
    Field(PAGE_URL, "url", max_length=4096),
    Field(PAGE_TITLE, max_length=2000),
    Field(PAGE_REFERRER, "url", max_length=4096),
    *_unused("fp", "text", 128),
    *_unused("ctype"),
    *_unused("cookie", "flag"),
    Field(LANGUAGE, max_length=255),
    *_unused("f_pdf f_qt f_realp f_wma f_dir f_fla f_java f_gears f_ag", "flag"),
    Field(COLOR_DEPTH, max_length=12),
    *_unused("ds", "size"),
    *_unused("cs", "text", 128),
    Field(VIEWPORT, "size"),
    *_unused("mac"),
    Field(PING_X_MIN, "int"),
    Field(PING_X_MAX, "int"),
    Field(PING_Y_MIN, "int"),
    Field(PING_Y_MAX, "int"),
    *_unused("ad_ba ad_ca ad_ad ad_uid"),
    Field(TR_ORDER_ID, max_length=255),
    Field(TR_AFFILIATION, max_length=255),
    Field(TR_TOTAL, "decimal"),
    Field(TR_TAX, "decimal"),
    Field(TR_SHIPPING, "decimal"),
    Field(TR_CITY, max_length=255),
    Field(TR_STATE, max_length=255),
    Field(TR_COUNTRY, max_length=255),
    Field(TR_CURRENCY, max_length=3),
    Field(TI_ORDER_ID, max_length=255),
    Field(TI_SKU, max_length=255),
    Field(TI_NAME, max_length=255),
    *_unused("ti_na", "text", 255),
    Field(TI_CATEGORY, max_length=255),
    Field(TI_PRICE, "decimal"),
    Field(TI_QUANTITY, "int"),
    Field(TI_CURRENCY, max_length=3),
    *_unused("sa sn st sp"),
    Field(SE_CATEGORY, max_length=1000),
    Field(SE_ACTION, max_length=1000),
    Field(SE_LABEL, max_length=4096),
    Field(SE_PROPERTY, max_length=1000),
    Field(SE_VALUE, "decimal"),
    *_unused("ue_na"),
    Field(UNSTRUCT, "json"),
    Field(UNSTRUCT_ENCODED, "b64"),
    Field(CONTEXT, "json"),
    Field(CONTEXT_ENCODED, "b64"),
    Field(USERAGENT, max_length=1000),
    Field(TRACKER_NETWORK_USER_ID, max_length=128),
    Field(SENT_TSTAMP, "ms"),
    Field(DOMAIN_SESSION_ID, "uuid", max_length=128),
    Field(TRUE_TSTAMP, "ms"),
)
"""Every field payload_data 1-0-4 allows (``additionalProperties: false``), by
wire name: the kind of its value and the length of its atomic column."""

GET_FIELDS: Final[Mapping[str, Field]] = MappingProxyType(
    {
        **FIELDS,
        **_table(
            Field("cv", max_length=100),
            Field("ev_ca", max_length=1000),
            Field("ev_ac", max_length=1000),
            Field("ev_la", max_length=4096),
            Field("ev_pr", max_length=1000),
            Field("ev_va", "decimal"),
        ),
    }
)
"""What Enrich reads from a GET query: :data:`FIELDS` and the legacy fields
payload_data does not allow (``cv``, ``ev_*``). Any other key is ignored."""

ALWAYS_REQUIRED: Final = (TRACKER_VERSION, PLATFORM, EVENT)
"""The fields payload_data requires of every event in a POST body. Enrich itself
needs only ``e``: a GET without ``tv`` or ``p`` is good."""

REQUIRED_BY_EVENT: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        PAGE_VIEW: (PAGE_URL,),
        PAGE_PING: (PAGE_URL,),
        STRUCT_EVENT: (SE_CATEGORY, SE_ACTION),
        TRANSACTION: (TR_ORDER_ID, TR_TOTAL),
        TRANSACTION_ITEM: (TI_ORDER_ID, TI_SKU, TI_PRICE, TI_QUANTITY),
        UNSTRUCT_EVENT: (),
    }
)
"""The non-empty fields the tracker requires of each event type (docs/protocol.md
section 3). Enrich requires none of them: the local collector does not either."""

URL_PARTS: Final[Mapping[str, tuple[tuple[str, int], ...]]] = MappingProxyType(
    {
        PAGE_URL: (
            ("scheme", 16),
            ("host", 255),
            ("path", 3000),
            ("query", 6000),
            ("fragment", 3000),
        ),
        PAGE_REFERRER: (
            ("scheme", 16),
            ("host", 255),
            ("path", 6000),
            ("query", 6000),
            ("fragment", 3000),
        ),
    }
)
"""The atomic columns Enrich splits ``url`` and ``refr`` into (``page_urlpath``...,
``refr_urlpath``...) and their lengths, measured on the raw (still
percent-encoded) parts, spaces written ``%20``."""


def max_length(name: str) -> int | None:
    """The length limit of the field ``name`` (``None``: no limit).

    Read once, when a module is imported, not per event.

    Raises:
        KeyError: ``name`` is not a field of payload_data.
    """
    return FIELDS[name].max_length


def shortest(*names: str) -> int:
    """The tightest length limit among the fields ``names``, for a value sent in each.

    Raises:
        KeyError: a name is not a field of payload_data.
        ValueError: none of the fields has a length limit.
    """
    limits = [limit for name in names if (limit := FIELDS[name].max_length)]
    if not limits:
        msg = f"none of {names!r} has a length limit"
        raise ValueError(msg)
    return min(limits)
