"""Test-only middleware: a user from a header, and the Snowplow middleware recorded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from snowplow_logging.django import SnowplowMiddleware
from tests.integrations.web.apps.common import user_from_header


@dataclass(frozen=True)
class HeaderUser:
    """An authenticated user whose pk is the ``X-User`` header."""

    pk: str
    is_authenticated: bool = True


class HeaderUserMiddleware:
    """``request.user`` from ``X-User``, as authentication middleware would set it.

    ``X-User: raise`` makes reading ``is_authenticated`` raise, like a
    session backend that is down.
    """

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> Any:
        name = request.META.get("HTTP_X_USER")
        if name == "raise":
            request.user = _Failing()  # type: ignore[assignment]
        elif name:
            request.user = HeaderUser(pk=name)  # type: ignore[assignment]
        return self.get_response(request)


class _Failing:
    @property
    def is_authenticated(self) -> bool:
        return user_from_header("raise") is not None


INSTANCES: list[SnowplowMiddleware] = []


class RecordedSnowplowMiddleware(SnowplowMiddleware):
    """The Snowplow middleware, unchanged; recorded so ``/flush`` can show its stats."""

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        super().__init__(get_response)
        INSTANCES.append(self)
