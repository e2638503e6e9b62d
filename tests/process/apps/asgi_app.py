"""A FastAPI app logging one Snowplow event per request and one at shutdown.

Served by ``uvicorn asgi_app:app``. The collector is $SNOWPLOW_URL. With
$SNOWPLOW_LIFESPAN=1 the app is wrapped in ``SnowplowLifespan``. The
emitter's flush interval is 60 s: nothing is sent before the shutdown unless
something flushes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from snowplow_logging import SnowplowHandler, SnowplowLifespan, StructuredEvent

log = logging.getLogger("asgi_app")
log.addHandler(
    SnowplowHandler(
        endpoint=os.environ["SNOWPLOW_URL"], app_id="asgi", flush_interval=60.0
    )
)
log.setLevel(logging.INFO)
log.propagate = False


def event(action: str) -> None:
    log.info(
        action, extra={"snowplow": StructuredEvent(category="asgi", action=action)}
    )


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield
    event("shutdown")


api = FastAPI(lifespan=lifespan)


@api.get("/event/{n}")
async def track(n: int) -> dict[str, int]:
    event(f"request-{n}")
    return {"n": n}


app = SnowplowLifespan(api) if os.environ.get("SNOWPLOW_LIFESPAN") == "1" else api
