"""The local validating collector over real HTTP: tracker paths, verdicts, REST API."""

from __future__ import annotations

import dataclasses
import http.client
import json
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import requests

from snowplow_logging import (
    EcommerceTransaction,
    EcommerceTransactionItem,
    Emitter,
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
from snowplow_logging.micro import BadEvent, GoodEvent, IgluResolver, MicroCollector
from snowplow_logging.testing import CapturingEmitter
from tests.micro.test_validate import _ue as ue

TP2 = "/com.snowplowanalytics.snowplow/tp2"
JSON = "application/json; charset=utf-8"
PAYLOAD_DATA = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
APP = SelfDescribingJson(
    schema="iglu:com.snowplowanalytics.snowplow/application/jsonschema/1-0-0",
    data={"version": "2.3.1"},
)
CHECKOUT = "iglu:com.acme/checkout/jsonschema/1-0-0"
GOOD = {
    "e": "se",
    "eid": "9a1e2f6c-0c5f-4b8e-9d5a-3c1f1e2d3b4a",
    "tv": "py-x",
    "p": "srv",
    "aid": "shop",
    "dtm": "1795420800123",
    "se_ca": "c",
    "se_ac": "a",
}


def every_event_type() -> list[Event]:
    """One event of each type the tracker builds, with entities and a subject."""
    return [
        PageView(page_url="https://shop.test/", page_title="Home", context=[APP]),
        PagePing(page_url="https://shop.test/", min_x=0, max_x=0, min_y=0, max_y=9),
        ScreenView(name="cart", type="list"),
        StructuredEvent(
            category="c",
            action="a",
            value=1.5,
            event_subject=Subject(user_id="u-1", domain_session_index=2),
        ),
        SelfDescribing(
            event_json=SelfDescribingJson(
                schema=CHECKOUT, data={"orderId": "A-1", "total": 30}
            ),
            context=[APP],
        ),
        EcommerceTransaction(
            order_id="A-1",
            total_value="30.00",
            currency="EUR",
            items=[EcommerceTransactionItem(sku="S", price="15", quantity=2)],
        ),
    ]


def tracked(
    events: Sequence[Event], *, encode_base64: bool = True
) -> list[dict[str, str]]:
    """The payloads our Tracker builds for ``events``."""
    emitter = CapturingEmitter()
    tracker = Tracker(emitters=emitter, app_id="shop", encode_base64=encode_base64)
    for event in events:
        tracker.track(event)
    return emitter.payloads


def envelope(events: Sequence[Mapping[str, object]]) -> bytes:
    return json.dumps({"schema": PAYLOAD_DATA, "data": list(events)}).encode()


def post(
    micro: MicroCollector,
    events: Sequence[Mapping[str, object]],
    *,
    content_type: str = JSON,
    query: str = "",
) -> requests.Response:
    url = f"{micro.endpoint}{TP2}{query}"
    return requests.post(
        url, data=envelope(events), headers={"Content-Type": content_type}, timeout=10
    )


def rest(micro: MicroCollector, path: str, **params: str) -> Any:
    response = requests.get(f"{micro.endpoint}/micro/{path}", params=params, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def _request_again(connection: http.client.HTTPConnection) -> None:
    connection.request("GET", "/health")
    connection.getresponse()


@pytest.fixture(name="micro")
def _micro(resolver: IgluResolver) -> Iterator[MicroCollector]:
    with MicroCollector(resolver=resolver) as micro:
        yield micro


class TestGoodEvents:
    """Events from our tracker are good, over every transport path."""

    def test_every_type_by_post(self, micro: MicroCollector) -> None:
        """One POST batch with every event type: all good, answered 200."""
        payloads = tracked(every_event_type())

        response = post(micro, payloads)

        assert response.status_code == 200
        assert micro.summary() == {"total": 7, "good": 7, "bad": 0}
        assert [e.event_type for e in micro.good()] == [
            "page_view", "page_ping", "unstruct", "struct", "unstruct",
            "transaction", "transaction_item",
        ]  # fmt: skip

    def test_stored_events_are_whole_frozen_good_events(
        self, micro: MicroCollector
    ) -> None:
        """What the intake stores equals the dataclass built field by field, frozen."""
        post(micro, tracked(every_event_type()))

        for event in micro.good():
            rebuilt = GoodEvent(
                payload=event.payload,
                self_describing=event.self_describing,
                entities=event.entities,
                request=event.request,
            )
            assert event == rebuilt
            assert event.to_json() == rebuilt.to_json()
            with pytest.raises(dataclasses.FrozenInstanceError):
                event.payload = {}  # type: ignore[misc]

    def test_every_type_by_get(self, micro: MicroCollector) -> None:
        """Each event alone on GET /i, as plain JSON (co/ue_pr): good, answered a GIF."""
        for payload in tracked(every_event_type(), encode_base64=False):
            response = requests.get(f"{micro.endpoint}/i", params=payload, timeout=10)
            assert response.status_code == 200
            assert response.headers["Content-Type"] == "image/gif"

        assert micro.summary() == {"total": 7, "good": 7, "bad": 0}

    @pytest.mark.parametrize("path", ["/ice.png", TP2])
    def test_other_get_paths(self, micro: MicroCollector, path: str) -> None:
        """GET /ice.png and a bodiless GET on the tp2 path carry one event."""
        response = requests.get(f"{micro.endpoint}{path}", params=GOOD, timeout=10)

        assert response.status_code == 200
        assert micro.summary()["good"] == 1

    def test_plus_is_a_space_in_get(self, micro: MicroCollector) -> None:
        """The query string is percent-decoded with + as a space, as Enrich does."""
        query = "&".join(f"{k}={v}" for k, v in GOOD.items() if k != "se_la")
        requests.get(f"{micro.endpoint}/i?{query}&se_la=two+words%21", timeout=10)

        (event,) = micro.good()
        assert event.payload["se_la"] == "two words!"

    @pytest.mark.parametrize("method", ["post", "get"])
    def test_through_the_emitter(self, micro: MicroCollector, method: str) -> None:
        """Our Emitter's requests, POST and GET, are accepted as they are."""
        with Emitter(micro.endpoint, method=method) as emitter:
            tracker = Tracker(emitters=emitter, app_id="shop")
            for event in every_event_type():
                tracker.track(event)
            assert tracker.flush(timeout=10)

        micro.wait_for(7, timeout=10)
        assert micro.bad() == []

    @pytest.mark.parametrize(
        "content_type", ["application/json", "application/json; charset=UTF-8"]
    )
    def test_accepted_content_types(
        self, micro: MicroCollector, content_type: str
    ) -> None:
        """The three strings Enrich accepts are all good."""
        assert post(micro, [GOOD], content_type=content_type).status_code == 200


class TestBadEvents:
    """Hand-made bad events land in bad with the right reason, as Enrich would refuse them."""

    @pytest.mark.parametrize(
        ("payload", "reason"),
        [
            ({**GOOD, "eid": "not-a-uuid"}, "eid: must be a UUID"),
            (
                {**GOOD, "se_va": "True"},
                "se_va: must be a decimal number (got 'True')",
            ),
            (
                {**GOOD, "e": "pp", "url": "u", "pp_mix": "1.5"},
                "pp_mix: must be an integer",
            ),
            (
                ue(CHECKOUT, {"orderId": 5, "total": 1}),
                "orderId: 5 is not of type 'string'",
            ),
            (
                ue("iglu:com.nowhere/x/jsonschema/1-0-0", {}),
                "schema not found: iglu:com.nowhere/x",
            ),
            ({**GOOD, "cx": "!!!garbage"}, "cx: not base64 JSON"),
        ],
    )
    def test_reason(
        self, micro: MicroCollector, payload: dict[str, str], reason: str
    ) -> None:
        """The event is bad (the request still 200, as a collector answers), the reason names the field."""
        response = post(micro, [payload, GOOD])

        assert response.status_code == 200
        (bad,) = micro.bad()
        assert any(reason in error for error in bad.errors), bad.errors
        assert bad.payload == payload
        assert len(micro.good()) == 1

    def test_unknown_schema_by_get(self, micro: MicroCollector) -> None:
        """The same verdict on GET; the reason says "schema not found"."""
        payload = ue("iglu:com.nowhere/x/jsonschema/1-0-0", {})

        response = requests.get(f"{micro.endpoint}/i", params=payload, timeout=10)

        assert response.status_code == 200
        assert micro.bad()[0].errors == (
            "ue_px: schema not found: iglu:com.nowhere/x/jsonschema/1-0-0",
        )
        assert micro.bad()[0].schema == "iglu:com.nowhere/x/jsonschema/1-0-0"

    @pytest.mark.parametrize("value", [1.5, None, True, {"a": "b"}])
    def test_non_string_rejects_whole_batch(
        self, micro: MicroCollector, value: object
    ) -> None:
        """One non-string value in a POST batch makes every event of it bad (still 200)."""
        events: list[Mapping[str, object]] = [GOOD, {**GOOD, "se_va": value}, GOOD]

        response = post(micro, events)

        assert response.status_code == 200
        assert micro.summary() == {"total": 3, "good": 0, "bad": 3}
        for bad in micro.bad():
            assert any("payload_data" in e and "1/se_va" in e for e in bad.errors), (
                bad.errors
            )

    def test_unknown_field_rejects_whole_batch(self, micro: MicroCollector) -> None:
        """A field payload_data does not allow fails the envelope, so the batch."""
        response = post(micro, [GOOD, {**GOOD, "zz": "1"}])

        assert response.status_code == 200
        assert micro.summary() == {"total": 2, "good": 0, "bad": 2}
        assert any("'zz' was unexpected" in e for e in micro.bad()[1].errors)

    def test_unknown_get_key_is_ignored(self, micro: MicroCollector) -> None:
        """Enrich ignores a query key it does not read (payload_data is for bodies)."""
        requests.get(f"{micro.endpoint}/i", params={**GOOD, "zz": "1"}, timeout=10)

        assert micro.summary() == {"total": 1, "good": 1, "bad": 0}

    def test_query_on_post_url(self, micro: MicroCollector) -> None:
        """Query parameters on a POST URL are merged into every event, winning, as Enrich does."""
        response = post(micro, [GOOD, GOOD], query="?aid=other&vid=x")

        assert response.status_code == 200
        assert micro.good() == []
        merged = [(bad.payload or {}).get("aid") for bad in micro.bad()]
        assert merged == ["other", "other"]
        assert all("vid: must be an integer" in b.errors[0] for b in micro.bad())

    @pytest.mark.parametrize(
        "content_type",
        [
            "text/plain",
            "application/json; charset=latin-1",
            "application/json; version=2",
            "",
        ],
    )
    def test_wrong_content_type(self, micro: MicroCollector, content_type: str) -> None:
        """Anything but JSON in UTF-8 is a 400 and a bad record per event."""
        response = post(micro, [GOOD], content_type=content_type)

        assert response.status_code == 200  # the collector's answer; Enrich refuses
        (bad,) = micro.bad()
        assert bad.errors[0].startswith("Content-Type: must be one of")

    @pytest.mark.parametrize(
        "content_type",
        [
            "Application/JSON",
            "application/json;charset=utf-8",
            "APPLICATION/JSON; CHARSET=UTF-8",
        ],
    )
    def test_content_type_any_case(
        self, micro: MicroCollector, content_type: str
    ) -> None:
        """The collector lower-cases the media type and charset before Enrich compares."""
        response = post(micro, [GOOD], content_type=content_type)

        assert response.status_code == 200
        assert micro.summary() == {"total": 1, "good": 1, "bad": 0}

    @pytest.mark.parametrize(
        ("body", "reason"),
        [
            (b"{not json", "body: not JSON"),
            (b"\xff\xfe", "body: not JSON"),
            (b"[" * 100_000, "body: not JSON"),
            (b"[]", "body: must be a JSON object with exactly 'schema' and 'data'"),
            (
                b'{"schema":"iglu:a/b/jsonschema/1-0-0","data":[]}',
                "body: 'schema' must be",
            ),
            (
                json.dumps({"schema": PAYLOAD_DATA, "data": []}).encode(),
                "should be non-empty",
            ),
            (
                json.dumps({"schema": PAYLOAD_DATA, "data": [{"e": "pv"}]}).encode(),
                "'tv' is a required property",
            ),
        ],
    )
    def test_malformed_body(
        self, micro: MicroCollector, body: bytes, reason: str
    ) -> None:
        """A body that is not a payload_data envelope: 200 and one bad record."""
        response = requests.post(
            f"{micro.endpoint}{TP2}",
            data=body,
            headers={"Content-Type": JSON},
            timeout=10,
        )

        assert response.status_code == 200
        assert any(reason in error for error in micro.bad()[0].errors), micro.bad()[
            0
        ].errors

    def test_oversized_body(self, resolver: IgluResolver) -> None:
        """A body over the limit is refused with 413 and recorded; the server carries on."""
        with MicroCollector(resolver=resolver, max_body_size=1000) as micro:
            response = post(micro, [GOOD] * 20)

            assert response.status_code == 413
            assert (
                micro.bad()[0]
                .errors[0]
                .endswith("is more than the limit of 1000 bytes")
            )
            assert post(micro, [GOOD]).status_code == 200

    def test_empty_get(self, micro: MicroCollector) -> None:
        """GET /i without parameters is a bad event (the pixel still answered)."""
        response = requests.get(f"{micro.endpoint}/i", timeout=10)

        assert response.status_code == 200
        assert micro.bad()[0].errors == ("query string: no event parameters",)

    def test_bad_utf8_in_query(self, micro: MicroCollector) -> None:
        """Percent-escapes that are not UTF-8 are a bad event, not a crash."""
        response = requests.get(f"{micro.endpoint}/i?e=%ff", timeout=10)

        assert response.status_code == 200
        assert "query string: not UTF-8" in micro.bad()[0].errors[0]

    def test_unknown_path(self, micro: MicroCollector) -> None:
        """An unknown path is a 404 and no event."""
        response = requests.post(f"{micro.endpoint}/nowhere", data=b"x", timeout=10)

        assert response.status_code == 404
        assert micro.summary()["total"] == 0


class TestRest:
    """The /micro/* endpoints answer in Snowplow Micro's shapes."""

    def test_all_and_reset(self, micro: MicroCollector) -> None:
        """/micro/all counts; /micro/reset empties and answers "Reset completed"."""
        post(micro, [GOOD, {**GOOD, "eid": "x"}])

        assert rest(micro, "all") == {"total": 2, "good": 1, "bad": 1}
        reset = requests.get(f"{micro.endpoint}/micro/reset", timeout=10)
        assert (reset.status_code, reset.text) == (200, "Reset completed")
        assert rest(micro, "all") == {"total": 0, "good": 0, "bad": 0}
        assert rest(micro, "good") == []

    def test_good_shape(self, micro: MicroCollector) -> None:
        """A good event: event (atomic columns), rawEvent, eventType, schema, contexts."""
        post(micro, tracked([every_event_type()[4]]))

        (good,) = rest(micro, "good")
        assert list(good) == [
            "rawEvent", "eventType", "schema", "contexts", "event", "incomplete"
        ]  # fmt: skip
        assert good["incomplete"] is False
        assert good["eventType"] == "unstruct"
        assert good["schema"] == CHECKOUT
        assert good["contexts"] == [APP.schema]
        event = good["event"]
        assert event["app_id"] == "shop"
        assert event["event_name"] == "checkout"
        assert event["unstruct_event"]["data"] == {
            "schema": CHECKOUT, "data": {"orderId": "A-1", "total": 30},
        }  # fmt: skip
        assert event["contexts"]["data"] == [APP.to_dict()]
        assert event["dvce_created_tstamp"].endswith("Z")
        raw = good["rawEvent"]
        assert raw["api"] == {
            "vendor": "com.snowplowanalytics.snowplow",
            "version": "tp2",
        }
        assert raw["parameters"]["e"] == "ue"
        assert raw["contentType"] == JSON

    def test_atomic_columns(self, micro: MicroCollector) -> None:
        """Numbers, sizes and times become Enrich's typed columns."""
        payload = {
            **GOOD, "se_va": "2.5", "vid": "3", "res": "1920x1080",
            "stm": "1795420800623", "tnuid": "n-1",
        }  # fmt: skip
        post(micro, [payload])

        event = micro.good()[0]["event"]
        assert (event["se_value"], event["domain_sessionidx"]) == (2.5, 3)
        assert (event["dvce_screenwidth"], event["dvce_screenheight"]) == (1920, 1080)
        assert event["network_userid"] == "n-1"
        assert event["dvce_sent_tstamp"] == "2026-11-23T08:00:00.623Z"
        assert (event["event_vendor"], event["event_name"]) == (
            "com.google.analytics", "event"
        )  # fmt: skip

    def test_bad_shape(self, micro: MicroCollector) -> None:
        """A bad event: collectorPayload, rawEvent and errors."""
        post(micro, [{**GOOD, "eid": "x"}])

        (bad,) = rest(micro, "bad")
        assert set(bad) == {"collectorPayload", "rawEvent", "errors"}
        line, row = bad["errors"]
        assert line == "Error while validating the event."
        message = json.loads(row)["data"]["failure"]["messages"][0]
        assert message["error"]["dataReports"][0]["message"] == (
            "eid: must be a UUID (got 'x')"
        )
        assert bad["rawEvent"]["parameters"]["eid"] == "x"
        payload = bad["collectorPayload"]
        assert json.loads(payload["body"])["data"][0]["eid"] == "x"
        assert payload["querystring"] == []
        assert payload["context"]["useragent"].startswith("python-requests")

    def test_request_level_bad_has_no_raw_event(self, micro: MicroCollector) -> None:
        """A request with no readable event is one bad record with rawEvent null."""
        requests.get(f"{micro.endpoint}/i?", timeout=10)

        (bad,) = rest(micro, "bad")
        assert bad["rawEvent"] is None
        assert bad["collectorPayload"]["api"]["version"] == "tp1"

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"event_type": "page_view"}, ["page_view"]),
            ({"event_type": "pv"}, ["page_view"]),
            ({"schema": CHECKOUT}, ["unstruct"]),
            ({"contexts": APP.schema}, ["unstruct", "page_view"]),
            ({"colour": "red", "event_type": "struct"}, ["struct"]),
            ({"app_id": "other"}, []),
            ({"app_id": "shop", "limit": "2"}, ["transaction_item", "transaction"]),
            ({"limit": "0"}, []),
        ],
    )
    def test_good_filters(
        self, micro: MicroCollector, params: dict[str, str], expected: list[str]
    ) -> None:
        """Filters by query string and by POSTed JSON give the same events, newest first.

        Unknown filters are ignored, as Micro ignores them.
        """
        post(micro, tracked(every_event_type()))
        body: dict[str, object] = {
            k: [v] if k == "contexts" else v for k, v in params.items()
        }
        if "limit" in body:
            body["limit"] = int(params["limit"])

        by_get = rest(micro, "good", **params)
        by_post = requests.post(
            f"{micro.endpoint}/micro/good", json=body, timeout=10
        ).json()

        assert [e["eventType"] for e in by_get] == expected
        assert by_post == by_get

    def test_bad_filters(self, micro: MicroCollector) -> None:
        """Bad events filter by event type, app id, schema, and Micro's vendor/version."""
        post(micro, [{**GOOD, "eid": "x"}, {**ue(CHECKOUT, {}), "aid": "other"}])
        requests.get(f"{micro.endpoint}/i", params={"e": "pv", "vid": "x"}, timeout=10)

        assert len(rest(micro, "bad", event_type="struct")) == 1
        assert len(rest(micro, "bad", app_id="other")) == 1
        assert len(rest(micro, "bad", schema=CHECKOUT)) == 1
        assert len(rest(micro, "bad", version="tp1")) == 1
        assert len(rest(micro, "bad", vendor="com.snowplowanalytics.snowplow")) == 3
        assert len(micro.bad(app_id="shop", limit=1)) == 1

    @pytest.mark.parametrize(
        ("params", "body", "message", "status"),
        [
            ({"limit": "-1"}, None, "'limit' must be a non-negative integer", 400),
            ({}, b"[1]", "filters must be a JSON object", 422),
            ({}, b'{"limit": true}', "'limit' must be a non-negative integer", 422),
            ({}, b'{"schema": 5}', "'schema' must be a string", 422),
            ({}, b"{", "Expecting property name", 400),
        ],
    )
    def test_bad_filter(
        self,
        micro: MicroCollector,
        params: dict[str, str],
        body: bytes | None,
        message: str,
        status: int,
    ) -> None:
        """A wrong filter is a 422 (400 when not JSON) whose message names it."""
        response = requests.post(
            f"{micro.endpoint}/micro/good", params=params, data=body, timeout=10
        )

        assert response.status_code == status
        assert message in response.json()["error"]

    def test_iglu_and_health(self, micro: MicroCollector) -> None:
        """/micro/iglu serves known schemas, 404 otherwise; /health says OK."""
        found = requests.get(
            f"{micro.endpoint}/micro/iglu/com.acme/checkout/jsonschema/1-0-0",
            timeout=10,
        )
        missing = requests.get(
            f"{micro.endpoint}/micro/iglu/com.acme/x/jsonschema/1-0-0", timeout=10
        )
        health = requests.get(f"{micro.endpoint}/health", timeout=10)

        assert found.json()["self"]["name"] == "checkout"
        assert missing.status_code == 404
        assert health.text == "OK"
        assert (
            requests.get(f"{micro.endpoint}/micro/nothing", timeout=10).status_code
            == 404
        )

    def test_cors(self, micro: MicroCollector) -> None:
        """A browser tracker's preflight is answered and the origin echoed."""
        response = requests.options(
            f"{micro.endpoint}{TP2}",
            headers={"Origin": "https://shop.test"},
            timeout=10,
        )

        assert response.status_code == 200
        assert response.headers["Access-Control-Allow-Origin"] == "https://shop.test"
        assert response.headers["Access-Control-Allow-Credentials"] == "true"


