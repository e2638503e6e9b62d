"""What ``snowplow-logging micro`` prints for each event, and its CI gate.

:class:`EventPrinter` writes one line per event with its key fields::

    09:12:01.123 GOOD struct   app=shop uid=alice  basket / add / sku-1  [web_page/1-0-0]
    09:12:01.180 BAD  unstruct app=shop  iglu:com.acme/checkout/jsonschema/1-0-0  data.total: ...

(the time, good or bad, the event type, ``app=`` and ``uid=`` when sent, then
what says most about the event: category / action / label for a structured
event, the schema of a self-describing one, the page URL of a page view or ping,
the order id or SKU of a transaction or item; then its entities, and a bad
event's reasons). The line is coloured when the stream is a terminal and
``NO_COLOR`` is not set, plain otherwise. ``verbose`` adds the whole decoded
event, indented, under the line. ``as_json`` prints each good event as Snowplow
Micro's ``--output-json`` does (:func:`micro_json`: the enriched event as the
Analytics SDK writes it, entities and the self-describing event flattened into
``contexts_<vendor>_<name>_<model>`` and ``unstruct_event_...`` keys), one
object per line, and each bad event's line on ``errors`` (stderr), so that
stdout stays a stream of events.

:class:`EventGate` counts events for ``--until N`` (exit after N events) and
``--fail-on-bad`` (exit status 1 when a bad event arrived).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
import re
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Final, TextIO

from snowplow_logging import _protocol as proto
from snowplow_logging.micro.events import BadEvent, GoodEvent, payload_text

__all__ = [
    "EventGate",
    "EventPrinter",
    "decoded_parameters",
    "micro_json",
    "wants_colour",
]

_RESET: Final = "\x1b[0m"
_STYLES: Final = {
    "time": "\x1b[2m",
    "good": "\x1b[1;32m",
    "bad": "\x1b[1;31m",
    "type": "\x1b[36m",
    "label": "\x1b[2m",
    "what": "\x1b[1m",
    "entities": "\x1b[35m",
    "reason": "\x1b[33m",
}
"""ANSI styles (SGR) of each part of a line."""
_INVENTORY: Final = ("contexts", "derived_contexts", "unstruct_event")
"""The ``event`` columns Micro's JSON output flattens into their own keys."""
_CAMEL: Final = re.compile(r"([^A-Z_])([A-Z])")
_JSON_PARAMETERS: Final = frozenset({proto.CONTEXT, proto.UNSTRUCT})
_BASE64_PARAMETERS: Final = frozenset({proto.CONTEXT_ENCODED, proto.UNSTRUCT_ENCODED})

Event = GoodEvent | BadEvent


def wants_colour(stream: TextIO) -> bool:
    """True when ``stream`` is a terminal and ``NO_COLOR`` is unset or empty."""
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


