"""Track one event of each type and print the payloads a collector would receive.

Run: python examples/quickstart.py
"""

from __future__ import annotations

import datetime as dt
import json

from snowplow_logging import (
    EcommerceTransaction,
    EcommerceTransactionItem,
    PagePing,
    PageView,
    ScreenView,
    SelfDescribing,
    SelfDescribingJson,
    StructuredEvent,
    Subject,
    Tracker,
)
from snowplow_logging.testing import (
    CapturingEmitter,
    decode_entities,
    decode_self_describing_event,
)

APP = SelfDescribingJson(
    schema="iglu:com.snowplowanalytics.snowplow/application/jsonschema/1-0-0",
    data={"version": "2.3.1"},
)


def main() -> None:
    emitter = CapturingEmitter()
    tracker = Tracker(
        emitters=emitter,
        namespace="quickstart",
        app_id="shop",
        subject=Subject(user_id="user-42", timezone="Europe/Berlin"),
    )
    tracker.track(PageView(page_url="https://shop.test/cart", page_title="Cart"))
    tracker.track(
        PagePing(
            page_url="https://shop.test/cart", min_x=0, max_x=0, min_y=0, max_y=480
        )
    )
    tracker.track(ScreenView(name="checkout", type="form", context=[APP]))
    tracker.track(
        StructuredEvent(
            category="checkout",
            action="paid",
            value=30.0,
            event_subject=Subject(domain_session_index=3),
        )
    )
    tracker.track(
        SelfDescribing(
            event_json=SelfDescribingJson(
                schema="iglu:com.snowplowanalytics.snowplow/application_error/jsonschema/1-0-2",
                data={"programmingLanguage": "PYTHON", "message": "card declined"},
            ),
            true_timestamp=dt.datetime.now(dt.UTC),
        )
    )
    tracker.track(
        EcommerceTransaction(
            order_id="A-1001",
            total_value="30.00",
            currency="EUR",
            items=[
                EcommerceTransactionItem(
                    sku="SKU-7", price="12.50", quantity=2, name="Mug"
                )
            ],
        )
    )
    tracker.close()

    for payload in emitter.payloads:
        print(f"--- e={payload['e']}")
        print(json.dumps(payload, ensure_ascii=False))
        event = decode_self_describing_event(payload)
        if event is not None:
            print("  event:   ", json.dumps(event, ensure_ascii=False))
        for entity in decode_entities(payload):
            print("  entity:  ", json.dumps(entity, ensure_ascii=False))
    print(f"{len(emitter.payloads)} payloads built")


if __name__ == "__main__":
    main()