class TestMicroCollector:
    """The Python API: lifecycle, queries, waiting, bounded history, concurrency."""

    def test_records_read_like_json(self, micro: MicroCollector) -> None:
        """good()/bad() items are typed objects that also read like Micro's JSON."""
        post(micro, [GOOD, {**GOOD, "eid": "x"}])

        (good,), (bad,) = micro.good(), micro.bad()
        assert isinstance(good, GoodEvent)
        assert isinstance(bad, BadEvent)
        assert good["eventType"] == good.event_type == "struct"
        assert good["event"]["se_category"] == "c"
        assert (
            good.to_json()["schema"]
            == "iglu:com.google.analytics/event/jsonschema/1-0-0"
        )
        assert bad["errors"][0] == "Error while validating the event."
        assert bad.errors == ("eid: must be a UUID (got 'x')",)
        with pytest.raises(KeyError):
            good["nope"]

    def test_wait_for_wakes_without_polling(self, micro: MicroCollector) -> None:
        """wait_for returns as soon as a request thread stores the events."""
        sender = threading.Thread(target=post, args=(micro, [GOOD, GOOD]))
        sender.start()

        summary = micro.wait_for(2, timeout=10)
        sender.join()

        assert summary["total"] >= 2

    def test_wait_for_timeout(self, micro: MicroCollector) -> None:
        """On timeout, TimeoutError gives the counts and the first bad reason."""
        post(micro, [{**GOOD, "eid": "x"}])

        with pytest.raises(
            TimeoutError, match=r"for 2 events; received 1 \(0 good, 1 bad\); bad: eid"
        ):
            micro.wait_for(2, timeout=0.05)

    def test_bounded_history(self, resolver: IgluResolver) -> None:
        """Only the newest events are kept; the counts keep counting."""
        with MicroCollector(resolver=resolver, history=2) as micro:
            for index in range(5):
                post(micro, [{**GOOD, "se_la": str(index)}])

            assert [e.payload["se_la"] for e in micro.good()] == ["3", "4"]
            assert micro.summary() == {"total": 5, "good": 5, "bad": 0}

    def test_memory_bounded_by_history(self, resolver: IgluResolver) -> None:
        """Past the history, an evicted event is gone from every list and its memory
        freed: 1,000 more events (over 1 MB sent) leave the memory where it was."""
        history = 20

        def send(micro: MicroCollector, first: int) -> None:
            good = [{**GOOD, "se_la": f"{first + n}:" + "x" * 500} for n in range(50)]
            bad = {**GOOD, "eid": "not-a-uuid", "se_la": str(first)}
            assert post(micro, [*good, bad]).status_code == 200

        with MicroCollector(resolver=resolver, history=history) as micro:
            tracemalloc.start()
            try:
                for first in range(0, 1250, 50):  # both histories full
                    send(micro, first)
                before = tracemalloc.get_traced_memory()[0]
                for first in range(1250, 2250, 50):
                    send(micro, first)
                grown = tracemalloc.get_traced_memory()[0] - before
            finally:
                tracemalloc.stop()

            kept = [e.payload["se_la"].partition(":")[0] for e in micro.good()]
            assert kept == [str(n) for n in range(2230, 2250)]
            assert [e.payload["se_la"] for e in micro.bad()] == [  # type: ignore[index]
                str(n) for n in range(1250, 2250, 50)
            ]
            assert (len(rest(micro, "good")), len(rest(micro, "bad"))) == (20, 20)
            paged = requests.post(
                f"{micro.endpoint}/micro/events",
                json={"filters": [], "page": 1, "pageSize": 100},
                timeout=10,
            ).json()
            assert (paged["totalItems"], len(paged["events"])) == (40, 40)
            assert micro.summary() == {"total": 2295, "good": 2250, "bad": 45}
        assert grown < 256 * 1024, grown

    def test_concurrent_senders(self, micro: MicroCollector) -> None:
        """Eight threads posting at once: every event counted once."""
        payloads = tracked(every_event_type())

        def send() -> None:
            with requests.Session() as session:
                for _ in range(5):
                    session.post(
                        f"{micro.endpoint}{TP2}",
                        data=envelope(payloads),
                        headers={"Content-Type": JSON},
                        timeout=10,
                    )

        threads = [threading.Thread(target=send) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert micro.summary() == {"total": 280, "good": 280, "bad": 0}
        assert len({e.payload["eid"] for e in micro.good()}) == 7

    def test_keep_alive(self, micro: MicroCollector) -> None:
        """Many requests on one connection, good and bad alike."""
        connection = http.client.HTTPConnection("127.0.0.1", micro.port, timeout=10)
        try:
            statuses = []
            for body in (envelope([GOOD]), b"{", envelope([GOOD])):
                connection.request(
                    "POST", TP2, body=body, headers={"Content-Type": JSON}
                )
                response = connection.getresponse()
                response.read()
                statuses.append(response.status)
        finally:
            connection.close()

        assert statuses == [200, 200, 200]

    def test_close_ends_keep_alive_connections(self, resolver: IgluResolver) -> None:
        """close() is idempotent and shuts idle keep-alive connections."""
        micro = MicroCollector(resolver=resolver).start()
        connection = http.client.HTTPConnection("127.0.0.1", micro.port, timeout=10)
        connection.request("GET", "/health")
        connection.getresponse().read()

        micro.close()
        micro.close()

        with pytest.raises((ConnectionError, http.client.HTTPException)):
            _request_again(connection)
        connection.close()
        assert repr(micro).endswith("stopped>")

    def test_on_event_sees_each_event(self, resolver: IgluResolver) -> None:
        """on_event is called per stored event; its exceptions do not refuse events."""
        seen: list[object] = []

        def on_event(event: GoodEvent | BadEvent) -> None:
            seen.append(event)
            raise RuntimeError

        with MicroCollector(resolver=resolver, on_event=on_event) as micro:
            assert post(micro, [GOOD, GOOD]).status_code == 200

        assert len(seen) == 2

    @pytest.mark.parametrize(
        ("options", "error", "message"),
        [
            ({"port": 70000}, ValueError, "'port' must be between 0 and 65535"),
            ({"port": "80"}, TypeError, "'port' must be an int"),
            ({"max_body_size": 0}, ValueError, "'max_body_size' must be >= 1"),
            ({"history": -1}, ValueError, "'history' must be >= 0"),
            ({"host": ""}, TypeError, "'host' must be a non-empty string"),
            ({"on_event": 5}, TypeError, "'on_event' must be callable"),
            (
                {"schemas": ["/nonexistent/dir"]},
                ValueError,
                "'schemas' must name directories",
            ),
        ],
    )
    def test_bad_configuration(
        self, options: dict[str, object], error: type[Exception], message: str
    ) -> None:
        """Each bad setting is refused when constructed, naming it."""
        with pytest.raises(error, match=message):
            MicroCollector(**options)  # type: ignore[arg-type]

    def test_port_before_start(self, resolver: IgluResolver) -> None:
        """Asking for the port of a collector never started is a clear error."""
        with pytest.raises(RuntimeError, match="use it in a 'with' block"):
            _ = MicroCollector(resolver=resolver).endpoint

    def test_user_schema_directory(self, tmp_path: Path) -> None:
        """schemas= adds a static registry; its events validate against it."""
        folder = tmp_path / "schemas" / "com.example" / "thing" / "jsonschema"
        folder.mkdir(parents=True)
        (folder / "1-0-0").write_text(json.dumps({"type": "object", "required": ["a"]}))
        uri = "iglu:com.example/thing/jsonschema/1-0-0"

        with MicroCollector(schemas=[tmp_path]) as micro:
            post(micro, [ue(uri, {"a": 1}), ue(uri, {})])

            assert len(micro.good(schema=uri)) == 1
            assert micro.bad()[0].errors == (
                f"ue_px: {uri}: (root): 'a' is a required property",
            )

    def test_imports_stay_light(self) -> None:
        """Importing the collector and the plugin does not import jsonschema."""
        code = (
            "import sys, snowplow_logging.micro, snowplow_logging.pytest_plugin\n"
            "print('jsonschema' in sys.modules)"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )

        assert result.stdout.strip() == "False"

    def test_exports(self) -> None:
        """snowplow_logging.micro exports exactly its public names."""
        from snowplow_logging import micro

        public = {n for n in vars(micro) if not n.startswith("_") and n.isidentifier()}
        assert set(micro.__all__) <= public
        assert {"MicroCollector", "GoodEvent", "BadEvent"} <= set(micro.__all__)
        assert {"IgluResolver", "CheckedEvent", "check_payload"} <= set(micro.__all__)
