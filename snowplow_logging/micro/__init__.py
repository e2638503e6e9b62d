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

Answers, as the real collector's: 200 for whatever a tracker path carries, good
or bad (``ok`` for a POST, the 1x1 GIF with no-cache headers for a GET or HEAD on
``/i``, ``/ice.png`` or ``/<vendor>/<version>``); bad events are reported by
:meth:`MicroCollector.bad`, ``/micro/bad`` and the console. Only a body over
``max_body_size`` is refused (413). Each answer sets the ``sp`` cookie (the
network user id, read back as ``network_userid``; ``cookie=`` renames it or turns
it off); an ``SP-Anonymous`` request gets none, the all-zeros network user id and
the IP ``unknown``. A preflight allows ``Content-Type`` and ``SP-Anonymous`` for
an hour. No request is answered 500: an internal error is a bad event saying so.

REST, in Snowplow Micro 4.5.2's shapes (:mod:`~snowplow_logging.micro.rest`):

- ``/micro/all``: ``{"total": 7, "good": 5, "bad": 2}``; ``/micro/reset``:
  ``Reset completed``.
- ``/micro/good``: newest first, ``[{"rawEvent": {"api", "parameters",
  "contentType", "source", "context"}, "eventType": "page_view", "schema":
  "iglu:...", "contexts": ["iglu:..."], "event": {<every atomic column, nulls
  included>}, "incomplete": false}]``; structured events have the schema
  ``iglu:com.google.analytics/event/jsonschema/1-0-0``, as Enrich names it.
- ``/micro/bad``: newest first, ``[{"collectorPayload": {"api", "querystring":
  ["e=pv", ...], "contentType", "body", "source", "context"}, "rawEvent": {...}
  or null, "errors": ["Error while validating the event.", "<bad row JSON>"]}]``;
  :attr:`BadEvent.errors` keeps the readable reasons (``eid: must be a UUID``).
- POST filters as JSON (``event_type``, ``schema``, ``contexts``, ``limit``;
  ``vendor``, ``version`` for bad; ``app_id`` too), or in the query string;
  unknown ones are ignored. ``POST /micro/events`` pages, filters and sorts.

``/micro/iglu/<vendor>/<name>/jsonschema/<version>`` serves a known schema and
``/health`` answers ``OK``. In Python, :meth:`MicroCollector.good` and
:meth:`MicroCollector.bad` list events oldest first.

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
