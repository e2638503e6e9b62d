"""Deliver what is queued where a process ends without ``atexit``: opt-in helpers.

At interpreter exit the library closes every emitter within one deadline
(:func:`~snowplow_logging.set_exit_timeout`), and it does the same on its
own when a ``multiprocessing`` child, a ``multiprocessing.Pool`` worker
stopped by ``terminate()`` or a Celery prefork child ends. Some endings skip
``atexit`` in ways only the application can know about:

* a SIGTERM at its default action kills the process at once:
  :func:`install_sigterm_handler` closes first, then lets the signal end the
  process as before;
* uvicorn (and servers like it) replaces the SIGTERM handler while it runs,
  shuts down gracefully, then raises SIGTERM again at the default action:
  wrap the ASGI application in :class:`SnowplowLifespan`, which closes at the
  end of the lifespan shutdown;
* code that leaves through ``os._exit`` (or an ``exec``): call
  :func:`close_all` just before.

Each closes every live emitter at once, all draining in parallel, within the
exit deadline unless given a ``timeout``; what cannot be sent in time is
counted in ``stats["dropped_unsent"]`` and reported once per emitter on the
``snowplow_logging`` logger.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from types import FrameType
from typing import Any

from snowplow_logging._checks import check_seconds
from snowplow_logging._delivery import exit as _exit
from snowplow_logging._exceptions import ConfigurationError, ConfigurationTypeError

__all__ = ["SnowplowLifespan", "close_all", "install_sigterm_handler"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_SignalHandler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


def _timeout(timeout: object) -> float | None:
    return None if timeout is None else check_seconds("timeout", timeout)


def close_all(timeout: float | None = None) -> bool:
    """Close every live emitter now, all in parallel, within one deadline.

    For the endings that skip ``atexit``: before ``os._exit`` or ``exec``, or
    in a shutdown hook of your own. Events tracked afterwards are dropped,
    counted in ``stats["dropped_closed"]`` and reported once.

    Args:
        timeout: seconds to wait at most; ``None`` (the default) uses the
            exit timeout (:func:`~snowplow_logging.set_exit_timeout`).

    Returns:
        True if every emitter delivered (or failed for good) all it held in time.

    Raises:
        ConfigurationError: ``timeout`` is negative or not finite.
    """
    return _exit.close_all(_timeout(timeout))


class _SigtermHandler:
    """Close (or flush) every emitter, then do what the previous handler did."""

    def __init__(self, previous: _SignalHandler, timeout: float | None) -> None:
        self.previous = previous
        self.timeout = timeout
        self._running = False

    @property
    def ends_process(self) -> bool:
        """Whether the previous action ends the process (so close, not flush)."""
        return self.previous is signal.SIG_DFL or self.previous is None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self._running:  # a second SIGTERM during the close: stop waiting
            self._chain(signum, frame)
            return
        if _exit.defer_while_closing(lambda: self._chain(signum, frame)):
            return  # the exit close is running: chain once it is done
        self._running = True
        try:
            _exit.close_from_signal(self.timeout, final=self.ends_process)
        finally:
            self._running = False
        self._chain(signum, frame)

    def _chain(self, signum: int, frame: FrameType | None) -> None:
        previous = self.previous
        if previous is signal.SIG_IGN:
            return
        if callable(previous):
            previous(signum, frame)
            return
        signal.signal(signum, signal.SIG_DFL)  # SIG_DFL, or a handler set from C
        signal.raise_signal(signum)


def install_sigterm_handler(timeout: float | None = None) -> None:
    """Deliver what is queued when SIGTERM arrives, then do what it did before.

    The handler closes every emitter within ``timeout`` (on a helper thread,
    so that it cannot deadlock on a lock the interrupted code holds), then
    chains to the handler it replaced:

    * the default action (``SIG_DFL``): restored, and the signal raised again,
      so the process still ends "killed by SIGTERM";
    * a Python function: called with the signal, after the emitters were only
      flushed (they stay open, as the process may go on);
    * ``SIG_IGN``: still ignored, after the flush.

    A second SIGTERM during the close chains at once. Call it from the main
    thread at start-up, before a server that installs its own handler starts:
    that server then chains to this one (uvicorn under ``uvicorn.run()``
    raises SIGTERM again once it has shut down). With the ``uvicorn`` command,
    which loads the application after installing its own handler, use
    :class:`SnowplowLifespan` instead. Calling it again only updates
    ``timeout``.

    Like every Python signal handler it runs on the main thread, between two
    bytecodes: a main thread blocked in C code runs it when that call returns.

    Args:
        timeout: seconds the close may take; ``None`` (the default) uses the
            exit timeout (:func:`~snowplow_logging.set_exit_timeout`) at the
            time of the signal.

    Raises:
        ConfigurationError: called from a thread other than the main thread
            (signal handlers can only be installed there), or ``timeout`` is
            negative or not finite.
    """
    wait = _timeout(timeout)
    if threading.current_thread() is not threading.main_thread():
        msg = (
            "install_sigterm_handler() must be called from the main thread: Python "
            "installs signal handlers only there. Call it at start-up."
        )
        raise ConfigurationError(msg)
    current = signal.getsignal(signal.SIGTERM)
    if isinstance(current, _SigtermHandler):
        current.timeout = wait
        return
    handler = _SigtermHandler(current, wait)
    if handler.ends_process:
        _exit.note_ending_handler(handler)
    signal.signal(signal.SIGTERM, handler)


def _check_app(app: object) -> ASGIApp:
    if not callable(app):
        msg = f"'app' must be an ASGI application (got {app!r})."
        raise ConfigurationTypeError(msg)
    return app


class SnowplowLifespan:
    """ASGI middleware: close every emitter when the lifespan shuts down.

    Wrap the application you hand to the server::

        app = SnowplowLifespan(FastAPI())

    Every scope passes through untouched. When the application reports the end
    of its lifespan shutdown (``lifespan.shutdown.complete`` or ``.failed``,
    or it returns or raises after the server asked it to shut down), every
    emitter is closed within ``timeout``, on a worker thread so that the
    event loop keeps serving, and only then is the report passed on to the
    server. By then the server has finished its requests and the application
    its shutdown handlers, so their events go too. Events tracked later (the
    server's own last lines, if they reach a Snowplow handler) are dropped
    and reported once. Needs an asyncio server (uvicorn, hypercorn's asyncio
    worker, daphne) and an application that supports the lifespan protocol
    (Starlette and FastAPI do).

    Args:
        app: the ASGI application.
        timeout: seconds the close may take; ``None`` (the default) uses the
            exit timeout (:func:`~snowplow_logging.set_exit_timeout`).

    Raises:
        ConfigurationTypeError: ``app`` is not callable.
        ConfigurationError: ``timeout`` is negative or not finite.
    """

    def __init__(self, app: ASGIApp, *, timeout: float | None = None) -> None:
        self.app = _check_app(app)
        self.timeout = _timeout(timeout)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass ``scope`` on; for ``lifespan``, close every emitter at its end."""
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        state = {"shutdown": False, "closed": False}

        async def receive_lifespan() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                state["shutdown"] = True
            return message

        async def send_lifespan(message: Message) -> None:
            if (
                message["type"]
                in {
                    "lifespan.shutdown.complete",
                    "lifespan.shutdown.failed",
                }
                and not state["closed"]
            ):
                state["closed"] = True
                await self._close()
            await send(message)

        try:
            await self.app(scope, receive_lifespan, send_lifespan)
        finally:
            if state["shutdown"] and not state["closed"]:
                state["closed"] = True
                await self._close()

    async def _close(self) -> None:
        import asyncio  # noqa: PLC0415 - only under an ASGI server

        await asyncio.get_running_loop().run_in_executor(
            None, _exit.close_all, self.timeout
        )
