"""Which origins may read the local collector, and the CORS headers it answers.

The tracker paths answer any origin, with credentials, as a real collector does
for browser trackers. ``/micro/*`` is local: only pages served from this machine
(``http://localhost:*``, ``127.0.0.1``, ``[::1]``) may read it, a request made
by another site's page is told apart (:func:`from_other_site`), and a collector
listening on loopback wants a loopback ``Host`` (:func:`host_name`,
:func:`is_loopback_host`) against DNS rebinding.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final
from urllib.parse import urlsplit

__all__ = [
    "PREFLIGHT_MAX_AGE",
    "cors_headers",
    "from_other_site",
    "host_name",
    "is_loopback_host",
    "is_loopback_origin",
]

_LOCAL_SITES: Final = frozenset({"same-origin", "same-site", "none"})
"""``Sec-Fetch-Site`` values of a request not made by another site's page."""


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` and loopback addresses (``127.0.0.1``, ``::1``)."""
    if not host:
        return host is None
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_loopback_origin(origin: str) -> bool:
    """True for the origin of a page served from this machine: ``http://localhost:3000``."""
    if not origin.isascii() or not origin.isprintable() or " " in origin:
        return False
    try:
        url = urlsplit(origin)
        _ = url.port  # raises on a malformed port
    except ValueError:
        return False
    return (
        url.scheme in {"http", "https"}
        and origin == f"{url.scheme}://{url.netloc}"
        and "@" not in url.netloc
        and url.hostname is not None
        and is_loopback_host(url.hostname)
    )


def host_name(host: str | None) -> str | None:
    """The host name of a ``Host`` header; None when none was sent, ``""`` if unreadable."""
    if host is None:
        return None  # not a browser: browsers always send Host
    try:
        return urlsplit(f"//{host}").hostname or ""
    except ValueError:
        return ""


def from_other_site(origin: str | None, fetch_site: str | None) -> bool:
    """True for a request a page of another site made (a form, fetch, <img>).

    Args:
        origin: the ``Origin`` header, if sent.
        fetch_site: the ``Sec-Fetch-Site`` header, sent where ``Origin`` is not
            (``<img>``).
    """
    if origin is not None:
        return not is_loopback_origin(origin)
    return fetch_site is not None and fetch_site.strip().lower() not in _LOCAL_SITES


PREFLIGHT_MAX_AGE: Final = 3600
"""``Access-Control-Max-Age`` of a preflight, the collector's default (60 minutes)."""
_ORIGIN: Final = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/?#]+")


def _tracker_origin(origin: str | None) -> str:
    """The origin a tracker path allows: the first of the ``Origin`` header, else ``*``.

    As the collector does: ``null`` or a value that is no origin allows ``*``.
    """
    first = (origin or "").strip().split(" ")[0]
    if not first.isascii() or not first.isprintable():
        return "*"
    return first if _ORIGIN.fullmatch(first) else "*"


def cors_headers(origin: str | None, *, tracker: bool, preflight: bool) -> list[str]:
    """CORS header lines: any origin on the tracker paths, loopback pages elsewhere.

    The tracker paths answer as the collector does: the request's origin (or
    ``*``) with credentials; a preflight also allows the ``Content-Type`` and
    ``SP-Anonymous`` headers for an hour (``Access-Control-Max-Age: 3600``).
    """
    if tracker:
        lines = [
            f"Access-Control-Allow-Origin: {_tracker_origin(origin)}",
            "Access-Control-Allow-Credentials: true",
        ]
        if preflight:
            lines += [
                "Access-Control-Allow-Headers: Content-Type, SP-Anonymous",
                f"Access-Control-Max-Age: {PREFLIGHT_MAX_AGE}",
            ]
        return lines
    lines = ["Vary: Origin", "X-Content-Type-Options: nosniff"]
    if origin is not None and is_loopback_origin(origin):
        lines += [
            f"Access-Control-Allow-Origin: {origin}",
            "Access-Control-Allow-Headers: Content-Type",
            "Access-Control-Allow-Methods: POST, GET, OPTIONS",
        ]
        if preflight:
            lines.append(f"Access-Control-Max-Age: {PREFLIGHT_MAX_AGE}")
    return lines
