"""Tracker: golden payloads per event type, precedence, encoding, emitters, threads."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import enum
import itertools
import json
import threading
import uuid
from collections.abc import Iterator

import pytest
from freezegun import freeze_time

from snowplow_logging import (
    ConfigurationError,
    ConfigurationTypeError,
    EcommerceTransaction,
    EcommerceTransactionItem,
    InvalidEventError,
    InvalidEventTypeError,
    PagePing,
    PageView,
    ScreenView,
    SelfDescribing,
    SelfDescribingJson,
    StructuredEvent,
    Subject,
    Tracker,
)
from snowplow_logging import _payloads as tracker_module
from snowplow_logging.testing import (
    CapturingEmitter,
    decode_entities,
    decode_self_describing_event,
)
from tests.conftest import AssertValid

NOW_MS = "1795420800123"
TV = "py-snowplow-logging-0.1.0.dev0"
APP = SelfDescribingJson(
    schema="iglu:com.snowplowanalytics.snowplow/application/jsonschema/1-0-0",
    data={"version": "2.3.1"},
)
APP_CX = (
    "eyJzY2hlbWEiOiJpZ2x1OmNvbS5zbm93cGxvd2FuYWx5dGljcy5zbm93cGxvdy9jb250ZXh0cy9qc29u"
    "c2NoZW1hLzEtMC0xIiwiZGF0YSI6W3sic2NoZW1hIjoiaWdsdTpjb20uc25vd3Bsb3dhbmFseXRpY3Mu"
    "c25vd3Bsb3cvYXBwbGljYXRpb24vanNvbnNjaGVtYS8xLTAtMCIsImRhdGEiOnsidmVyc2lvbiI6IjIu"
    "My4xIn19XX0"
)


def _uuid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


@pytest.fixture(autouse=True)
def _fixed_ids(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Event ids are 00000000-0000-4000-8000-000000000001, ...02, ... in order."""
    counter = itertools.count(1)
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(_uuid(next(counter))))
    monkeypatch.setattr(tracker_module, "event_id", lambda: _uuid(next(counter)))
    # Half-way through the millisecond: freezegun computes time_ns from a float.
    with freeze_time("2026-11-23T08:00:00.123500Z"):
        yield


@pytest.fixture(name="emitter")
def _emitter() -> CapturingEmitter:
    return CapturingEmitter()


@pytest.fixture(name="tracker")
def _tracker(emitter: CapturingEmitter) -> Tracker:
    return Tracker(emitters=emitter, namespace="ns", app_id="shop")


def _common(n: int = 1) -> dict[str, str]:
    return {"eid": _uuid(n), "tv": TV, "tna": "ns", "aid": "shop", "p": "srv"}


