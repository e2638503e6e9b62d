"""The tracker paths, answered as the real collector answers them.

What a stream collector (3.x, as Snowplow Micro runs it) does with a request on
``/i``, ``/ice.png`` or ``/<vendor>/<version>`` (``POST`` with a body, ``GET``
and ``HEAD`` with a query string), and what the collector payload then tells
Enrich:

- **200 whatever the events**: they are judged later, so a bad event is a bad
  row, not a refusal. A POST ``ok`` is ``text/plain``; a GET or HEAD gets the
  1x1 GIF with ``Cache-Control: no-cache, no-store, must-revalidate``. Only a
  body over the size limit is refused (413), and a redirect path ``/r/...``
  (404: redirects are off by default).
- **The network user id**: the ``nuid`` query parameter, else the ``sp`` cookie
  the request carried, else a new UUID; every answer sets ``sp`` to it for a
  year (``Path=/; SameSite=None; Secure; HttpOnly``) and Enrich writes it as
  ``network_userid`` (a tracker's ``nuid``/``tnuid`` win). One that is not a
  UUID makes the request unreadable, as Enrich finds it.
- **SP-Anonymous**: no cookie set (an ``sp`` sent is expired), the all-zeros
  network user id, the IP ``unknown``, and ``Cookie``, ``X-Forwarded-For`` and
  ``X-Real-Ip`` left out of the headers kept.
- **The client IP** Enrich reads: the first ``X-Forwarded-For`` address, else
  ``Forwarded: for=``, else the peer's.

The events are read and validated by :mod:`~snowplow_logging.micro.intake`.
"""

from __future__ import annotations

import re
import time
import uuid
from email.utils import formatdate
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qsl

from snowplow_logging._protocol import POST_PATH
from snowplow_logging.micro.events import BadEvent, RequestInfo, api_of
from snowplow_logging.micro.intake import Intake, events_from_get, events_from_post
from snowplow_logging.micro.kept_headers import MAX_HEADER_VALUE, cut, kept_headers

if TYPE_CHECKING:
    from snowplow_logging.micro.handler import RequestHandler

__all__ = [
    "ANONYMOUS_USER_ID",
    "PIXEL",
    "answer_ok",
    "is_tracker_path",
    "request_info",
    "serve",
]

PIXEL: Final = bytes.fromhex(
    "47494638396101000100f00000ffffff00000021f90405000000002c00000000010001000002024401003b"
)
"""The collector's transparent 1x1 GIF, the answer to a GET or HEAD."""
ANONYMOUS_USER_ID: Final = "00000000-0000-0000-0000-000000000000"
"""The network user id of an ``SP-Anonymous`` request."""
_NO_CACHE: Final = "Cache-Control: no-cache, no-store, must-revalidate"
_COOKIE_DAYS: Final = 365
_TP1: Final = frozenset({"/i", "/ice.png"})
_VENDOR_PATH: Final = re.compile(r"/[^/]+/[^/]+/?")
_UUID: Final = re.compile(
    r"[0-9a-fA-F]{1,8}-[0-9a-fA-F]{1,4}-[0-9a-fA-F]{1,4}-[0-9a-fA-F]{1,4}-[0-9a-fA-F]{1,12}"
)
_IP: Final = r"\"?\[?(?:([0-9]{1,3}(?:\.[0-9]{1,3}){3})|((?:[0-9a-f]{1,4}|\.|:){1,15}))"
_FORWARDED_FOR: Final = re.compile(rf"x-forwarded-for: {_IP}")
_FORWARDED: Final = re.compile(rf"forwarded: for={_IP}")
_ANONYMOUS_DROPPED: Final = frozenset({"x-forwarded-for", "x-real-ip", "cookie"})
_SNOWPLOW: Final = "com.snowplowanalytics.snowplow"


def is_tracker_path(path: str) -> bool:
    """True for a path the collector takes events on: ``/i``, ``/vendor/version``..."""
    return (
        path in _TP1
        or path.startswith("/ice.png")
        or bool(_VENDOR_PATH.fullmatch(path))
    )


def _client_ip(headers: tuple[tuple[str, str], ...], peer: str) -> str:
    """The IP Enrich reads: the first ``X-Forwarded-For``, else ``Forwarded``, else the peer."""
    forwarded = None
    for name, value in headers:
        line = f"{name}: {value}".lower()
        match = _FORWARDED_FOR.match(line)
        if match:
            return match[1] or match[2]
        match = _FORWARDED.match(line)
        if match and forwarded is None:
            forwarded = match[1] or match[2]
    return forwarded or peer


def _request_cookie(handler: RequestHandler, name: str) -> str | None:
    for header in handler.headers.get_all("Cookie") or ():
        for pair in header.split(";"):
            key, equals, value = pair.strip().partition("=")
            if equals and key == name:
                return value.strip()
    return None