class EventPrinter:
    """Writes each event to ``stream``; thread-safe, never raises.

    Args:
        stream: where events go; ``sys.stdout`` at call time by default.
        errors: where bad events go when ``as_json`` is set; ``sys.stderr`` at
            call time by default.
        as_json: good events as Micro's ``--output-json`` (see :func:`micro_json`).
        verbose: the whole decoded event under each line (ignored with ``as_json``).
        colour: ANSI colours; by default when the stream is a terminal and
            ``NO_COLOR`` is not set (see :func:`wants_colour`).
    """

    def __init__(
        self,
        *,
        stream: TextIO | None = None,
        errors: TextIO | None = None,
        as_json: bool = False,
        verbose: bool = False,
        colour: bool | None = None,
    ) -> None:
        self._stream = stream
        self._errors = errors
        self._as_json = as_json
        self._verbose = verbose
        self._colour = wants_colour(stream or sys.stdout) if colour is None else colour
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"<EventPrinter as_json={self._as_json} verbose={self._verbose} "
            f"colour={self._colour}>"
        )

    def __call__(self, event: Event) -> None:
        """Print ``event``; a closed or broken stream is ignored."""
        stream = self._stream or sys.stdout
        if self._as_json:
            if isinstance(event, GoodEvent):
                text = json.dumps(
                    micro_json(event), separators=(",", ":"), ensure_ascii=False
                )
            else:
                stream = self._errors or sys.stderr
                text = self.text_line(event, colour=self._colour)
        else:
            text = self.text_line(event, colour=self._colour)
            if self._verbose:
                text += "\n" + self.details(event)
        with self._lock:
            try:
                stream.write(text + "\n")
                stream.flush()
            except (OSError, ValueError, UnicodeError):
                pass  # stdout closed (piped into `head`) or not UTF-8: keep collecting

    @staticmethod
    def text_line(event: Event, *, colour: bool = False) -> str:
        """The event's line: time, status, type, app, uid, key fields, entities."""

        def paint(part: str, text: str) -> str:
            return f"{_STYLES[part]}{text}{_RESET}" if colour and text else text

        received = dt.datetime.fromtimestamp(event.request.received_ms / 1000, dt.UTC)
        received = received.astimezone()  # local time reads best on a console
        good = isinstance(event, GoodEvent)
        payload = event.payload or {}
        parts = [
            paint("time", f"{received:%H:%M:%S}.{received.microsecond // 1000:03d}"),
            paint("good", "GOOD") if good else paint("bad", "BAD "),
            paint("type", _printable(event.event_type or "-")),
        ]
        for label, name in (("app", proto.APP_ID), ("uid", proto.USER_ID)):
            value = payload_text(payload, name)
            if value:
                parts.append(paint("label", f"{label}=") + _printable(value))
        line = " ".join(parts)
        what = _key_fields(event)
        if what:
            line += "  " + paint("what", what)
        names = _entity_names(event)
        if names:
            line += "  " + paint("entities", f"[{', '.join(names)}]")
        if isinstance(event, BadEvent):
            line += "  " + paint("reason", _printable("; ".join(event.errors)))
        return line

    @staticmethod
    def details(event: Event) -> str:
        """The whole decoded event as indented JSON (null columns left out)."""
        if isinstance(event, GoodEvent):
            value: object = {k: v for k, v in event.event.items() if v is not None}
        else:
            value = {
                "errors": list(event.errors),
                "parameters": decoded_parameters(event.payload or {}),
            }
        text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
        return "\n".join("    " + _printable(line) for line in text.splitlines())


class EventGate:
    """Counts events as they arrive, for ``--until`` and ``--fail-on-bad``.

    Args:
        until: set ``done`` once this many events (good or bad) arrived; None
            never sets it.
        done: the event to set; a new one by default.
    """

    def __init__(
        self, *, until: int | None = None, done: threading.Event | None = None
    ) -> None:
        self.until = until
        self.done = done if done is not None else threading.Event()
        self.events = 0
        self.bad = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<EventGate until={self.until} events={self.events} bad={self.bad}>"

    def __call__(self, event: Event) -> None:
        """Count ``event``; called on the request's thread."""
        with self._lock:
            self.events += 1
            self.bad += isinstance(event, BadEvent)
            reached = self.until is not None and self.events >= self.until
        if reached:
            self.done.set()


def micro_json(event: GoodEvent) -> dict[str, object]:
    """The event as Snowplow Micro's ``--output-json`` prints it.

    That is the Analytics SDK's "lossy" JSON of the enriched event: every atomic
    column of :attr:`GoodEvent.event` (nulls included) except ``contexts``,
    ``derived_contexts`` and ``unstruct_event``; the self-describing event's data
    under ``unstruct_event_<vendor>_<name>_<model>``; the entities grouped by
    schema under ``contexts_<vendor>_<name>_<model>``, a list of their data each
    with ``_schema_version`` (the entity's schema URI) added; and
    ``geo_location`` (``"lat,lon"``) when both coordinates are known.
    """
    columns = event.event
    result: dict[str, object] = {
        k: v for k, v in columns.items() if k not in _INVENTORY
    }
    for column in ("contexts", "derived_contexts"):
        value = columns.get(column)
        data = value.get("data") if isinstance(value, Mapping) else None
        if isinstance(data, Sequence):
            result.update(_shredded_entities(data))
    if event.self_describing is not None:
        key = _shredded_key("unstruct_event_", str(event.self_describing.get("schema")))
        if key is not None:
            result[key] = event.self_describing.get("data")
    lat, lon = columns.get("geo_latitude"), columns.get("geo_longitude")
    if lat is not None and lon is not None:
        result["geo_location"] = f"{lat},{lon}"
    return result