class TestGolden:
    """The exact payload of each event type, time frozen and ids fixed."""

    def test_page_view(
        self, tracker: Tracker, emitter: CapturingEmitter, assert_valid: AssertValid
    ) -> None:
        """A page view carries url, title and referrer."""
        eid = tracker.track(
            PageView(
                page_url="https://x.test/a", page_title="A", referrer="https://r.test"
            )
        )

        assert eid == _uuid(1)
        assert emitter.payloads == [
            {
                "e": "pv",
                **_common(),
                "dtm": NOW_MS,
                "url": "https://x.test/a",
                "page": "A",
                "refr": "https://r.test",
            }
        ]
        assert_valid(emitter.payloads[0])

    def test_page_ping_keeps_zero_offsets(
        self, tracker: Tracker, emitter: CapturingEmitter, assert_valid: AssertValid
    ) -> None:
        """Zero offsets are sent as "0", integral floats as ints."""
        tracker.track(
            PagePing(page_url="https://x.test", min_x=0, max_x=2.0, min_y=-3, max_y=0)  # type: ignore[arg-type]
        )

        assert emitter.payloads == [
            {
                "e": "pp",
                **_common(),
                "dtm": NOW_MS,
                "url": "https://x.test",
                "pp_mix": "0",
                "pp_max": "2",
                "pp_miy": "-3",
                "pp_may": "0",
            }
        ]
        assert_valid(emitter.payloads[0])

    def test_structured_event_with_entity(
        self, tracker: Tracker, emitter: CapturingEmitter, assert_valid: AssertValid
    ) -> None:
        """A structured event with an entity: se_* fields and a base64 cx last."""
        tracker.track(
            StructuredEvent(
                category="shop",
                action="paid",
                label="card",
                property_="eur",
                value=decimal.Decimal("19.90"),
                context=[APP],
            )
        )

        assert emitter.payloads == [
            {
                "e": "se",
                **_common(),
                "dtm": NOW_MS,
                "se_ca": "shop",
                "se_ac": "paid",
                "se_la": "card",
                "se_pr": "eur",
                "se_va": "19.90",
                "cx": APP_CX,
            }
        ]
        assert list(emitter.payloads[0])[-1] == "cx"
        assert_valid(emitter.payloads[0])

    def test_self_describing(
        self, tracker: Tracker, emitter: CapturingEmitter, assert_valid: AssertValid
    ) -> None:
        """A self-describing event is wrapped in unstruct_event and base64-encoded."""
        tracker.track(
            SelfDescribing(
                event_json=SelfDescribingJson(
                    schema="iglu:com.acme/checkout/jsonschema/1-0-0",
                    data={"orderId": "A-1", "total": 30},
                )
            )
        )

        payload = emitter.payloads[0]
        wrapper = {
            "schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
            "data": {
                "schema": "iglu:com.acme/checkout/jsonschema/1-0-0",
                "data": {"orderId": "A-1", "total": 30},
            },
        }
        text = json.dumps(wrapper, separators=(",", ":"))
        assert payload == {
            "e": "ue",
            **_common(),
            "dtm": NOW_MS,
            "ue_px": _b64(text),
        }
        assert_valid(payload)

    def test_screen_view(
        self, tracker: Tracker, emitter: CapturingEmitter, assert_valid: AssertValid
    ) -> None:
        """A screen view is the mobile screen_view event with a generated UUID id."""
        tracker.track(ScreenView(name="home", type="feed", previous_name="login"))

        event = decode_self_describing_event(emitter.payloads[0])
        assert event == {
            "schema": "iglu:com.snowplowanalytics.mobile/screen_view/jsonschema/1-0-0",
            "data": {
                "name": "home",
                "id": _uuid(1),
                "type": "feed",
                "previousName": "login",
            },
        }
        assert emitter.payloads[0]["eid"] == _uuid(2)
        assert_valid(emitter.payloads[0])

    def test_transaction(
        self, tracker: Tracker, emitter: CapturingEmitter, assert_valid: AssertValid
    ) -> None:
        """A transaction is one tr and one ti per item, sharing order id, currency, dtm."""
        eid = tracker.track(
            EcommerceTransaction(
                order_id="A-1001",
                total_value="30.00",
                tax_value=4.79,
                shipping=0,
                affiliation="web",
                city="Berlin",
                state="BE",
                country="DE",
                currency="EUR",
                items=[
                    EcommerceTransactionItem(
                        sku="SKU-7", price="12.50", quantity=2, name="Mug"
                    ),
                    EcommerceTransactionItem(
                        sku="SKU-8", price=5, quantity=1, category="tea"
                    ),
                ],
                context=[APP],
            )
        )

        assert eid == _uuid(1)
        assert emitter.payloads == [
            {
                "e": "tr",
                **_common(1),
                "dtm": NOW_MS,
                "tr_id": "A-1001",
                "tr_tt": "30.00",
                "tr_af": "web",
                "tr_tx": "4.79",
                "tr_sh": "0",
                "tr_ci": "Berlin",
                "tr_st": "BE",
                "tr_co": "DE",
                "tr_cu": "EUR",
                "cx": APP_CX,
            },
            {
                "e": "ti",
                **_common(2),
                "dtm": NOW_MS,
                "ti_id": "A-1001",
                "ti_sk": "SKU-7",
                "ti_nm": "Mug",
                "ti_pr": "12.50",
                "ti_qu": "2",
                "ti_cu": "EUR",
                "cx": APP_CX,
            },
            {
                "e": "ti",
                **_common(3),
                "dtm": NOW_MS,
                "ti_id": "A-1001",
                "ti_sk": "SKU-8",
                "ti_ca": "tea",
                "ti_pr": "5",
                "ti_qu": "1",
                "ti_cu": "EUR",
                "cx": APP_CX,
            },
        ]
        for payload in emitter.payloads:
            assert_valid(payload)

    def test_true_timestamp_only_when_given(
        self, tracker: Tracker, emitter: CapturingEmitter, assert_valid: AssertValid
    ) -> None:
        """ttm appears only when the caller asserts a time, on every part alike."""
        when = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)
        tracker.track(
            EcommerceTransaction(
                order_id="A",
                total_value=1,
                items=[EcommerceTransactionItem(sku="s", price=1, quantity=1)],
                true_timestamp=when,
            )
        )
        tracker.track(StructuredEvent(category="c", action="a"))

        first, second, third = emitter.payloads
        assert first["ttm"] == second["ttm"] == "1767323045678"
        assert "ttm" not in third
        assert "ti_cu" not in second
        for payload in emitter.payloads:
            assert_valid(payload)

    def test_created_ms_becomes_dtm(
        self, tracker: Tracker, emitter: CapturingEmitter
    ) -> None:
        """An integration's creation time is sent as dtm."""
        tracker.track(
            StructuredEvent(category="c", action="a"), created_ms=1700000000123
        )

        assert emitter.payloads[0]["dtm"] == "1700000000123"

    def test_plain_json_when_base64_off(
        self, emitter: CapturingEmitter, assert_valid: AssertValid
    ) -> None:
        """encode_base64=False sends ue_pr and co with the same JSON text."""
        tracker = Tracker(emitters=emitter, encode_base64=False)
        tracker.track(ScreenView(name="é", id_=_uuid(9), context=[APP]))

        payload = emitter.payloads[0]
        assert set(payload) >= {"ue_pr", "co"}
        assert not set(payload) & {"ue_px", "cx"}
        assert '"name":"é"' in payload["ue_pr"]
        assert payload["co"] == (
            '{"schema":"iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1",'
            '"data":[{"schema":"iglu:com.snowplowanalytics.snowplow/application/'
            'jsonschema/1-0-0","data":{"version":"2.3.1"}}]}'
        )
        assert_valid(payload)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


