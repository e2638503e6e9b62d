"""One request to the collector, through ``requests``.

:class:`RequestsTransport` sends over one ``requests.Session`` (the user's, or
one it owns), so every byte on the wire is ``requests``' and ``urllib3``'s:
keep-alive through the adapter's pool, TLS verification, proxies from the
session or the environment, ``.netrc`` and the session's auth. What
``Session.request`` redoes on every call (merging headers, cookies, auth and
the environment settings) is done once and again only after a failed request;
each request is a copy of that prepared request with its own query or body.
An auth object that signs each request is applied to every request.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, MutableMapping
from typing import Final, NamedTuple, cast

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.auth import HTTPBasicAuth
from urllib3.connectionpool import ConnectionPool

from snowplow_logging._delivery.response import Response, TransportError
from snowplow_logging._delivery.url import redact
from snowplow_logging._diagnostics import LOGGER

__all__ = ["CONTENT_TYPE", "RequestsTransport", "Response", "TransportError"]

CONTENT_TYPE: Final = "application/json; charset=utf-8"
_BODY_KEPT: Final = 65_536
"""Most bytes of an answer's body read before its connection is given up."""
_PLAIN_HTTP_REPLIES: Final = frozenset(
    {
        "WRONG_VERSION_NUMBER",
        "RECORD_LAYER_FAILURE",
        "HTTP_REQUEST",
        "PACKET_LENGTH_TOO_LONG",
    }
)
"""OpenSSL's reasons when the server's first bytes are an HTTP answer, not TLS."""


class _Settings(NamedTuple):
    """The prepared request and the session's settings, with the environment's."""

    request: requests.PreparedRequest | None  # None: prepare each (auth per request)
    url: str  # the prepared request's URL, before any query
    verify: bool | str
    cert: str | tuple[str, str] | None
    proxies: MutableMapping[str, str]


class _CollectorAdapter(HTTPAdapter):
    """requests' own adapter for the session we create, remembering its last pool.

    ``get_connection_with_tls_context`` finds the pool again for every request
    (the URL parsed, the proxy looked up, the CA bundle path stat()ed, the pool
    key normalised, the pool manager's lock): an eighth of a GET request's
    instructions. For the URL it saw last (the query aside) and the same
    ``verify``, ``proxies`` and ``cert`` objects (the transport passes one set
    until a request fails), the pool it returned is returned again until the
    adapter is closed (its pool manager forgets its pools then); anything else
    is requests' to find. Sending is ``HTTPAdapter.send``'s, unchanged.
    """

    _last: tuple[str, object, object, object, ConnectionPool] | None = None

    def get_connection_with_tls_context(
        self,
        request: requests.PreparedRequest,
        verify: bool | str | None,
        proxies: Mapping[str, str] | None = None,
        cert: tuple[str, str] | str | None = None,
    ) -> ConnectionPool:
        base = (request.url or "").partition("?")[0]
        last = self._last
        if (
            last is not None
            and last[1] is verify
            and last[2] is proxies
            and last[3] is cert
            and last[0] == base
        ):
            return last[4]
        pool = super().get_connection_with_tls_context(
            request, verify, proxies=proxies, cert=cert
        )
        self._last = (base, verify, proxies, cert, pool)
        return pool

    def close(self) -> None:
        """Forget the pool with the pool manager's: the next request finds a new one."""
        self._last = None
        super().close()


def _own_session() -> requests.Session:
    """A new session whose adapters are :class:`_CollectorAdapter` s."""
    session = requests.Session()
    for prefix in ("https://", "http://"):  # requests' own prefixes, in its order
        session.mount(prefix, _CollectorAdapter())
    return session


