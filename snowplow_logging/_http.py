"""A minimal HTTP/1.1 keep-alive client for the emitter's own connection.

An emitter that owns its session and reaches the collector without a proxy
sends over one :class:`KeepAliveConnection`: the request head is formatted once
per request from precomputed bytes, written with one ``sendall`` and the answer
parsed just enough to take the status, ``Retry-After`` and whether the
connection stays open. That is what makes a GET per event cheap: ``http.client``
and ``urllib3`` spend about 300 µs of CPU per request on work this path does not
need (header objects, ``email`` parsing, pool bookkeeping).

What it handles: plain and TLS connections (verified, SNI), ``Content-Length``,
chunked and read-to-close bodies (read and discarded), ``1xx`` interim answers,
``Connection: close`` and HTTP/1.0 answers, idle connections the server closed
(detected before reuse), and a timeout on connect and on every read. Anything
else (proxies, a user's session, custom adapters) goes through ``requests``.
"""

from __future__ import annotations

import select
import socket
import ssl
from typing import Final

from snowplow_logging._exceptions import SnowplowLoggingError

__all__ = ["HttpError", "KeepAliveConnection"]

_MAX_HEAD: Final = 65_536  # bytes of status line and headers we accept
_CHUNK: Final = 65_536


class HttpError(SnowplowLoggingError, OSError):
    """The connection failed or the server's answer is not HTTP/1.x."""


class KeepAliveConnection:
    """One connection to one ``host:port``, reopened when needed.

    Used by one thread at a time (the emitter's worker).

    Args:
        host: the host name or IP address to connect to (no brackets).
        port: the TCP port.
        tls: the client TLS context for https, or ``None`` for plain http.
        timeout: seconds for the connect and for each read.
    """

    def __init__(
        self, host: str, port: int, *, tls: ssl.SSLContext | None, timeout: float
    ) -> None:
        self._address = (host, port)
        self._tls = tls
        self._timeout = timeout
        self._sock: socket.socket | None = None
        self._poll: select.poll | None = None
        self._buffer = bytearray()

    def request(self, head: bytes, body: bytes | None = None) -> tuple[int, str | None]:
        """Send one request; read the whole answer.

        ``head`` is the request line and headers, ending in a blank line. Returns
        the status and the ``Retry-After`` header.

        Raises:
            HttpError: no complete HTTP answer arrived; the connection is closed.
        """
        try:
            sock = self._sock
            if sock is None or self._dropped(sock):
                sock = self._connect()
            sock.sendall(head + body if body else head)
            return self._read_reply(sock)
        except HttpError:
            self.close()
            raise
        except (OSError, ValueError) as exc:
            self.close()
            msg = f"{type(exc).__name__}: {exc}"
            raise HttpError(msg) from exc

    def close(self) -> None:
        """Close the socket, if open. The next request reconnects."""
        sock, self._sock, self._poll = self._sock, None, None
        self._buffer.clear()
        if sock is not None:
            sock.close()

    def __del__(self) -> None:
        # An emitter dropped without close() (or one a forked child inherited)
        # lets its socket go quietly, as urllib3's pools do.
        sock = self._sock
        if sock is not None:
            sock.close()

    def _connect(self) -> socket.socket:
        self.close()
        sock = socket.create_connection(self._address, timeout=self._timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self._address[0])
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        if hasattr(select, "poll"):  # unlike select(), no limit on the fd number
            self._poll = select.poll()
            self._poll.register(sock, select.POLLIN)
        return sock

    def _dropped(self, sock: socket.socket) -> bool:
        """Whether the idle connection was closed by the server (or has stray data)."""
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        try:
            if self._poll is not None:
                return bool(self._poll.poll(0))
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def _read_reply(self, sock: socket.socket) -> tuple[int, str | None]:
        status, headers, version = self._read_head(sock)
        while 100 <= status < 200 and status != 101:  # noqa: PLR2004 - interim answers
            status, headers, version = self._read_head(sock)
        keep = _keeps_alive(version, headers.get(b"connection", b""))
        if status in {204, 304}:
            length: int | None = 0
        elif b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            self._skip_chunked(sock)
            length = 0
        elif b"content-length" in headers:
            length = _content_length(headers[b"content-length"])
        else:
            length, keep = None, False  # the body ends when the server closes
        if length is None:
            self._skip_to_close(sock)
        elif length:
            self._skip(sock, length)
        if not keep:
            self.close()
        retry_after = headers.get(b"retry-after")
        return status, None if retry_after is None else retry_after.decode("latin-1")

    def _fill(self, sock: socket.socket) -> None:
        data = sock.recv(_CHUNK)
        if not data:
            msg = "the server closed the connection before answering in full"
            raise HttpError(msg)
        self._buffer += data

    def _read_head(self, sock: socket.socket) -> tuple[int, dict[bytes, bytes], bytes]:
        buffer = self._buffer
        while (end := buffer.find(b"\r\n\r\n")) < 0 and len(buffer) <= _MAX_HEAD:
            self._fill(sock)
        if not 0 <= end <= _MAX_HEAD:
            msg = f"the answer's headers exceed {_MAX_HEAD} bytes"
            raise HttpError(msg)
        lines = bytes(buffer[:end]).split(b"\r\n")
        del buffer[: end + 4]
        version, _, rest = lines[0].partition(b" ")
        code = rest[:3]
        if not version.startswith(b"HTTP/1.") or len(code) != 3 or not code.isdigit():  # noqa: PLR2004
            msg = f"not an HTTP/1.x status line: {lines[0][:80]!r}"
            raise HttpError(msg)
        headers: dict[bytes, bytes] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if colon:
                headers[name.strip().lower()] = value.strip()
        return int(code), headers, version

    def _skip(self, sock: socket.socket, length: int) -> None:
        buffer = self._buffer
        while len(buffer) < length:
            self._fill(sock)
        del buffer[:length]

    def _line(self, sock: socket.socket, what: str) -> bytes:
        """Read and consume one CRLF-ended line (without the CRLF)."""
        buffer = self._buffer
        while (end := buffer.find(b"\r\n")) < 0:
            if len(buffer) > _MAX_HEAD:
                msg = f"{what} is too long"
                raise HttpError(msg)
            self._fill(sock)
        line = bytes(buffer[:end])
        del buffer[: end + 2]
        return line

    def _skip_chunked(self, sock: socket.socket) -> None:
        while True:
            size_text = self._line(sock, "a chunk size line").partition(b";")[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                msg = f"not a chunk size: {size_text[:20]!r}"
                raise HttpError(msg) from None
            if size == 0:
                break
            self._skip(sock, size + 2)  # the chunk and its CRLF
        while self._line(sock, "a trailer line"):  # trailers, up to the blank line
            pass

    def _skip_to_close(self, sock: socket.socket) -> None:
        self._buffer.clear()
        while sock.recv(_CHUNK):
            pass


def _keeps_alive(version: bytes, connection: bytes) -> bool:
    tokens = {token.strip() for token in connection.lower().split(b",")}
    if b"close" in tokens:
        return False
    return version != b"HTTP/1.0" or b"keep-alive" in tokens


def _content_length(value: bytes) -> int:
    first = value.split(b",")[0].strip()
    if not first.isdigit():
        msg = f"not a Content-Length: {value[:20]!r}"
        raise HttpError(msg)
    return int(first)
