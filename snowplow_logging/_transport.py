"""HTTP to the collector: endpoint URLs and the ``requests`` transport.

* :func:`collector_url` turns the user's ``endpoint``, ``protocol`` and ``port``
  into the POST (``/com.snowplowanalytics.snowplow/tp2``) or GET (``/i``) URL,
  https by default, with any ``user:password@`` moved into Basic auth
  (PROTOCOL.md 1.1). It runs when an emitter is built.
* :class:`RequestsTransport` sends one request over one ``requests.Session``
  (keep-alive), on the emitter's worker thread. What ``Session.request``
  recomputes on every call (merged headers, auth, netrc, environment proxies,
  CA bundle, the connection pool) is resolved once. Network errors become
  :class:`TransportError`.

The retry policy applied to the answers is :class:`~snowplow_logging._retry.Retry`.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Final, NamedTuple
from urllib.parse import unquote, urlsplit, urlunsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.auth import HTTPBasicAuth
from requests.utils import DEFAULT_CA_BUNDLE_PATH, select_proxy

from snowplow_logging._exceptions import (
    ConfigurationError,
    ConfigurationTypeError,
    SnowplowLoggingError,
)
from snowplow_logging._http import HttpError, KeepAliveConnection
from snowplow_logging._protocol import GET_PATH, POST_PATH

__all__ = [
    "CollectorUrl",
    "RequestsTransport",
    "Response",
    "TransportError",
    "collector_url",
]

CONTENT_TYPE: Final = "application/json; charset=utf-8"
_PORTS: Final = 65536


class TransportError(SnowplowLoggingError, OSError):
    """A request got no HTTP response: refused, reset, timed out, DNS, TLS."""


class Response(NamedTuple):
    """What the emitter needs from a response: the status and ``Retry-After``."""

    status: int
    retry_after: str | None


def _check_endpoint(endpoint: object, protocol: object, port: object) -> None:
    if not isinstance(endpoint, str):
        msg = f"'endpoint' must be a str (got {type(endpoint).__name__})."
        raise ConfigurationTypeError(msg)
    if protocol not in {None, "http", "https"}:
        msg = f"'protocol' must be 'http', 'https' or None (got {protocol!r})."
        raise ConfigurationError(msg)
    if port is not None and (type(port) is not int or not 0 < port < _PORTS):
        msg = f"'port' must be an int in 1..65535 or None (got {port!r})."
        raise ConfigurationError(msg)


def _redact(endpoint: str) -> str:
    """The endpoint for an error message: anything before its last ``@`` hidden.

    A malformed URL cannot be trusted to split where the credentials end, so
    everything between the scheme and the last ``@`` is masked (issue #8).
    """
    if "@" not in endpoint:
        return endpoint
    scheme, sep, rest = endpoint.partition("://")
    if not sep:
        scheme, rest = "", endpoint
    return f"{scheme}{sep}***@{rest.rpartition('@')[2]}"


class CollectorUrl(NamedTuple):
    """The URL to send to, Basic auth taken from it, and a credential-free display."""

    url: str
    auth: tuple[str, str] | None
    display: str


def collector_url(
    endpoint: str, *, method: str, protocol: str | None = None, port: int | None = None
) -> CollectorUrl:
    """Build the collector URL for ``method`` (``"post"`` or ``"get"``).

    ``endpoint`` is a host (``collector.example.com``), host and port, or a URL
    with an optional path prefix. Without a scheme, ``protocol`` (default
    https) is used.

    Raises:
        ConfigurationError: the endpoint is empty or malformed, or conflicts
            with ``protocol``/``port``.
        ConfigurationTypeError: a value has the wrong type.
    """
    _check_endpoint(endpoint, protocol, port)
    text = endpoint.strip()
    if "://" not in text:
        text = f"{protocol or 'https'}://{text}"
    try:
        parts = urlsplit(text)
        given_port = parts.port
    except ValueError as exc:
        msg = f"'endpoint' is not a valid URL: {exc} (got {_redact(endpoint)!r})."
        raise ConfigurationError(msg) from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        msg = f"'endpoint' must be a host name or an http(s) URL (got {_redact(endpoint)!r})."
        raise ConfigurationError(msg)
    if protocol is not None and parts.scheme != protocol:
        msg = f"'protocol' is {protocol!r} but 'endpoint' says {parts.scheme!r}."
        raise ConfigurationError(msg)
    if parts.query or parts.fragment:
        msg = (
            f"'endpoint' must not have a query or fragment (got {_redact(endpoint)!r})."
        )
        raise ConfigurationError(msg)
    if port is not None and given_port is not None and port != given_port:
        msg = f"'port' is {port} but 'endpoint' says {given_port}."
        raise ConfigurationError(msg)
    host = parts.hostname
    host = f"[{host}]" if ":" in host else host
    port = port or given_port
    netloc = f"{host}:{port}" if port else host
    path = parts.path.rstrip("/") + (POST_PATH if method == "post" else GET_PATH)
    auth = None
    if parts.username is not None:
        auth = (unquote(parts.username), unquote(parts.password or ""))
    url = urlunsplit((parts.scheme, netloc, path, "", ""))
    shown = urlunsplit(
        (parts.scheme, f"***@{netloc}" if auth else netloc, path, "", "")
    )
    return CollectorUrl(url, auth, shown)


class _Settings(NamedTuple):
    """Per-session request settings, resolved with the environment once."""

    verify: bool | str
    cert: str | tuple[str, str] | None
    proxies: MutableMapping[str, str]


class _Route(NamedTuple):
    """The session adapter's pool for the collector and what each request needs."""

    pool: urllib3.HTTPConnectionPool
    target: str
    headers: dict[str, str]
    retries: urllib3.Retry


class _Direct(NamedTuple):
    """Our own keep-alive connection and the request head around the query."""

    connection: KeepAliveConnection
    start: bytes  # b"GET /i" or b"POST /com.../tp2"
    headers: bytes  # b" HTTP/1.1\r\nHost: ...\r\n...", up to the final blank line


def _tls_context(
    verify: bool | str, cert: str | tuple[str, str] | None
) -> ssl.SSLContext:
    """A client TLS context with the verification ``requests`` would apply."""
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        where = DEFAULT_CA_BUNDLE_PATH if verify is True else verify
        if Path(where).is_dir():
            context = ssl.create_default_context(capath=where)
        else:
            context = ssl.create_default_context(cafile=where)
    if isinstance(cert, str):
        context.load_cert_chain(cert)
    elif cert is not None:
        context.load_cert_chain(cert[0], cert[1])
    context.set_alpn_protocols(["http/1.1"])
    return context


class RequestsTransport:
    """Sends requests to one collector URL over one ``requests.Session``.

    Runs on the emitter's worker thread only. The session's headers, cookies,
    static auth (a tuple or ``HTTPBasicAuth``) and netrc, and its proxy, TLS
    verification and client-certificate settings (with the environment's
    ``*_PROXY`` and ``REQUESTS_CA_BUNDLE`` when ``trust_env``) are resolved on
    the first request and again after a failed one; requests then use the
    session adapter's connection pool directly. Redirects are never followed,
    cookies the collector sets are not kept and response hooks are not called,
    except with a custom adapter or auth object: then every request goes
    through ``Session.send`` so that they apply per request.

    Args:
        url: the full collector URL (from :func:`collector_url`).
        method: ``"post"`` or ``"get"``.
        session: the user's session, or ``None`` to create and own one.
        headers: extra request headers.
        auth: Basic auth taken from the endpoint URL.
        timeout: connect and read timeout in seconds for each request.
        fresh_connections: close the session's pooled connections before the
            first request (in a forked child, whose sockets the parent shares).
    """

    def __init__(
        self,
        url: str,
        *,
        method: str,
        session: requests.Session | None,
        headers: Mapping[str, str] | None,
        auth: tuple[str, str] | None,
        timeout: float,
        fresh_connections: bool = False,
    ) -> None:
        self._fresh = fresh_connections and session is not None
        self._owns_session = session is None
        self.session = requests.Session() if session is None else session
        self._url = url
        self._method = method.upper()
        self._headers: dict[str, str] = dict(headers or {})
        if method == "post":
            self._headers["Content-Type"] = CONTENT_TYPE
        self._auth = auth
        self._timeout = timeout
        self._request = requests.Request()
        self._settings: _Settings | None = None
        self._route: _Route | None = None
        self._direct: _Direct | None = None
        self._tls: tuple[tuple[object, object], ssl.SSLContext] | None = None

    def send(self, body: bytes | None = None, query: str = "") -> Response:
        """Send one request and return its status; reads and discards the body.

        Args:
            body: the POST body, or ``None`` for GET.
            query: the GET query string, without the ``?``.

        Raises:
            TransportError: no HTTP response arrived.
        """
        try:
            if self._settings is None:
                self._prepare()
            if self._direct is not None:
                return self._send_direct(self._direct, body, query)
            if self._route is not None:
                return self._send_pool(self._route, body, query)
            return self._send_session(body, query)
        except HttpError as exc:
            self._settings = None
            raise TransportError(str(exc)) from exc
        except (
            requests.RequestException,
            urllib3.exceptions.HTTPError,
            OSError,
        ) as exc:
            self._settings = None  # resolve the pool and settings again next time
            reason = getattr(exc, "reason", None)  # MaxRetryError wraps the real one
            shown = reason if isinstance(reason, Exception) else exc
            msg = f"{type(shown).__name__}: {shown}"
            raise TransportError(msg) from exc

    def _prepare(self) -> None:
        session = self.session
        if self._fresh:
            self._fresh = False
            session.close()  # only empties the pools; the session stays usable
        request = requests.Request(self._method, self._url, headers=self._headers)
        if self._auth is not None and session.auth is None:
            request.auth = self._auth
        env = session.merge_environment_settings(self._url, {}, None, None, None)
        settings = _Settings(
            True if env["verify"] is None else env["verify"],
            env["cert"],
            env["proxies"],
        )
        self._request, self._settings, self._route = request, settings, None
        if self._direct is not None:
            self._direct.connection.close()
            self._direct = None
        adapter = session.get_adapter(self._url)
        static_auth = session.auth is None or isinstance(
            session.auth, tuple | HTTPBasicAuth
        )
        # A custom adapter or a per-request auth (signing, digest) must see every
        # request, so those go through Session.send. Otherwise what
        # Session.request redoes on every call is done once here: merged headers,
        # cookies, static auth and netrc, then the adapter's pool for this URL
        # with its proxy and TLS settings.
        if type(adapter) is not HTTPAdapter or not static_auth:
            return
        prepared = session.prepare_request(request)
        if self._owns_session and select_proxy(self._url, settings.proxies) is None:
            self._direct = self._direct_route(prepared, settings)
            return
        pool = adapter.get_connection_with_tls_context(
            prepared, settings.verify, settings.proxies, settings.cert
        )
        adapter.cert_verify(pool, self._url, settings.verify, settings.cert)  # type: ignore[no-untyped-call]
        if isinstance(pool, urllib3.HTTPConnectionPool):
            self._route = _Route(
                pool,
                adapter.request_url(prepared, settings.proxies),
                dict(prepared.headers),
                adapter.max_retries,
            )

    def _direct_route(
        self, prepared: requests.PreparedRequest, settings: _Settings
    ) -> _Direct:
        parts = urlsplit(self._url)
        host = parts.hostname
        assert host is not None  # noqa: S101 - collector_url checked it
        tls = parts.scheme == "https"
        headers = [f" HTTP/1.1\r\nHost: {parts.netloc}"]
        for name, value in prepared.headers.items():
            if name.lower() not in {"host", "content-length", "accept-encoding"}:
                headers.append(f"{name}: {value}")
        headers.append("Accept-Encoding: identity")  # the body is discarded
        if self._method == "POST":
            headers.append("Content-Length: ")
        connection = KeepAliveConnection(
            host,
            parts.port or (443 if tls else 80),
            tls=self._tls_context(settings) if tls else None,
            timeout=self._timeout,
        )
        return _Direct(
            connection,
            f"{self._method} {parts.path}".encode("latin-1"),
            "\r\n".join(headers).encode("latin-1"),
        )

    def _tls_context(self, settings: _Settings) -> ssl.SSLContext:
        """The TLS context for ``settings``, kept while they stay the same.

        Settings are resolved again after every failed request; loading a CA
        bundle takes milliseconds, so it is not redone for each retry.
        """
        key = (settings.verify, settings.cert)
        if self._tls is None or self._tls[0] != key:
            self._tls = key, _tls_context(settings.verify, settings.cert)
        return self._tls[1]

    def _send_direct(self, direct: _Direct, body: bytes | None, query: str) -> Response:
        if body is not None:
            head = b"%s%s%d\r\n\r\n" % (direct.start, direct.headers, len(body))
        elif query:
            head = b"%s?%s%s\r\n\r\n" % (direct.start, query.encode(), direct.headers)
        else:
            head = b"%s%s\r\n\r\n" % (direct.start, direct.headers)
        return Response._make(direct.connection.request(head, body))

    def _send_pool(self, route: _Route, body: bytes | None, query: str) -> Response:
        headers = route.headers.copy()
        if body is not None:
            headers["Content-Length"] = str(len(body))
        response = route.pool.urlopen(
            self._method,
            f"{route.target}?{query}" if query else route.target,
            body=body,
            headers=headers,
            redirect=False,
            assert_same_host=False,
            preload_content=False,
            decode_content=False,
            retries=route.retries,
            timeout=urllib3.Timeout(connect=self._timeout, read=self._timeout),
            chunked=False,
        )
        result = Response(response.status, response.headers.get("Retry-After"))
        try:
            response.drain_conn()  # the collector has answered: keep its status
        except (urllib3.exceptions.HTTPError, OSError):
            response.close()
        else:
            response.release_conn()
        return result

    def _send_session(self, body: bytes | None, query: str) -> Response:
        request, settings = self._request, self._settings
        assert settings is not None  # noqa: S101 - set by _prepare
        request.url = f"{self._url}?{query}" if query else self._url
        request.data = body or []
        response = self.session.send(
            self.session.prepare_request(request),
            allow_redirects=False,
            timeout=self._timeout,
            verify=settings.verify,
            cert=settings.cert,
            proxies=settings.proxies,
        )
        try:
            _ = response.content  # so that the connection goes back to the pool
        finally:
            response.close()
        return Response(response.status_code, response.headers.get("Retry-After"))

    def close(self) -> None:
        """Close the session if this transport created it."""
        if self._direct is not None:
            self._direct.connection.close()
        if self._owns_session:
            self.session.close()
