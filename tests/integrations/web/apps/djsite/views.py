"""Views logging tagged events (and one raising) for the middleware tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse

from tests.integrations.web.apps.common import OVERLAP, track
from tests.integrations.web.apps.djsite.middleware import INSTANCES

log = logging.getLogger("web.django")


def health(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def event(request: HttpRequest, label: str) -> HttpResponse:
    track(log, "django", label)
    return HttpResponse("ok")


def overlap(request: HttpRequest, label: str) -> HttpResponse:
    OVERLAP.wait()
    track(log, "django", label)
    return HttpResponse("ok")


def stream(request: HttpRequest, label: str) -> StreamingHttpResponse:
    def body() -> Iterator[bytes]:
        yield b"a"
        track(log, "django", label)  # after the view and the middleware returned
        yield b"b"

    return StreamingHttpResponse(body())


def boom(request: HttpRequest, label: str) -> HttpResponse:
    msg = f"the view failed: {label}"
    raise ValueError(msg)


def flush(request: HttpRequest) -> JsonResponse:
    for handler in log.handlers:
        handler.flush()
    middleware = INSTANCES[-1]
    return JsonResponse({**middleware.stats, "async_mode": middleware._async})
