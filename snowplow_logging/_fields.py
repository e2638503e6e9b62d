"""The pipeline's rules for payload fields (PROTOCOL.md 1.2, payload_data 1-0-4).

Which keys a payload may have, which are required for each event type, the
shape of each value (event types, platforms, UUIDs, ints, decimals,
millisecond timestamps, sizes) and the atomic column lengths Enrich enforces.
:func:`check_fields` applies them; :mod:`snowplow_logging._validate` adds the
Iglu validation of the JSON fields.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Final

from snowplow_logging import _payload as p

__all__ = ["check_fields", "shown"]

_ALLOWED_FIELDS: Final = frozenset(
    [
        "tna",
        "aid",
        "p",
        "dtm",
        "tz",
        "e",
        "tid",
        "eid",
        "tv",
        "duid",
        "nuid",
        "uid",
        "vid",
        "ip",
        "res",
        "url",
        "page",
        "refr",
        "fp",
        "ctype",
        "cookie",
        "lang",
        "f_pdf",
        "f_qt",
        "f_realp",
        "f_wma",
        "f_dir",
        "f_fla",
        "f_java",
        "f_gears",
        "f_ag",
        "cd",
        "ds",
        "cs",
        "vp",
        "mac",
        "pp_mix",
        "pp_max",
        "pp_miy",
        "pp_may",
        "ad_ba",
        "ad_ca",
        "ad_ad",
        "ad_uid",
        "tr_id",
        "tr_af",
        "tr_tt",
        "tr_tx",
        "tr_sh",
        "tr_ci",
        "tr_st",
        "tr_co",
        "tr_cu",
        "ti_id",
        "ti_sk",
        "ti_nm",
        "ti_na",
        "ti_ca",
        "ti_pr",
        "ti_qu",
        "ti_cu",
        "sa",
        "sn",
        "st",
        "sp",
        "se_ca",
        "se_ac",
        "se_la",
        "se_pr",
        "se_va",
        "ue_na",
        "ue_pr",
        "ue_px",
        "co",
        "cx",
        "ua",
        "tnuid",
        "stm",
        "sid",
        "ttm",
    ]
)
"""The keys payload_data 1-0-4 allows (``additionalProperties: false``)."""

_ALWAYS_REQUIRED: Final = (p.TRACKER_VERSION, p.PLATFORM, p.EVENT)
_INT_FIELDS: Final = (
    p.PING_X_MIN, p.PING_X_MAX, p.PING_Y_MIN, p.PING_Y_MAX, p.DOMAIN_SESSION_INDEX, p.TI_QUANTITY,
)  # fmt: skip
_DEC_FIELDS: Final = (p.SE_VALUE, p.TR_TOTAL, p.TR_TAX, p.TR_SHIPPING, p.TI_PRICE)
_MS_FIELDS: Final = (p.CREATED_TSTAMP, p.SENT_TSTAMP, p.TRUE_TSTAMP)
_SIZE_FIELDS: Final = (p.RESOLUTION, p.VIEWPORT)
_REQUIRED: Final[Mapping[str, tuple[str, ...]]] = {
    p.PAGE_VIEW: (p.PAGE_URL,),
    p.PAGE_PING: (p.PAGE_URL,),
    p.STRUCT_EVENT: (p.SE_CATEGORY, p.SE_ACTION),
    p.TRANSACTION: (p.TR_ORDER_ID, p.TR_TOTAL),
    p.TRANSACTION_ITEM: (p.TI_ORDER_ID, p.TI_SKU, p.TI_PRICE, p.TI_QUANTITY),
    p.UNSTRUCT_EVENT: (),
}
_MAX_LENGTH: Final[Mapping[str, int]] = {
    p.EVENT_ID: 36, p.TRACKER_VERSION: 100, p.NAMESPACE: 128, p.APP_ID: 255,
    p.USER_ID: 255, p.DOMAIN_USER_ID: 128, p.NETWORK_USER_ID: 128,
    p.TRACKER_NETWORK_USER_ID: 128, p.IP_ADDRESS: 128, p.USERAGENT: 1000,
    p.TIMEZONE: 255, p.LANGUAGE: 255, p.COLOR_DEPTH: 12, p.PAGE_URL: 4096,
    p.PAGE_TITLE: 2000, p.PAGE_REFERRER: 4096, p.SE_CATEGORY: 1000,
    p.SE_ACTION: 1000, p.SE_LABEL: 4096, p.SE_PROPERTY: 1000, p.TR_ORDER_ID: 255,
    p.TR_AFFILIATION: 255, p.TR_CITY: 255, p.TR_STATE: 255, p.TR_COUNTRY: 255,
    p.TR_CURRENCY: 3, p.TI_ORDER_ID: 255, p.TI_SKU: 255, p.TI_NAME: 255,
    p.TI_CATEGORY: 255, p.TI_CURRENCY: 3,
}  # fmt: skip
_INT_TEXT: Final = re.compile(r"^-?[0-9]+$")
_DEC_TEXT: Final = re.compile(r"^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$")
_SIZE_TEXT: Final = re.compile(r"^([0-9]+)x([0-9]+)$")


def shown(value: object) -> str:
    try:
        return json.dumps(value)[:40]
    except (TypeError, ValueError):
        return repr(value)[:40]


def _is_int(value: str) -> bool:
    return _INT_TEXT.match(value) is not None and p.INT_MIN <= int(value) <= p.INT_MAX


def _is_ms(value: str) -> bool:
    return value.isdigit() and p.MS_MIN <= int(value) <= p.MS_MAX


def _is_size(value: str) -> bool:
    match = _SIZE_TEXT.match(value)
    return match is not None and all(_is_int(g) for g in match.groups())


_RULES: Final[tuple[tuple[tuple[str, ...], Callable[[str], bool], str], ...]] = (
    ((p.EVENT,), p.EVENT_TYPES.__contains__, "must be an event type"),
    ((p.PLATFORM,), p.PLATFORMS.__contains__, "must be a platform code"),
    (
        (p.EVENT_ID, p.DOMAIN_SESSION_ID),
        lambda v: bool(p.UUID_PATTERN.match(v)),
        "must be a UUID",
    ),
    (_MS_FIELDS, _is_ms, "must be milliseconds since the epoch"),
    (_INT_FIELDS, _is_int, "must be an integer"),
    (_DEC_FIELDS, lambda v: bool(_DEC_TEXT.match(v)), "must be a decimal number"),
    (_SIZE_FIELDS, _is_size, "must be WIDTHxHEIGHT integers"),
)
"""Per-field value rules: the fields, the test, and what the error says."""

_RULE_BY_FIELD: Final = {
    name: (test, expected) for names, test, expected in _RULES for name in names
}
_FIELD_SPECS: Final[
    Mapping[str, tuple[Callable[[str], bool] | None, str | None, int | None]]
] = {
    name: (*_RULE_BY_FIELD.get(name, (None, None)), _MAX_LENGTH.get(name))
    for name in _ALLOWED_FIELDS
}
"""Every allowed field with its value rule and length limit: one lookup per field."""


def _check_required(fields: Mapping[str, str], errors: list[str]) -> None:
    errors.extend(
        f"{name}: required" for name in _ALWAYS_REQUIRED if name not in fields
    )
    event_type = fields.get(p.EVENT, "")
    errors.extend(
        f"{name}: required for e={event_type}"
        for name in _REQUIRED.get(event_type, ())
        if not fields.get(name)
    )


def check_fields(payload: Mapping[str, object], errors: list[str]) -> Mapping[str, str]:
    """Append to ``errors`` what breaks the field rules; return the text fields.

    Every value must be a string; known keys only; each value of the shape and
    length its field allows; the fields its event type requires present.
    """
    fields: Mapping[str, str] = payload  # type: ignore[assignment]  # narrowed below
    for key, value in payload.items():
        spec = _FIELD_SPECS.get(key)
        if spec is None:
            errors.append(f"{key}: not a field of payload_data 1-0-4")
        if type(value) is not str:
            errors.append(f"{key}: must be a string (got {shown(value)})")
            fields = {k: v for k, v in payload.items() if type(v) is str}
            continue
        if spec is None:
            continue
        test, expected, limit = spec
        if test is not None and not test(value):
            errors.append(f"{key}: {expected} (got {value[:40]!r})")
        if limit is not None and len(value) > limit:
            errors.append(f"{key}: longer than {limit} characters ({len(value)})")
    _check_required(fields, errors)
    return fields
