"""End-to-end emitter throughput: ours against the official ``snowplow-tracker``.

One run, one local sink: a raw-socket asyncio HTTP server in a subprocess that
parses just enough HTTP, counts events (``"eid"`` in POST bodies, one per GET)
and answers ``200`` with keep-alive. Each contender sends copies of the same
payload, as our ``Tracker`` builds it (a structured event, then the same with an
entity); the clock runs from the first ``input()`` until the sink has counted
every event. Contenders take turns in every round and the median is reported.

Contenders: our ``Emitter`` (POST and GET), the official ``AsyncEmitter`` (POST,
``batch_size=100``) and its synchronous ``Emitter`` (GET), both with their
default session-less ``requests`` calls, plus same-run floors: minimal loops
sending 100-event POSTs or single GETs over one ``requests.Session`` and over
bare ``urllib3``. Every request of ours goes through ``requests`` too
(``snowplow_logging/_delivery/transport.py``): over the ``requests.Session`` the
emitter owns here, keep-alive, with what ``Session.request`` redoes on every
call (merging headers, auth and the environment's settings) done once: each
request is a copy of one prepared request, below the ``requests.Session``
floor's cost per request. The targets: POST 2x the official ``AsyncEmitter``'s
events/s, GET 3x the official ``Emitter``'s. The official tracker logs INFO
lines per request to a root handler it installs at import; its loggers are set
to WARNING here so that stderr is not what is measured.

Run: ``python benchmarks/bench_emitter.py`` (needs the ``bench`` group:
``pip install snowplow-tracker==1.1.0``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import IO, TypeAlias, cast
from urllib.parse import urlencode

import requests
import urllib3

from snowplow_logging import Emitter, SelfDescribingJson, StructuredEvent, Tracker
from snowplow_logging.testing import CapturingEmitter

POST_PATH = "/com.snowplowanalytics.snowplow/tp2"
HEADERS = {"Content-Type": "application/json; charset=utf-8"}
SCHEMA = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
Run: TypeAlias = Callable[["Sink", dict[str, str], int], None]
"""Send ``count`` copies of a payload to the sink."""


# --- the sink (runs in its own process) ----------------------------------------


class _SinkProtocol(asyncio.Protocol):
    count = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end]).lower()
            start = head.find(b"content-length:")
            length = 0
            if start >= 0:
                stop = head.find(b"\r\n", start)
                length = int(head[start + 15 : stop if stop >= 0 else None])
            total = end + 4 + length
            if len(buffer) < total:
                return
            body = bytes(buffer[end + 4 : total])
            del buffer[:total]
            if head.startswith(b"get /count"):
                text = str(_SinkProtocol.count).encode()
                self.transport.write(
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(text), text)
                )
                continue
            posted = head.startswith(b"post")
            _SinkProtocol.count += body.count(b'"eid"') if posted else 1
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_SinkProtocol, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


class Sink:
    """The sink subprocess and its event counter."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, __file__, "--sink"], stdout=subprocess.PIPE, text=True
        )
        self.port = int(cast("IO[str]", self._process.stdout).readline())
        self.url = f"http://127.0.0.1:{self.port}"

    def count(self) -> int:
        with urllib.request.urlopen(f"{self.url}/count") as response:  # noqa: S310
            return int(response.read())

    def wait_for(self, target: int, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while self.count() < target:
            if time.monotonic() > deadline:
                msg = f"sink saw {self.count()} of {target} events"
                raise RuntimeError(msg)
            time.sleep(0.002)

    def close(self) -> None:
        self._process.kill()
        self._process.wait()


# --- contenders ----------------------------------------------------------------


def sample_payload(*, entity: bool) -> dict[str, str]:
    """One payload as our Tracker builds it: a structured event, maybe an entity."""
    capture = CapturingEmitter()
    tracker = Tracker(emitters=capture, app_id="bench-app", namespace="bench")
    application = SelfDescribingJson(
        schema="iglu:com.snowplowanalytics.snowplow/application/jsonschema/1-0-0",
        data={"version": "2.3.1"},
    )
    tracker.track(
        StructuredEvent(
            category="checkout",
            action="paid",
            label="order-12345",
            value=19.99,
            context=[application] if entity else [],
        )
    )
    return capture.payloads[0]


def ours(method: str) -> Run:
    def run(sink: Sink, payload: dict[str, str], count: int) -> None:
        emitter = Emitter(sink.url, method=method, max_queue=count)
        for _ in range(count):
            emitter.input(dict(payload))
        if not emitter.flush(timeout=300):
            raise RuntimeError("flush timed out")
        emitter.close()

    return run


def official_async_post(sink: Sink, payload: dict[str, str], count: int) -> None:
    from snowplow_tracker.emitters import AsyncEmitter

    emitter = AsyncEmitter(
        "127.0.0.1", protocol="http", port=sink.port, method="post", batch_size=100
    )
    for _ in range(count):
        emitter.input(dict(payload))
    emitter.sync_flush()


def official_get(sink: Sink, payload: dict[str, str], count: int) -> None:
    from snowplow_tracker.emitters import Emitter as OfficialEmitter

    emitter = OfficialEmitter(
        "127.0.0.1", protocol="http", port=sink.port, method="get"
    )
    for _ in range(count):
        emitter.input(dict(payload))
    emitter.flush()


def _stamped(payload: dict[str, str]) -> dict[str, str]:
    return {**payload, "stm": str(time.time_ns() // 1_000_000)}


def floor_session_post(sink: Sink, payload: dict[str, str], count: int) -> None:
    session, url = requests.Session(), f"{sink.url}{POST_PATH}"
    for start in range(0, count, 100):
        data = [_stamped(payload) for _ in range(min(100, count - start))]
        body = json.dumps({"schema": SCHEMA, "data": data}, separators=(",", ":"))
        session.post(url, data=body.encode(), headers=HEADERS, timeout=5)


def floor_urllib3_post(sink: Sink, payload: dict[str, str], count: int) -> None:
    pool, url = urllib3.PoolManager(), f"{sink.url}{POST_PATH}"
    for start in range(0, count, 100):
        data = [_stamped(payload) for _ in range(min(100, count - start))]
        body = json.dumps({"schema": SCHEMA, "data": data}, separators=(",", ":"))
        pool.request("POST", url, body=body.encode(), headers=HEADERS, timeout=5)


def floor_session_get(sink: Sink, payload: dict[str, str], count: int) -> None:
    session, url = requests.Session(), f"{sink.url}/i"
    for _ in range(count):
        session.get(url, params=_stamped(payload), timeout=5)


def floor_urllib3_get(sink: Sink, payload: dict[str, str], count: int) -> None:
    pool, url = urllib3.PoolManager(), f"{sink.url}/i?"
    for _ in range(count):
        pool.request("GET", url + urlencode(_stamped(payload)), timeout=5)


def compare(
    sink: Sink,
    title: str,
    contenders: list[tuple[str, Run]],
    *,
    payload: dict[str, str],
    count: int,
    repeat: int,
) -> float:
    """Print median events/s per contender; return the median ratio ours/official.

    Contenders run back to back in every round, and each ratio pairs the rates
    of one round, so that load from other processes hits both sides alike.
    """
    size = len(json.dumps(payload, separators=(",", ":")))
    print(f"\n{title}: {count:,} events of {size} bytes (JSON)", flush=True)
    rates: dict[str, list[float]] = {name: [] for name, _ in contenders}
    for _ in range(repeat):
        for name, run in contenders:
            target = sink.count() + count
            started = time.perf_counter()
            run(sink, payload, count)
            sink.wait_for(target)
            rates[name].append(count / (time.perf_counter() - started))
    official = rates[contenders[0][0]]
    for name, _ in contenders:
        ratios = [
            mine / theirs for mine, theirs in zip(rates[name], official, strict=True)
        ]
        print(
            f"  {name:<28} {statistics.median(rates[name]):>10,.0f} events/s"
            f"  {statistics.median(ratios):5.2f}x"
            f"  (rounds {min(ratios):.2f}-{max(ratios):.2f}x)"
        )
    ours = rates[contenders[1][0]]
    return statistics.median(a / b for a, b in zip(ours, official, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--post-events", type=int, default=50_000)
    parser.add_argument("--get-events", type=int, default=3_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--sink", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        asyncio.run(_serve())
        return
    import snowplow_tracker  # noqa: F401 - calls logging.basicConfig() at import

    for name in ("snowplow_tracker", "snowplow_tracker.emitters"):
        logging.getLogger(name).setLevel(logging.WARNING)
    print(f"{args.repeat} rounds; medians, and ratios to the first line per round")
    suites: list[tuple[str, int, float, list[tuple[str, Run]]]] = [
        (
            "POST",
            args.post_events,
            2.0,
            [
                ("official AsyncEmitter", official_async_post),
                ("snowplow_logging Emitter", ours("post")),
                ("floor: requests.Session", floor_session_post),
                ("floor: urllib3", floor_urllib3_post),
            ],
        ),
        (
            "GET",
            args.get_events,
            3.0,
            [
                ("official Emitter", official_get),
                ("snowplow_logging Emitter", ours("get")),
                ("floor: requests.Session", floor_session_get),
                ("floor: urllib3", floor_urllib3_get),
            ],
        ),
    ]
    results = []
    sink = Sink()
    try:
        for entity in (False, True):
            payload = sample_payload(entity=entity)
            label = "structured event" + (" + entity" if entity else "")
            for method, count, target, contenders in suites:
                title = f"{method}, {label}"
                ratio = compare(
                    sink,
                    title,
                    contenders,
                    payload=payload,
                    count=count,
                    repeat=args.repeat,
                )
                results.append((title, ratio, target))
    finally:
        sink.close()
    print("\ntargets")
    for name, ratio, target in results:
        verdict = "met" if ratio >= target else "NOT met"
        print(f"  {name:<32} {ratio:5.2f}x (target {target:.0f}x): {verdict}")


if __name__ == "__main__":
    main()
