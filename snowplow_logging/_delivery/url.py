"""The collector URL: from the user's endpoint to the URL every request goes to.

:func:`collector_url` runs once, when an emitter is built: it applies the
default scheme (https, docs/protocol.md 1.1), the port, and the POST or GET
path, moves any ``user:password@`` into Basic auth, and percent-encodes the
path once (:func:`encode_path`), so that every request line on the wire is
valid whatever the user typed.

Typing mistakes are refused there, each with what to type instead, rather
than failing at run time or, worse, silently sending elsewhere: a scheme
without its ``://`` (``http//host``, ``https:/host``), a misspelt scheme, the
collector's own path pasted after the host (the emitter adds it for the
method), surrounding or inner whitespace, an empty host.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple, NoReturn
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from snowplow_logging._checks import check_count, closest
from snowplow_logging._exceptions import ConfigurationError, ConfigurationTypeError
from snowplow_logging._protocol import GET_PATH, POST_PATH

__all__ = ["CollectorUrl", "collector_url", "encode_path", "redact"]

_PORTS: Final = 65536
_PATH_SAFE: Final = "/%:@!$&'()*+,;=-._~"
"""RFC 3986 ``pchar`` and ``/``: what a path may hold unescaped, with ``%``
kept so that escapes already in the endpoint are not escaped twice."""
_STRAY_PERCENT: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
_CREDENTIALS_HINT: Final = (
    "; percent-encode '/', '?', '#' and '@' in a user name or password"
)
_SCHEMES: Final = ("http", "https")
_BROKEN_SCHEME: Final = re.compile(r"(?i)(https?)(?::/(?!/)|//|:(?![/0-9]))")
"""``http//``, ``http:/``, or ``http:`` before a host (not a port): a mistyped ``://``."""
_SCHEME: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_EXAMPLE: Final = "'http://127.0.0.1:9090' or 'https://collector.example.com'"


def encode_path(path: str) -> str:
    """``path`` with every character a request target may not hold percent-encoded.

    Spaces, non-ASCII text (as UTF-8) and other unsafe characters are escaped;
    valid escapes already present are kept and a ``%`` that starts none
    becomes ``%25``. Written here, not left to the HTTP library, because
    correctness needs it once and before the wire: the request line must be
    the same bytes whatever sends it.
    """
    return quote(_STRAY_PERCENT.sub("%25", path), safe=_PATH_SAFE)


def _check_endpoint(
    endpoint: object, protocol: object, port: object, name: str
) -> int | None:
    """Check the types; the port as an int (a string of digits is converted)."""
    if not isinstance(endpoint, str):
        msg = f"'{name}' must be a str (got {type(endpoint).__name__})."
        raise ConfigurationTypeError(msg)
    if protocol not in {None, "http", "https"}:
        msg = f"'protocol' must be 'http', 'https' or None (got {protocol!r})."
        raise ConfigurationError(msg)
    if port is None:
        return None
    try:
        number = check_count("port", port)
    except (ConfigurationError, ConfigurationTypeError):
        number = 0
    if not 0 < number < _PORTS:
        msg = f"'port' must be an int in 1..65535 or None (got {port!r})."
        raise ConfigurationError(msg)
    return number


def _refuse(name: str, endpoint: str, why: str, instead: str | None) -> NoReturn:
    """Raise for a mistyped endpoint, saying what to type instead."""
    hint = f"; write {redact(instead)!r}" if instead else f"; write e.g. {_EXAMPLE}"
    msg = f"'{name}' {why}{hint} (got {redact(endpoint)!r})."
    raise ConfigurationError(msg)


def _check_typing(name: str, endpoint: str) -> None:
    """Refuse the mistakes of a hand-typed or pasted endpoint, before parsing it."""
    text = endpoint.strip()
    if text != endpoint:
        _refuse(name, endpoint, "has spaces or line breaks around it", text or None)
    if not text:
        _refuse(name, endpoint, "must be a host name or an http(s) URL", None)
    found = _SCHEME.match(text)
    if found is None:
        broken = _BROKEN_SCHEME.match(text)
        if broken is not None:
            scheme = broken.group(1).lower()
            rest = text[broken.end() :].lstrip("/")
            why = f"has a mistyped '{scheme}://' (a ':' or '/' missing)"
            _refuse(name, endpoint, why, f"{scheme}://{rest}" if rest else None)
        return
    scheme = found.group(1)
    if scheme.lower() in _SCHEMES:
        return
    near = closest(scheme, _SCHEMES)
    instead = f"{near}://{text[found.end() :]}" if near else None
    _refuse(name, endpoint, "must be a host name or an http(s) URL", instead)


