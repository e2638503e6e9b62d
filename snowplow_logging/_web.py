"""What the web middlewares share: a request's subject and page, the client's address.

:class:`RequestBinder` turns what a request says (the peer's address, a proxy
header, ``User-Agent``, ``Accept-Language``, the URL and ``Referer``) into a
:func:`~snowplow_logging.bind` binding for the request's events. Every value
comes from the client, so nothing here raises for a bad one: the subject is
built with :meth:`Subject.from_untrusted <snowplow_logging.Subject.from_untrusted>`,
the page's URL and referrer are repaired and clipped, and an error anywhere
(the application's ``user_id`` callback included) is counted, reported once
and leaves the request unbound, never failed.

The client's address is the peer's, or read from a proxy header through
trusted proxies: :class:`~snowplow_logging._client_address.TrustedProxies`.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Final, NamedTuple, TypeAlias
from urllib.parse import quote

from snowplow_logging import Binding, bind
from snowplow_logging import _format as fmt
from snowplow_logging._checks import check_callable, check_setting
from snowplow_logging._client_address import ProxyHeader, TrustedProxies, TrustedProxy
from snowplow_logging._diagnostics import LOGGER
from snowplow_logging._emitters import peek
from snowplow_logging._events import SelfDescribingJson
from snowplow_logging._exceptions import ConfigurationTypeError
from snowplow_logging._subject import Subject
from snowplow_logging._untrusted import repair

__all__ = [
    "PAGE_SCHEMA",
    "ProxyHeader",
    "Request",
    "RequestBinder",
    "TrustedProxies",
    "TrustedProxy",
    "environ_request",
    "scope_request",
]

PAGE_SCHEMA: Final = "iglu:io.github.snowplow-logging/page/jsonschema/1-0-0"
"""The page entity the package ships: the request's ``url`` and ``referrer``."""

_URL_MAX: Final = 4096
"""The page entity's length limit for the URL and the referrer (the atomic columns')."""
_PATH_SAFE: Final = "/:@!$&'()*+,;=~"


class Request(NamedTuple):
    """What a request says about its client and page, as the server gave it."""

    peer: str | None
    chain: str | None
    useragent: str | bytes | None
    accept_language: str | None
    url: str | None
    referrer: str | bytes | None


def first_language(header: str | None) -> str | None:
    """The first tag of an ``Accept-Language`` header: ``"en-GB"`` of ``"en-GB,en;q=0.8"``."""
    if not header:
        return None
    return header.partition(",")[0].partition(";")[0].strip() or None


