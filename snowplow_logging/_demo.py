"""``snowplow-logging demo``: every event type, sent through the public API, checked locally.

Starts a :class:`~snowplow_logging.micro.MicroCollector` on a free loopback port,
runs each section of :data:`SECTIONS` (a section builds trackers with
:meth:`DemoRun.tracker` and tracks events), flushes, waits for the collector to
have every event, and prints a table of good and bad events per event type and
schema. The exit status is 1 if any event is bad or missing. To show another
integration, write a ``(run: DemoRun) -> None`` function and add it to
:data:`SECTIONS`.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Final, TextIO

from snowplow_logging import (
    EcommerceTransaction,
    EcommerceTransactionItem,
    Emitter,
    PagePing,
    PageView,
    ScreenView,
    SelfDescribing,
    SelfDescribingJson,
    SnowplowHandler,
    StructuredEvent,
    Subject,
    Tracker,
)
from snowplow_logging._diagnostics import counted
from snowplow_logging.micro import BadEvent, GoodEvent, MicroCollector

__all__ = ["SECTIONS", "DemoRun", "run_demo"]

_APP: Final = SelfDescribingJson(
    schema="iglu:com.snowplowanalytics.snowplow/application/jsonschema/1-0-0",
    data={"version": "2.3.1"},
)
_FLUSH_TIMEOUT: Final = 10.0


class DemoRun:
    """What a section works with: the collector endpoint and tracker factory.

    Args:
        endpoint: the embedded collector's URL.
    """

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.trackers: list[Tracker] = []

    def __repr__(self) -> str:
        return f"<DemoRun {self.endpoint} trackers={len(self.trackers)}>"

    def tracker(self, name: str, *, method: str = "post") -> Tracker:
        """A tracker sending to the collector with its own emitter, flushed at the end."""
        emitter = Emitter(self.endpoint, method=method, flush_interval=0.2)
        tracker = Tracker(
            emitters=emitter,
            namespace=f"demo-{name}",
            app_id="snowplow-logging-demo",
            subject=Subject(timezone="Europe/Berlin", lang="en-GB"),
        )
        self.trackers.append(tracker)
        return tracker

    def finish(self) -> int:
        """Flush and close every tracker; return how many payloads they sent."""
        for tracker in self.trackers:
            tracker.close(timeout=_FLUSH_TIMEOUT)
        return sum(
            tracker.stats["tracked"] * len(tracker.emitters)
            for tracker in self.trackers
        )


def tracker_events(run: DemoRun) -> None:
    """Every event type through one POST emitter, with entities and a per-event subject."""
    tracker = run.tracker("post")
    tracker.track(
        PageView(
            page_url="https://shop.test/cart",
            page_title="Cart",
            referrer="https://shop.test/",
            context=[_APP],
        )
    )
    tracker.track(
        PagePing(
            page_url="https://shop.test/cart", min_x=0, max_x=0, min_y=0, max_y=480
        )
    )
    tracker.track(ScreenView(name="checkout", type="form", context=[_APP]))
    tracker.track(
        StructuredEvent(
            category="checkout",
            action="paid",
            label="card",
            value=30.0,
            event_subject=Subject(
                user_id="user-42",
                domain_session_id=uuid.uuid4(),
                domain_session_index=3,
            ),
        )
    )
    tracker.track(
        SelfDescribing(
            event_json=SelfDescribingJson(
                schema="iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1",
                data={"targetUrl": "https://shop.test/help", "elementId": "help"},
            ),
            true_timestamp=dt.datetime.now(dt.UTC),
        ),
        context=[_APP],
    )
    tracker.track(
        EcommerceTransaction(
            order_id="A-1001",
            total_value="30.00",
            tax_value="4.79",
            currency="EUR",
            items=[
                EcommerceTransactionItem(
                    sku="SKU-7", price="12.50", quantity=2, name="Mug"
                ),
                EcommerceTransactionItem(sku="SKU-9", price="5.00", quantity=1),
            ],
        )
    )


def get_events(run: DemoRun) -> None:
    """Two events through a GET emitter: one request per event, fields in the URL."""
    tracker = run.tracker("get", method="get")
    tracker.track(PageView(page_url="https://shop.test/?q=mug cups", page_title="Søk"))
    tracker.track(StructuredEvent(category="search", action="typed", value=0))


def logging_events(run: DemoRun) -> None:
    """Tagged log records and a logged exception through ``SnowplowHandler``."""
    handler = SnowplowHandler(tracker=run.tracker("logging"), capture_exceptions=True)
    logger = logging.getLogger("snowplow-logging-demo")
    logger.propagate = False  # the demo prints its table, not log lines
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        logger.info(
            "order paid",
            extra={"snowplow": StructuredEvent(category="checkout", action="logged")},
        )
        try:
            _ = 1 / 0
        except ZeroDivisionError:
            logger.exception("payment failed")
    finally:
        logger.removeHandler(handler)


SECTIONS: Final[tuple[tuple[str, Callable[[DemoRun], None]], ...]] = (
    ("tracker via POST", tracker_events),
    ("tracker via GET", get_events),
    ("logging handler", logging_events),
)
"""The demo's parts, in order: a title and a function tracking events."""


def run_demo(*, out: TextIO | None = None) -> int:
    """Run every section against an embedded collector and print the table.

    Returns:
        0 when every event arrived and is good, else 1.
    """
    stream = out or sys.stdout
    with MicroCollector() as micro:
        run = DemoRun(micro.endpoint)
        for _title, section in SECTIONS:
            section(run)
        sent = run.finish()
        try:
            micro.wait_for(sent, timeout=_FLUSH_TIMEOUT)
        except TimeoutError as exc:
            print(f"demo: {exc}", file=stream)
        good, bad = micro.good(), micro.bad()
    titles = "; ".join(title for title, _ in SECTIONS)
    print(
        f"snowplow-logging demo: {counted(sent, 'event')} ({titles}) sent to {micro.endpoint}\n",
        file=stream,
    )
    _print_table(stream, good, bad)
    received = len(good) + len(bad)
    if bad or received < sent:
        for event in bad:
            print(
                f"BAD {event.event_type or '-'}: {'; '.join(event.errors)}", file=stream
            )
        print(
            f"\n{len(bad)} bad, {sent - received} missing of {counted(sent, 'event')}.",
            file=stream,
        )
        return 1
    print(f"\nAll {sent} events are good.", file=stream)  # the demo sends 12
    return 0


def _print_table(stream: TextIO, good: list[GoodEvent], bad: list[BadEvent]) -> None:
    counts: Counter[tuple[str, str, str]] = Counter()
    for event in good:
        counts[event.event_type, event.schema, "good"] += 1
    for failed in bad:
        counts[failed.event_type or "-", failed.schema or "-", "bad"] += 1
    rows = sorted({(kind, schema) for kind, schema, _ in counts})
    width = max([len("schema"), *(len(schema) for _, schema in rows)])
    print(f"{'event type':<17} {'schema':<{width}} {'good':>5} {'bad':>5}", file=stream)
    for kind, schema in rows:
        print(
            f"{kind:<17} {schema:<{width}} {counts[kind, schema, 'good']:>5} "
            f"{counts[kind, schema, 'bad']:>5}",
            file=stream,
        )
    print(f"{'total':<17} {'':<{width}} {len(good):>5} {len(bad):>5}", file=stream)
