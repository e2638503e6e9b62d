"""/micro/* in Snowplow Micro 4.5.2's shapes (over real HTTP)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import requests

from snowplow_logging.micro import IgluResolver, MicroCollector
from snowplow_logging.micro.enrich import COLUMNS, instant

TP2 = "/com.snowplowanalytics.snowplow/tp2"
JSON = "application/json; charset=utf-8"
PAYLOAD_DATA = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
APP = "iglu:com.snowplowanalytics.snowplow/application/jsonschema/1-0-0"
CART = "iglu:com.acme/cart/jsonschema/1-0-0"
EID = "9A1E2F6C-0C5F-4B8E-9D5A-3C1F1E2D3B4A"
PV = {
    "e": "pv", "eid": EID, "tv": "js-4.0.0", "p": "web", "aid": "shop",
    "url": "https://shop.test:8443/cart/view?x=1#top",
    "refr": "http://search.test/q?s=mugs", "dtm": "1795420800000",
    "stm": "1795420800500", "vp": "1280x720", "f_pdf": "1", "cookie": "0",
}  # fmt: skip
SE = {"e": "se", "tv": "py", "p": "srv", "se_ca": "c", "se_ac": "a", "se_va": "2.5"}


def _strict(text: str) -> Any:
    def refuse(name: str) -> object:
        raise ValueError(name)

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(name="micro")
def _micro(resolver: IgluResolver) -> Iterator[MicroCollector]:
    with MicroCollector(resolver=resolver) as micro:
        yield micro


def post(micro: MicroCollector, *events: dict[str, str], **headers: str) -> None:
    body = json.dumps({"schema": PAYLOAD_DATA, "data": list(events)})
    response = requests.post(
        f"{micro.endpoint}{TP2}",
        data=body,
        headers={"Content-Type": JSON, **headers},
        timeout=10,
    )
    assert response.status_code == 200


def rest(micro: MicroCollector, path: str, body: object = None) -> Any:
    if body is None:
        response = requests.get(f"{micro.endpoint}/micro/{path}", timeout=10)
    else:
        response = requests.post(
            f"{micro.endpoint}/micro/{path}", json=body, timeout=10
        )
    assert response.status_code == 200, response.text
    return _strict(response.text)


def _cx(*entities: Mapping[str, object]) -> str:
    wrapper = {
        "schema": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1",
        "data": list(entities),
    }
    return base64.urlsafe_b64encode(json.dumps(wrapper).encode()).decode()


class TestEvent:
    """``event``: every atomic column, nulls included, derived ones filled."""

    def test_every_column_in_order(self, micro: MicroCollector) -> None:
        post(
            micro,
            PV,
            **{"User-Agent": "Mozilla/5.0\tTest", "X-Forwarded-For": "203.0.113.9"},
        )

        (good,) = rest(micro, "good")
        event = good["event"]
        assert list(event) == list(COLUMNS)
        assert len(COLUMNS) == 131
        assert event["geo_country"] is None
        assert event["br_name"] is None
        assert (event["event_id"], event["app_id"]) == (EID.lower(), "shop")
        assert (event["user_ipaddress"], event["useragent"]) == (
            "203.0.113.9", "Mozilla/5.0    Test"
        )  # fmt: skip
        assert (event["page_urlscheme"], event["page_urlhost"]) == (
            "https",
            "shop.test",
        )
        assert (event["page_urlport"], event["page_urlpath"]) == (8443, "/cart/view")
        assert (event["page_urlquery"], event["page_urlfragment"]) == ("x=1", "top")
        assert (event["refr_urlhost"], event["refr_urlport"]) == ("search.test", 80)
        assert (event["refr_urlpath"], event["refr_urlquery"]) == ("/q", "s=mugs")
        assert (event["br_viewwidth"], event["br_viewheight"]) == (1280, 720)
        assert (event["br_features_pdf"], event["br_cookies"]) == (True, False)
        assert event["v_collector"].startswith("snowplow-logging-micro-")
        assert event["v_etl"].startswith("snowplow-logging-micro-")
        assert event["dvce_created_tstamp"] == "2026-11-23T08:00:00Z"
        assert event["dvce_sent_tstamp"] == "2026-11-23T08:00:00.500Z"
        assert event["etl_tstamp"] == event["collector_tstamp"]
        received = micro.good()[0].request.received_ms
        assert event["collector_tstamp"] == instant(received)
        assert event["derived_tstamp"] == instant(received - 500)
        assert [event[k] for k in ("event_vendor", "event_name", "event_format", "event_version")] == [
            "com.snowplowanalytics.snowplow", "page_view", "jsonschema", "1-0-0"
        ]  # fmt: skip
        assert (event["contexts"], event["derived_contexts"]) == ({}, {})
        assert event["unstruct_event"] is None
        assert (
            good["schema"]
            == "iglu:com.snowplowanalytics.snowplow/page_view/jsonschema/1-0-0"
        )

    def test_structured_event_schema(self, micro: MicroCollector) -> None:
        """Structured events are Enrich's com.google.analytics/event."""
        post(micro, SE)

        (good,) = rest(micro, "good")
        assert good["schema"] == "iglu:com.google.analytics/event/jsonschema/1-0-0"
        assert (good["event"]["event_vendor"], good["event"]["se_value"]) == (
            "com.google.analytics", 2.5
        )  # fmt: skip
        assert good["event"]["user_ipaddress"] == "127.0.0.1"
        assert good["event"]["useragent"].startswith("python-requests")

    def test_referer_header_is_the_page(self, micro: MicroCollector) -> None:
        """No url: Enrich takes the page from the Referer header."""
        post(micro, SE, Referer="https://shop.test/checkout")

        event = rest(micro, "good")[0]["event"]
        assert (event["page_url"], event["page_urlpath"]) == (
            "https://shop.test/checkout", "/checkout"
        )  # fmt: skip

    def test_entities_and_event(self, micro: MicroCollector) -> None:
        """contexts and unstruct_event in the analytics SDK's envelopes (1-0-0)."""
        app = {"schema": APP, "data": {"version": "1.0"}}
        ue = {
            "schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
            "data": {"schema": CART, "data": {"k": "v"}},
        }
        post(micro, {**SE, "e": "ue", "ue_pr": json.dumps(ue), "cx": _cx(app)})

        (good,) = rest(micro, "good")
        assert good["contexts"] == [APP]
        assert good["event"]["contexts"] == {
            "schema": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0",
            "data": [app],
        }
        assert good["event"]["unstruct_event"] == ue

    def test_strict_json(self, micro: MicroCollector) -> None:
        """A decimal past a double is never served as Infinity."""
        post(
            micro,
            {**SE, "se_va": "1e400"},
            {**SE, "tr_tt": "1e400", "e": "tr", "tr_id": "1"},
        )

        for kind in ("good", "bad", "all"):
            response = requests.get(f"{micro.endpoint}/micro/{kind}", timeout=10)
            assert "Infinity" not in response.text
            _strict(response.text)

    def test_instant_form(self) -> None:
        """Java's Instant: milliseconds only when there are some."""
        assert instant(1_795_420_800_000) == "2026-11-23T08:00:00Z"
        assert instant(1_795_420_800_010) == "2026-11-23T08:00:00.010Z"
        assert instant(-62_167_219_200_000 * 2).startswith("0001-01-01")


