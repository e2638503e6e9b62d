"""Django middleware: every event of a request carries the request's subject.

Add it to ``settings.MIDDLEWARE``, after ``AuthenticationMiddleware`` so that
the default user id can read ``request.user``::

    MIDDLEWARE = [
        ...,
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "snowplow_logging.django.SnowplowMiddleware",
        ...,
    ]

For each request the middleware binds (:func:`snowplow_logging.bind`) a
subject built with :meth:`Subject.from_untrusted
<snowplow_logging.Subject.from_untrusted>` from ``request.META``: the client's
IP address, its ``User-Agent``, the first language of ``Accept-Language``, and
the user id; optionally the page entity (URL and ``Referer``). Every event
tracked while the views and inner middleware run carries them, and so does
the ``application_error`` that a ``SnowplowHandler(capture_exceptions=True)``
on the ``django.request`` logger sends for a view's uncaught exception: Django
logs it inside the middleware chain, while the request is still bound. A
streaming response stays bound until the server closes it (WSGI).

Settings, read when Django builds its middleware:

``SNOWPLOW_TRUSTED_PROXIES``
    the proxies in front of Django, a list of addresses or networks (text or
    :mod:`ipaddress` objects), or ``"unix"``; default none: ``REMOTE_ADDR``
    is the client. A bad one raises ``ConfigurationError`` naming it.
``SNOWPLOW_PROXY_HEADER``
    ``"X-Forwarded-For"`` (default) or ``"Forwarded"``: the header those
    proxies write.
``SNOWPLOW_USER_ID``
    a callable or the dotted path of one, ``(request) -> str | int | None``
    (an ``async def`` one under ASGI); ``None`` for no user id. Default: the
    primary key, as text, of an authenticated ``request.user``
    (``request.auser()`` under ASGI). Errors are counted and reported once,
    never raised into the request.
``SNOWPLOW_PAGE_ENTITY``
    ``True`` to attach the page entity (the package's schema), or the Iglu
    URI of your copy of it; default ``False``.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

try:
    import django  # noqa: F401 - first, so a missing Django is named as such
    from asgiref.sync import (
        async_to_sync,
        iscoroutinefunction,
        markcoroutinefunction,
        sync_to_async,
    )
    from django.conf import settings
    from django.http import HttpRequest
    from django.http.response import HttpResponseBase
    from django.utils.module_loading import import_string
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    msg = (
        "snowplow_logging.django needs the django package: "
        "pip install 'snowplow-logging[django]'"
    )
    raise ImportError(msg) from exc

from snowplow_logging import Binding
from snowplow_logging._exceptions import ConfigurationTypeError
from snowplow_logging._web import (
    PAGE_SCHEMA,
    Request,
    RequestBinder,
    environ_request,
)

__all__ = ["PAGE_SCHEMA", "SnowplowMiddleware", "authenticated_user_id"]

_DEFAULT: Final = object()
GetResponse = Callable[[HttpRequest], Any]


def authenticated_user_id(request: HttpRequest) -> str | None:
    """The default user id: the pk of an authenticated ``request.user``, as text."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    return str(user.pk)


async def _authenticated_user_id_async(request: HttpRequest) -> str | None:
    auser = getattr(request, "auser", None)
    user = await auser() if auser is not None else getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    return str(user.pk)


def _user_id_setting() -> Callable[[HttpRequest], object] | None:
    value = getattr(settings, "SNOWPLOW_USER_ID", _DEFAULT)
    if value is _DEFAULT:
        return authenticated_user_id
    if value is None:
        return None
    if isinstance(value, str):
        value = import_string(value)
    if not callable(value):
        msg = f"SNOWPLOW_USER_ID must be a callable, the dotted path of one, or None (got {value!r})."
        raise ConfigurationTypeError(msg)
    return value


class SnowplowMiddleware:
    """Binds each request's subject to the events logged while it is served.

    Sync and async capable: under ASGI, with async middleware around it, the
    request is served without a thread switch. Statistics are in ``stats``
    (``requests``, ``user_id_errors``, ``errors``).

    Raises:
        ConfigurationError: a ``SNOWPLOW_*`` setting cannot work (a trusted
            proxy that is not an address or network is named).
        ConfigurationTypeError: a ``SNOWPLOW_*`` setting has the wrong type.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)
        user_id = _user_id_setting()
        if user_id is not None:
            if self._async and user_id is authenticated_user_id:
                user_id = _authenticated_user_id_async
            elif self._async and not iscoroutinefunction(user_id):
                user_id = sync_to_async(user_id)  # it may query the database
            elif not self._async and iscoroutinefunction(user_id):
                user_id = async_to_sync(user_id)
        self._user_id = user_id
        self._binder = RequestBinder(
            trusted_proxies=getattr(settings, "SNOWPLOW_TRUSTED_PROXIES", ()),
            proxy_header=getattr(settings, "SNOWPLOW_PROXY_HEADER", "X-Forwarded-For"),
            user_id=None if self._async else user_id,  # type: ignore[arg-type]  # called with the request
            page_entity=getattr(settings, "SNOWPLOW_PAGE_ENTITY", False),
        )

    @property
    def stats(self) -> dict[str, int]:
        """``requests`` served, ``user_id_errors``, ``errors`` (requests left unbound)."""
        return self._binder.stats

    def __call__(self, request: HttpRequest) -> Any:
        """Serve ``request`` with its subject bound."""
        if self._async:
            return self._acall(request)
        binder = self._binder
        binding = binder.bind(self._request(request), binder.user_of(request))
        if binding is None:
            return self.get_response(request)
        try:
            response = self.get_response(request)
        except BaseException:
            binder.reset(binding)
            raise
        if not _keep_until_closed(response, binder, binding):
            binder.reset(binding)
        return response

    async def _acall(self, request: HttpRequest) -> Any:
        binder = self._binder
        user: object = None
        if self._user_id is not None:
            try:
                user = binder.checked_user(await self._user_id(request))  # type: ignore[misc]  # async in async mode
            except Exception as exc:  # noqa: BLE001 - the application's code must not fail the request
                binder.user_id_failed(exc)
        binding = binder.bind(self._request(request), user)
        try:
            response: Awaitable[Any] = self.get_response(request)
            return await response
        finally:
            if binding is not None:
                binder.reset(binding)

    def _request(self, request: HttpRequest) -> Request:
        try:
            scheme: str | None = request.scheme  # SECURE_PROXY_SSL_HEADER applies
        except Exception:  # noqa: BLE001 - a bad setting or header must not fail the request
            scheme = None
        return environ_request(request.META, self._binder.proxies.header, scheme)


def _keep_until_closed(
    response: object, binder: RequestBinder, binding: Binding
) -> bool:
    """For a streaming response, end the binding when it is closed: True if so."""
    if not isinstance(response, HttpResponseBase) or not getattr(
        response, "streaming", False
    ):
        return False
    closers = getattr(response, "_resource_closers", None)
    if not isinstance(closers, list):
        return False
    closers.append(lambda: binder.reset(binding))
    return True