def decoded_parameters(payload: Mapping[str, object]) -> dict[str, object]:
    """Tracker parameters with ``co``/``ue_pr`` parsed and ``cx``/``ue_px`` decoded.

    A value that does not decode is kept as it came.
    """
    decoded: dict[str, object] = {}
    for name, value in payload.items():
        if isinstance(value, str) and name in _JSON_PARAMETERS | _BASE64_PARAMETERS:
            decoded[name] = _decode(value, base64_=name in _BASE64_PARAMETERS)
        else:
            decoded[name] = value
    return decoded


def _decode(value: str, *, base64_: bool) -> object:
    try:
        text = value
        if base64_:
            padded = value + "=" * (-len(value) % 4)
            raw = base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_"))
            text = raw.decode("utf-8")
        return json.loads(text)
    except (ValueError, binascii.Error, RecursionError):  # UnicodeError is a ValueError
        return value


def _shredded_key(prefix: str, uri: str) -> str | None:
    """``contexts_com_acme_my_thing_1`` for ``iglu:com.acme/myThing/jsonschema/1-0-0``."""
    parts = uri.removeprefix("iglu:").split("/")
    if len(parts) != 4:  # noqa: PLR2004 - vendor/name/format/version
        return None
    vendor, name, _, version = parts
    vendor = re.sub(r"[.\-]", "_", vendor).lower()
    name = _CAMEL.sub(r"\1_\2", re.sub(r"[.\-]", "_", name)).lower()
    return f"{prefix}{vendor}_{name}_{version.split('-')[0]}"


def _shredded_entities(entities: Sequence[object]) -> dict[str, list[object]]:
    grouped: dict[str, list[object]] = {}
    for entity in entities:
        if not isinstance(entity, Mapping):
            continue
        uri = str(entity.get("schema"))
        key = _shredded_key("contexts_", uri)
        if key is None:
            continue
        data = entity.get("data")
        # The SDK merges the version into an object; anything else is replaced.
        merged = {**data} if isinstance(data, Mapping) else {}
        merged["_schema_version"] = uri
        grouped.setdefault(key, []).append(merged)
    return grouped


def _printable(text: str) -> str:
    """Text from outside, on one line: control characters escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _key_fields(event: Event) -> str:
    """What says most about the event, by type."""
    payload = event.payload or {}

    def field(name: str) -> str | None:
        return payload_text(payload, name)

    code = field(proto.EVENT)
    if code == proto.STRUCT_EVENT:
        names = (proto.SE_CATEGORY, proto.SE_ACTION, proto.SE_LABEL)
        text = " / ".join(v for v in (field(n) for n in names) if v)
    elif code == proto.UNSTRUCT_EVENT:
        text = event.schema or ""
    elif code in {proto.PAGE_VIEW, proto.PAGE_PING}:
        text = field(proto.PAGE_URL) or ""
    elif code == proto.TRANSACTION:
        text = field(proto.TR_ORDER_ID) or ""
    elif code == proto.TRANSACTION_ITEM:
        text = field(proto.TI_SKU) or ""
    else:
        text = ""
    return _printable(text)


def _entity_names(event: Event) -> list[str]:
    """``web_page/1-0-0`` for each entity the event carries, in order."""
    if isinstance(event, GoodEvent):
        uris = event.contexts
    else:
        found = decoded_parameters(
            {
                k: v
                for k, v in (event.payload or {}).items()
                if k in {proto.CONTEXT, proto.CONTEXT_ENCODED}
            }
        )
        uris = [
            str(entity.get("schema"))
            for value in found.values()
            if isinstance(value, Mapping) and isinstance(value.get("data"), list)
            for entity in value["data"]
            if isinstance(entity, Mapping)
        ]
    names = []
    for uri in uris:
        parts = uri.removeprefix("iglu:").split("/")
        short = f"{parts[1]}/{parts[3]}" if len(parts) == 4 else uri  # noqa: PLR2004
        names.append(_printable(short))
    return names
