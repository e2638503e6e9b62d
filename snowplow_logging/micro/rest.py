"""``/micro/*``: Snowplow Micro 4.5.2's REST API, in its shapes.

- ``GET|POST /micro/all``: ``{"total", "good", "bad"}``.
- ``GET|POST /micro/reset``: forgets every event, answers ``Reset completed``.
- ``GET /micro/good``, ``GET /micro/bad``: every event kept, newest first;
  ``POST`` them a JSON object of filters (Micro's: ``event_type``, ``schema``,
  ``contexts``, ``limit`` for good, ``vendor``, ``version``, ``limit`` for bad;
  ours too: ``app_id``, and ``event_type``/``schema`` on bad). The same filters
  may go in the query string. Unknown filters are ignored, as Micro ignores
  them; a filter of the wrong type is 422 (400 for a body that is not JSON).
  ``limit`` keeps the newest N.
- ``POST /micro/events``: the paged list of :mod:`~snowplow_logging.micro.paging`.
- ``GET /micro/iglu/<vendor>/<name>/jsonschema/<version>``: a known schema.

Only pages of this machine may read it (:mod:`~snowplow_logging.micro.origins`):
``/micro/reset`` from another site is refused (403), and a collector listening
on loopback refuses another ``Host`` (DNS rebinding). Answers are strict JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qs

from snowplow_logging._exceptions import ConfigurationError, ConfigurationTypeError
from snowplow_logging._protocol import MAX_JSON_DEPTH
from snowplow_logging.micro.events import BadEvent, GoodEvent
from snowplow_logging.micro.filters import EventFilter
from snowplow_logging.micro.origins import from_other_site, host_name, is_loopback_host
from snowplow_logging.micro.paging import EventsRequest, RequestError, page_of_events
from snowplow_logging.micro.ui import ui_asset  # the web UI, /micro/ui (#16)
from snowplow_logging.micro.validate import read_json

if TYPE_CHECKING:
    from snowplow_logging.micro.handler import RequestHandler

__all__ = ["RESET_ANSWER", "serve"]

RESET_ANSWER: Final = "Reset completed"
_FOREIGN_HOST: Final = (
    "a collector listening on loopback answers /micro/* only for localhost, "
    "127.0.0.1 or [::1] (Host: {}); listen on another address to be reached by "
    "another name"
)
_ENDPOINTS: Final = (
    "Supported endpoints: /micro/all, /micro/good, /micro/bad, /micro/events, "
    "/micro/reset, /micro/iglu, /micro/ui"
)


def serve(handler: RequestHandler, name: str, query: str) -> None:
    """Answer ``/micro/<name>``."""
    body, problem = handler.read_body()
    host = host_name(handler.headers.get("Host"))
    method = handler.command
    if body is None:
        handler.respond_json(400, {"error": problem})
    elif handler.server.loopback and not is_loopback_host(host):
        handler.respond_json(403, {"error": _FOREIGN_HOST.format(host)})
    elif name == "reset" and method in {"GET", "POST"}:
        _reset(handler)
    elif name == "all" and method in {"GET", "POST"}:
        handler.respond_json(200, handler.server.store.summary())
    elif name in {"good", "bad"} and method in {"GET", "POST"}:
        _events(handler, name, query, body if method == "POST" else b"")
    elif name == "events" and method == "POST":
        _paged(handler, body)
    elif name.startswith("iglu/") and method == "GET":
        _schema(handler, name.removeprefix("iglu/"))
    elif (asset := ui_asset(name)) is not None and method in {"GET", "HEAD"}:  # #16
        handler.respond(200, *asset)  # the web UI, /micro/ui
    else:
        handler.respond_json(404, {"error": _ENDPOINTS})


def _reset(handler: RequestHandler) -> None:
    origin = handler.headers.get("Origin")
    if from_other_site(origin, handler.headers.get("Sec-Fetch-Site")):
        error = "/micro/reset is refused to pages of other sites"
        handler.respond_json(403, {"error": error})
        return
    handler.server.store.reset()
    handler.respond(200, RESET_ANSWER.encode(), "text/plain; charset=UTF-8")


def _events(handler: RequestHandler, name: str, query: str, body: bytes) -> None:
    store = handler.server.store
    try:
        where = _filters(query, body)
    except _NotJsonError as exc:
        handler.respond_json(400, {"error": str(exc)})
        return
    except (ConfigurationError, ConfigurationTypeError, ValueError) as exc:
        handler.respond_json(422 if body.strip() else 400, {"error": str(exc)})
        return
    events: Sequence[GoodEvent | BadEvent] = (
        store.good(where) if name == "good" else store.bad(where)
    )
    handler.respond_json(200, [event.to_json() for event in reversed(events)])


def _paged(handler: RequestHandler, body: bytes) -> None:
    try:
        request = EventsRequest.from_json(_json(body, "events request"))
    except _NotJsonError as exc:
        handler.respond_json(400, {"error": str(exc)})
        return
    except RequestError as exc:
        handler.respond_json(422, {"error": str(exc)})
        return
    store = handler.server.store
    good = list(reversed(store.good()))
    incomplete = [
        GoodEvent(
            payload={k: v for k, v in bad.payload.items() if isinstance(v, str)},
            request=bad.request,
        )
        for bad in reversed(store.bad())
        if bad.payload is not None
    ]
    handler.respond_json(200, page_of_events(request, good, incomplete))


def _schema(handler: RequestHandler, path: str) -> None:
    uri = f"iglu:{path}"
    location = handler.server.resolver.schema_path(uri)
    if location is None:
        handler.respond_json(404, {"error": f"schema not found: {uri}"})
    else:
        handler.respond(200, location.read_bytes(), "application/json")


class _NotJsonError(ValueError):
    """The body is not JSON (answered 400, as Micro answers a malformed body)."""


def _json(body: bytes, what: str) -> object:
    # One depth for every Python: past it, 3.11's parser recursed out and
    # 3.12's, with a deeper C stack, read on to a type error (422).
    try:
        return read_json(body.decode("utf-8"), max_depth=MAX_JSON_DEPTH)
    except RecursionError:
        msg = f"{what}: the JSON is nested too deeply"
        raise _NotJsonError(msg) from None
    except ValueError as exc:  # UnicodeDecodeError included
        raise _NotJsonError(f"{what}: the body is not JSON: {exc}") from None


def _filters(query: str, body: bytes) -> EventFilter:
    """Filters from the query string, or from a JSON object POSTed (Micro's way)."""
    if body.strip():
        return EventFilter.from_json(_json(body, "filters"))
    values: dict[str, object] = {}
    for key, items in parse_qs(query, keep_blank_values=True).items():
        values[key] = items if key == "contexts" else items[-1]
    return EventFilter.from_json(values)