class RequestsTransport:
    """Sends requests to one collector URL over one ``requests.Session``.

    Runs on the emitter's worker thread only. Redirects are never followed.

    Args:
        url: the full collector URL, its path already percent-encoded.
        method: ``"post"`` or ``"get"``.
        session: the user's session, or ``None`` to create and own one.
        headers: extra request headers.
        auth: Basic auth taken from the endpoint URL.
        timeout: connect and read timeout in seconds for each request.
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
    ) -> None:
        self._fresh = False
        self._owns_session = session is None
        self.session = _own_session() if session is None else session
        self._url = url
        self._method = method.upper()
        self._headers: dict[str, str] = dict(headers or {})
        if method == "post":
            self._headers["Content-Type"] = CONTENT_TYPE
        self._auth = auth
        # Our own session has requests' adapters only, which take a urllib3
        # Timeout as it is (a float they turn into one on every request); a
        # user's adapter gets the float the Session.send signature promises.
        self._timeout: float | urllib3.Timeout = (
            urllib3.Timeout(connect=timeout, read=timeout)
            if self._owns_session
            else timeout
        )
        self._plain_http = url.lower().startswith("http://")
        self._hinted = False  # the plain-HTTP hint is given once
        self._settings: _Settings | None = None

    def send(self, body: bytes | None = None, query: str = "") -> Response:
        """Send one request and return its status; reads and discards the body.

        Args:
            body: the POST body, or ``None`` for GET.
            query: the GET query string, already percent-encoded, without ``?``.

        Raises:
            TransportError: no HTTP response arrived.
        """
        try:
            settings = self._settings or self._prepare()
            if settings.request is None:  # the session's auth sees each request
                request = self._prepare_one(body, query)
            else:
                # Nothing but requests sees the request our own session sends,
                # and it keeps none: the one prepared request is sent each time.
                # A user's session may keep them (hooks, adapters): a copy each.
                template = settings.request
                request = template if self._owns_session else template.copy()
                if query:
                    request.url = f"{settings.url}?{query}"
                if body is not None:
                    request.body = body
                    request.headers["Content-Length"] = str(len(body))
            response = self.session.send(
                request,
                allow_redirects=False,
                stream=True,  # the status is the answer; the body is read below
                timeout=cast("float", self._timeout),
                verify=settings.verify,
                cert=settings.cert,
                proxies=settings.proxies,
            )
        except (
            requests.RequestException,
            urllib3.exceptions.HTTPError,
            OSError,
            ValueError,  # e.g. an invalid header or URL the session built
        ) as exc:
            self._settings = None  # resolve the settings again next time
            shown = _cause(exc)
            msg = f"{type(shown).__name__}: {shown}"
            if _answers_plain_http(shown):
                msg += self._plain_http_hint()
            raise TransportError(msg) from exc
        result = Response(response.status_code, response.headers.get("Retry-After"))
        _discard_body(response)
        return result

    def _plain_http_hint(self) -> str:
        """Say once that the https endpoint's server speaks plain HTTP."""
        plain = "http://" + redact(self._url).split("://", 1)[1]
        hint = f" (the server answers plain HTTP, not TLS: use {plain})"
        if not self._hinted:
            self._hinted = True
            LOGGER.warning(
                "Snowplow collector %s answers plain HTTP to TLS: the endpoint "
                "should start with http:// (a local collector such as "
                "`snowplow-logging micro` serves plain HTTP), or pass protocol='http'.",
                redact(self._url),
            )
        return hint

    def _prepare_one(
        self, body: bytes | None = None, query: str = ""
    ) -> requests.PreparedRequest:
        url = f"{self._url}?{query}" if query else self._url
        request = requests.Request(self._method, url, headers=self._headers, data=body)
        if self._auth is not None and self.session.auth is None:
            request.auth = self._auth
        return self.session.prepare_request(request)

    def _prepare(self) -> _Settings:
        session = self.session
        if self._fresh:
            self._fresh = False
            session.close()  # only empties the pools; the session stays usable
        env = session.merge_environment_settings(self._url, {}, None, None, None)
        static = session.auth is None or isinstance(session.auth, tuple | HTTPBasicAuth)
        verify = True if env["verify"] is None else env["verify"]
        if self._plain_http and not env["proxies"] and isinstance(verify, str):
            # No TLS on this route: a CA bundle path would only cost the
            # adapter a stat() of it on every request.
            verify = True
        request = self._prepare_one() if static else None
        self._settings = _Settings(
            request,
            self._url if request is None else str(request.url),
            verify,
            env["cert"],
            env["proxies"],
        )
        return self._settings

    def after_fork(self) -> None:
        """Drop what the parent's connections left (in a forked child).

        An owned session is replaced, never closed: its sockets are the
        parent's too. A user's session has its pools emptied before the next
        request.
        """
        if self._owns_session:
            self.session = _own_session()
        else:
            self._fresh = True
        self._settings = None

    def close(self) -> None:
        """Close the session if this transport created it."""
        if self._owns_session:
            self.session.close()


def _discard_body(response: requests.Response) -> None:
    """Read and drop a small body so the connection can be reused; else close it.

    The status line is the collector's answer: a body that is large, broken
    or cut short changes nothing about it (a 2xx is accepted; resending would
    duplicate the events), and is never held whole in memory.
    """
    raw = response.raw
    try:
        raw.read(_BODY_KEPT, decode_content=False)
        complete = bool(raw.isclosed() or not raw.read(1, decode_content=False))
    except (
        requests.RequestException,
        urllib3.exceptions.HTTPError,
        OSError,
        ValueError,
    ):
        complete = False
    if complete:
        response.close()  # back to the pool
    else:
        raw.close()  # the connection is dropped, not reused mid-body
        response.close()


def _answers_plain_http(exc: BaseException) -> bool:
    """Whether a TLS handshake failed because the server answered in HTTP."""
    if isinstance(exc, urllib3.exceptions.SSLError) and exc.args:
        exc = exc.args[0] if isinstance(exc.args[0], BaseException) else exc
    return isinstance(exc, ssl.SSLError) and exc.reason in _PLAIN_HTTP_REPLIES


def _cause(exc: BaseException) -> BaseException:
    """The error under the wrappers ``requests`` and ``urllib3`` put around it.

    ``ConnectionError(MaxRetryError(reason=NewConnectionError))`` says less
    than the ``ConnectionRefusedError`` it stands for; a ``ProxyError`` or an
    ``SSLError`` is kept as it is.
    """
    if isinstance(exc, requests.RequestException) and exc.args:
        first = exc.args[0]
        exc = first if isinstance(first, BaseException) else exc
    reason = getattr(exc, "reason", None)  # MaxRetryError
    if isinstance(reason, BaseException):
        exc = reason
    if isinstance(exc, urllib3.exceptions.ProtocolError) and len(exc.args) > 1:
        wrapped = exc.args[1]  # ("Connection aborted.", BadStatusLine(...))
        exc = wrapped if isinstance(wrapped, BaseException) else exc
    inner = exc.__context__
    if isinstance(exc, urllib3.exceptions.NewConnectionError) and isinstance(
        inner, OSError
    ):
        exc = inner
    return exc
