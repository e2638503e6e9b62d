"""WSGI middleware: every event of a request carries the request's subject.

Wrap the WSGI application you hand to the server (Flask, Django, Pyramid,
Bottle...); no framework is imported::

    from snowplow_logging.wsgi import SnowplowMiddleware

    app.wsgi_app = SnowplowMiddleware(app.wsgi_app)  # Flask

For each request the middleware binds (:func:`snowplow_logging.bind`) a
subject built with :meth:`Subject.from_untrusted
<snowplow_logging.Subject.from_untrusted>`: the client's IP address, its
``User-Agent``, the first language of ``Accept-Language`` and the ``user_id``
callback's answer; optionally the page entity (URL and ``Referer``). Every
event tracked while the request is served, through the logging handler, the
structlog processor or ``Tracker.track``, carries them. The binding ends when
the server closes the response, so a streamed body's events carry them too.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final, TypeAlias

from snowplow_logging import Binding
from snowplow_logging._exceptions import ConfigurationTypeError
from snowplow_logging._web import (
    PAGE_SCHEMA,
    ProxyHeader,
    RequestBinder,
    TrustedProxy,
    environ_request,
)

__all__ = ["PAGE_SCHEMA", "SnowplowMiddleware"]

Environ: TypeAlias = dict[str, Any]
StartResponse: TypeAlias = Callable[..., Any]
WSGIApp: TypeAlias = Callable[[Environ, StartResponse], Iterable[bytes]]


class SnowplowMiddleware:
    """WSGI middleware binding each request's subject to the events it logs.

    Args:
        app: the WSGI application.
        trusted_proxies: the proxies in front of the application, as
            addresses or networks (:mod:`ipaddress` objects or text such as
            ``"10.0.0.0/8"``), or ``"unix"`` for a peer on a Unix socket. Only
            when the peer (``REMOTE_ADDR``) is one of them is ``proxy_header``
            read: from the right, past every trusted proxy, to the client.
            Empty (the default): the peer is the client.
        proxy_header: ``"X-Forwarded-For"`` (the default) or ``"Forwarded"``
            (RFC 7239): the one your proxies write. The other is never read,
            since a client could forge it.
        user_id: ``(environ) -> str | int | None``, the request's user id
            (``uid``). If it raises or returns another type, the request is
            served without a ``uid``; that is counted in ``stats`` and
            reported once on the ``snowplow_logging`` logger.
        page_entity: attach the page entity, the request's URL and
            ``Referer`` (``True``: :data:`PAGE_SCHEMA`, shipped in the
            package; or the Iglu URI of your copy of it). Off by default: your
            pipeline's registry needs the schema.

    Raises:
        ConfigurationError: a trusted proxy is not an address or network (the
            message names it), or another setting cannot work.
        ConfigurationTypeError: a setting has the wrong type.
    """

    __slots__ = ("_binder", "app")

    def __init__(
        self,
        app: WSGIApp,
        *,
        trusted_proxies: Iterable[TrustedProxy] = (),
        proxy_header: ProxyHeader = "X-Forwarded-For",
        user_id: Callable[[Environ], str | int | None] | None = None,
        page_entity: bool | str = False,
    ) -> None:
        given: object = app
        if not callable(given):
            msg = f"'app' must be a WSGI application (got {given!r})."
            raise ConfigurationTypeError(msg)
        self.app: Final = app
        self._binder = RequestBinder(
            trusted_proxies=trusted_proxies,
            proxy_header=proxy_header,
            user_id=user_id,  # type: ignore[arg-type]  # called with the environ
            page_entity=page_entity,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.app!r} {self._binder.proxies!r}>"

    @property
    def stats(self) -> dict[str, int]:
        """``requests`` served, ``user_id_errors``, ``errors`` (requests left unbound)."""
        return self._binder.stats

    def __call__(
        self, environ: Environ, start_response: StartResponse
    ) -> Iterable[bytes]:
        """Serve the request with its subject bound until the response is closed."""
        binder = self._binder
        binding = binder.bind(
            environ_request(environ, binder.proxies.header), binder.user_of(environ)
        )
        if binding is None:
            return self.app(environ, start_response)
        try:
            result = self.app(environ, start_response)
        except BaseException:
            binder.reset(binding)
            raise
        if isinstance(result, list | tuple) or _is_file(result, environ):
            binder.reset(binding)  # nothing of the application runs any more
            return result
        return _Closing(result, binding, binder)


def _is_file(result: object, environ: Environ) -> bool:
    wrapper = environ.get("wsgi.file_wrapper")
    return isinstance(wrapper, type) and isinstance(result, wrapper)


class _Closing:
    """The application's response; ends the binding when the server closes it."""

    __slots__ = ("_binder", "_binding", "_iterator", "_result")

    def __init__(
        self, result: Iterable[bytes], binding: Binding, binder: RequestBinder
    ) -> None:
        self._result = result
        self._binding = binding
        self._binder = binder
        self._iterator: Iterator[bytes] | None = None

    def __iter__(self) -> Iterator[bytes]:
        if self._iterator is None:
            self._iterator = iter(self._result)
        return self

    def __next__(self) -> bytes:
        if self._iterator is None:
            self._iterator = iter(self._result)
        return next(self._iterator)

    def close(self) -> None:
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        finally:
            self._binder.reset(self._binding)