def request_info(
    handler: RequestHandler,
    query: str,
    body: bytes | None = None,
    *,
    network_userid: str | None = None,
) -> RequestInfo:
    """What the collector keeps of the request being served."""
    anonymous = handler.headers.get("SP-Anonymous") is not None
    items = handler.headers.items()
    if anonymous:
        items = [(k, v) for k, v in items if k.lower() not in _ANONYMOUS_DROPPED]
    headers = kept_headers(items)
    content_type = handler.headers.get("Content-Type")
    return RequestInfo(
        method=handler.command,
        path=handler.path.partition("?")[0],
        query=query,
        content_type=(
            None if content_type is None else cut(content_type, MAX_HEADER_VALUE)
        ),
        body=None if body is None else body.decode("utf-8", errors="replace"),
        headers=headers,
        ip="unknown" if anonymous else _client_ip(headers, handler.client_address[0]),
        received_ms=time.time_ns() // 1_000_000,
        network_userid=network_userid,
    )


def _set_cookie(name: str, value: str, *, expired: bool = False) -> str:
    days = -_COOKIE_DAYS if expired else _COOKIE_DAYS
    expires = formatdate(time.time() + days * 86400, usegmt=True)
    return (
        f"Set-Cookie: {name}={value}; Expires={expires}; Path=/; SameSite=None; "
        "Secure; HttpOnly"
    )


def answer_ok(handler: RequestHandler, headers: tuple[str, ...] = ()) -> None:
    """The collector's 200: the pixel for a GET or HEAD, ``ok`` for a POST."""
    if handler.command == "POST":
        handler.respond(200, b"ok", "text/plain; charset=UTF-8", headers)
    else:
        handler.respond(200, PIXEL, "image/gif", (*headers, _NO_CACHE))


def _events(info: RequestInfo, body: bytes | None, handler: RequestHandler) -> Intake:
    resolver = handler.server.resolver
    vendor, version = api_of(info.path)
    if info.path in _TP1 or info.path.startswith("/ice.png"):
        return events_from_get(info, resolver)
    if vendor == _SNOWPLOW and version in {"tp1", "tp2"}:
        if version == "tp2" and body is not None and body.strip():
            return events_from_post(info, body, resolver)
        return events_from_get(info, resolver)
    problem = (
        f"path: no adapter for vendor {vendor!r}, version {version!r}; this "
        f"collector reads the Snowplow tracker protocol only ({POST_PATH}, /i)"
    )
    return Intake([], [BadEvent(errors=(problem,), request=info)], refused=True)


def _network_userid(handler: RequestHandler, query: str) -> str:
    if handler.headers.get("SP-Anonymous") is not None:
        return ANONYMOUS_USER_ID
    from_query = next(
        (v for k, v in parse_qsl(query, keep_blank_values=True) if k == "nuid"), None
    )
    if from_query is not None:
        return from_query
    name = handler.server.cookie_name
    cookie = None if name is None else _request_cookie(handler, name)
    return cookie if cookie is not None else str(uuid.uuid4())


def serve(handler: RequestHandler, path: str, query: str) -> None:
    """Answer a request on a tracker path and record its events."""
    method = handler.command
    if method not in {"GET", "HEAD", "POST"} or path.startswith("/r/"):
        handler.drain()
        reason = "redirects disabled" if path.startswith("/r/") else "no route"
        handler.respond_json(404, {"error": f"{reason} for {method} {path}"})
        return
    body: bytes | None = None
    if method == "POST":
        body, problem = handler.read_body()
        if body is None:
            handler.server.record(
                Intake(
                    [],
                    [BadEvent(errors=(problem,), request=request_info(handler, query))],
                )
            )
            status = 413 if "more than the limit of" in problem else 400
            handler.respond_json(status, {"error": problem})
            return
    else:
        handler.drain()
    nuid = _network_userid(handler, query)
    info = request_info(handler, query, body, network_userid=nuid)
    if _UUID.fullmatch(nuid) is None:
        problem = f"networkUserId: not a valid UUID (got {nuid[:40]!r})"
        outcome = Intake([], [BadEvent(errors=(problem,), request=info)], refused=True)
    else:
        outcome = _events(info, body, handler)
    handler.server.record(outcome)
    answer_ok(handler, _cookie_headers(handler, nuid))


def _cookie_headers(handler: RequestHandler, nuid: str) -> tuple[str, ...]:
    name = handler.server.cookie_name
    if name is None:
        return ()
    if handler.headers.get("SP-Anonymous") is None:
        return (_set_cookie(name, nuid),)
    if _request_cookie(handler, name) is not None:
        return (_set_cookie(name, "", expired=True),)
    return ()
