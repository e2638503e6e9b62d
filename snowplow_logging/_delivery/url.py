"""The collector URL: from the user's endpoint to the URL every request goes to.

:func:`collector_url` runs once, when an emitter is built: it applies the
default scheme (https, docs/protocol.md 1.1), the port, and the POST or GET
path, moves any ``user:password@`` into Basic auth, and percent-encodes the
path once (:func:`encode_path`), so that every request line on the wire is
valid whatever the user typed.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple
from urllib.parse import quote, unquote, urlsplit, urlunsplit

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


def encode_path(path: str) -> str:
    """``path`` with every character a request target may not hold percent-encoded.

    Spaces, non-ASCII text (as UTF-8) and other unsafe characters are escaped;
    valid escapes already present are kept and a ``%`` that starts none
    becomes ``%25``. Written here, not left to the HTTP library, because
    correctness needs it once and before the wire: the request line must be
    the same bytes whatever sends it.
    """
    return quote(_STRAY_PERCENT.sub("%25", path), safe=_PATH_SAFE)


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
        # urlsplit's own message may quote a piece of the password.
        why = _CREDENTIALS_HINT if "@" in endpoint else f": {exc}"
        msg = f"'endpoint' is not a valid URL{why} (got {redact(endpoint)!r})."
        raise ConfigurationError(msg) from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        msg = f"'endpoint' must be a host name or an http(s) URL (got {redact(endpoint)!r})."
        raise ConfigurationError(msg)
    if protocol is not None and parts.scheme != protocol:
        msg = f"'protocol' is {protocol!r} but 'endpoint' says {parts.scheme!r}."
        raise ConfigurationError(msg)
    if parts.query or parts.fragment:
        hint = _CREDENTIALS_HINT if "@" in endpoint else ""
        msg = f"'endpoint' must not have a query or fragment{hint} (got {redact(endpoint)!r})."
        raise ConfigurationError(msg)
    if port is not None and given_port is not None and port != given_port:
        msg = f"'port' is {port} but 'endpoint' says {given_port}."
        raise ConfigurationError(msg)
    host = parts.hostname
    host = f"[{host}]" if ":" in host else host
    port = port or given_port
    netloc = f"{host}:{port}" if port else host
    path = encode_path(parts.path.rstrip("/"))
    for suffix in (POST_PATH, GET_PATH):  # an endpoint pasted with the path
        if path.endswith(suffix):
            path = path.removesuffix(suffix).rstrip("/")
            break
    path += POST_PATH if method == "post" else GET_PATH
    auth = None
    if parts.username is not None:
        auth = (unquote(parts.username), unquote(parts.password or ""))
    url = urlunsplit((parts.scheme, netloc, path, "", ""))
    shown = urlunsplit(
        (parts.scheme, f"***@{netloc}" if auth else netloc, path, "", "")
    )
    return CollectorUrl(url, auth, shown)
