"""HTTP to the collector: endpoint URLs, the ``requests`` transport and retry policy.

Three parts, all used by the emitter's worker thread (PROTOCOL.md section 1):

* :func:`collector_url` turns the user's ``endpoint``, ``protocol`` and ``port``
  into the POST (``/com.snowplowanalytics.snowplow/tp2``) or GET (``/i``) URL,
  https by default, with any ``user:password@`` moved into Basic auth.
* :class:`RequestsTransport` sends one request over one ``requests.Session``
  (keep-alive). What ``Session.request`` recomputes on every call (merged
  headers, auth, netrc, environment proxies, CA bundle) is resolved once; each
  request then goes straight to the session's adapter. Network errors become
  :class:`TransportError`.
* :class:`Retry` is the frozen retry policy: which statuses are retried, capped
  exponential back-off with jitter, and ``Retry-After`` (:func:`parse_retry_after`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import enum
import random
import time
from collections.abc import Mapping, MutableMapping
from collections.abc import Set as AbstractSet
from typing import Final, NamedTuple
from urllib.parse import unquote, urlsplit, urlunsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.auth import HTTPBasicAuth

from snowplow_logging._exceptions import (
    ConfigurationError,
    ConfigurationTypeError,
    SnowplowLoggingError,
)

__all__ = [
    "CollectorUrl",
    "Outcome",
    "RequestsTransport",
    "Response",
    "Retry",
    "TransportError",
    "collector_url",
    "parse_retry_after",
]

POST_PATH: Final = "/com.snowplowanalytics.snowplow/tp2"
GET_PATH: Final = "/i"
CONTENT_TYPE: Final = "application/json; charset=utf-8"
NO_RETRY_CODES: Final = frozenset({400, 401, 403, 410, 422})
"""Statuses meaning "this request will never succeed" (PROTOCOL.md 1.4)."""
_MAX_EXPONENT: Final = 60
_SUCCESS_CLASS: Final = 2
_SERVER_ERROR_CLASS: Final = 5
_TOO_MANY_REQUESTS: Final = 429


class TransportError(SnowplowLoggingError, OSError):
    """A request got no HTTP response: refused, reset, timed out, DNS, TLS."""


class Response(NamedTuple):
    """What the emitter needs from a response: the status and ``Retry-After``."""

    status: int
    retry_after: str | None


class Outcome(enum.Enum):
    """What to do with a request after an attempt."""

    SUCCESS = "success"
    RETRY = "retry"
    FAIL = "fail"


def _check_codes(name: str, value: object) -> frozenset[int]:
    codes = (
        frozenset(value) if isinstance(value, set | frozenset | list | tuple) else None
    )
    if codes is None or any(type(code) is not int for code in codes):
        msg = f"'{name}' must be a set of int HTTP status codes (got {value!r})."
        raise ConfigurationTypeError(msg)
    bad = sorted(code for code in codes if not 300 <= code <= 599)  # noqa: PLR2004
    if bad:
        msg = (
            f"'{name}' must hold 3xx-5xx status codes; 2xx always succeed (got {bad})."
        )
        raise ConfigurationError(msg)
    return codes


def _check_number(name: str, value: object, *, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"'{name}' must be a number of seconds (got {value!r})."
        raise ConfigurationTypeError(msg)
    if not minimum <= value < float("inf"):
        msg = f"'{name}' must be finite and >= {minimum} (got {value!r})."
        raise ConfigurationError(msg)
    return float(value)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Retry:
    """How failed requests are retried: a frozen value, safe to share.

    A request is retried after a network error or timeout, after 429 or any
    5xx, and after any other non-2xx status that is not in ``no_retry_codes``
    when ``retry_other`` is true (PROTOCOL.md 1.4, like the official trackers).
    Statuses in ``no_retry_codes`` fail the request's events at once.

    The n-th consecutive failure waits ``min(initial_delay * 2**(n-1) +
    uniform(0, jitter), max_delay)`` seconds, or longer if the response had a
    ``Retry-After`` (bounded by ``max_delay``). The count resets after a success.

    Args:
        max_attempts: attempts per request, the first included; ``None`` (the
            default) retries until delivered or until ``close()`` gives up.
            ``1`` disables retry, as does :meth:`disabled`.
        initial_delay: seconds before the first retry, before jitter.
        max_delay: the longest wait between two attempts.
        jitter: up to this many random seconds are added to each wait.
        retry_codes: extra statuses to retry even when ``retry_other`` is false
            (any set; stored as a frozenset).
        no_retry_codes: statuses that are final failures.
        retry_other: retry 3xx and 4xx statuses found in neither set.
        respect_retry_after: wait at least ``Retry-After`` when the response has it.

    Raises:
        ConfigurationError: a value cannot work, or a code is in both sets.
        ConfigurationTypeError: a value has the wrong type.

    .. versionadded:: 0.1.0
    """

    max_attempts: int | None = None
    initial_delay: float = 0.5
    max_delay: float = 60.0
    jitter: float = 0.5
    retry_codes: AbstractSet[int] = frozenset()
    no_retry_codes: AbstractSet[int] = NO_RETRY_CODES
    retry_other: bool = True
    respect_retry_after: bool = True

    def __post_init__(self) -> None:
        attempts = self.max_attempts
        if attempts is not None and (type(attempts) is not int or attempts < 1):
            msg = f"'max_attempts' must be an int >= 1 or None (got {attempts!r})."
            raise (
                ConfigurationTypeError
                if type(attempts) is not int
                else ConfigurationError
            )(msg)
        _check_number("initial_delay", self.initial_delay)
        _check_number("jitter", self.jitter)
        if _check_number("max_delay", self.max_delay) < self.initial_delay:
            msg = (
                f"'max_delay' must be >= 'initial_delay' ({self.initial_delay!r}) "
                f"(got {self.max_delay!r})."
            )
            raise ConfigurationError(msg)
        retry = _check_codes("retry_codes", self.retry_codes)
        no_retry = _check_codes("no_retry_codes", self.no_retry_codes)
        if retry & no_retry:
            both = sorted(retry & no_retry)
            msg = f"a status cannot be in both retry sets (got {both})."
            raise ConfigurationError(msg)
        for name in ("retry_other", "respect_retry_after"):
            if not isinstance(getattr(self, name), bool):
                msg = f"'{name}' must be a bool (got {getattr(self, name)!r})."
                raise ConfigurationTypeError(msg)
        object.__setattr__(self, "retry_codes", retry)
        object.__setattr__(self, "no_retry_codes", no_retry)

    @classmethod
    def disabled(cls) -> Retry:
        """A policy that never retries: every failed request fails its events."""
        return cls(max_attempts=1)

    def classify(self, status: int) -> Outcome:
        """Whether a response with ``status`` succeeded, is retried or failed."""
        if status // 100 == _SUCCESS_CLASS:
            return Outcome.SUCCESS
        if status in self.no_retry_codes:
            return Outcome.FAIL
        if status in self.retry_codes or status == _TOO_MANY_REQUESTS:
            return Outcome.RETRY
        if status // 100 == _SERVER_ERROR_CLASS:
            return Outcome.RETRY
        return Outcome.RETRY if self.retry_other else Outcome.FAIL

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds to wait after ``failures`` consecutive failed attempts (>= 1)."""
        exponent = min(max(failures, 1) - 1, _MAX_EXPONENT)
        # Jitter spreads retries from many processes; it needs no crypto RNG.
        jitter = random.uniform(0.0, self.jitter) if self.jitter else 0.0  # noqa: S311
        wait = min(self.initial_delay * 2.0**exponent + jitter, self.max_delay)
        if retry_after is not None and self.respect_retry_after:
            wait = max(wait, min(retry_after, self.max_delay))
        return wait


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP date.

    Returns:
        ``None`` for a missing or unparsable value; a date in the past gives 0.
    """
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; parsedate gives naive for "-0000"
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _check_target(endpoint: object, protocol: object, port: object) -> None:
    if not isinstance(endpoint, str):
        raise ConfigurationTypeError(
            f"'endpoint' must be a str (got {type(endpoint).__name__})."
        )
    if protocol is not None and protocol not in {"http", "https"}:
        raise ConfigurationError(
            f"'protocol' must be 'http', 'https' or None (got {protocol!r})."
        )
    if port is not None and (type(port) is not int or not 0 < port < 65536):  # noqa: PLR2004
        raise ConfigurationError(
            f"'port' must be an int in 1..65535 or None (got {port!r})."
        )


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
    _check_target(endpoint, protocol, port)
    text = endpoint.strip()
    if "://" not in text:
        text = f"{protocol or 'https'}://{text}"
    try:
        parts = urlsplit(text)
        given_port = parts.port
    except ValueError as exc:
        msg = f"'endpoint' is not a valid URL: {exc} (got {endpoint!r})."
        raise ConfigurationError(msg) from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        msg = f"'endpoint' must be a host name or an http(s) URL (got {endpoint!r})."
        raise ConfigurationError(msg)
    if protocol is not None and parts.scheme != protocol:
        msg = f"'protocol' is {protocol!r} but 'endpoint' says {parts.scheme!r}."
        raise ConfigurationError(msg)
    if parts.query or parts.fragment:
        msg = f"'endpoint' must not have a query or fragment (got {endpoint!r})."
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
            if self._route is not None:
                return self._send_pool(self._route, body, query)
            return self._send_session(body, query)
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
        if self._owns_session:
            self.session.close()
