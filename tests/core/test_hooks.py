"""before_send: the tracker's hook, its counters, and the ready hooks of snowplow_logging.hooks."""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import logging
import threading
from collections.abc import Iterator, Mapping

import pytest

from snowplow_logging import (
    ConfigurationError,
    ConfigurationTypeError,
    EcommerceTransaction,
    EcommerceTransactionItem,
    Emitter,
    SelfDescribing,
    SelfDescribingJson,
    SnowplowHandler,
    StructuredEvent,
    Subject,
    Tracker,
    bind,
)
from snowplow_logging._protocol import Payload
from snowplow_logging.hooks import (
    ANONYMOUS_FIELDS,
    anonymize,
    chain,
    hash_fields,
    sample,
    sample_by_schema,
)
from snowplow_logging.micro import MicroCollector
from snowplow_logging.testing import CapturingEmitter

SALT = "a-salt-of-sixteen-bytes"
CLICK = "iglu:com.acme/click/jsonschema/1-0-0"
VIEW = "iglu:com.acme/view/jsonschema/1-0-0"
FULL_SUBJECT = Subject(
    user_id="u-42",
    ip_address="203.0.113.9",
    domain_user_id="d-1",
    network_user_id="n-1",
    domain_session_id="123e4567-e89b-12d3-a456-426614174000",
    domain_session_index=3,
    useragent="Mozilla/5.0",
)


@pytest.fixture(name="micro")
def _micro() -> Iterator[MicroCollector]:
    with MicroCollector() as micro:
        yield micro


def _event(n: int = 0) -> StructuredEvent:
    return StructuredEvent(category="c", action="a", value=n)


def _sd(schema: str) -> SelfDescribing:
    return SelfDescribing(event_json=SelfDescribingJson(schema=schema, data={"n": 1}))


def _digest(value: str) -> str:
    return hmac.new(SALT.encode(), value.encode(), hashlib.sha256).hexdigest()


