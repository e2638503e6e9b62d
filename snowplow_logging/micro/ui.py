"""The local collector's web UI at ``/micro/ui``: a page reading the REST API.

The page (``ui/index.html``, ``ui/app.js``, ``ui/style.css``, shipped in the
package) asks ``/micro/all`` about once a second and, when something changed,
``/micro/good`` and ``/micro/bad``; it shows a live table of events (time, good
or bad, type, schema, app id, user id), filters by status, type, schema and app,
and a detail view with the decoded self-describing event, every entity and every
reason a bad event is bad. It needs no network: no CDN, no fonts, nothing but
these three files, and its Content-Security-Policy lets it load nothing else.

Everything it shows comes from outside (trackers, and whoever else can reach
the collector), so the script writes values only as text (``textContent``), never
as markup: an event field holding ``<script>`` is shown as those characters.

The server answers ``/micro/ui``, ``/micro/ui/`` and ``/micro/ui/<asset>`` with
:func:`ui_asset`; as the rest of ``/micro/*``, only for a loopback ``Host`` when
the collector listens on loopback.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Final

__all__ = ["ui_asset"]

_ASSETS: Final = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
"""The files served, with their content types; nothing else is."""


def ui_asset(name: str) -> tuple[bytes, str] | None:
    """The file for the ``/micro/`` path ``name`` and its content type.

    Args:
        name: the path after ``/micro/``: ``ui`` or ``ui/`` for the page,
            ``ui/app.js``... for its assets.

    Returns:
        ``(body, content_type)``, or None when ``name`` is not a UI path.
    """
    if name in {"ui", "ui/"}:
        name = "ui/index.html"
    asset = name.removeprefix("ui/")
    if asset == name or asset not in _ASSETS:
        return None
    return _read(asset), _ASSETS[asset]


@functools.cache
def _read(asset: str) -> bytes:
    """An asset's bytes, read once from the package."""
    return resources.files("snowplow_logging.micro").joinpath("ui", asset).read_bytes()