class TestLists:
    """Newest first, Micro's filters, unknown ones ignored."""

    def test_newest_first_and_limit(self, micro: MicroCollector) -> None:
        for label in ("1", "2", "3"):
            post(micro, {**SE, "se_la": label}, {**SE, "se_la": label, "eid": "x"})

        good = rest(micro, "good")
        bad = rest(micro, "bad")
        assert [g["event"]["se_label"] for g in good] == ["3", "2", "1"]
        assert [b["rawEvent"]["parameters"]["se_la"] for b in bad] == ["3", "2", "1"]
        assert [g["event"]["se_label"] for g in rest(micro, "good", {"limit": 2})] == [
            "3",
            "2",
        ]
        assert len(rest(micro, "bad", {"limit": 1, "nothing": [1]})) == 1
        assert [e.payload["se_la"] for e in micro.good()] == [
            "1",
            "2",
            "3",
        ]  # Python: oldest first

    def test_reset_by_post(self, micro: MicroCollector) -> None:
        post(micro, SE)

        response = requests.post(f"{micro.endpoint}/micro/reset", timeout=10)

        assert (response.status_code, response.text) == (200, "Reset completed")
        assert rest(micro, "all") == {"total": 0, "good": 0, "bad": 0}

    def test_raw_shapes(self, micro: MicroCollector) -> None:
        """rawEvent and collectorPayload: Micro's keys; querystring as name=value."""
        requests.get(f"{micro.endpoint}/i", params={**SE, "eid": "x"}, timeout=10)

        (bad,) = rest(micro, "bad")
        payload = bad["collectorPayload"]
        assert list(payload) == [
            "api", "querystring", "contentType", "body", "source", "context"
        ]  # fmt: skip
        assert payload["api"] == {
            "vendor": "com.snowplowanalytics.snowplow",
            "version": "tp1",
        }
        assert "se_ca=c" in payload["querystring"]
        assert list(payload["context"]) == [
            "timestamp", "ipAddress", "useragent", "refererUri", "headers", "userId"
        ]  # fmt: skip
        assert payload["context"]["timestamp"].endswith("Z")
        assert list(bad["rawEvent"]) == [
            "api",
            "parameters",
            "contentType",
            "source",
            "context",
        ]
        assert bad["rawEvent"]["parameters"]["eid"] == "x"


