"""Flask behind ``snowplow_logging.wsgi.SnowplowMiddleware``, for gunicorn.

``gunicorn flask_app:app`` (sync or gthread workers). The middleware trusts
127.0.0.1 as a proxy and takes the user id from ``X-User`` (a gateway's
header, read from the WSGI environ).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from flask import Flask, Response, jsonify

from snowplow_logging.wsgi import SnowplowMiddleware
from tests.integrations.web.apps.common import (
    OVERLAP,
    TRUSTED_PROXIES,
    handler,
    track,
    user_from_header,
)

log = logging.getLogger("web.flask")
snowplow = handler("flask", "web.flask")

app = Flask(__name__)
middleware = SnowplowMiddleware(
    app.wsgi_app,
    trusted_proxies=TRUSTED_PROXIES,
    user_id=lambda environ: user_from_header(environ.get("HTTP_X_USER")),
    page_entity=True,
)
app.wsgi_app = middleware  # type: ignore[method-assign]


@app.get("/health")
def health() -> str:
    return "ok"


@app.get("/event/<label>")
def event(label: str) -> str:
    track(log, "flask", label)
    return "ok"


@app.get("/overlap/<label>")
def overlap(label: str) -> str:
    OVERLAP.wait()
    track(log, "flask", label)
    return "ok"


@app.get("/stream/<label>")
def stream(label: str) -> Response:
    def body() -> Iterator[bytes]:
        yield b"a"
        track(log, "flask", label)  # after the view returned
        yield b"b"

    return Response(body())


@app.get("/flush")
def flush() -> Response:
    snowplow.flush()
    return jsonify(middleware.stats)