class TestSubject:
    """Subject precedence: the event's set fields win, nothing is mutated."""

    def test_event_subject_overrides_only_its_fields(
        self, emitter: CapturingEmitter
    ) -> None:
        """A per-event subject overrides the fields it sets and keeps the rest."""
        base = Subject(user_id="u-1", lang="en", platform="srv")
        tracker = Tracker(emitters=emitter, subject=base)
        override = Subject(
            user_id="u-2", domain_session_id=_uuid(7), domain_session_index=3
        )

        tracker.track(StructuredEvent(category="c", action="a", event_subject=override))
        tracker.track(StructuredEvent(category="c", action="a"))

        first, second = emitter.payloads
        assert (first["uid"], first["lang"], first["p"]) == ("u-2", "en", "srv")
        assert (first["sid"], first["vid"]) == (_uuid(7), "3")
        assert (second["uid"], "sid" in second) == ("u-1", False)
        assert tracker.subject is base
        assert base.user_id == "u-1"

    def test_event_subject_platform_wins(self, emitter: CapturingEmitter) -> None:
        """A subject's platform overrides the tracker's; an unset one does not reset it."""
        tracker = Tracker(emitters=emitter, platform="app")
        tracker.track(
            StructuredEvent(category="c", action="a", event_subject=Subject(lang="de"))
        )
        tracker.track(
            StructuredEvent(
                category="c", action="a", event_subject=Subject(platform="mob")
            )
        )

        assert [p["p"] for p in emitter.payloads] == ["app", "mob"]

    def test_all_subject_fields(
        self, emitter: CapturingEmitter, assert_valid: AssertValid
    ) -> None:
        """Every setter maps to its protocol field."""
        subject = (
            Subject()
            .set_platform("web")
            .set_user_id("u")
            .set_screen_resolution(1920, 1080)
            .set_viewport(800, 600)
            .set_color_depth(24)
            .set_timezone("Europe/Berlin")
            .set_lang("de-DE")
            .set_ip_address("203.0.113.9")
            .set_useragent("curl/8")
            .set_domain_user_id("d-1")
            .set_domain_session_id(uuid.UUID(_uuid(5)))
            .set_domain_session_index(0)
            .set_network_user_id("n-1")
        )
        Tracker(emitters=emitter, subject=subject).track(
            PageView(page_url="https://x.test")
        )

        payload = emitter.payloads[0]
        assert {k: payload[k] for k in subject.fields} == {
            "p": "web",
            "uid": "u",
            "res": "1920x1080",
            "vp": "800x600",
            "cd": "24",
            "tz": "Europe/Berlin",
            "lang": "de-DE",
            "ip": "203.0.113.9",
            "ua": "curl/8",
            "duid": "d-1",
            "sid": _uuid(5),
            "vid": "0",
            "tnuid": "n-1",
        }
        assert_valid(payload)

    def test_setters_return_new_subjects(self) -> None:
        """set_* returns a copy; the original subject is unchanged."""
        base = Subject(user_id="a")

        changed = base.set_user_id("b")

        assert (base.user_id, changed.user_id) == ("a", "b")