class TestBeforeSend:
    """The tracker runs the hook on each payload; what it drops is counted."""

    def test_identity_changed_copy_and_drop(self) -> None:
        """The returned payload is what the emitter gets; None drops and counts."""
        emitter = CapturingEmitter()

        def hook(payload: Payload) -> Mapping[str, str] | None:
            if payload["se_va"] == "1":
                return None
            if payload["se_va"] == "2":
                return {**payload, "se_la": "changed"}
            return payload

        tracker = Tracker(emitters=emitter, before_send=hook)
        ids = [tracker.track(_event(n)) for n in range(3)]

        assert [p["se_va"] for p in emitter.payloads] == ["0", "2"]
        assert emitter.payloads[1]["se_la"] == "changed"
        assert ids[1] == ""
        assert ids[0] == emitter.payloads[0]["eid"]
        stats = tracker.stats
        assert (stats["tracked"], stats["dropped_by_hook"], stats["hook_failed"]) == (
            2,
            1,
            0,
        )

    @pytest.mark.parametrize(
        ("result", "reason"),
        [
            (ValueError("boom"), "raised ValueError: boom"),
            (["not", "a", "mapping"], "returned list, not a payload mapping"),
            ({"e": "se", "se_va": 3}, "'se_va' is int, not str"),
        ],
    )
    def test_a_failing_hook_drops_counts_and_warns_once(
        self, result: object, reason: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Raising or returning garbage: the event is dropped, the caller is not hurt."""
        emitter = CapturingEmitter()

        def hook(payload: Payload) -> object:
            if isinstance(result, Exception):
                raise result
            return result

        tracker = Tracker(emitters=emitter, before_send=hook)  # type: ignore[arg-type]
        with caplog.at_level(logging.WARNING, logger="snowplow_logging"):
            for n in range(5):
                assert tracker.track(_event(n)) == ""

        assert emitter.payloads == []
        assert tracker.stats["hook_failed"] == 5
        assert tracker.stats["dropped_by_hook"] == 0
        warnings = [r.getMessage() for r in caplog.records]
        assert len(warnings) == 1
        assert reason in warnings[0]
        assert "stats['hook_failed']" in warnings[0]

    def test_runs_on_the_tracking_thread_in_its_context(
        self, micro: MicroCollector
    ) -> None:
        """With a real Emitter the hook sees the caller's thread and context
        variables; a dropped event never reaches the emitter."""
        consent: contextvars.ContextVar[bool] = contextvars.ContextVar(
            "c", default=True
        )
        threads: list[int] = []

        def hook(payload: Payload) -> Payload | None:
            threads.append(threading.get_ident())
            return payload if consent.get() else None

        emitter = Emitter(micro.endpoint)
        tracker = Tracker(emitters=emitter, before_send=hook)
        tracker.submit(_event(0))
        consent.set(False)
        tracker.submit(_event(1))
        assert tracker.flush(timeout=10)
        tracker.close()

        assert threads == [threading.get_ident()] * 2
        assert [e.payload["se_va"] for e in micro.good()] == ["0"]
        assert micro.bad() == []
        assert emitter.stats["inputs"] == 1
        assert tracker.stats["dropped_by_hook"] == 1

    def test_each_transaction_payload_goes_through_the_hook(self) -> None:
        """A transaction's tr and ti payloads are each offered; ti ones may go alone."""
        emitter = CapturingEmitter()
        seen: list[str] = []

        def hook(payload: Payload) -> Payload | None:
            seen.append(payload["e"])
            return None if payload["e"] == "ti" else payload

        tracker = Tracker(emitters=emitter, before_send=hook)
        item = EcommerceTransactionItem(sku="s", price=1, quantity=1)
        tracker.track(
            EcommerceTransaction(order_id="o", total_value=2, items=[item, item])
        )

        assert seen == ["tr", "ti", "ti"]
        assert [p["e"] for p in emitter.payloads] == ["tr"]
        assert tracker.stats["dropped_by_hook"] == 2

    def test_not_callable_is_refused(self) -> None:
        """A hook that is not callable fails at construction, naming the setting."""
        with pytest.raises(
            ConfigurationTypeError, match="'before_send' must be callable"
        ):
            Tracker(emitters=CapturingEmitter(), before_send="scrub")  # type: ignore[arg-type]


class TestReadyHooks:
    """hash_fields, anonymize, sample, sample_by_schema and chain."""

    def test_hash_fields_hmacs_uid_and_ip(self) -> None:
        """uid and ip become HMAC-SHA256 hex under the salt; the rest is untouched."""
        emitter = CapturingEmitter()
        tracker = Tracker(
            emitters=emitter, subject=FULL_SUBJECT, before_send=hash_fields(SALT)
        )
        tracker.track(_event())
        tracker.track(_event(), context=())

        first, second = emitter.payloads
        assert first["uid"] == _digest("u-42")
        assert first["ip"] == _digest("203.0.113.9")
        assert (first["uid"], first["ip"]) == (second["uid"], second["ip"])
        assert first["duid"] == "d-1"
        assert first["ua"] == "Mozilla/5.0"

    def test_hash_fields_leaves_absent_fields_absent(self) -> None:
        """An event without uid gets none."""
        emitter = CapturingEmitter()
        Tracker(emitters=emitter, before_send=hash_fields(SALT)).track(_event())

        assert "uid" not in emitter.payloads[0]
        assert "ip" not in emitter.payloads[0]

    @pytest.mark.parametrize(
        ("kwargs", "error", "message"),
        [
            ({"salt": "short"}, ConfigurationError, "at least 16 bytes"),
            ({"salt": 42}, ConfigurationTypeError, "'salt' must be str or bytes"),
            ({"salt": SALT, "fields": ()}, ConfigurationError, "at least one"),
            ({"salt": SALT, "fields": "uid"}, ConfigurationTypeError, "sequence"),
        ],
    )
    def test_hash_fields_settings(
        self, kwargs: dict[str, object], error: type[Exception], message: str
    ) -> None:
        """Bad settings fail when the hook is made."""
        with pytest.raises(error, match=message):
            hash_fields(**kwargs)  # type: ignore[arg-type]

    def test_anonymize_strips_user_and_session_identifiers(self) -> None:
        """uid, duid, nuid, tnuid, ip, sid and vid go; the event and ua stay."""
        emitter = CapturingEmitter()
        tracker = Tracker(
            emitters=emitter, subject=FULL_SUBJECT, before_send=anonymize()
        )
        with bind(subject=Subject(user_id="bound")):
            tracker.track(_event())

        payload = emitter.payloads[0]
        assert not set(ANONYMOUS_FIELDS) & set(payload)
        assert {"tnuid", "nuid", "sid", "vid"} <= set(ANONYMOUS_FIELDS)
        assert (payload["se_ca"], payload["ua"]) == ("c", "Mozilla/5.0")

    def test_anonymize_when_decides_per_event(self) -> None:
        """Only events for which `when` is true lose their identifiers."""
        consent: contextvars.ContextVar[bool] = contextvars.ContextVar(
            "c", default=False
        )
        emitter = CapturingEmitter()
        tracker = Tracker(
            emitters=emitter,
            subject=FULL_SUBJECT,
            before_send=anonymize(when=lambda payload: not consent.get()),
        )
        tracker.track(_event(0))
        consent.set(True)
        tracker.track(_event(1))

        without, with_consent = emitter.payloads
        assert "uid" not in without
        assert with_consent["uid"] == "u-42"

    def test_sample_rates(self) -> None:
        """0 keeps none, 1 keeps all, 0.5 about half; what is dropped is counted."""
        kept = {}
        for rate in (0.0, 0.5, 1.0):
            emitter = CapturingEmitter()
            tracker = Tracker(emitters=emitter, before_send=sample(rate))
            for n in range(2000):
                tracker.track(_event(n))
            kept[rate] = len(emitter.payloads)
            assert tracker.stats["dropped_by_hook"] == 2000 - kept[rate]

        assert kept[0.0] == 0
        assert kept[1.0] == 2000
        assert 850 <= kept[0.5] <= 1150  # binomial: sd 22

    @pytest.mark.parametrize("rate", [-0.1, 1.5, float("nan"), True, "0.5"])
    def test_sample_refuses_bad_rates(self, rate: object) -> None:
        """A rate outside 0..1 or not a number fails when the hook is made."""
        with pytest.raises(
            (ConfigurationError, ConfigurationTypeError), match="'rate'"
        ):
            sample(rate)  # type: ignore[arg-type]

    @pytest.mark.parametrize("encode_base64", [True, False])
    def test_sample_by_schema(self, encode_base64: bool) -> None:
        """Per-schema rates (exact URI or vendor/name) win over the default."""
        emitter = CapturingEmitter()
        hook = sample_by_schema(
            {
                CLICK: 0.0,
                "iglu:com.acme/view": 1.0,
                "iglu:com.acme/view/jsonschema/2-0-0": 0.0,
            },
            default=0.0,
        )
        tracker = Tracker(
            emitters=emitter, before_send=hook, encode_base64=encode_base64
        )
        for schema in (
            CLICK,
            VIEW,
            "iglu:com.acme/view/jsonschema/1-0-1",
            "iglu:com.acme/view/jsonschema/2-0-0",
        ):
            tracker.track(_sd(schema))
        tracker.track(_event())

        assert len(emitter.payloads) == 2
        assert tracker.stats["dropped_by_hook"] == 3

    @pytest.mark.parametrize(
        ("rates", "error", "message"),
        [
            ({"com.acme/click": 0.5}, ConfigurationError, "'rates' keys must be"),
            ({CLICK: 2}, ConfigurationError, "between 0 and 1"),
            ([(CLICK, 0.5)], ConfigurationTypeError, "'rates' must be a mapping"),
        ],
    )
    def test_sample_by_schema_settings(
        self, rates: object, error: type[Exception], message: str
    ) -> None:
        """Keys must be Iglu URIs, rates in 0..1."""
        with pytest.raises(error, match=message):
            sample_by_schema(rates)  # type: ignore[arg-type]

    def test_chain_runs_in_order_and_stops_at_none(self) -> None:
        """Hash, then anonymise when asked, then sample: each sees the last one's result."""
        emitter = CapturingEmitter()
        order: list[str] = []

        def first(payload: Payload) -> Payload:
            order.append("first")
            return {**payload, "se_la": "first"}

        def second(payload: Payload) -> Payload | None:
            order.append(f"second saw {payload['se_la']}")
            return None if payload["se_va"] == "1" else payload

        def never(payload: Payload) -> Payload:
            order.append("third")
            return payload

        tracker = Tracker(
            emitters=emitter,
            subject=FULL_SUBJECT,
            before_send=chain(hash_fields(SALT), first, second, never),
        )
        tracker.track(_event(0))
        tracker.track(_event(1))

        assert order == [
            "first",
            "second saw first",
            "third",
            "first",
            "second saw first",
        ]
        assert len(emitter.payloads) == 1
        assert emitter.payloads[0]["uid"] == _digest("u-42")

    def test_chain_refuses_what_is_not_callable(self) -> None:
        """The bad argument is named by position."""
        with pytest.raises(ConfigurationTypeError, match="argument 1 must be callable"):
            chain(anonymize(), 3)  # type: ignore[arg-type]

    def test_hooked_events_arrive_valid(self, micro: MicroCollector) -> None:
        """Hashed and anonymised events pass the collector's validation."""
        tracker = Tracker(
            emitters=Emitter(micro.endpoint),
            subject=FULL_SUBJECT,
            before_send=chain(
                hash_fields(SALT),
                anonymize(when=lambda payload: payload["se_va"] == "1"),
            ),
        )
        tracker.track(_event(0))
        tracker.track(_event(1))
        assert tracker.flush(timeout=10)
        tracker.close()

        events = {e.payload["se_va"]: e for e in micro.good()}
        assert micro.bad() == []
        assert events["0"]["event"]["user_id"] == _digest("u-42")
        assert events["0"]["event"]["user_ipaddress"] == _digest("203.0.113.9")
        assert events["1"]["event"].get("user_id") is None
        assert events["1"]["event"].get("domain_userid") is None


class TestHandlerSettings:
    """SnowplowHandler built from an endpoint passes before_send to its tracker."""

    def test_handler_before_send(self, micro: MicroCollector) -> None:
        """The handler's events go through the hook; what it drops is counted."""
        log = logging.getLogger("tests.hooks.handler")
        log.propagate = False
        handler = SnowplowHandler(
            endpoint=micro.endpoint,
            before_send=chain(anonymize(), sample_by_schema({}, default=1.0)),
        )
        log.addHandler(handler)
        try:
            with bind(subject=Subject(user_id="u-42")):
                log.warning("x", extra={"snowplow": _event(0)})
            assert handler.flush()
        finally:
            log.removeHandler(handler)
            handler.close()

        (event,) = micro.good()
        assert "uid" not in event.payload
        assert handler.stats["tracker_dropped_by_hook"] == 0

    def test_a_misspelt_hook_setting_is_named(self) -> None:
        """before_sned: refused, with the right name suggested."""
        with pytest.raises(ConfigurationTypeError, match="before_send"):
            SnowplowHandler(endpoint="http://127.0.0.1:1", before_sned=anonymize())
