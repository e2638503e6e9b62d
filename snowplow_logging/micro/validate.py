"""Validate payloads the way a Snowplow pipeline (Collector + Enrich) would.

Two parts: :class:`IgluResolver` finds Iglu JSON Schemas (the bundled Iglu
Central copies and any user directory in static-registry layout) and caches one
compiled validator per schema; :func:`check_payload` applies the protocol field
rules of docs/protocol.md (strings only, known fields, UUIDs, ints, decimals,
millisecond timestamps, required fields per event type, atomic lengths), decodes
``ue_px``/``cx`` and validates every self-describing event and entity.

Used by the local collector, and public so that a test suite can check a
payload it captured (:class:`snowplow_logging.testing.CapturingEmitter`)
without a collector::

    from snowplow_logging.micro import check_payload

    assert check_payload(emitter.payloads[0]).errors == []

Needs the ``jsonschema`` package (the ``micro`` extra); importing this module
does not, only building a resolver does.
"""

from __future__ import annotations

import functools
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final, Generic, TypeAlias, TypeVar, cast

from snowplow_logging import _protocol as proto
from snowplow_logging._json import decode_b64
from snowplow_logging.micro.fastschema import Check, compile_check
from snowplow_logging.micro.fields import check_fields, shown

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

__all__ = [
    "BUNDLED_SCHEMAS",
    "CheckedEvent",
    "IgluResolver",
    "check_envelope",
    "check_payload",
    "read_json",
]

_PACKAGE: Final = Path(__file__).parent.parent
BUNDLED_SCHEMAS: Final = (_PACKAGE / "schemas", _PACKAGE / "iglu" / "schemas")
"""The schemas shipped with the package: our own (the log-record entity), then the
Iglu Central copies."""

MISSING_EXTRA: Final = (
    "validating events needs the 'jsonschema' package: "
    "pip install 'snowplow-logging[micro]'"
)

_JSON_FIELDS: Final = {
    "ue": (proto.UNSTRUCT, proto.UNSTRUCT_ENCODED),
    "co": (proto.CONTEXT, proto.CONTEXT_ENCODED),
}
_ENCODED_FIELDS: Final = frozenset({proto.UNSTRUCT_ENCODED, proto.CONTEXT_ENCODED})
_PAYLOAD_DATA_PREFIX: Final = (
    "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-"
)
_DECODED_CACHE_SIZE: Final = 4096
"""How many decoded ``ue_*``/``co``/``cx`` values a resolver remembers, at most."""
_DECODED_CACHE_CHARS: Final = 2 * 1024 * 1024
"""How many characters of those values (and of their errors) it remembers, at most."""
_DECODED_ITEM_CHARS: Final = 16 * 1024
"""A longer value (with its errors) is decoded each time, never remembered: the
cache is for the small entities sent again and again."""
_SCHEMA_CACHE_SIZE: Final = 512
"""How many schema lookups (compiled validators, and URIs found missing) it keeps."""
_SCHEMA_CACHE_CHARS: Final = 128 * 1024
"""How many characters of those URIs it keeps; a URI over 512 is not remembered."""

_Decoded: TypeAlias = tuple[tuple[str, ...], object]
"""A decoded JSON field: its errors, and its ``data`` (None when unusable)."""
_WRAPPER_PREFIX: Final = {
    "ue": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-",
    "co": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-",
}


def read_json(text: str) -> object:
    """``json.loads`` as a pipeline reads JSON: only what JSON can write.

    Python's decoder also reads ``NaN``, ``Infinity`` and numbers past a double
    (``1e999`` as ``inf``), which it would then write back as ``NaN``/``Infinity``,
    invalid JSON; here they are errors.

    Raises:
        ValueError: ``text`` is not JSON (also past Python's int-string limit).
        RecursionError: it is nested deeper than the parser goes.
    """
    return json.loads(text, parse_constant=_not_a_number, parse_float=_finite)


def _not_a_number(name: str) -> object:
    msg = f"{name} is not a JSON number"
    raise ValueError(msg)


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        msg = f"{text[:40]} is past a double's range"
        raise ValueError(msg)
    return number


