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

from snowplow_logging import _protocol as proto

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

_ALWAYS_REQUIRED: Final = (proto.TRACKER_VERSION, proto.PLATFORM, proto.EVENT)
_INT_FIELDS: Final = (
    proto.PING_X_MIN, proto.PING_X_MAX, proto.PING_Y_MIN, proto.PING_Y_MAX, proto.DOMAIN_SESSION_INDEX, proto.TI_QUANTITY,
)  # fmt: skip
_DEC_FIELDS: Final = (
    proto.SE_VALUE,
    proto.TR_TOTAL,
    proto.TR_TAX,
    proto.TR_SHIPPING,
    proto.TI_PRICE,
)
_MS_FIELDS: Final = (proto.CREATED_TSTAMP, proto.SENT_TSTAMP, proto.TRUE_TSTAMP)
_SIZE_FIELDS: Final = (proto.RESOLUTION, proto.VIEWPORT)
_REQUIRED: Final[Mapping[str, tuple[str, ...]]] = {
    proto.PAGE_VIEW: (proto.PAGE_URL,),
    proto.PAGE_PING: (proto.PAGE_URL,),
    proto.STRUCT_EVENT: (proto.SE_CATEGORY, proto.SE_ACTION),
    proto.TRANSACTION: (proto.TR_ORDER_ID, proto.TR_TOTAL),
    proto.TRANSACTION_ITEM: (
        proto.TI_ORDER_ID,
        proto.TI_SKU,
        proto.TI_PRICE,
        proto.TI_QUANTITY,
    ),
    proto.UNSTRUCT_EVENT: (),
}
_MAX_LENGTH: Final[Mapping[str, int]] = {
    proto.EVENT_ID: 36, proto.TRACKER_VERSION: 100, proto.NAMESPACE: 128, proto.APP_ID: 255,
    proto.USER_ID: 255, proto.DOMAIN_USER_ID: 128, proto.NETWORK_USER_ID: 128,
    proto.TRACKER_NETWORK_USER_ID: 128, proto.IP_ADDRESS: 128, proto.USERAGENT: 1000,
    proto.TIMEZONE: 255, proto.LANGUAGE: 255, proto.COLOR_DEPTH: 12, proto.PAGE_URL: 4096,
    proto.PAGE_TITLE: 2000, proto.PAGE_REFERRER: 4096, proto.SE_CATEGORY: 1000,
    proto.SE_ACTION: 1000, proto.SE_LABEL: 4096, proto.SE_PROPERTY: 1000, proto.TR_ORDER_ID: 255,
    proto.TR_AFFILIATION: 255, proto.TR_CITY: 255, proto.TR_STATE: 255, proto.TR_COUNTRY: 255,
    proto.TR_CURRENCY: 3, proto.TI_ORDER_ID: 255, proto.TI_SKU: 255, proto.TI_NAME: 255,
    proto.TI_CATEGORY: 255, proto.TI_CURRENCY: 3,
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
    return (
        _INT_TEXT.match(value) is not None
        and proto.INT_MIN <= int(value) <= proto.INT_MAX
    )


def _is_ms(value: str) -> bool:
    return value.isdigit() and proto.MS_MIN <= int(value) <= proto.MS_MAX


def _is_size(value: str) -> bool:
    match = _SIZE_TEXT.match(value)
    return match is not None and all(_is_int(g) for g in match.groups())


_RULES: Final[tuple[tuple[tuple[str, ...], Callable[[str], bool], str], ...]] = (
    ((proto.EVENT,), proto.EVENT_TYPES.__contains__, "must be an event type"),
    ((proto.PLATFORM,), proto.PLATFORMS.__contains__, "must be a platform code"),
    (
        (proto.EVENT_ID, proto.DOMAIN_SESSION_ID),
        lambda v: bool(proto.UUID_PATTERN.match(v)),
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
    event_type = fields.get(proto.EVENT, "")
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
