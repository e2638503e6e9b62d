"""How many events per second the local collector ingests and validates.

Builds a representative mix of events with our Tracker (page views, page pings,
structured events, screen views, self-describing application errors, ecommerce
transactions with items; one entity each, as an app would attach), encodes them
into POST bodies of 100 events up front, then sends the bodies over keep-alive
connections from a few client threads in a separate process (as an application
would; the GIL is not shared) and waits until the collector has stored every
event. Prints events/s.

Run: python benchmarks/bench_collector.py [--events 40000] [--clients 2]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import threading
import time

from snowplow_logging import (
    EcommerceTransaction,
    EcommerceTransactionItem,
    Event,
    PagePing,
    PageView,
    ScreenView,
    SelfDescribing,
    SelfDescribingJson,
    StructuredEvent,
    Subject,
    Tracker,
)
from snowplow_logging.micro import MicroCollector
from snowplow_logging.testing import CapturingEmitter

BATCH = 100
PATH = "/com.snowplowanalytics.snowplow/tp2"
APP = SelfDescribingJson(
    schema="iglu:com.snowplowanalytics.snowplow/application/jsonschema/1-0-0",
    data={"version": "2.3.1"},
)


def events(index: int) -> list[Event]:
    return [
        PageView(page_url=f"https://shop.test/p/{index}", page_title="Product"),
        PagePing(
            page_url="https://shop.test/", min_x=0, max_x=10, min_y=0, max_y=index
        ),
        StructuredEvent(category="shop", action="add", label="sku", value=index / 4),
        ScreenView(name=f"screen-{index}", type="feed"),
        SelfDescribing(
            event_json=SelfDescribingJson(
                schema="iglu:com.snowplowanalytics.snowplow/application_error/jsonschema/1-0-2",
                data={"programmingLanguage": "PYTHON", "message": f"failure {index}"},
            )
        ),
        EcommerceTransaction(
            order_id=f"A-{index}",
            total_value="30.00",
            currency="EUR",
            items=[EcommerceTransactionItem(sku="SKU-7", price="15.00", quantity=2)],
        ),
    ]


def bodies(count: int) -> list[bytes]:
    emitter = CapturingEmitter()
    tracker = Tracker(
        emitters=emitter,
        app_id="bench",
        namespace="bench",
        subject=Subject(user_id="user-1", timezone="Europe/Berlin"),
    )
    index = 0
    while len(emitter.payloads) < count:
        for event in events(index):
            tracker.track(event, context=[APP])
        index += 1
    payloads = emitter.payloads[:count]
    stm = str(time.time_ns() // 1_000_000)
    out = []
    for start in range(0, count, BATCH):
        batch = [{**payload, "stm": stm} for payload in payloads[start : start + BATCH]]
        envelope = {
            "schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4",
            "data": batch,
        }
        out.append(json.dumps(envelope, separators=(",", ":")).encode())
    return out


def send(port: int, work: list[bytes], failures: list[int]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json; charset=utf-8"}
    for body in work:
        connection.request("POST", PATH, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            failures.append(response.status)
    connection.close()


def clients(work: list[bytes], count: int, ports: multiprocessing.Queue[int]) -> None:
    """The client process: wait for the port, then send from ``count`` threads."""
    port = ports.get()
    failures: list[int] = []
    threads = [
        threading.Thread(target=send, args=(port, work[n::count], failures))
        for n in range(count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        print(f"client: {len(failures)} requests failed: {sorted(set(failures))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--clients", type=int, default=2)
    args = parser.parse_args()
    work = bodies(args.events)
    total = sum(len(json.loads(body)["data"]) for body in work)
    context = multiprocessing.get_context("fork")  # forked before any thread runs
    ports: multiprocessing.Queue[int] = context.Queue()
    process = context.Process(target=clients, args=(work, args.clients, ports))
    process.start()
    with MicroCollector(history=1000) as micro:
        send(micro.port, bodies(BATCH * 2), [])  # compile the validators first
        micro.reset()
        started = time.perf_counter()
        ports.put(micro.port)
        micro.wait_for(total, timeout=600)
        elapsed = time.perf_counter() - started
        summary = micro.summary()
    process.join()
    print(
        f"{total} events in {len(work)} POSTs of {BATCH} from {args.clients} client "
        f"threads in another process: {elapsed:.2f} s, {total / elapsed:,.0f} "
        f"events/s (good {summary['good']}, bad {summary['bad']})"
    )


if __name__ == "__main__":
    main()