class Unserialisable:
    def __str__(self) -> str:
        return "<unserialisable>"


class Colour(enum.Enum):
    RED = "red"


class TestJsonEncoding:
    """Values json cannot encode are handled, never raised into the caller."""

    def _data(self, emitter: CapturingEmitter) -> object:
        event = decode_self_describing_event(emitter.payloads[-1])
        assert event is not None
        return event["data"]

    def test_builtin_types(self, emitter: CapturingEmitter) -> None:
        """datetime, date, Decimal, UUID, enums and sets have default encodings."""
        tracker = Tracker(emitters=emitter)
        data = {
            "at": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
            "day": dt.date(2026, 1, 2),
            "amount": decimal.Decimal("1.5"),
            "id": uuid.UUID(_uuid(3)),
            "colour": Colour.RED,
            "tags": {"b", "a"},
        }
        tracker.track(
            SelfDescribing(
                event_json=SelfDescribingJson(
                    schema="iglu:com.acme/cart/jsonschema/1-0-0", data=data
                )
            )
        )

        assert self._data(emitter) == {
            "at": "2026-01-02T03:04:05+00:00",
            "day": "2026-01-02",
            "amount": 1.5,
            "id": _uuid(3),
            "colour": "red",
            "tags": ["a", "b"],
        }
        assert tracker.stats["encoding_fallbacks"] == 0

    def test_user_encoder_first_then_str_fallback_counted(
        self, emitter: CapturingEmitter
    ) -> None:
        """The user's encoder runs first; what nobody handles becomes str() and is counted."""

        def encoder(value: object) -> object:
            if isinstance(value, complex):
                return [value.real, value.imag]
            raise TypeError

        tracker = Tracker(emitters=emitter, json_encoder=encoder)
        sdj = SelfDescribingJson(
            schema="iglu:com.acme/cart/jsonschema/1-0-0",
            data={"z": complex(1, 2), "odd": Unserialisable()},
        )
        tracker.track(SelfDescribing(event_json=sdj))

        assert self._data(emitter) == {"z": [1.0, 2.0], "odd": "<unserialisable>"}
        assert tracker.stats["encoding_fallbacks"] == 1

    def test_encoder_producing_nan_drops_and_counts(
        self, emitter: CapturingEmitter
    ) -> None:
        """An encoder that yields NaN cannot produce valid JSON: the event is dropped and counted."""
        tracker = Tracker(emitters=emitter, json_encoder=lambda value: float("nan"))
        sdj = SelfDescribingJson(
            schema="iglu:com.acme/cart/jsonschema/1-0-0", data={"x": Unserialisable()}
        )

        result = tracker.track(SelfDescribing(event_json=sdj))

        assert (result, emitter.payloads) == ("", [])
        assert tracker.stats["encoding_failures"] == 1

    def test_non_ascii_round_trips(self, emitter: CapturingEmitter) -> None:
        """Non-ASCII and non-BMP text survives base64 (snowplow-python-tracker #194)."""
        tracker = Tracker(emitters=emitter)
        text = "Grüße 😀 日本"
        sdj = SelfDescribingJson(
            schema="iglu:com.acme/cart/jsonschema/1-0-0", data={"t": text}
        )
        tracker.track(SelfDescribing(event_json=sdj, context=[sdj]))

        payload = emitter.payloads[0]
        assert self._data(emitter) == {"t": text}
        assert decode_entities(payload) == [{"schema": sdj.schema, "data": {"t": text}}]
        assert "=" not in payload["ue_px"] + payload["cx"]
        assert not set(payload["ue_px"]) & {"+", "/"}