def redact(endpoint: str) -> str:
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
    endpoint: str,
    *,
    method: str,
    protocol: str | None = None,
    port: int | None = None,
    name: str = "endpoint",
) -> CollectorUrl:
    """Build the collector URL for ``method`` (``"post"`` or ``"get"``).

    ``endpoint`` is a host (``collector.example.com``), host and port, or a URL
    with an optional path prefix. Without a scheme, ``protocol`` (default
    https) is used. ``name`` is what messages call it (the environment
    variable's name when it came from one).

    Raises:
        ConfigurationError: the endpoint is empty, malformed or mistyped (the
            message says what to type instead), or conflicts with
            ``protocol``/``port``.
        ConfigurationTypeError: a value has the wrong type.
    """
    port = _check_endpoint(endpoint, protocol, port, name)
    _check_typing(name, endpoint)
    text = endpoint
    if "://" not in text:
        text = f"{protocol or 'https'}://{text}"
    try:
        parts = urlsplit(text)
        given_port = parts.port
    except ValueError as exc:
        # urlsplit's own message may quote a piece of the password.
        why = _CREDENTIALS_HINT if "@" in endpoint else f": {exc}"
        msg = f"'{name}' is not a valid URL{why} (got {redact(endpoint)!r})."
        raise ConfigurationError(msg) from None
    scheme, host = parts.scheme.lower(), parts.hostname
    if not host:
        rest = parts.path.lstrip("/")  # 'http:///host': a slash too many
        why = "must be a host name or an http(s) URL with a host"
        _refuse(name, endpoint, why, f"{scheme}://{rest}" if rest else None)
    if any(char.isspace() for char in parts.netloc):
        fixed = "".join(parts.netloc.split())
        _refuse(
            name, endpoint, "has a space in its host", text.replace(parts.netloc, fixed)
        )
    if protocol is not None and scheme != protocol:
        msg = f"'protocol' is {protocol!r} but '{name}' says {scheme!r}."
        raise ConfigurationError(msg)
    if parts.query or parts.fragment:
        hint = _CREDENTIALS_HINT if "@" in endpoint else ""
        msg = f"'{name}' must not have a query or fragment{hint} (got {redact(endpoint)!r})."
        raise ConfigurationError(msg)
    if port is not None and given_port is not None and port != given_port:
        msg = f"'port' is {port} but '{name}' says {given_port}."
        raise ConfigurationError(msg)
    _check_collector_path(name, endpoint, parts.path, scheme, parts.netloc)
    host = f"[{host}]" if ":" in host else host
    port = port or given_port
    netloc = f"{host}:{port}" if port else host
    path = encode_path(parts.path.rstrip("/"))
    path += POST_PATH if method == "post" else GET_PATH
    auth = None
    if parts.username is not None:
        auth = (unquote(parts.username), unquote(parts.password or ""))
    url = urlunsplit((scheme, netloc, path, "", ""))
    shown = urlunsplit((scheme, f"***@{netloc}" if auth else netloc, path, "", ""))
    return CollectorUrl(url, auth, shown)


def _check_collector_path(
    name: str, endpoint: str, path: str, scheme: str, netloc: str
) -> None:
    """Refuse an endpoint pasted with the collector's own path.

    The emitter adds the path for its method; kept, it would be doubled
    (``.../tp2/com.snowplowanalytics.snowplow/tp2``, every event a 404), and
    dropped silently, a GET path would hide a POST emitter's mistake.
    """
    trimmed = path.rstrip("/")
    for suffix in (POST_PATH, GET_PATH):
        if trimmed.endswith(suffix):
            prefix = trimmed.removesuffix(suffix).rstrip("/")
            why = (
                f"must not end with the collector's path {suffix!r}: the emitter "
                f"adds {POST_PATH!r} (POST) or {GET_PATH!r} (GET) itself"
            )
            instead = urlunsplit((scheme, netloc, prefix, "", ""))
            if "://" not in endpoint:  # as typed: without the scheme given
                instead = instead.partition("://")[2]
            _refuse(name, endpoint, why, instead)
