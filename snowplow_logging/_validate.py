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
from typing import TYPE_CHECKING, Any, Final, TypeAlias, cast

from snowplow_logging import _payload as p
from snowplow_logging._fastschema import Check, compile_check

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

__all__ = [
    "BUNDLED_SCHEMAS",
    "CheckedEvent",
    "IgluResolver",
    "check_envelope",
    "check_payload",
]

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
_ENCODED_FIELDS: Final = frozenset({p.UNSTRUCT_ENCODED, p.CONTEXT_ENCODED})
_PAYLOAD_DATA_PREFIX: Final = (
    "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-"
)
_DECODED_CACHE_SIZE: Final = 4096
"""How many decoded ``ue_*``/``co``/``cx`` values a resolver remembers."""

_Decoded: TypeAlias = tuple[tuple[str, ...], object]
"""A decoded JSON field: its errors, and its ``data`` (None when unusable)."""
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
        self._quick: dict[str, Check | None] = {}
        self._decoded: dict[tuple[str, str], _Decoded] = {}
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

    def schema_path(self, uri: str) -> Path | None:
        """The file holding the schema ``uri``, or None if no such schema is known."""
        return self._path(uri)

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
            quick = compile_check(schema, self._format_checker.conforms)
        with self._lock:
            if compiled is not None:
                self._quick[uri] = quick
            self._cache[uri] = compiled
        return compiled

    def _remember(self, key: tuple[str, str], decoded: _Decoded) -> None:
        """Keep a decoded ``ue_*``/``co``/``cx`` value; forget the oldest when full."""
        with self._lock:
            if len(self._decoded) >= _DECODED_CACHE_SIZE:
                del self._decoded[next(iter(self._decoded))]
            self._decoded[key] = decoded

    def errors(self, uri: str, data: object) -> list[str]:
        """Validate ``data`` against the schema ``uri``; return readable errors."""
        validator = self.validator(uri)
        if validator is None:
            return [f"schema not found: {uri}"]
        quick = self._quick.get(uri)
        if quick is not None and quick(data):
            return []  # certainly valid: skip the slow validator (issue 5)
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

    Thread-safe. Decoded ``ue_*``/``co``/``cx`` values are cached per resolver
    (bounded), so the same entities on many events are decoded and validated once.

    Returns:
        The event with its errors (empty if good) and decoded JSON parts.
    """
    if type(payload) is not dict and not isinstance(payload, Mapping):
        return CheckedEvent(
            {}, [f"event must be a JSON object (got {type(payload).__name__})"]
        )
    checked = CheckedEvent(payload)
    errors = checked.errors
    fields: Mapping[str, str] = payload
    for key, value in payload.items():
        spec = _FIELD_SPECS.get(key)
        if spec is None:
            errors.append(f"{key}: not a field of payload_data 1-0-4")
        if type(value) is not str:
            errors.append(f"{key}: must be a string (got {_shown(value)})")
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
    checked.event = _check_json(fields, "ue", resolver, errors)  # type: ignore[assignment]
    entities = _check_json(fields, "co", resolver, errors)
    checked.entities = entities if isinstance(entities, list) else []
    return checked


def check_envelope(
    body: object, resolver: IgluResolver
) -> tuple[list[object], list[str]]:
    """Check a POST body: a ``payload_data`` self-describing JSON around the events.

    Enrich validates the whole body against ``payload_data`` and rejects the
    whole request when it fails, e.g. for one non-string or ``null`` value in any
    event (PROTOCOL.md 1.2).

    Args:
        body: the parsed JSON body.
        resolver: where ``payload_data`` comes from.

    Returns:
        The events found in ``data`` (whatever their type), and the errors that
        reject the request as a whole (empty when the envelope is valid).
    """
    if not isinstance(body, dict) or set(body) != {"schema", "data"}:
        return [], ["body: must be a JSON object with exactly 'schema' and 'data'"]
    schema, data = body["schema"], body["data"]
    events = list(data) if isinstance(data, list) else []
    if not isinstance(schema, str) or not schema.startswith(_PAYLOAD_DATA_PREFIX):
        return events, [
            f"body: 'schema' must be {_PAYLOAD_DATA_PREFIX}* (got {_shown(schema)})"
        ]
    return events, [f"body: {error}" for error in resolver.errors(schema, data)]


def _shown(value: object) -> str:
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


def _check_json(
    fields: Mapping[str, str], kind: str, resolver: IgluResolver, errors: list[str]
) -> object:
    """Decode and validate ``ue_px``/``ue_pr`` (kind "ue") or ``cx``/``co`` ("co")."""
    plain, encoded = _JSON_FIELDS[kind]
    is_ue_event = fields.get(p.EVENT) == p.UNSTRUCT_EVENT
    if plain not in fields and encoded not in fields:
        if kind == "ue" and is_ue_event:
            errors.append(f"{plain}/{encoded}: required for e=ue")
        return None
    present = [name for name in (encoded, plain) if name in fields]
    if len(present) == 2:  # noqa: PLR2004 - both forms of one field
        errors.append(f"{plain}/{encoded}: both forms sent; send one")
    if kind == "ue" and not is_ue_event:
        errors.append(f"{present[0]}: only allowed on e=ue")
    if len(present) != 1:
        return None
    name = present[0]
    key = (name, fields[name])
    decoded = resolver._decoded.get(key)  # noqa: SLF001 - the resolver's own cache
    if decoded is None:
        decoded = _decode_and_validate(kind, name, fields[name], resolver)
        resolver._remember(key, decoded)  # noqa: SLF001
    errors.extend(decoded[0])
    return decoded[1]


def _decode_and_validate(
    kind: str, name: str, value: str, resolver: IgluResolver
) -> _Decoded:
    errors: list[str] = []
    wrapper = _decode_envelope(
        name, value, encoded=name in _ENCODED_FIELDS, errors=errors
    )
    if wrapper is None:
        return tuple(errors), None
    schema, data = wrapper["schema"], wrapper["data"]
    if not isinstance(schema, str) or not schema.startswith(_WRAPPER_PREFIX[kind]):
        envelope_errors = [f"the envelope must name {_WRAPPER_PREFIX[kind]}*"]
    else:
        envelope_errors = resolver.errors(schema, data)
    if envelope_errors:
        return tuple(f"{name}: {e}" for e in envelope_errors), None
    if kind == "ue":
        errors.extend(resolver.check_self_describing(name, data))
    elif isinstance(data, list):  # the contexts schema made sure of it
        for index, entity in enumerate(data):
            errors.extend(resolver.check_self_describing(f"{name}[{index}]", entity))
    return tuple(errors), data


def _decode_envelope(
    name: str, value: str, *, encoded: bool, errors: list[str]
) -> dict[str, object] | None:
    try:
        wrapper = json.loads(p.decode_b64(value) if encoded else value)
    except (ValueError, RecursionError) as exc:
        errors.append(f"{name}: not {'base64 ' if encoded else ''}JSON: {exc}")
        return None
    if not isinstance(wrapper, dict) or set(wrapper) != {"schema", "data"}:
        errors.append(
            f"{name}: the envelope must be an object with 'schema' and 'data'"
        )
        return None
    return wrapper