def _text(value: str | bytes | None) -> str | None:
    """Request text as clean text for JSON: decoded, repaired, clipped."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    value = repair(value)
    return value[:_URL_MAX] or None


def _wsgi_text(value: object) -> str | bytes | None:
    """A WSGI header value (bytes read as Latin-1) as its text, or its bytes."""
    if not isinstance(value, str) or not value:
        return None
    if value.isascii():
        return value
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:  # a server that decoded it already
        return value
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw  # Subject.from_untrusted repairs (and counts) invalid UTF-8


def _wsgi_bytes(value: object) -> bytes:
    if not isinstance(value, str):
        return b""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace")


def environ_url(environ: Mapping[str, object], scheme: str | None = None) -> str | None:
    """The request URL from a WSGI environ (or a Django request's ``META``)."""
    scheme = scheme or str(environ.get("wsgi.url_scheme") or "http")
    host = environ.get("HTTP_HOST")
    if not isinstance(host, str) or not host:
        name = environ.get("SERVER_NAME")
        if not isinstance(name, str) or not name:
            return None
        port = str(environ.get("SERVER_PORT") or "")
        default = "443" if scheme == "https" else "80"
        host = name if port in {"", default} else f"{name}:{port}"
    path = quote(
        _wsgi_bytes(environ.get("SCRIPT_NAME")) + _wsgi_bytes(environ.get("PATH_INFO")),
        safe=_PATH_SAFE,
    )
    query = environ.get("QUERY_STRING")
    url = f"{scheme}://{host}{path or '/'}"
    return f"{url}?{query}" if isinstance(query, str) and query else url


def environ_request(
    environ: Mapping[str, object], header: ProxyHeader, scheme: str | None = None
) -> Request:
    """What a WSGI environ (or a Django request's ``META``) says."""
    peer = environ.get("REMOTE_ADDR")
    chain = environ.get(
        "HTTP_FORWARDED" if header == "Forwarded" else "HTTP_X_FORWARDED_FOR"
    )
    language = environ.get("HTTP_ACCEPT_LANGUAGE")
    return Request(
        peer=peer if isinstance(peer, str) else None,
        chain=chain if isinstance(chain, str) else None,
        useragent=_wsgi_text(environ.get("HTTP_USER_AGENT")),
        accept_language=language if isinstance(language, str) else None,
        url=environ_url(environ, scheme),
        referrer=_wsgi_text(environ.get("HTTP_REFERER")),
    )


_SCOPE_HEADERS: Final = {
    b"x-forwarded-for": 0,
    b"forwarded": 1,
    b"user-agent": 2,
    b"accept-language": 3,
    b"host": 4,
    b"referer": 5,
}


def scope_request(scope: Mapping[str, object], header: ProxyHeader) -> Request:
    """What an ASGI ``http`` scope says."""
    found: list[list[bytes]] = [[], [], [], [], [], []]
    headers = scope.get("headers")
    if isinstance(headers, Iterable):
        wanted = _SCOPE_HEADERS
        for name, value in headers:
            index = wanted.get(bytes(name).lower())
            if index is not None:
                found[index].append(bytes(value))
    chains = found[1 if header == "Forwarded" else 0]
    client = scope.get("client")
    peer = str(client[0]) if isinstance(client, list | tuple) and client else None
    scheme = str(scope.get("scheme") or "http")
    host = found[4][0].decode("latin-1") if found[4] else _server(scope, scheme)
    url = None
    if host:
        root = str(scope.get("root_path") or "")
        path = str(scope.get("path") or "")
        if root and not path.startswith(root):
            path = root + path
        query = scope.get("query_string")
        url = f"{scheme}://{host}{quote(path.encode('utf-8', 'replace'), safe=_PATH_SAFE) or '/'}"
        if isinstance(query, bytes) and query:
            url = f"{url}?{query.decode('latin-1')}"
    return Request(
        peer=peer,
        chain=b",".join(chains).decode("latin-1") if chains else None,
        useragent=_decoded(found[2][0]) if found[2] else None,
        accept_language=found[3][0].decode("latin-1") if found[3] else None,
        url=url,
        referrer=_decoded(found[5][0]) if found[5] else None,
    )


def _server(scope: Mapping[str, object], scheme: str) -> str | None:
    server = scope.get("server")
    if not isinstance(server, list | tuple) or len(server) != 2:  # noqa: PLR2004
        return None
    name, port = server
    if port is None or str(port) == ("443" if scheme in {"https", "wss"} else "80"):
        return str(name)
    return f"{name}:{port}"


def _decoded(value: bytes) -> str | bytes:
    """Header bytes as UTF-8 text, or the bytes (``from_untrusted`` repairs them)."""
    try:
        return value.decode()
    except UnicodeDecodeError:
        return value


UserId: TypeAlias = Callable[[object], object]


class RequestBinder:
    """Builds and binds each request's subject and page entity; never raises.

    Args:
        trusted_proxies: see :class:`TrustedProxies`.
        proxy_header: the header the trusted proxies write.
        user_id: called with the request (environ, scope, Django request);
            its ``str``/``int`` result is the ``uid``, ``None`` none.
        page_entity: ``False`` for none, ``True`` for :data:`PAGE_SCHEMA`, or
            the Iglu URI of your copy of that schema.
    """

    __slots__ = (
        "_errors",
        "_lock",
        "_page_schema",
        "_requests",
        "_user_id",
        "_user_id_errors",
        "_warned",
        "proxies",
    )

    def __init__(
        self,
        *,
        trusted_proxies: Iterable[TrustedProxy],
        proxy_header: ProxyHeader,
        user_id: UserId | None,
        page_entity: bool | str,
    ) -> None:
        self.proxies: Final = TrustedProxies(trusted_proxies, proxy_header)
        check_callable("user_id", user_id)
        self._user_id: Final = user_id
        self._page_schema: Final = _page_schema(page_entity)
        self._requests = itertools.count()
        self._errors = itertools.count()
        self._user_id_errors = itertools.count()
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    @property
    def stats(self) -> dict[str, int]:
        """``requests`` seen, ``user_id_errors`` (raised or wrong type), ``errors``."""
        return {
            "requests": peek(self._requests),
            "user_id_errors": peek(self._user_id_errors),
            "errors": peek(self._errors),
        }

    def user_of(self, request: object) -> object:
        """The ``user_id`` callback's answer for ``request``; ``None`` if it failed."""
        if self._user_id is None:
            return None
        try:
            return self.checked_user(self._user_id(request))
        except Exception as exc:  # noqa: BLE001 - the application's code must not fail the request
            self.user_id_failed(exc)
            return None

    def checked_user(self, value: object) -> object:
        """``value`` if a ``uid`` can be made of it; else counted, reported, ``None``."""
        if value is None or (
            isinstance(value, str | bytes | int) and not isinstance(value, bool)
        ):
            return value
        next(self._user_id_errors)
        self._warn_once(
            "user_id",
            "The 'user_id' callback returned %s, not a str, an int or None: the request's events have no uid (reported once).",
            type(value).__name__,
        )
        return None

    def user_id_failed(self, exc: BaseException) -> None:
        """Count and report (once) a ``user_id`` callback that raised."""
        next(self._user_id_errors)
        self._warn_once(
            "user_id",
            "The 'user_id' callback raised %s: %s; the request's events have no uid (reported once).",
            type(exc).__name__,
            exc,
        )

    def bind(self, request: Request, user: object) -> Binding | None:
        """Bind ``request``'s subject (and page entity); ``None`` if that failed."""
        next(self._requests)
        try:
            subject = Subject.from_untrusted(
                user_id=user,  # type: ignore[arg-type]  # checked_user's types
                ip_address=self.proxies.client(request.peer, request.chain),
                useragent=request.useragent,
                lang=first_language(request.accept_language),
            )
            context: tuple[SelfDescribingJson, ...] = ()
            if self._page_schema is not None:
                context = self._page(request)
            return bind(subject=subject, context=context)
        except Exception as exc:  # noqa: BLE001 - request data must never fail the request
            next(self._errors)
            self._warn_once(
                "bind",
                "Could not bind the request's subject: %s: %s; its events have none (reported once).",
                type(exc).__name__,
                exc,
            )
            return None

    def _page(self, request: Request) -> tuple[SelfDescribingJson, ...]:
        url = _text(request.url)
        if url is None or self._page_schema is None:
            return ()
        data: dict[str, object] = {"url": url}
        referrer = _text(request.referrer)
        if referrer is not None:
            data["referrer"] = referrer
        return (SelfDescribingJson(schema=self._page_schema, data=data),)

    def reset(self, binding: Binding) -> None:
        """End a request's binding; a reset from another context is reported once."""
        try:
            binding.reset()
        except ValueError as exc:
            next(self._errors)
            self._warn_once(
                "reset",
                "Could not end a request's binding (%s): the request ended in another context than it started (reported once).",
                exc,
            )

    def _warn_once(self, key: str, msg: str, *args: object) -> None:
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
        LOGGER.warning(msg, *args)


def _page_schema(page_entity: object) -> str | None:
    if page_entity is True:
        return PAGE_SCHEMA
    if page_entity is False or page_entity is None:
        return None
    if not isinstance(page_entity, str):
        msg = f"'page_entity' must be a bool or an Iglu URI (got {type(page_entity).__name__})."
        raise ConfigurationTypeError(msg)
    check_setting(fmt.check_iglu_uri, "page_entity", page_entity)
    return page_entity