class BrokenEmitter:
    def input(self, payload: dict[str, str]) -> None:
        raise RuntimeError("boom")

    def flush(self) -> bool:
        raise RuntimeError("flush boom")


class SlowFlushEmitter:
    def __init__(self) -> None:
        self.timeouts: list[float | None] = []

    def input(self, payload: dict[str, str]) -> None:
        pass

    def flush(self, timeout: float | None = None) -> bool:
        self.timeouts.append(timeout)
        return False

    def close(self, timeout: float | None = None) -> None:
        self.timeouts.append(timeout)


class TestEmitters:
    """Emitters: any object with input(); a failing one never stops the others."""

    def test_failing_emitter_does_not_stop_others(
        self, emitter: CapturingEmitter, caplog: pytest.LogCaptureFixture
    ) -> None:
        """An emitter raising in input() is counted and logged once; others still get events."""
        tracker = Tracker(emitters=[BrokenEmitter(), emitter])

        for _ in range(3):
            tracker.track(StructuredEvent(category="c", action="a"))

        assert len(emitter.payloads) == 3
        assert tracker.stats["emitter_errors"] == 3
        warnings = [r for r in caplog.records if r.name == "snowplow_logging"]
        assert len(warnings) == 1
        assert "RuntimeError: boom" in warnings[0].getMessage()

    def test_each_emitter_gets_its_own_dict(self) -> None:
        """Two emitters receive equal but distinct payload dicts."""
        first, second = CapturingEmitter(), CapturingEmitter()
        Tracker(emitters=(first, second)).track(
            StructuredEvent(category="c", action="a")
        )

        assert first.payloads == second.payloads
        assert first.payloads[0] is not second.payloads[0]

    def test_flush_and_close_forwarded(self, emitter: CapturingEmitter) -> None:
        """flush() reports False if any emitter did not finish; close() is idempotent."""
        slow = SlowFlushEmitter()
        tracker = Tracker(emitters=[emitter, slow, BrokenEmitter()])

        assert tracker.flush(timeout=2.0) is False
        assert tracker.close(timeout=2.0) is True
        assert tracker.close() is True

        assert emitter.closed
        assert len(slow.timeouts) == 2
        assert all(t is not None and 0 <= t <= 2.0 for t in slow.timeouts)

    def test_context_manager_closes(self, emitter: CapturingEmitter) -> None:
        """Leaving a with-block closes the emitters."""
        with Tracker(emitters=emitter) as tracker:
            tracker.track(PageView(page_url="https://x.test"))

        assert emitter.closed

    def test_extra_context_appended(self, emitter: CapturingEmitter) -> None:
        """track(context=...) adds entities after the event's own."""
        other = SelfDescribingJson(
            schema="iglu:com.acme/cart/jsonschema/1-0-0", data={}
        )
        Tracker(emitters=emitter).track(
            StructuredEvent(category="c", action="a", context=[APP]), context=[other]
        )

        assert [e["schema"] for e in decode_entities(emitter.payloads[0])] == [
            APP.schema,
            other.schema,
        ]

    def test_eight_threads(self) -> None:
        """track() from 8 threads: every event once, each with a unique id."""
        emitter = CapturingEmitter()
        tracker = Tracker(emitters=emitter)
        barrier = threading.Barrier(8)

        def work(n: int) -> None:
            barrier.wait()
            for i in range(500):
                tracker.track(StructuredEvent(category=f"t{n}", action=str(i)))

        with freeze_time(tick=True):
            threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

        payloads = emitter.payloads
        assert len(payloads) == 4000
        assert len({p["eid"] for p in payloads}) == 4000
        assert {(p["se_ca"], p["se_ac"]) for p in payloads} == {
            (f"t{n}", str(i)) for n in range(8) for i in range(500)
        }
        assert tracker.stats["tracked"] == 4000


