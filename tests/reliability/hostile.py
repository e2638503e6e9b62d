"""Collectors that never let a client finish: the hostile servers of issue #14.

Each :class:`HostileServer` listens on 127.0.0.1 (a free port) and treats
every connection one way (:data:`BEHAVIOURS`): accept and never answer; a full
listen queue that is never accepted from; a 200 after 30 s; an answer one byte
every 0.3 s; ``100 Continue`` forever. Connection threads are daemons that end
when :meth:`HostileServer.close` is called.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Self

BEHAVIOURS = {
    "silent": "accepts and never answers",
    "backlog": "full backlog (listen queue full, never accepts)",
    "late-200": "200 after 30 s",
    "byte-drip": "one byte every 0.3 s",
    "continue": "`100 Continue` forever",
}
_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class HostileServer:
    """A server behaving as ``behaviour`` (a key of :data:`BEHAVIOURS`)."""

    def __init__(self, behaviour: str) -> None:
        assert behaviour in BEHAVIOURS, behaviour
        self.behaviour = behaviour
        self._stop = threading.Event()
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        if behaviour == "backlog":
            self.listener.listen(0)
            self._fill_backlog()
        else:
            self.listener.listen(64)
            threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _fill_backlog(self) -> None:
        """Connect until the kernel stops completing handshakes: the queue is full."""
        for _ in range(16):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                sock.connect(("127.0.0.1", self.port))
            self._held.append(sock)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                self._held.append(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _read_head(self, sock: socket.socket) -> None:
        """Read until the end of the request's head (the body is left unread)."""
        data = b""
        while b"\r\n\r\n" not in data and not self._stop.is_set():
            chunk = sock.recv(65536)
            if not chunk:
                return
            data += chunk

    def _serve(self, sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            if self.behaviour == "silent":
                self._stop.wait()
                return
            self._read_head(sock)
            if self.behaviour == "late-200":
                if not self._stop.wait(30.0):
                    sock.sendall(_OK)
            elif self.behaviour == "byte-drip":
                for byte in _OK:
                    if self._stop.wait(0.3):
                        return
                    sock.sendall(bytes([byte]))
            elif self.behaviour == "continue":
                while not self._stop.wait(0.05):
                    sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")

    def close(self) -> None:
        """Stop every connection thread and close every socket."""
        self._stop.set()
        self.listener.close()
        with self._lock:
            held, self._held = self._held, []
        for sock in held:
            sock.close()
