"""Validate payloads the way a Snowplow pipeline (Collector + Enrich) would.

:func:`check_payload` applies the protocol field rules of docs/protocol.md
(strings only, known fields, UUIDs, ints, decimals, millisecond timestamps,
required fields per event type, atomic lengths), decodes ``ue_px``/``cx`` and
validates every self-describing event and entity against the schemas an
:class:`~snowplow_logging.micro.iglu.IgluResolver` finds; :func:`read_json`
reads JSON strictly, as a pipeline does.

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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from snowplow_logging import _protocol as proto
from snowplow_logging._json import decode_b64
from snowplow_logging._limits import json_depth, text_depth_bound
from snowplow_logging.micro.fields import check_fields, shown
from snowplow_logging.micro.iglu import BUNDLED_SCHEMAS, Decoded, IgluResolver

__all__ = [
    "BUNDLED_SCHEMAS",
    "CheckedEvent",
    "IgluResolver",
    "check_envelope",
    "check_parts",
    "check_payload",
    "collector_content_type",
    "read_json",
    "too_deep",
]

_JSON_FIELDS: Final = {
    "ue": (proto.UNSTRUCT, proto.UNSTRUCT_ENCODED),
    "co": (proto.CONTEXT, proto.CONTEXT_ENCODED),
}
_UE_PR, _UE_PX = _JSON_FIELDS["ue"]
_CO, _CX = _JSON_FIELDS["co"]
_ENCODED_FIELDS: Final = frozenset({proto.UNSTRUCT_ENCODED, proto.CONTEXT_ENCODED})
_PAYLOAD_DATA_PREFIX: Final = (
    "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-"
)
_WRAPPER_PREFIX: Final = {
    "ue": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-",
    "co": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-",
}


def read_json(text: str, *, max_depth: int | None = None) -> object:
    """``json.loads`` as a pipeline reads JSON: only what JSON can write.

    Python's decoder also reads ``NaN``, ``Infinity`` and numbers past a double
    (``1e999`` as ``inf``), which it would then write back as ``NaN``/``Infinity``,
    invalid JSON; here they are errors.

    Args:
        text: the JSON text.
        max_depth: refuse JSON nested deeper than this, as Enrich refuses a
            ``ue_*``/``co``/``cx`` or a body deeper than
            :data:`~snowplow_logging._protocol.MAX_JSON_DEPTH` (a value inside 40
            arrays or objects); None: no limit but the parser's.

    Raises:
        ValueError: ``text`` is not JSON (also past Python's int-string limit), or
            nested deeper than ``max_depth``.
        RecursionError: it is nested deeper than the parser goes.
    """
    if text.startswith("\ufeff"):  # as json.loads refuses it
        msg = "Unexpected UTF-8 BOM (decode using utf-8-sig)"
        raise json.JSONDecodeError(msg, text, 0)
    value = _decode(text)
    if max_depth is not None and too_deep(text, value, max_depth):
        msg = f"nested deeper than Enrich's maximum JSON depth, {max_depth}"
        raise ValueError(msg)
    return value


def too_deep(text: str, value: object, max_depth: int = proto.MAX_JSON_DEPTH) -> bool:
    """Whether ``value`` (parsed from ``text``) nests deeper than ``max_depth``."""
    return (
        type(value) in (dict, list)
        and text.count("{") + text.count("[") >= max_depth  # else certainly not
        and text_depth_bound(text) > max_depth
        and json_depth(value, max_depth) > max_depth
    )


_DECODERS: Final = threading.local()


def _decoder() -> json.JSONDecoder:
    """This thread's strict decoder, built once (its scanner is not shared)."""
    try:
        decoder: json.JSONDecoder = _DECODERS.decoder
    except AttributeError:
        decoder = _DECODERS.decoder = json.JSONDecoder(
            parse_constant=_not_a_number, parse_float=_finite
        )
    return decoder


def _decode(text: str) -> object:
    """``JSONDecoder.decode``, without its whitespace scans when there is none.

    Text starting or ending otherwise (or not JSON) goes to ``decode`` itself,
    so the value or the error is its own.
    """
    decoder = _decoder()
    if text[:1] not in _JSON_SPACE:
        try:
            value, end = decoder.raw_decode(text)
        except ValueError:
            pass
        else:
            if end == len(text):
                return value
    return decoder.decode(text)


_JSON_SPACE: Final = frozenset(" \t\n\r")
"""JSON's whitespace (``decode`` skips it around the value)."""


def _not_a_number(name: str) -> object:
    msg = f"{name} is not a JSON number"
    raise ValueError(msg)


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        msg = f"{text[:40]} is past a double's range"
        raise ValueError(msg)
    return number


@functools.cache
def _bundled_resolver() -> IgluResolver:
    """The resolver :func:`check_payload` uses when given none, built once."""
    return IgluResolver()


@dataclass(slots=True)
class CheckedEvent:
    """One payload after validation, as :func:`check_payload` returns it.

    .. versionadded:: 0.1.0

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
    payload: object, resolver: IgluResolver | None = None, *, post: bool = True
) -> CheckedEvent:
    """Validate one event payload (a flat ``{field: str}`` mapping) as Enrich would.

    Thread-safe. Decoded ``ue_*``/``co``/``cx`` values are cached per resolver
    (bounded), so the same entities on many events are decoded and validated once.

    Args:
        payload: the event's tracker parameters (``e``, ``eid``, ``ue_px``...), as
            an emitter receives them or a collector reads them from a request.
        resolver: where schemas come from; by default one shared resolver with
            the bundled Iglu Central schemas only, built on first use.
        post: the payload comes (or would go) in a POST body, so payload_data's
            rules apply too: string values, known keys, ``tv``/``p``/``e``. With
            ``post=False`` (a GET query) only Enrich's own rules do: ``e`` is
            required, unknown keys are ignored.

    Returns:
        The event with its errors (empty if good) and decoded JSON parts. It
        never raises for any payload: an internal error is an error of the event.

    Raises:
        ImportError: ``jsonschema`` is not installed (with no ``resolver``).

    .. versionadded:: 0.1.0
    """
    if resolver is None:
        resolver = _bundled_resolver()
    if type(payload) is not dict and not isinstance(payload, Mapping):
        return CheckedEvent(
            {}, [f"event must be a JSON object (got {type(payload).__name__})"]
        )
    errors, event, entities = check_parts(payload, resolver, post=post)
    return CheckedEvent(payload, errors, event, entities)


def check_parts(
    payload: Mapping[str, object], resolver: IgluResolver, *, post: bool
) -> tuple[list[str], dict[str, object] | None, list[dict[str, object]]]:
    """:func:`check_payload` of a mapping, as its parts: errors, event, entities.

    The collector's path, without building a :class:`CheckedEvent` per event.
    """
    errors: list[str] = []
    try:
        fields = check_fields(payload, errors, post=post)
        event = (
            _check_json(fields, "ue", resolver, errors)
            if _UE_PX in fields or _UE_PR in fields
            else None
        )
        entities = (
            _check_json(fields, "co", resolver, errors)
            if _CX in fields or _CO in fields
            else None
        )
    except Exception as exc:  # noqa: BLE001 - a validator bug must not lose the event
        errors.append(
            f"internal error while validating: {type(exc).__name__}: {str(exc)[:200]}"
        )
        return errors, None, []
    return (
        errors,
        event,  # type: ignore[return-value]
        entities if isinstance(entities, list) else [],
    )


def collector_content_type(header: str | None) -> str | None:
    """The ``Content-Type`` the collector hands Enrich for ``header``.

    The collector parses the header and passes on its media type and charset,
    lower-cased (``Application/JSON;charset=UTF-8`` becomes
    ``application/json; charset=utf-8``); Enrich then compares that string with
    its list. None when there is no header.
    """
    if header is None:
        return None
    media, *params = (part.strip() for part in header.split(";"))
    kept = [media.lower()]
    for param in params:
        name, _, value = param.partition("=")
        if name.strip():
            kept.append(
                f"{name.strip().lower()}={value.strip().strip(chr(34)).lower()}"
            )
    return "; ".join(kept)


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
    errors = [f"body: {error}" for error in resolver.errors(schema, data)]
    if errors and json_depth(data) > proto.MAX_JSON_DEPTH - 1:  # data is 1 deep
        errors.append(
            "body: nested deeper than Enrich's maximum JSON depth, "
            f"{proto.MAX_JSON_DEPTH}"
        )
    return events, errors


def _check_json(
    fields: Mapping[str, str], kind: str, resolver: IgluResolver, errors: list[str]
) -> object:
    """Decode and validate ``ue_px``/``ue_pr`` (kind "ue") or ``cx``/``co`` ("co")."""
    plain, encoded = _JSON_FIELDS[kind]
    # Enrich requires neither (an e=ue without ue_* is good, with no schema) and
    # reads ue_* on any event type; given both forms it keeps one of them, so
    # each form given is checked and the first good one (encoded first) is kept.
    data: object = None
    for name in (encoded, plain):
        if name not in fields:
            continue
        key = (name, fields[name])
        decoded = resolver.recall(key)
        if decoded is None:
            decoded = _decode_and_validate(kind, name, fields[name], resolver)
            resolver.remember(key, decoded)
        errors.extend(decoded[0])
        if data is None:
            data = decoded[1]
    return data


def _decode_and_validate(
    kind: str, name: str, value: str, resolver: IgluResolver
) -> Decoded:
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
        wrapper = read_json(
            decode_b64(value) if encoded else value, max_depth=proto.MAX_JSON_DEPTH
        )
    except (ValueError, RecursionError) as exc:
        errors.append(f"{name}: not {'base64 ' if encoded else ''}JSON: {exc}")
        return None
    if not isinstance(wrapper, dict) or set(wrapper) != {"schema", "data"}:
        errors.append(
            f"{name}: the envelope must be an object with 'schema' and 'data'"
        )
        return None
    return wrapper