class TestBadConfiguration:
    """Bad tracker settings fail at construction with a message naming the setting."""

    @pytest.mark.parametrize(
        ("kwargs", "error", "message"),
        [
            ({"emitters": []}, ConfigurationTypeError, "'emitters' must be an emitter"),
            (
                {"emitters": [object()]},
                ConfigurationTypeError,
                "'emitters[0]' must have an input",
            ),
            ({"platform": "desktop"}, ConfigurationError, "'platform' must be one of"),
            ({"namespace": 5}, ConfigurationTypeError, "'namespace' must be a string"),
            ({"app_id": "x" * 256}, ConfigurationError, "'app_id' must be at most 255"),
            (
                {"subject": {"uid": "x"}},
                ConfigurationTypeError,
                "'subject' must be a Subject",
            ),
            (
                {"encode_base64": "no"},
                ConfigurationTypeError,
                "'encode_base64' must be a bool",
            ),
            (
                {"json_encoder": 3},
                ConfigurationTypeError,
                "'json_encoder' must be callable",
            ),
        ],
    )
    def test_rejected(
        self, kwargs: dict[str, object], error: type[Exception], message: str
    ) -> None:
        """Each bad setting raises the matching error naming it."""
        settings: dict[str, object] = {"emitters": CapturingEmitter(), **kwargs}

        with pytest.raises(
            error, match=message.replace("[", r"\[").replace("]", r"\]")
        ):
            Tracker(**settings)  # type: ignore[arg-type]

    def test_track_refuses_non_events(self, tracker: Tracker) -> None:
        """track() of something that is not an event raises a clear TypeError."""
        with pytest.raises(InvalidEventTypeError, match="'event' must be an Event"):
            tracker.track({"e": "se"})  # type: ignore[arg-type]

    def test_created_ms_in_seconds_refused(self, tracker: Tracker) -> None:
        """A creation time in seconds is refused with a hint."""
        with pytest.raises(InvalidEventError, match="looks like seconds"):
            tracker.track(
                StructuredEvent(category="c", action="a"), created_ms=1_700_000_000
            )

    def test_repr(self, tracker: Tracker) -> None:
        """The repr names namespace, app id and the number of emitters."""
        assert repr(tracker) == "<Tracker namespace='ns' app_id='shop' emitters=1>"


class TestEventId:
    """Event ids are random version-4 UUIDs."""

    def test_format(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Canonical text, version 4, RFC 4122 variant, all distinct."""
        monkeypatch.undo()
        ids = {tracker_module.event_id() for _ in range(2000)}

        assert len(ids) == 2000
        for text in ids:
            parsed = uuid.UUID(text)
            assert (str(parsed), parsed.version, parsed.variant) == (
                text,
                4,
                uuid.RFC_4122,
            )
