"""A local validating Snowplow collector, for tests and for a look at your events.

:class:`MicroCollector` listens on ``127.0.0.1`` (a free port by default), accepts
what a Snowplow collector accepts (POST ``/com.snowplowanalytics.snowplow/tp2``,
GET ``/i``, ``/ice.png`` and a bodiless GET on the tp2 path) and validates every
event as Enrich would: the protocol field rules and JSON Schema validation of
each self-describing event and entity against the bundled Iglu schemas and your
own (an unknown schema is bad with "schema not found"). It answers questions in
Snowplow Micro's REST shapes (``/micro/all``, ``/micro/good``, ``/micro/bad``,
``/micro/reset``) and, in Python, with :class:`GoodEvent` and :class:`BadEvent`::

    from snowplow_logging.micro import MicroCollector

    with MicroCollector(schemas=["iglu"]) as micro:
        run_my_app(collector=micro.endpoint)  # "http://127.0.0.1:<port>"
        micro.wait_for(3, timeout=5)
        assert micro.bad() == []
        assert [e.event_type for e in micro.good()] == ["page_view", "unstruct", "struct"]

Answers: 200 when a request could be read as events, good or bad, as a real
collector does (a 1x1 GIF for ``/i`` and ``/ice.png``); bad events are reported
by :meth:`MicroCollector.bad`, ``/micro/bad`` and the console. A request refused
whole is answered 400 with ``{"good", "bad", "errors"}`` and still recorded. A
POST is refused whole, as Enrich refuses it, for a
``Content-Type`` other than exactly ``application/json`` (optionally with
``; charset=utf-8`` or ``UTF-8``), query parameters on its URL, a body over
``max_body_size``, or a body failing ``payload_data`` (e.g. one non-string value).

REST shapes (GET, or POST with a JSON object of filters):

- ``/micro/all`` and ``/micro/reset``: ``{"total": 7, "good": 5, "bad": 2}``.
- ``/micro/good``: ``[{"event": {<atomic columns: app_id, event, event_id,
  dvce_created_tstamp...; unstruct_event, contexts>}, "rawEvent": {"api",
  "parameters", "contentType", "source", "context"}, "eventType": "page_view",
  "schema": "iglu:...", "contexts": ["iglu:..."]}]``; filters ``event_type``,
  ``schema``, ``app_id``, ``contexts``, ``limit``.
- ``/micro/bad``: ``[{"collectorPayload": {"api", "querystring", "contentType",
  "body", "source", "context"}, "rawEvent": {...} or null, "errors": ["eid: must
  be a UUID (got 'x')"]}]``; filters ``event_type``, ``schema``, ``app_id``,
  ``vendor``, ``version``, ``limit``.

Events are listed oldest first; ``limit=N`` keeps the N most recent.
``/micro/iglu/<vendor>/<name>/jsonschema/<version>`` serves a known schema and
``/health`` answers ``OK``.

The validator is public too, for payloads that never reach a collector:
:func:`check_payload` checks one payload as Enrich would and returns a
:class:`CheckedEvent` (``.errors``, ``.good``, the decoded ``.event`` and
``.entities``); an :class:`IgluResolver` says where the schemas come from::

    from snowplow_logging.micro import IgluResolver, check_payload

    resolver = IgluResolver(["iglu"])  # your schemas, then the bundled ones
    assert check_payload(payload, resolver).errors == []

Needs ``jsonschema``: ``pip install 'snowplow-logging[micro]'``. The pytest
fixture ``snowplow_micro`` (:mod:`snowplow_logging.pytest_plugin`) wraps this class;
``snowplow-logging micro`` runs it from the command line.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from snowplow_logging.micro.collector import (
    DEFAULT_HISTORY,
    DEFAULT_MAX_BODY_SIZE,
    MicroCollector,
)
from snowplow_logging.micro.events import BadEvent, GoodEvent, RequestInfo
from snowplow_logging.micro.filters import EventFilter
from snowplow_logging.micro.validate import CheckedEvent, IgluResolver, check_payload

__all__ = [
    "DEFAULT_HISTORY",
    "DEFAULT_MAX_BODY_SIZE",
    "BadEvent",
    "CheckedEvent",
    "EventFilter",
    "GoodEvent",
    "IgluResolver",
    "MicroCollector",
    "RequestInfo",
    "check_payload",
]