class TestErrors:
    """``errors``: Micro's line, then the bad row, valid against its Iglu schema."""

    def test_event_bad_row(self, micro: MicroCollector, resolver: IgluResolver) -> None:
        ue = {
            "schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
            "data": {"schema": "iglu:com.nowhere/x/jsonschema/1-0-0", "data": {}},
        }
        post(micro, {**SE, "eid": "x"}, {**SE, "e": "ue", "ue_pr": json.dumps(ue)})

        second, first = rest(micro, "bad")
        line, row = first["errors"]
        assert line == "Error while validating the event."
        bad_row = json.loads(row)
        assert bad_row["schema"].endswith("/schema_violations/jsonschema/2-0-0")
        assert resolver.errors(bad_row["schema"], bad_row["data"]) == []
        (message,) = bad_row["data"]["failure"]["messages"]
        assert message["schemaKey"].endswith("/atomic/jsonschema/1-0-0")
        assert message["error"]["dataReports"][0]["path"] == "$.eid"
        resolution = json.loads(second["errors"][1])["data"]["failure"]["messages"][0]
        assert resolution["schemaKey"] == "iglu:com.nowhere/x/jsonschema/1-0-0"
        assert resolution["error"]["error"] == "ResolutionError"

    def test_request_bad_row(
        self, micro: MicroCollector, resolver: IgluResolver
    ) -> None:
        requests.post(
            f"{micro.endpoint}{TP2}",
            data=b"{not json",
            headers={"Content-Type": JSON},
            timeout=10,
        )

        (bad,) = rest(micro, "bad")
        line, row = bad["errors"]
        assert line.startswith("Error while extracting event(s) from collector payload")
        bad_row = json.loads(row)
        assert bad_row["schema"].endswith(
            "/tracker_protocol_violations/jsonschema/1-0-0"
        )
        assert resolver.errors(bad_row["schema"], bad_row["data"]) == []
        assert bad["rawEvent"] is None


