"""Tracker with our Emitter: payloads are built on the worker thread, same result."""

from __future__ import annotations

from snowplow_logging import (
    EcommerceTransaction,
    EcommerceTransactionItem,
    Emitter,
    SelfDescribing,
    SelfDescribingJson,
    StructuredEvent,
    Tracker,
)
from snowplow_logging.pytest_plugin import MicroFixture

CART = "iglu:com.acme/cart/jsonschema/1-0-0"
APP = SelfDescribingJson(
    schema="iglu:com.snowplowanalytics.snowplow/application/jsonschema/1-0-0",
    data={"version": "1.0"},
)


class Unserialisable:
    pass


class TestDeferredBuild:
    """One-part events are handed to the emitter unbuilt; the wire is unchanged."""

    def test_ids_and_entities_delivered(self, snowplow_micro: MicroFixture) -> None:
        """The id track() returns is the one delivered; entities and dtm survive."""
        with Emitter(snowplow_micro.endpoint) as emitter:
            tracker = Tracker(emitters=emitter, app_id="deferred")
            context = [APP]
            eid = tracker.track(
                StructuredEvent(category="c", action="a"),
                created_ms=1_700_000_000_123,
                context=context,
            )
            context.clear()  # the call's entities were snapshotted at track()
            items = [EcommerceTransactionItem(sku="s", price=1, quantity=1)]
            tr_id = tracker.track(
                EcommerceTransaction(order_id="o", total_value=1, items=items)
            )

            assert tracker.flush(timeout=10)

        snowplow_micro.wait_for(3, timeout=10)
        good = {e.payload["eid"]: e for e in snowplow_micro.good()}
        assert snowplow_micro.bad() == []
        assert good[eid].payload["dtm"] == "1700000000123"
        assert good[eid].contexts == [APP.schema]
        assert good[tr_id].payload["e"] == "tr"
        assert len(good) == 3

    def test_encoding_failure_counted_on_both_sides(
        self, snowplow_micro: MicroFixture
    ) -> None:
        """An event whose JSON cannot be built fails on the worker, counted by both."""
        with Emitter(snowplow_micro.endpoint) as emitter:
            tracker = Tracker(emitters=emitter, json_encoder=lambda _: float("nan"))
            bad = SelfDescribingJson(schema=CART, data={"x": Unserialisable()})
            tracker.track(SelfDescribing(event_json=bad))
            tracker.track(StructuredEvent(category="c", action="ok"))

            assert tracker.flush(timeout=10)
            stats = emitter.stats

        snowplow_micro.wait_for(1, timeout=10)
        assert (stats["inputs"], stats["sent"], stats["failed"]) == (2, 1, 1)
        assert tracker.stats["encoding_failures"] == 1
        assert [e.payload["se_ac"] for e in snowplow_micro.good()] == ["ok"]
