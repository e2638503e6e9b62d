"""ASGI middleware: every event of a request carries the request's subject.

Wrap the ASGI 3 application you hand to the server (FastAPI, Starlette,
Quart, Django's ASGI application...); no framework is imported::

    from snowplow_logging.asgi import SnowplowMiddleware

    app = SnowplowMiddleware(FastAPI())

For each ``http`` request the middleware binds (:func:`snowplow_logging.bind`)
a subject built with :meth:`Subject.from_untrusted
<snowplow_logging.Subject.from_untrusted>`: the client's IP address, its
``User-Agent``, the first language of ``Accept-Language`` and the ``user_id``
callback's answer; optionally the page entity (URL and ``Referer``). Every
event tracked until the application returns, streamed bodies and background
tasks included, carries them; so do events of threads the application starts
with a copy of its context (Starlette's thread pool for sync endpoints).
``websocket`` scopes pass through unbound. The ``lifespan`` scope goes through
:class:`~snowplow_logging.SnowplowLifespan`: every emitter is closed when the
lifespan shutdown ends.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from snowplow_logging._exceptions import ConfigurationTypeError
from snowplow_logging._web import (
    PAGE_SCHEMA,
    ProxyHeader,
    RequestBinder,
    TrustedProxy,
    scope_request,
)
from snowplow_logging.shutdown import ASGIApp, Receive, Scope, Send, SnowplowLifespan

__all__ = ["PAGE_SCHEMA", "SnowplowMiddleware"]


class SnowplowMiddleware:
    """ASGI middleware binding each request's subject to the events it logs.

    Args:
        app: the ASGI 3 application.
        trusted_proxies: the proxies in front of the application, as
            addresses or networks (:mod:`ipaddress` objects or text such as
            ``"10.0.0.0/8"``), or ``"unix"`` for a peer on a Unix socket. Only
            when the peer (``scope["client"]``) is one of them is
            ``proxy_header`` read: from the right, past every trusted proxy, to
            the client. Empty (the default): the peer is the client. A server
            that rewrites ``scope["client"]`` itself (uvicorn's
            ``--proxy-headers``, on by default for ``127.0.0.1``) has read the
            header already: trust it there or here, not in both places.
        proxy_header: ``"X-Forwarded-For"`` (the default) or ``"Forwarded"``
            (RFC 7239): the one your proxies write. The other is never read,
            since a client could forge it.
        user_id: ``(scope) -> str | int | None``, the request's user id
            (``uid``). If it raises or returns another type, the request is
            served without a ``uid``; that is counted in ``stats`` and
            reported once on the ``snowplow_logging`` logger.
        page_entity: attach the page entity, the request's URL and
            ``Referer`` (``True``: :data:`PAGE_SCHEMA`, shipped in the
            package; or the Iglu URI of your copy of it). Off by default: your
            pipeline's registry needs the schema.
        close_on_shutdown: close every emitter at the end of the lifespan
            shutdown, as :class:`~snowplow_logging.SnowplowLifespan` does
            (the default); ``False`` passes the lifespan scope through.
        shutdown_timeout: seconds that close may take; ``None`` uses the
            exit timeout (:func:`~snowplow_logging.set_exit_timeout`).

    Raises:
        ConfigurationError: a trusted proxy is not an address or network (the
            message names it), or another setting cannot work.
        ConfigurationTypeError: a setting has the wrong type.
    """

    __slots__ = ("_binder", "_lifespan", "app")

    def __init__(
        self,
        app: ASGIApp,
        *,
        trusted_proxies: Iterable[TrustedProxy] = (),
        proxy_header: ProxyHeader = "X-Forwarded-For",
        user_id: Callable[[Scope], str | int | None] | None = None,
        page_entity: bool | str = False,
        close_on_shutdown: bool = True,
        shutdown_timeout: float | None = None,
    ) -> None:
        given: object = app
        if not callable(given):
            msg = f"'app' must be an ASGI application (got {given!r})."
            raise ConfigurationTypeError(msg)
        flag: object = close_on_shutdown
        if not isinstance(flag, bool):
            msg = f"'close_on_shutdown' must be a bool (got {close_on_shutdown!r})."
            raise ConfigurationTypeError(msg)
        self.app: Final = app
        self._binder = RequestBinder(
            trusted_proxies=trusted_proxies,
            proxy_header=proxy_header,
            user_id=user_id,  # type: ignore[arg-type]  # called with the scope
            page_entity=page_entity,
        )
        self._lifespan = (
            SnowplowLifespan(app, timeout=shutdown_timeout)
            if close_on_shutdown
            else None
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.app!r} {self._binder.proxies!r}>"

    @property
    def stats(self) -> dict[str, int]:
        """``requests`` served, ``user_id_errors``, ``errors`` (requests left unbound)."""
        return self._binder.stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve ``http`` with the subject bound until the application returns."""
        kind = scope.get("type")
        if kind == "http":
            binder = self._binder
            binding = binder.bind(
                scope_request(scope, binder.proxies.header), binder.user_of(scope)
            )
            try:
                await self.app(scope, receive, send)
            finally:
                if binding is not None:
                    binder.reset(binding)
        elif kind == "lifespan" and self._lifespan is not None:
            await self._lifespan(scope, receive, send)
        else:
            await self.app(scope, receive, send)
