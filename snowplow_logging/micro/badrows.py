"""The ``errors`` of ``/micro/bad`` as Snowplow Micro writes them: a line, then a bad row.

Micro answers each bad event with two strings: what failed (``Error while
validating the event.`` for an event, ``Error while extracting event(s) from
collector payload and validating it/them.`` for a request no event could be read
from), then the bad row Enrich wrote, as compact JSON. :func:`micro_errors`
builds the same: a ``schema_violations`` (2-0-0) bad row for an event, each
reason a message under the schema it concerns (the atomic fields', an entity's
or the event's; ``ResolutionError`` for a schema not found), or a
``tracker_protocol_violations`` (1-0-0) bad row for a request. Both validate
against their Iglu Central schemas. The readable reasons stay on
:attr:`BadEvent.errors <snowplow_logging.micro.BadEvent.errors>`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from snowplow_logging._version import __version__
from snowplow_logging.micro.enrich import COLLECTOR_NAME, iso_time

if TYPE_CHECKING:
    from snowplow_logging.micro.events import BadEvent, RequestInfo

__all__ = ["EVENT_FAILED", "REQUEST_FAILED", "micro_errors"]

EVENT_FAILED: Final = "Error while validating the event."
REQUEST_FAILED: Final = (
    "Error while extracting event(s) from collector payload and validating it/them."
)
_BADROWS: Final = "iglu:com.snowplowanalytics.snowplow.badrows"
_ATOMIC: Final = "iglu:com.snowplowanalytics.snowplow/atomic/jsonschema/1-0-0"
_PROCESSOR: Final = {"artifact": "snowplow-logging-micro", "version": __version__}
_URI: Final = re.compile(
    r"iglu:[a-zA-Z0-9-_.]+/[a-zA-Z0-9-_]+/[a-zA-Z0-9-_]+/[0-9]+-[0-9]+-[0-9]+"
)
_NOT_FOUND: Final = "schema not found: "


def _cut(text: str | None, limit: int) -> str | None:
    return None if text is None else text[:limit]


def _report(reason: str, timestamp: str) -> dict[str, object]:
    """One schema violation: the schema the reason names, or the atomic fields'."""
    field, _, rest = reason.partition(": ")
    if rest.startswith(_NOT_FOUND):
        uri = rest.removeprefix(_NOT_FOUND)
        return {
            "schemaKey": uri,
            "error": {
                "error": "ResolutionError",
                "lookupHistory": [
                    {
                        "repository": "bundled and user Iglu registries",
                        "errors": [{"error": "NotFound"}],
                        "attempts": 1,
                        "lastAttempt": timestamp,
                    }
                ],
            },
        }
    match = _URI.match(rest)
    uri = match[0] if match else _ATOMIC
    path = rest[match.end() :].lstrip(": ").partition(": ")[0] if match else field
    return {
        "schemaKey": uri,
        "error": {
            "error": "ValidationError",
            "dataReports": [
                {
                    "message": reason,
                    "path": f"$.{path}" if path and path != "(root)" else "$",
                    "keyword": None,
                    "targets": None,
                }
            ],
        },
    }


def _pairs(items: Mapping[str, object]) -> list[dict[str, object]]:
    return [
        {
            "name": str(name)[:512],
            "value": value[:512] if isinstance(value, str) else None,
        }
        for name, value in items.items()
    ]


def _context(request: RequestInfo) -> dict[str, object]:
    payload = request.collector_payload()
    context = payload["context"]
    assert isinstance(context, dict)  # noqa: S101 - built just above
    return {
        "contentType": _cut(request.content_type, 256),
        "encoding": "UTF-8",
        "hostname": None,
        "timestamp": context["timestamp"],
        "ipAddress": _cut(request.ip or None, 128),
        "useragent": _cut(request.header("User-Agent"), 4096),
        "refererUri": _cut(request.header("Referer"), 8192),
        "headers": [line[:8192] for line in context["headers"]],
    }


def _schema_violations(bad: BadEvent, payload: Mapping[str, object]) -> object:
    request = bad.request
    timestamp = iso_time(request.received_ms)
    vendor, version = request.api["vendor"], request.api["version"]
    return {
        "schema": f"{_BADROWS}/schema_violations/jsonschema/2-0-0",
        "data": {
            "processor": _PROCESSOR,
            "failure": {
                "timestamp": timestamp,
                "messages": [_report(reason, timestamp) for reason in bad.errors],
            },
            "payload": {
                "raw": {
                    "vendor": vendor[:64],
                    "version": version[:16],
                    "parameters": _pairs(payload),
                    "loaderName": "thrift",
                    "userId": request.network_userid,
                    **_context(request),
                }
            },
        },
    }


def _tracker_protocol_violations(bad: BadEvent) -> object:
    request = bad.request
    timestamp = iso_time(request.received_ms)
    vendor, version = request.api["vendor"][:64], request.api["version"][:16]
    from urllib.parse import parse_qsl  # noqa: PLC0415 - only for the JSON view

    messages = []
    for reason in bad.errors:
        field, _, expectation = reason.partition(": ")
        messages.append(
            {"field": field[:64], "value": None, "expectation": expectation[:256]}
        )
    return {
        "schema": f"{_BADROWS}/tracker_protocol_violations/jsonschema/1-0-0",
        "data": {
            "processor": _PROCESSOR,
            "failure": {
                "timestamp": timestamp,
                "vendor": vendor,
                "version": version,
                "messages": messages,
            },
            "payload": {
                "vendor": vendor,
                "version": version,
                "querystring": _pairs(
                    dict(parse_qsl(request.query, keep_blank_values=True))
                ),
                "body": request.body,
                "collector": COLLECTOR_NAME[:32],
                "networkUserId": request.network_userid,
                **_context(request),
            },
        },
    }


def micro_errors(bad: BadEvent) -> list[str]:
    """``errors`` as Micro serves them: the failure line, then the bad row's JSON."""
    if bad.payload is None:
        line, row = REQUEST_FAILED, _tracker_protocol_violations(bad)
    else:
        line, row = EVENT_FAILED, _schema_violations(bad, bad.payload)
    text = json.dumps(row, separators=(",", ":"), ensure_ascii=False, default=str)
    return [line, text]
