"""A fault-injecting Snowplow collector for the reliability scenarios.

A :class:`FaultCollector` is a policy over :class:`tests.collector.Collector`
(real HTTP/1.1 on 127.0.0.1, a free port, served by a thread). Every request is
read whole and validated, then a :data:`Plan` decides what happens to it
(:class:`Fault`): an answer with a status and headers, a connection reset, a
close without an answer after the events were recorded (*accept then drop*: the
client sees an error, retries, and the collector gets duplicates), or an answer
slower than the client's timeout (recorded, then too late: duplicates again).
The collector may also start *bound but not listening*, so connections are
refused until :meth:`FaultCollector.listen`.

Each event is recorded once per copy received by its ``eid``: :meth:`tally`
gives the unique events delivered and the duplicates. Tests wait on the
collector's condition variable, never by sleeping.
"""

from __future__ import annotations

import random
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self, TypeAlias
from urllib.parse import parse_qsl

from tests.collector import Collector, Kind, Reply, Request, check_post_body

TLS_CERT = Path(__file__).parent / "tls" / "cert.pem"
"""A self-signed certificate for 127.0.0.1 and localhost, valid until 2126."""
TLS_KEY = Path(__file__).parent / "tls" / "key.pem"
"""Its private key: a test fixture, protecting nothing."""


def tls_context() -> ssl.SSLContext:
    """A server context presenting :data:`TLS_CERT`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(TLS_CERT, TLS_KEY)
    return context


__all__ = [
    "OK",
    "TLS_CERT",
    "TLS_KEY",
    "Fault",
    "FaultCollector",
    "Kind",
    "Outage",
    "Plan",
    "Tally",
    "always",
    "random_faults",
    "tls_context",
    "wait_until",
]

Fault: TypeAlias = Reply
"""One decision of a plan: a :class:`tests.collector.Reply` (kind, status,
headers, delay), always given by keyword here."""

OK = Fault()
_UNAVAILABLE = Fault(status=503)
Plan: TypeAlias = Callable[["FaultCollector", list[dict[str, str]]], Fault]
"""``plan(collector, events)``: the fault for a request carrying ``events``;
called on the connection's thread, under no lock."""


def always(fault: Fault) -> Plan:
    """A plan answering every request with ``fault``."""
    return lambda collector, events: fault


def random_faults(fraction: float, faults: Sequence[Fault], *, seed: int = 8) -> Plan:
    """A plan failing ``fraction`` of requests with one of ``faults`` at random."""
    rng = random.Random(seed)
    lock = threading.Lock()

    def plan(collector: FaultCollector, events: list[dict[str, str]]) -> Fault:
        with lock:
            return rng.choice(faults) if rng.random() < fraction else OK

    return plan


class Outage:
    """A plan that answers ``fault`` for ``seconds`` once ``after`` events arrived.

    The outage starts with the first request after ``after`` unique events were
    recorded and ends when the collector's own clock says ``seconds`` have
    passed: the run is driven by the collector's state, not by the test sleeping.
    ``after=0`` fails the first ``seconds`` from the first request.
    """

    def __init__(
        self, *, after: int, seconds: float, fault: Fault = _UNAVAILABLE
    ) -> None:
        self.after, self.seconds, self.fault = after, seconds, fault
        self.started: float | None = None
        self.ended = threading.Event()
        self._lock = threading.Lock()

    def __call__(
        self, collector: FaultCollector, events: list[dict[str, str]]
    ) -> Fault:
        with self._lock:
            now = time.monotonic()
            if self.started is None and collector.unique >= self.after:
                self.started = now
            if self.started is None or self.ended.is_set():
                return OK
            if now - self.started >= self.seconds:
                self.ended.set()
                return OK
            return self.fault


@dataclass(frozen=True, slots=True)
class Tally:
    """What the collector received: events by unique ``eid`` and extra copies."""

    requests: int
    refused: int  # requests answered with a non-2xx, reset or dropped unanswered
    delivered: int  # unique eids recorded
    duplicates: int  # copies beyond the first
    unanswered_copies: int  # events recorded from requests the client saw fail


class FaultCollector:
    """A collector that fails on purpose and counts what it received.

    The :class:`~tests.collector.Collector` it runs (:attr:`server`) does the
    HTTP, the faults, TLS and the late listening; this class validates each
    body, asks the plan and keeps the tally by ``eid``.

    Args:
        plan: decides the fault for each request; :data:`OK` answers 200.
        listening: start listening at once; otherwise the port is bound but
            connections are refused until :meth:`listen`.
        tls: serve HTTPS with this server-side context (see :func:`tls_context`).
    """

    def __init__(
        self,
        plan: Plan | None = None,
        *,
        listening: bool = True,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.plan = always(OK) if plan is None else plan
        self._cond = threading.Condition()
        self._copies: Counter[str] = Counter()
        self._requests = self._refused = self._unanswered = 0
        self.server = Collector(
            policy=self,
            listening=listening,
            tls=tls,
            timeout=None,
            keep_requests=False,
        )
        self.port = self.server.port
        self.url = self.server.url
        self.stopping = self.server.stopping

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def listen(self) -> None:
        """Start accepting connections (a no-op when already listening)."""
        self.server.listen()

    def events(self, request: Request) -> list[dict[str, str]]:
        """The events of ``request``, a POST body checked against the schema."""
        if request.method == "POST":
            return check_post_body(request.body)
        return [dict(parse_qsl(request.query, keep_blank_values=True))]

    def reply(self, events: list[dict[str, str]]) -> Fault:
        """The plan's fault for a request carrying ``events``, counted."""
        fault = self.plan(self, events)
        self.count_request(fault)
        return fault

    def count_request(self, fault: Fault) -> None:
        """Count one request and whether the client will see it fail."""
        failed = not fault.ok
        with self._cond:
            self._requests += 1
            self._refused += failed
            self._cond.notify_all()

    def record(self, events: list[dict[str, str]], *, answered: bool = True) -> None:
        """Keep the events the collector accepted (a pipeline would store them).

        ``answered=False``: the client will not see the answer, so it resends.
        """
        with self._cond:
            self._unanswered += 0 if answered else len(events)
            self._copies.update(event["eid"] for event in events)
            self._cond.notify_all()

    @property
    def unique(self) -> int:
        """Unique events recorded so far."""
        with self._cond:
            return len(self._copies)

    def eids(self) -> set[str]:
        """The ids of every event recorded."""
        with self._cond:
            return set(self._copies)

    def tally(self) -> Tally:
        """Requests, failed requests, unique events and duplicates so far."""
        with self._cond:
            return Tally(
                requests=self._requests,
                refused=self._refused,
                delivered=len(self._copies),
                duplicates=sum(self._copies.values()) - len(self._copies),
                unanswered_copies=self._unanswered,
            )

    def wait_for(
        self, *, unique: int = 0, requests: int = 0, timeout: float = 30.0
    ) -> bool:
        """Wait until ``unique`` events and ``requests`` requests have arrived."""
        with self._cond:
            return self._cond.wait_for(
                lambda: len(self._copies) >= unique and self._requests >= requests,
                timeout,
            )

    def close(self) -> None:
        """Stop serving; slow answers in progress return at once."""
        self.server.close()


def wait_until(predicate: Callable[[], bool], *, timeout: float = 30.0) -> bool:
    """Poll ``predicate`` (a counter, never a clock) until true or ``timeout``."""
    deadline = time.monotonic() + timeout
    wake = threading.Event()
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        wake.wait(0.005)
    return True