class TestEvents:
    """POST /micro/events: Micro's paged, filtered, sorted list."""

    def _send(self, micro: MicroCollector) -> None:
        app = {"schema": APP, "data": {"version": "1.0"}}
        for index in range(5):
            post(
                micro,
                {**SE, "aid": f"app-{index % 2}", "se_la": str(index), "cx": _cx(app)},
            )
        post(micro, {**SE, "eid": "x", "se_la": "bad"})

    def test_pages(self, micro: MicroCollector) -> None:
        self._send(micro)
        query = {"filters": [], "page": 2, "pageSize": 2}

        answer = rest(micro, "events", query)

        assert (answer["totalItems"], answer["totalPages"]) == (6, 3)
        assert [e["se_label"] for e in answer["events"]] == ["3", "2"]
        flat = answer["events"][0]
        assert flat["contexts_com_snowplowanalytics_snowplow_application_1"] == [
            {"version": "1.0", "_schema_version": "1-0-0"}
        ]
        assert "contexts" not in flat

    def test_filters_validity_sorting(self, micro: MicroCollector) -> None:
        self._send(micro)

        valid = rest(micro, "events", {
            "filters": [{"column": "app_id", "values": ["APP-0"]}],
            "validEvents": True, "sorting": {"column": "se_label", "desc": False},
            "page": 1, "pageSize": 10, "unknown": 1,
        })  # fmt: skip
        failed = rest(
            micro,
            "events",
            {"filters": [], "validEvents": False, "page": 1, "pageSize": 10},
        )

        assert [e["se_label"] for e in valid["events"]] == ["0", "2", "4"]
        assert [e["se_label"] for e in failed["events"]] == ["bad"]

    def test_time_range_and_descending_sort(self, micro: MicroCollector) -> None:
        """timeRange keeps collector times in [start, end); desc puts nulls last."""
        self._send(micro)
        times = sorted(e.request.received_ms for e in micro.good())
        start = instant(times[0])

        inside = rest(micro, "events", {
            "filters": [], "page": 1, "pageSize": 10, "validEvents": None,
            "timeRange": {"start": start, "end": None},
            "sorting": {"column": "se_label", "desc": True},
        })  # fmt: skip
        empty = rest(micro, "events", {
            "filters": [], "page": 1, "pageSize": 10,
            "timeRange": {"start": None, "end": start},
        })  # fmt: skip
        by_null = rest(micro, "events", {
            "filters": [{"column": "contexts_x", "values": ["a"]}], "page": 1,
            "pageSize": 10, "sorting": {"column": "user_id", "desc": False},
        })  # fmt: skip

        assert [e["se_label"] for e in inside["events"]] == [
            "bad",
            "4",
            "3",
            "2",
            "1",
            "0",
        ]
        assert (empty["events"], empty["totalItems"], empty["totalPages"]) == ([], 0, 1)
        assert by_null["totalItems"] == 6

    @pytest.mark.parametrize(
        "body",
        [
            {"filters": "x", "page": 1, "pageSize": 1},
            {"filters": [{"column": 1, "values": []}], "page": 1, "pageSize": 1},
            {"filters": [{"column": "a", "values": [1]}], "page": 1, "pageSize": 1},
            {"filters": [], "page": 0, "pageSize": 1},
            {"filters": [], "page": 1, "pageSize": 1, "validEvents": "yes"},
            {"filters": [], "page": 1, "pageSize": 1, "timeRange": [1]},
            {"filters": [], "page": 1, "pageSize": 1, "timeRange": {"start": "soon"}},
            {"filters": [], "page": 1, "pageSize": 1, "sorting": {"column": "a"}},
            [1],
        ],
    )
    def test_mistyped_requests(self, micro: MicroCollector, body: object) -> None:
        """Each part of an EventsRequest of the wrong shape is a 422 naming it."""
        response = requests.post(
            f"{micro.endpoint}/micro/events", json=body, timeout=10
        )

        assert response.status_code == 422
        assert response.json()["error"]

    @pytest.mark.parametrize(
        ("body", "status"),
        [
            (b'{"filters": []}', 422),
            (b'{"filters": [], "page": "1", "pageSize": 1}', 422),
            (b"{", 400),
        ],
    )
    def test_bad_requests(
        self, micro: MicroCollector, body: bytes, status: int
    ) -> None:
        response = requests.post(
            f"{micro.endpoint}/micro/events", data=body, timeout=10
        )

        assert response.status_code == status
        assert (
            requests.get(f"{micro.endpoint}/micro/events", timeout=10).status_code
            == 404
        )
