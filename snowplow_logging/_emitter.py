"""The HTTP emitter: the delivery engine holding an HTTP sink.

:class:`Emitter` checks its settings, then is an
:class:`~snowplow_logging._delivery.engine.Engine` (queue, worker thread,
flush, close, exit deadline, fork) with an
:class:`~snowplow_logging._delivery.http.HttpSink` to one collector.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, cast

from snowplow_logging import _environment as env
from snowplow_logging._checks import check_count, check_flag, check_seconds
from snowplow_logging._delivery.engine import Engine, Settings
from snowplow_logging._delivery.exit import set_exit_timeout
from snowplow_logging._delivery.http import HttpItem, HttpSink
from snowplow_logging._delivery.url import collector_url
from snowplow_logging._delivery.worker import FailureCallback, SuccessCallback
from snowplow_logging._emitters import peek
from snowplow_logging._exceptions import ConfigurationError, ConfigurationTypeError
from snowplow_logging._retry import Retry, check_retry

if TYPE_CHECKING:
    import requests

    from snowplow_logging._delivery.sink import Queued

__all__ = ["Emitter", "check_method", "sending_disabled", "set_exit_timeout"]

_NOWHERE: Final = "http://127.0.0.1"
"""Where a disabled emitter without an endpoint would send: nothing is sent."""
_DEFAULTS: Final = {
    "batch_size": 500,
    "byte_limit": 40_000,
    "max_queue": 10_000,
    "flush_interval": 1.0,
    "timeout": 5.0,
}


def check_method(value: object, name: str = "method") -> str:
    """``'post'`` or ``'get'`` from ``value`` in any case, or raise."""
    text = value.strip().lower() if isinstance(value, str) else None
    if text not in {"post", "get"}:
        msg = f"'{name}' must be 'post' or 'get' (got {value!r})."
        raise ConfigurationError(msg)
    return text


def _count(name: str, given: int | None) -> int:
    setting = env.read(name, given)
    if setting.value is None:
        return int(_DEFAULTS[name])
    return check_count(setting.name, setting.value)


def _seconds(name: str, given: float | None) -> float:
    setting = env.read(name, given)
    if setting.value is None:
        return float(_DEFAULTS[name])
    return check_seconds(setting.name, setting.value, positive=True)


def sending_disabled(given: object) -> bool:
    """Whether sending is switched off: ``given``, else ``SNOWPLOW_DISABLED``."""
    setting = env.read("disabled", given)
    return setting.value is not None and check_flag(setting.name, setting.value)


def _check_options(
    retry: object,
    on_success: object,
    on_failure: object,
    session: object,
    headers: object,
) -> Retry:
    for name, value in (("on_success", on_success), ("on_failure", on_failure)):
        if value is not None and not callable(value):
            raise ConfigurationTypeError(
                f"'{name}' must be callable or None (got {value!r})."
            )
    if session is not None:
        import requests  # noqa: PLC0415 - only to check a session given to us

        if not isinstance(session, requests.Session):
            msg = f"'session' must be a requests.Session or None (got {session!r})."
            raise ConfigurationTypeError(msg)
    if headers is not None:
        # Header values may be credentials: name the offending key and the type,
        # never a value (issue #8).
        if not isinstance(headers, Mapping):
            msg = f"'headers' must be a mapping of str to str or None (got {type(headers).__name__})."
            raise ConfigurationTypeError(msg)
        for key, value in headers.items():
            if not isinstance(key, str) or not isinstance(value, str):
                shown = (
                    repr(key) if isinstance(key, str) else f"a {type(key).__name__} key"
                )
                msg = (
                    "'headers' must be a mapping of str to str or None "
                    f"(got {type(value).__name__} for {shown})."
                )
                raise ConfigurationTypeError(msg)
    return check_retry(retry)


class Emitter(Engine[HttpItem]):
    """Sends payloads to a Snowplow collector in the background.

    ``input()`` never blocks on the network and never raises: it appends to a
    queue holding at most ``max_queue`` events (waiting or being sent); when it
    is full, new events are dropped and counted (``dropped_queue_full``). A
    daemon thread named ``snowplow_logging.Emitter-N``, started by the first
    event, sends when a POST body is full (``batch_size`` events or
    ``byte_limit`` bytes), every ``flush_interval`` seconds, on :meth:`flush`
    and on :meth:`close`; with GET, each event as it comes.

    Emitters still open at interpreter exit are closed within one shared
    deadline (:func:`set_exit_timeout`). After ``os.fork()`` the child's emitter
    starts empty, with its own thread and connections; the parent sends what it
    had queued.

    Every setting left out (``None``) is read from the environment, where the
    variable is set and not empty, else has the default shown:
    ``SNOWPLOW_ENDPOINT``, ``SNOWPLOW_METHOD``, ``SNOWPLOW_BATCH_SIZE``,
    ``SNOWPLOW_BYTE_LIMIT``, ``SNOWPLOW_FLUSH_INTERVAL``, ``SNOWPLOW_MAX_QUEUE``,
    ``SNOWPLOW_TIMEOUT`` and ``SNOWPLOW_DISABLED``. Numbers and bools may be
    given as strings (``"500"``, ``"1.5"``, ``"true"``), as configuration
    files and variables give them.

    Args:
        endpoint: the collector host, ``host:port`` or URL (https by default).
            A path prefix is kept; the collector's own path is added for the
            method, so it must not be part of the endpoint.
        method: ``"post"`` (batches, the default) or ``"get"`` (one event per
            request).
        protocol: ``"http"`` or ``"https"`` for an endpoint without a scheme.
        port: the collector port, if not the scheme's default.
        batch_size: most events in one POST (500).
        byte_limit: most encoded bytes in one POST body (40,000); a larger
            event goes alone.
        flush_interval: seconds between timed sends of whatever is queued (1.0).
        max_queue: most events held, waiting or in flight (10,000); newer
            ones are dropped.
        timeout: connect and read timeout of each request, in seconds (5.0).
        retry: the retry policy, or its fields as a mapping
            (``{"max_attempts": 5}``); ``Retry.disabled()`` turns retry off.
        on_success: ``on_success(payloads)``, run on the worker thread.
        on_failure: ``on_failure(sent_count, failed_payloads)``, run on the
            worker thread when events fail for good.
        session: a ``requests.Session`` to send through (its adapters, auth,
            proxies and TLS settings); it is not closed by :meth:`close`.
            Without one the emitter keeps its own keep-alive session.
        headers: extra HTTP headers for every request.
        disabled: send nothing: every event is counted in ``stats["disabled"]``
            and dropped, no thread starts and nothing touches the network (for
            tests and local runs). Without an endpoint, none is needed.

    Raises:
        ConfigurationError: a setting has a value that cannot work.
        ConfigurationTypeError: a setting has the wrong type.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        method: str | None = None,
        protocol: str | None = None,
        port: int | None = None,
        batch_size: int | None = None,
        byte_limit: int | None = None,
        flush_interval: float | None = None,
        max_queue: int | None = None,
        timeout: float | None = None,
        retry: Retry | Mapping[str, object] | None = None,
        on_success: SuccessCallback | None = None,
        on_failure: FailureCallback | None = None,
        session: requests.Session | None = None,
        headers: Mapping[str, str] | None = None,
        disabled: bool | None = None,
    ) -> None:
        given_method = env.read("method", method)
        self.method = check_method(given_method.value or "post", given_method.name)
        self.disabled = sending_disabled(disabled)
        given = env.read("endpoint", endpoint)
        if given.value is None and not self.disabled:
            msg = (
                "'endpoint' (the collector URL) is required: give it, or set "
                f"{env.VARIABLES['endpoint']} (got neither)."
            )
            raise ConfigurationError(msg)
        url, auth, display = collector_url(
            # collector_url checks the type, naming the setting.
            cast("str", _NOWHERE if given.value is None else given.value),
            method=self.method,
            protocol=protocol,
            port=port,
            name=given.name,
        )
        batch_size = _count("batch_size", batch_size)
        byte_limit = _count("byte_limit", byte_limit)
        max_queue = _count("max_queue", max_queue)
        interval = _seconds("flush_interval", flush_interval)
        timeout = _seconds("timeout", timeout)
        policy = _check_options(retry, on_success, on_failure, session, headers)
        # requests (a third of the package's import time) loads with the first
        # emitter, not with ``import snowplow_logging``.
        from snowplow_logging._delivery.transport import RequestsTransport  # noqa: PLC0415

        transport = RequestsTransport(
            url,
            method=self.method,
            session=session,
            headers=headers,
            auth=auth,
            timeout=timeout,
        )
        sink = HttpSink(
            transport,
            display=display,
            method=self.method,
            batch_size=min(batch_size, max_queue),  # wakes before full
            byte_limit=byte_limit,
            retry=policy,
        )
        super().__init__(
            sink,
            name="Emitter",
            settings=Settings(max_queue, interval, policy),
            on_success=on_success,
            on_failure=on_failure,
        )
        if self.disabled:
            display = (
                f"{'' if given.value is None else display + ' '}(sending disabled)"
            )
        self._display = display
        self._disabled = itertools.count()
        if self.disabled:
            # Instance attributes shadow the engine's methods: the tracker
            # takes ``defer`` when it is built, so an enabled emitter pays
            # nothing for the switch.
            vars(self).update(put=self._drop, input=self._drop, defer=self._drop)

    def _drop(self, item: Queued) -> None:
        """Count an event that is not sent because sending is disabled."""
        next(self._disabled)

    @property
    def stats(self) -> dict[str, int]:
        """The engine's counters, and ``disabled``: events not sent on purpose.

        ``inputs == sent + failed + dropped + queued`` counts what reached the
        engine; with sending disabled nothing does, and every event given to
        the emitter is counted in ``disabled`` alone.
        """
        stats = super().stats
        stats["disabled"] = peek(self._disabled)
        return stats

    def __repr__(self) -> str:
        buffer = self._buffer  # no lock: a repr must never block
        return (
            f"<Emitter {self.method.upper()} {self._display} "
            f"queued={len(buffer.queue) + buffer.in_flight} closed={buffer.closed}>"
        )
