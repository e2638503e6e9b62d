"""The Snowplow tracker protocol in one place: field names, paths and schema URIs.

Every protocol fact the tracker writes and the local collector checks lives
here, as ``Final`` constants: the field names (docs/protocol.md section 2), the
event types, the Iglu schema URIs, the platform codes, the numeric bounds Enrich
enforces and the collector paths. Nothing here runs at import beyond building
these values; nothing here does I/O.
"""

from __future__ import annotations

import re
from typing import Final, TypeAlias

__all__ = ["GET_PATH", "POST_PATH", "Payload"]

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
"""The smallest timestamp accepted (1973-03-03): anything lower is seconds, not ms."""
MS_MAX: Final = 253_402_300_799_999
"""The largest timestamp accepted (9999-12-31T23:59:59.999Z)."""

IGLU_URI: Final = re.compile(
    r"^iglu:[a-zA-Z0-9\-_.]+/[a-zA-Z0-9\-_]+/[a-zA-Z0-9\-_]+/[0-9]+-[0-9]+-[0-9]+$"
)
UUID_PATTERN: Final = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