def _schema_key(uri: str) -> tuple[str, str, str, str] | None:
    """The vendor, name, format and version of an Iglu URI, or None if it is not one.

    Iglu's own patterns, matched whole (no trailing newline), and a vendor that is
    not only dots: ``iglu:../x/jsonschema/1-0-0`` would name a path outside the
    registry, so it is no schema at all.
    """
    if proto.IGLU_URI.fullmatch(uri) is None:
        return None
    vendor, name, fmt, version = uri.removeprefix("iglu:").split("/")
    if not vendor.strip("."):
        return None
    return vendor, name, fmt, version


_Key = TypeVar("_Key", bound=Hashable)
_Value = TypeVar("_Value")


class _Lru(Generic[_Key, _Value]):
    """A thread-safe cache forgetting its least recently used entries.

    It keeps at most ``entries`` entries and ``weight`` in total of the weights
    they were put with; an entry heavier than ``item_weight`` is not kept at all.
    """

    def __init__(self, *, entries: int, weight: int, item_weight: int) -> None:
        self._items: OrderedDict[_Key, tuple[_Value, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._entries = entries
        self._max_weight = weight
        self._item_weight = item_weight
        self.weight = 0
        """The total weight of the entries kept."""

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[_Key]:
        with self._lock:
            return iter(list(self._items))

    def get(self, key: _Key) -> _Value | None:
        """The value kept for ``key`` (now the most recently used), or None."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: _Key, value: _Value, weight: int) -> None:
        """Keep ``value`` for ``key``, forgetting the least recently used past a bound."""
        if weight > self._item_weight:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.weight -= old[1]
            self._items[key] = (value, weight)
            self.weight += weight
            while len(self._items) > self._entries or self.weight > self._max_weight:
                _, (_, dropped) = self._items.popitem(last=False)
                self.weight -= dropped


@functools.cache
def _bundled_resolver() -> IgluResolver:
    """The resolver :func:`check_payload` uses when given none, built once."""
    return IgluResolver()


def _load_jsonschema() -> ModuleType:
    try:
        import jsonschema  # noqa: PLC0415 - optional dependency, imported on first use
    except ImportError as exc:
        raise ImportError(MISSING_EXTRA) from exc
    return jsonschema


class IgluResolver:
    """Find Iglu schemas by URI and validate data against them.

    Thread-safe; compiled validators and decoded entities are cached, so share
    one resolver between collectors and checks (the pytest fixture keeps one per
    session). Both caches are bounded (least recently used entries forgotten):
    512 schema lookups, and 4,096 decoded values of at most 16 KiB each, 2 MiB in
    all.

    Args:
        directories: extra Iglu static-registry roots, each laid out as
            ``schemas/<vendor>/<name>/jsonschema/<M-R-A>`` (the root may be the
            folder holding ``schemas`` or ``schemas`` itself). Earlier directories
            win over later ones and over the bundled schemas. Only files inside
            a root are read: an Iglu URI cannot name a path out of it
            (``iglu:../...`` is no Iglu URI), nor a symbolic link lead out.
        bundled: also use the Iglu Central schemas shipped with the package.

    Raises:
        ImportError: ``jsonschema`` is not installed; the message says what to install.

    .. versionadded:: 0.2.0
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
        self._real_roots = tuple(root.resolve() for root in self._roots)
        self._cache: _Lru[str, tuple[Validator | None, Check | None]] = _Lru(
            entries=_SCHEMA_CACHE_SIZE, weight=_SCHEMA_CACHE_CHARS, item_weight=512
        )
        self._decoded: _Lru[tuple[str, str], _Decoded] = _Lru(
            entries=_DECODED_CACHE_SIZE,
            weight=_DECODED_CACHE_CHARS,
            item_weight=_DECODED_ITEM_CHARS,
        )
        self._format_checker = self._jsonschema.FormatChecker()

    @property
    def roots(self) -> tuple[Path, ...]:
        """The registry roots searched, in order."""
        return self._roots

    def _path(self, uri: str) -> Path | None:
        parts = _schema_key(uri)
        if parts is None:
            return None
        for root, real_root in zip(self._roots, self._real_roots, strict=True):
            candidate = root.joinpath(*parts)
            try:
                # The URI cannot step out (_schema_key), nor may a link inside the root.
                if candidate.is_file() and candidate.resolve().is_relative_to(
                    real_root
                ):
                    return candidate
            except (OSError, RuntimeError):  # a name too long for a file, a link loop
                continue
        return None

    def schema_path(self, uri: str) -> Path | None:
        """The file holding the schema ``uri``, or None if no such schema is known."""
        return self._path(uri)

    def validator(self, uri: str) -> Validator | None:
        """The compiled validator of ``uri``, or None if no such schema is known."""
        return self._compiled(uri)[0]

    def _compiled(self, uri: str) -> tuple[Validator | None, Check | None]:
        """The validator and quick test of ``uri`` (both None when unknown), cached."""
        cached = self._cache.get(uri)
        if cached is not None:
            return cached
        path = self._path(uri)
        compiled: tuple[Validator | None, Check | None] = (None, None)
        if path is not None:
            schema = json.loads(path.read_text(encoding="utf-8"))
            schema.pop("$schema", None)
            schema.pop("self", None)
            compiled = (
                self._jsonschema.Draft4Validator(
                    schema, format_checker=self._format_checker
                ),
                compile_check(schema, self._format_checker.conforms),
            )
        self._cache.put(uri, compiled, len(uri))
        return compiled

    def _remember(self, key: tuple[str, str], decoded: _Decoded) -> None:
        """Keep a decoded ``ue_*``/``co``/``cx`` value, within the cache's bounds."""
        errors, _ = decoded
        self._decoded.put(key, decoded, len(key[1]) + sum(map(len, errors)))

    def errors(self, uri: str, data: object) -> list[str]:
        """Validate ``data`` against the schema ``uri``; return readable errors."""
        validator, quick = self._compiled(uri)
        if validator is None:
            return [f"schema not found: {uri}"]
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
        if not isinstance(schema, str) or _schema_key(schema) is None:
            return [f"{where}: 'schema' is not an Iglu URI: {schema!r}"]
        return [f"{where}: {e}" for e in self.errors(schema, value["data"])]


@dataclass(slots=True)
class CheckedEvent:
    """One payload after validation, as :func:`check_payload` returns it.

    .. versionadded:: 0.2.0

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
        value = self.payload.get(proto.EVENT)
        return value if isinstance(value, str) else None

    @property
    def schema(self) -> str | None:
        """The schema of a self-describing event, if any."""
        if self.event is None:
            return None
        schema = self.event.get("schema")
        return schema if isinstance(schema, str) else None


def check_payload(
    payload: object, resolver: IgluResolver | None = None
) -> CheckedEvent:
    """Validate one event payload (a flat ``{field: str}`` mapping) as Enrich would.

    Thread-safe. Decoded ``ue_*``/``co``/``cx`` values are cached per resolver
    (bounded), so the same entities on many events are decoded and validated once.

    Args:
        payload: the event's tracker parameters (``e``, ``eid``, ``ue_px``...), as
            an emitter receives them or a collector reads them from a request.
        resolver: where schemas come from; by default one shared resolver with
            the bundled Iglu Central schemas only, built on first use.

    Returns:
        The event with its errors (empty if good) and decoded JSON parts.

    Raises:
        ImportError: ``jsonschema`` is not installed (with no ``resolver``).

    .. versionadded:: 0.2.0
    """
    if resolver is None:
        resolver = _bundled_resolver()
    if type(payload) is not dict and not isinstance(payload, Mapping):
        return CheckedEvent(
            {}, [f"event must be a JSON object (got {type(payload).__name__})"]
        )
    checked = CheckedEvent(payload)
    errors = checked.errors
    fields = check_fields(payload, errors)
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
    event (docs/protocol.md 1.2).

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
            f"body: 'schema' must be {_PAYLOAD_DATA_PREFIX}* (got {shown(schema)})"
        ]
    return events, [f"body: {error}" for error in resolver.errors(schema, data)]


def _check_json(
    fields: Mapping[str, str], kind: str, resolver: IgluResolver, errors: list[str]
) -> object:
    """Decode and validate ``ue_px``/``ue_pr`` (kind "ue") or ``cx``/``co`` ("co")."""
    plain, encoded = _JSON_FIELDS[kind]
    is_ue_event = fields.get(proto.EVENT) == proto.UNSTRUCT_EVENT
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
        wrapper = read_json(decode_b64(value) if encoded else value)
    except (ValueError, RecursionError) as exc:
        errors.append(f"{name}: not {'base64 ' if encoded else ''}JSON: {exc}")
        return None
    if not isinstance(wrapper, dict) or set(wrapper) != {"schema", "data"}:
        errors.append(
            f"{name}: the envelope must be an object with 'schema' and 'data'"
        )
        return None
    return wrapper
