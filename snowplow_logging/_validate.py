"""Validate payloads the way a Snowplow pipeline (Collector + Enrich) would.

Two parts: :class:`IgluResolver` finds Iglu JSON Schemas (the bundled Iglu
Central copies and any user directory in static-registry layout) and caches one
compiled validator per schema; :func:`check_payload` applies the protocol field
rules of PROTOCOL.md (strings only, known fields, UUIDs, ints, decimals,
millisecond timestamps, required fields per event type, atomic lengths), decodes
``ue_px``/``cx`` and validates every self-describing event and entity.

Used by our tests, by :mod:`snowplow_logging.testing` and by the local collector.
Needs the ``jsonschema`` package (the ``micro`` extra).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final, cast

from snowplow_logging import _payload as p

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

__all__ = ["BUNDLED_SCHEMAS", "CheckedEvent", "IgluResolver", "check_payload"]

BUNDLED_SCHEMAS: Final = (
    Path(__file__).parent / "schemas",
    Path(__file__).parent / "iglu" / "schemas",
)
"""The schemas shipped with the package: our own (the log-record entity), then the
Iglu Central copies."""

MISSING_EXTRA: Final = (
    "validating events needs the 'jsonschema' package: "
    "pip install 'snowplow-logging[micro]'"
)

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
_JSON_FIELDS: Final = {
    "ue": (p.UNSTRUCT, p.UNSTRUCT_ENCODED),
    "co": (p.CONTEXT, p.CONTEXT_ENCODED),
}
_WRAPPER_PREFIX: Final = {
    "ue": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-",
    "co": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-",
}


def _load_jsonschema() -> ModuleType:
    try:
        import jsonschema  # noqa: PLC0415 - optional dependency, imported on first use
    except ImportError as exc:
        raise ImportError(MISSING_EXTRA) from exc
    return jsonschema


class IgluResolver:
    """Find Iglu schemas by URI and validate data against them.

    Args:
        directories: extra Iglu static-registry roots, each laid out as
            ``schemas/<vendor>/<name>/jsonschema/<M-R-A>`` (the root may be the
            folder holding ``schemas`` or ``schemas`` itself). Earlier directories
            win over later ones and over the bundled schemas.
        bundled: also use the Iglu Central schemas shipped with the package.

    Raises:
        ImportError: ``jsonschema`` is not installed; the message says what to install.
    """

    def __init__(
        self, directories: Iterable[str | Path] = (), *, bundled: bool = True
    ) -> None:
        self._jsonschema = _load_jsonschema()
        roots = [Path(d) for d in directories]
        if bundled:
            roots.extend(BUNDLED_SCHEMAS)
        self._roots = tuple(
            r / "schemas" if (r / "schemas").is_dir() else r for r in roots
        )
        self._lock = threading.Lock()
        self._cache: dict[str, Validator | None] = {}
        self._format_checker = self._jsonschema.FormatChecker()

    @property
    def roots(self) -> tuple[Path, ...]:
        """The registry roots searched, in order."""
        return self._roots

    def _path(self, uri: str) -> Path | None:
        if p.IGLU_URI.match(uri) is None:
            return None
        vendor, name, fmt, version = uri.removeprefix("iglu:").split("/")
        for root in self._roots:
            candidate = root / vendor / name / fmt / version
            if candidate.is_file():
                return candidate
        return None

    def validator(self, uri: str) -> Validator | None:
        """The compiled validator of ``uri``, or None if no such schema is known."""
        try:
            return self._cache[uri]
        except KeyError:
            pass
        path = self._path(uri)
        compiled = None
        if path is not None:
            schema = json.loads(path.read_text(encoding="utf-8"))
            schema.pop("$schema", None)
            schema.pop("self", None)
            compiled = self._jsonschema.Draft4Validator(
                schema, format_checker=self._format_checker
            )
        with self._lock:
            self._cache[uri] = compiled
        return compiled

    def errors(self, uri: str, data: object) -> list[str]:
        """Validate ``data`` against the schema ``uri``; return readable errors."""
        validator = self.validator(uri)
        if validator is None:
            return [f"schema not found: {uri}"]
        return [
            f"{uri}: {'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
            for error in validator.iter_errors(cast("Any", data))
        ]

    def check_self_describing(self, where: str, value: object) -> list[str]:
        """Check a ``{"schema", "data"}`` object and validate its data."""
        if not isinstance(value, dict) or set(value) != {"schema", "data"}:
            return [f"{where}: must be an object with exactly 'schema' and 'data'"]
        schema = value["schema"]
        if not isinstance(schema, str) or p.IGLU_URI.match(schema) is None:
            return [f"{where}: 'schema' is not an Iglu URI: {schema!r}"]
        return [f"{where}: {e}" for e in self.errors(schema, value["data"])]


@dataclass(slots=True)
class CheckedEvent:
    """One payload after validation.

    Attributes:
        payload: the payload as received.
        errors: why a pipeline would refuse it; empty when it is good.
        event: the inner ``{"schema", "data"}`` of a self-describing event.
        entities: the decoded entities, each ``{"schema", "data"}``.
    """

    payload: Mapping[str, object]
    errors: list[str] = field(default_factory=list)
    event: dict[str, object] | None = None
    entities: list[dict[str, object]] = field(default_factory=list)

    @property
    def good(self) -> bool:
        """True when a pipeline would accept the event."""
        return not self.errors

    @property
    def event_type(self) -> str | None:
        """The ``e`` field, if it is a string."""
        value = self.payload.get(p.EVENT)
        return value if isinstance(value, str) else None

    @property
    def schema(self) -> str | None:
        """The schema of a self-describing event, if any."""
        if self.event is None:
            return None
        schema = self.event.get("schema")
        return schema if isinstance(schema, str) else None


def check_payload(payload: object, resolver: IgluResolver) -> CheckedEvent:
    """Validate one event payload (a flat ``{field: str}`` mapping).

    Returns:
        The event with its errors (empty if good) and decoded JSON parts.
    """
    if not isinstance(payload, Mapping):
        return CheckedEvent(
            {}, [f"event must be a JSON object (got {type(payload).__name__})"]
        )
    checked = CheckedEvent(payload)
    errors = checked.errors
    fields: dict[str, str] = {}
    for key, value in payload.items():
        if key not in _ALLOWED_FIELDS:
            errors.append(f"{key}: not a field of payload_data 1-0-4")
        if isinstance(value, str):
            fields[str(key)] = value
        else:
            errors.append(f"{key}: must be a string (got {json.dumps(value)[:40]})")
    _check_fields(fields, errors)
    checked.event = _check_json(fields, "ue", resolver, errors)  # type: ignore[assignment]
    entities = _check_json(fields, "co", resolver, errors)
    checked.entities = entities if isinstance(entities, list) else []
    return checked


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


def _check_fields(fields: Mapping[str, str], errors: list[str]) -> None:
    errors.extend(
        f"{name}: required" for name in _ALWAYS_REQUIRED if name not in fields
    )
    for names, test, expected in _RULES:
        errors.extend(
            f"{name}: {expected} (got {fields[name][:40]!r})"
            for name in names
            if name in fields and not test(fields[name])
        )
    errors.extend(
        f"{name}: longer than {limit} characters ({len(fields[name])})"
        for name, limit in _MAX_LENGTH.items()
        if len(fields.get(name, "")) > limit
    )
    event_type = fields.get(p.EVENT, "")
    errors.extend(
        f"{name}: required for e={event_type}"
        for name in _REQUIRED.get(event_type, ())
        if not fields.get(name)
    )


def _check_json(
    fields: Mapping[str, str], kind: str, resolver: IgluResolver, errors: list[str]
) -> object:
    """Decode and validate ``ue_px``/``ue_pr`` (kind "ue") or ``cx``/``co`` ("co")."""
    plain, encoded = _JSON_FIELDS[kind]
    present = [name for name in (encoded, plain) if name in fields]
    if len(present) == 2:  # noqa: PLR2004 - both forms of one field
        errors.append(f"{plain}/{encoded}: both forms sent; send one")
    is_ue_event = fields.get(p.EVENT) == p.UNSTRUCT_EVENT
    if kind == "ue" and is_ue_event != bool(present):
        errors.append(
            f"{plain}/{encoded}: required for e=ue"
            if is_ue_event
            else f"{present[0]}: only allowed on e=ue"
        )
    if len(present) != 1:
        return None
    name = present[0]
    wrapper = _decode_envelope(
        name, fields[name], encoded=name == encoded, errors=errors
    )
    if wrapper is None:
        return None
    schema, data = wrapper["schema"], wrapper["data"]
    if not isinstance(schema, str) or not schema.startswith(_WRAPPER_PREFIX[kind]):
        envelope_errors = [f"the envelope must name {_WRAPPER_PREFIX[kind]}*"]
    else:
        envelope_errors = resolver.errors(schema, data)
    if envelope_errors:
        errors.extend(f"{name}: {e}" for e in envelope_errors)
        return None
    if kind == "ue":
        errors.extend(resolver.check_self_describing(name, data))
    elif isinstance(data, list):  # the contexts schema made sure of it
        for index, entity in enumerate(data):
            errors.extend(resolver.check_self_describing(f"{name}[{index}]", entity))
    return data


def _decode_envelope(
    name: str, value: str, *, encoded: bool, errors: list[str]
) -> dict[str, object] | None:
    try:
        wrapper = json.loads(p.decode_b64(value) if encoded else value)
    except ValueError as exc:
        errors.append(f"{name}: not {'base64 ' if encoded else ''}JSON: {exc}")
        return None
    if not isinstance(wrapper, dict) or set(wrapper) != {"schema", "data"}:
        errors.append(
            f"{name}: the envelope must be an object with 'schema' and 'data'"
        )
        return None
    return wrapper
