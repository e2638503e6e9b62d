"""FastAPI behind ``snowplow_logging.asgi.SnowplowMiddleware``, for uvicorn.

``uvicorn fastapi_app:app --no-proxy-headers`` (uvicorn's own proxy headers
would rewrite the client address before the middleware sees the peer). The
middleware trusts 127.0.0.1 as a proxy and takes the user id from ``X-User``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, StreamingResponse

from snowplow_logging.asgi import SnowplowMiddleware
from snowplow_logging.shutdown import Scope
from tests.integrations.web.apps.common import (
    TRUSTED_PROXIES,
    handler,
    track,
    user_from_header,
)

log = logging.getLogger("web.fastapi")
snowplow = handler("fastapi", "web.fastapi")
api = FastAPI()
_overlap: asyncio.Barrier | None = None


def user_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-user":
            return user_from_header(value.decode("latin-1"))
    return None


app = SnowplowMiddleware(
    api, trusted_proxies=TRUSTED_PROXIES, user_id=user_id, page_entity=True
)


@api.get("/health", response_class=PlainTextResponse)
async def health() -> str:
    return "ok"


@api.get("/event/{label}", response_class=PlainTextResponse)
async def event(label: str) -> str:
    track(log, "fastapi", label)
    return "ok"


@api.get("/overlap/{label}", response_class=PlainTextResponse)
async def overlap(label: str) -> str:
    """Two requests meet on the event loop, then log: their tasks interleave."""
    global _overlap  # noqa: PLW0603 - made on the server's loop
    if _overlap is None:
        _overlap = asyncio.Barrier(2)
    async with asyncio.timeout(10):
        await _overlap.wait()
    track(log, "fastapi", label)
    return "ok"


@api.get("/sync/{label}", response_class=PlainTextResponse)
def sync_event(label: str) -> str:
    """A sync endpoint: run on Starlette's thread pool, in a copy of the context."""
    track(log, "fastapi", label)
    return "ok"


@api.get("/stream/{label}")
async def stream(label: str) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        yield b"a"
        track(log, "fastapi", label)  # after the endpoint returned
        yield b"b"

    return StreamingResponse(body())


@api.get("/flush")
def flush() -> dict[str, int]:
    snowplow.flush()
    return app.stats
