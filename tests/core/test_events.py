"""Event and subject values: checked at construction, immutable, picklable."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import pickle
import re
import uuid
from collections.abc import Callable

import pytest

from snowplow_logging import (
    EcommerceTransaction,
    EcommerceTransactionItem,
    Event,
    InvalidEventError,
    InvalidEventTypeError,
    PagePing,
    PageView,
    ScreenView,
    SelfDescribing,
    SelfDescribingJson,
    SnowplowLoggingError,
    StructuredEvent,
    Subject,
)

SCHEMA = "iglu:com.acme/checkout/jsonschema/1-0-0"
SDJ = SelfDescribingJson(schema=SCHEMA, data={"orderId": "A", "total": 1})


BAD: list[tuple[str, Callable[[], object], type[Exception], str]] = [
    ("empty category", lambda: StructuredEvent(category="", action="a"), InvalidEventError,
     "'category' is required and must be a non-empty string (got '')."),
    ("missing action", lambda: StructuredEvent(category="c", action=None),  # type: ignore[arg-type]
     InvalidEventError, "'action' is required"),
    ("text value", lambda: StructuredEvent(category="c", action="a", value="abc"),
     InvalidEventError, "'value' must be a decimal number such as '12.50' (got 'abc')."),
    ("nan value", lambda: StructuredEvent(category="c", action="a", value=float("nan")),
     InvalidEventError, "'value' must be a finite number (got nan)."),
    ("inf value", lambda: StructuredEvent(category="c", action="a", value=float("inf")),
     InvalidEventError, "'value' must be a finite number (got inf)."),
    ("decimal nan", lambda: StructuredEvent(category="c", action="a", value=decimal.Decimal("NaN")),
     InvalidEventError, "'value' must be a finite number"),
    ("bool value", lambda: StructuredEvent(category="c", action="a", value=True),
     InvalidEventTypeError, "'value' must be a number, not a bool (got True)."),
    ("list value", lambda: StructuredEvent(category="c", action="a", value=[1]),  # type: ignore[arg-type]
     InvalidEventTypeError, "'value' must be a number (got list [1])."),
    ("category not text", lambda: StructuredEvent(category=5, action="a"),  # type: ignore[arg-type]
     InvalidEventTypeError, "'category' must be a string (got int 5)."),
    ("category too long", lambda: StructuredEvent(category="c" * 1001, action="a"),
     InvalidEventError, "'category' must be at most 1000 characters"),
    ("lone surrogate", lambda: StructuredEvent(category="a\ud800", action="a"),
     InvalidEventError, "'category' must be text encodable as UTF-8"),
    ("fractional ping", lambda: PagePing(page_url="u", min_x=-1.5),  # type: ignore[arg-type]
     InvalidEventError,
     "'min_x' must be a whole number (got -1.5)."),
    ("bool ping", lambda: PagePing(page_url="u", max_y=False), InvalidEventTypeError,
     "'max_y' must be an integer (got bool False)."),
    ("huge ping", lambda: PagePing(page_url="u", max_x=2**31), InvalidEventError,
     "'max_x' must be between -2147483648 and 2147483647 (got 2147483648)."),
    ("empty url", lambda: PageView(page_url=""), InvalidEventError, "'page_url' is required"),
    ("bad schema", lambda: SelfDescribingJson(schema="com.acme/x/1-0-0", data={}),
     InvalidEventError, "'schema' must be an Iglu URI like"),
    ("schema wrong format", lambda: SelfDescribingJson(schema="iglu:com.acme/x/jsonschema/1-0", data={}),
     InvalidEventError, "'schema' must be an Iglu URI"),
    ("data not mapping", lambda: SelfDescribingJson(schema=SCHEMA, data=[1]),  # type: ignore[arg-type]
     InvalidEventTypeError, "'data' must be a mapping (got list [1])."),
    ("data with nan", lambda: SelfDescribingJson(schema=SCHEMA, data={"a": [1.0, float("nan")]}),
     InvalidEventError, "'data.a[1]' must be a finite number; JSON has no nan."),
    ("data int key", lambda: SelfDescribingJson(schema=SCHEMA, data={"a": {1: 2}}),
     InvalidEventTypeError, "keys of 'data.a' must be strings (got int 1)."),
    ("data surrogate", lambda: SelfDescribingJson(schema=SCHEMA, data={"a": "\udfff"}),
     InvalidEventError, "'data.a' must be text encodable as UTF-8"),
    ("context not list", lambda: StructuredEvent(category="c", action="a", context=SDJ),  # type: ignore[arg-type]
     InvalidEventTypeError, "'context' must be a sequence of SelfDescribingJson (got one; wrap it in [...])."),
    ("context of dicts", lambda: StructuredEvent(category="c", action="a", context=[{"schema": SCHEMA}]),  # type: ignore[list-item]
     InvalidEventTypeError, "'context[0]' must be a SelfDescribingJson (got dict)."),
    ("subject not Subject", lambda: StructuredEvent(category="c", action="a", event_subject={"uid": "x"}),  # type: ignore[arg-type]
     InvalidEventTypeError, "'event_subject' must be a Subject (got dict)."),
    ("naive datetime", lambda: StructuredEvent(category="c", action="a", true_timestamp=dt.datetime(2026, 1, 1)),  # noqa: DTZ001
     InvalidEventError, "'true_timestamp' must be a timezone-aware datetime"),
    ("seconds timestamp", lambda: StructuredEvent(category="c", action="a", true_timestamp=1_700_000_000),
     InvalidEventError, "(this looks like seconds, not milliseconds)"),
    ("float timestamp", lambda: StructuredEvent(category="c", action="a", true_timestamp=1.7e12),  # type: ignore[arg-type]
     InvalidEventTypeError, "'true_timestamp' must be milliseconds since the epoch (int)"),
    ("screen id not uuid", lambda: ScreenView(name="s", id_="534"), InvalidEventError,
     "'id_' must be a UUID like"),
    ("screen previous id", lambda: ScreenView(name="s", previous_id="x"), InvalidEventError,
     "'previous_id' must be a UUID"),
    ("screen no name", lambda: ScreenView(name=""), InvalidEventError, "'name' is required"),
    ("event_json dict", lambda: SelfDescribing(event_json={"schema": SCHEMA, "data": {}}),  # type: ignore[arg-type]
     InvalidEventTypeError, "'event_json' must be a SelfDescribingJson (got dict)."),
    ("item quantity float", lambda: EcommerceTransactionItem(sku="s", price=1, quantity=1.5),  # type: ignore[arg-type]
     InvalidEventError, "'quantity' must be a whole number (got 1.5)."),
    ("item no price", lambda: EcommerceTransactionItem(sku="s", price=None, quantity=1),  # type: ignore[arg-type]
     InvalidEventError, "'price' is required and must be a number"),
    ("currency too long", lambda: EcommerceTransaction(order_id="o", total_value=1, currency="EURO"),
     InvalidEventError, "'currency' must be at most 3 characters"),
    ("items of dicts", lambda: EcommerceTransaction(order_id="o", total_value=1, items=[{"sku": "s"}]),  # type: ignore[list-item]
     InvalidEventTypeError, "'items[0]' must be an EcommerceTransactionItem (got dict)."),
    ("no total", lambda: EcommerceTransaction(order_id="o", total_value=""), InvalidEventError,
     "'total_value' is required and must be a number"),
    ("sid not uuid", lambda: Subject(domain_session_id="59ed13b1a5724dae"), InvalidEventError,
     "'domain_session_id' must be a UUID like"),
    ("vid negative", lambda: Subject(domain_session_index=-1), InvalidEventError,
     "'domain_session_index' must be between 0 and"),
    ("platform", lambda: Subject(platform="desktop"), InvalidEventError,
     "'platform' must be one of app, cnsl, headset, iot, mob, pc, srv, tv, web (got 'desktop')."),
    ("resolution shape", lambda: Subject(screen_resolution=(1, 2, 3)),  # type: ignore[arg-type]
     InvalidEventTypeError, "'screen_resolution' must be a (width, height) pair"),
    ("viewport negative", lambda: Subject().set_viewport(-1, 5), InvalidEventError,
     "'viewport.width' must be between 0 and"),
    ("color depth long", lambda: Subject(color_depth="x" * 13), InvalidEventError,
     "'color_depth' must be at most 12 characters"),
    ("base class", Event, InvalidEventTypeError, "'Event' is a base class"),
]  # fmt: skip


class TestBadInput:
    """Wrong values are refused at construction, naming field, expectation and input."""

    @pytest.mark.parametrize(
        ("build", "error", "message"),
        [pytest.param(b, e, m, id=i) for i, b, e, m in BAD],
    )
    def test_refused(
        self, build: Callable[[], object], error: type[Exception], message: str
    ) -> None:
        """Each bad value raises the matching error with a message naming the field."""
        with pytest.raises(error, match=re.escape(message)) as info:
            build()

        assert isinstance(info.value, SnowplowLoggingError)


class TestValues:
    """Events are immutable snapshots that pickle."""

    def test_frozen(self) -> None:
        """Fields cannot be reassigned."""
        event = StructuredEvent(category="c", action="a")

        with pytest.raises(dataclasses.FrozenInstanceError):
            event.category = "x"  # type: ignore[misc]

    def test_keyword_only(self) -> None:
        """Positional arguments are refused."""
        with pytest.raises(TypeError):
            StructuredEvent("c", "a")  # type: ignore[call-arg, arg-type]

    def test_data_is_snapshot(self) -> None:
        """Changing the caller's dict after building does not change the event."""
        data: dict[str, object] = {"orderId": "A", "items": ["x"]}
        sdj = SelfDescribingJson(schema=SCHEMA, data=data)
        data["orderId"] = "B"
        items = data["items"]
        assert isinstance(items, list)
        items.append("y")

        assert sdj.data == {"orderId": "A", "items": ["x"]}

    @pytest.mark.parametrize(
        "build",
        [
            lambda: Subject(domain_session_id="6ba7b810-9dad-41d1-80b4-00c04fd430c8\n"),
            lambda: StructuredEvent(category="c", action="a", value="1.5\n"),
            lambda: SelfDescribingJson(schema=SCHEMA + "\n", data={}),
        ],
        ids=["uuid", "decimal", "iglu-uri"],
    )
    def test_a_trailing_newline_is_refused(self, build: Callable[[], object]) -> None:
        """Patterns match whole values: ``$`` let a trailing newline through."""
        with pytest.raises(InvalidEventError):
            build()

    def test_a_set_is_snapshot_too(self) -> None:
        """A set in the data is taken as it is when the event is built (#14.18)."""
        tags = {"a"}
        sdj = SelfDescribingJson(schema=SCHEMA, data={"tags": tags, "n": [{"s": tags}]})
        tags.add("b")

        assert sdj.data == {"tags": {"a"}, "n": [{"s": {"a"}}]}

    def test_context_and_items_become_tuples(self) -> None:
        """Sequences given as lists are stored as tuples."""
        item = EcommerceTransactionItem(sku="s", price=1, quantity=1)
        event = EcommerceTransaction(
            order_id="o", total_value=1, items=[item], context=[SDJ]
        )

        assert (event.items, event.context) == ((item,), (SDJ,))

    @pytest.mark.parametrize(
        "event",
        [
            PageView(page_url="https://x.test", context=[SDJ]),
            PagePing(page_url="https://x.test", min_x=0),
            ScreenView(name="s"),
            StructuredEvent(
                category="c", action="a", value=decimal.Decimal("1.5"),
                event_subject=Subject(user_id="u"),
                true_timestamp=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            ),
            SelfDescribing(event_json=SDJ),
            EcommerceTransaction(
                order_id="o", total_value=1,
                items=[EcommerceTransactionItem(sku="s", price=1, quantity=1)],
            ),
        ],
        ids=lambda e: type(e).__name__,
    )  # fmt: skip
    def test_pickle_round_trip(self, event: Event) -> None:
        """Events survive pickling (they cross multiprocessing queues in log records)."""
        copy = pickle.loads(pickle.dumps(event))  # noqa: S301 - our own data

        assert copy == event
        assert copy._parts == event._parts

    def test_screen_view_ids_are_fresh(self) -> None:
        """Each screen view gets its own UUID id by default; a UUID object is accepted."""
        given = uuid.uuid4()

        first, second = ScreenView(name="a"), ScreenView(name="a", id_=given)

        assert uuid.UUID(str(first.id_)).version == 4
        assert first.id_ != ScreenView(name="a").id_
        assert second._parts[0].unstruct is not None
        assert second._parts[0].unstruct.data["id"] == str(given)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (0, "0"), (0.0, "0.0"), (-2, "-2"), (1.5, "1.5"), (1e20, "100000000000000000000"),
            (1e-7, "0.0000001"), (decimal.Decimal("1E+3"), "1000"), (decimal.Decimal("19.90"), "19.90"),
            ("12.50", "12.50"), ("-3", "-3"), (2**70, str(2**70)),
        ],
    )  # fmt: skip
    def test_decimal_formatting(self, value: object, expected: str) -> None:
        """Decimals are plain digits: zeros kept, no exponent, Decimal text preserved."""
        event = StructuredEvent(category="c", action="a", value=value)  # type: ignore[arg-type]

        assert event._parts[0].fields["se_va"] == expected

    def test_empty_optional_text_is_omitted(self) -> None:
        """An empty optional string is treated as no value."""
        event = StructuredEvent(category="c", action="a", label="", property_=None)

        assert "se_la" not in event._parts[0].fields

    def test_decimal_out_of_range_refused(self) -> None:
        """A Decimal too large to print as digits is refused, not expanded."""
        with pytest.raises(InvalidEventError, match="'value' must be within"):
            StructuredEvent(
                category="c", action="a", value=decimal.Decimal("1E+100000000")
            )

    def test_unhashable_schema_refused(self) -> None:
        """A schema of the wrong, unhashable type is a clear TypeError."""
        with pytest.raises(InvalidEventTypeError, match="'schema' must be a string"):
            SelfDescribingJson(schema=["iglu:x"], data={})  # type: ignore[arg-type]
