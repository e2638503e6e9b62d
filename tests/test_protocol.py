"""The protocol table: what event construction and the local collector both read."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

import snowplow_logging
from snowplow_logging import (
    EcommerceTransaction,
    EcommerceTransactionItem,
    InvalidEventError,
    PageView,
    StructuredEvent,
    Subject,
)
from snowplow_logging import _protocol as proto
from snowplow_logging.micro.fields import check_fields

_PAYLOAD_DATA = (
    Path(snowplow_logging.__file__).parent
    / "iglu/schemas/com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
)

_BUILDERS: tuple[tuple[str, Callable[[str], object]], ...] = (
    (proto.PAGE_URL, lambda v: PageView(page_url=v)),
    (proto.PAGE_TITLE, lambda v: PageView(page_url="u", page_title=v)),
    (proto.PAGE_REFERRER, lambda v: PageView(page_url="u", referrer=v)),
    (proto.SE_CATEGORY, lambda v: StructuredEvent(category=v, action="a")),
    (proto.SE_ACTION, lambda v: StructuredEvent(category="c", action=v)),
    (proto.SE_LABEL, lambda v: StructuredEvent(category="c", action="a", label=v)),
    (
        proto.SE_PROPERTY,
        lambda v: StructuredEvent(category="c", action="a", property_=v),
    ),
    (proto.TR_ORDER_ID, lambda v: EcommerceTransaction(order_id=v, total_value=1)),
    (
        proto.TR_AFFILIATION,
        lambda v: EcommerceTransaction(order_id="o", total_value=1, affiliation=v),
    ),
    (
        proto.TR_CITY,
        lambda v: EcommerceTransaction(order_id="o", total_value=1, city=v),
    ),
    (
        proto.TR_STATE,
        lambda v: EcommerceTransaction(order_id="o", total_value=1, state=v),
    ),
    (
        proto.TR_COUNTRY,
        lambda v: EcommerceTransaction(order_id="o", total_value=1, country=v),
    ),
    (
        proto.TR_CURRENCY,
        lambda v: EcommerceTransaction(order_id="o", total_value=1, currency=v),
    ),
    (proto.TI_SKU, lambda v: EcommerceTransactionItem(sku=v, price=1, quantity=1)),
    (
        proto.TI_NAME,
        lambda v: EcommerceTransactionItem(sku="s", price=1, quantity=1, name=v),
    ),
    (
        proto.TI_CATEGORY,
        lambda v: EcommerceTransactionItem(sku="s", price=1, quantity=1, category=v),
    ),
    (proto.USER_ID, lambda v: Subject(user_id=v)),
    (proto.TIMEZONE, lambda v: Subject(timezone=v)),
    (proto.LANGUAGE, lambda v: Subject(lang=v)),
    (proto.IP_ADDRESS, lambda v: Subject(ip_address=v)),
    (proto.USERAGENT, lambda v: Subject(useragent=v)),
    (proto.DOMAIN_USER_ID, lambda v: Subject(domain_user_id=v)),
    (proto.TRACKER_NETWORK_USER_ID, lambda v: Subject(network_user_id=v)),
    (proto.COLOR_DEPTH, lambda v: Subject(color_depth=v)),
)


class TestTable:
    """FIELDS describes payload_data 1-0-4."""

    def test_fields_are_the_schemas(self) -> None:
        """The table holds exactly the keys payload_data 1-0-4 allows."""
        schema = json.loads(_PAYLOAD_DATA.read_text(encoding="utf-8"))

        assert set(proto.FIELDS) == set(schema["items"]["properties"])

    def test_records_keyed_by_name(self) -> None:
        """Each record sits under its own wire name."""
        assert all(name == spec.name for name, spec in proto.FIELDS.items())

    def test_required_fields_are_fields(self) -> None:
        """Every event type has its required fields in the table."""
        required = {*proto.ALWAYS_REQUIRED}
        for names in proto.REQUIRED_BY_EVENT.values():
            required.update(names)

        assert required <= set(proto.FIELDS)
        assert set(proto.REQUIRED_BY_EVENT) == proto.EVENT_TYPES

    def test_shortest(self) -> None:
        """shortest() is the tightest limit; fields without one are refused."""
        assert proto.shortest(proto.TR_CURRENCY, proto.TR_CITY) == 3
        with pytest.raises(ValueError, match="has a length limit"):
            proto.shortest(proto.SE_VALUE)

    def test_unknown_field(self) -> None:
        """max_length() of a name payload_data does not know is a KeyError."""
        with pytest.raises(KeyError):
            proto.max_length("nope")


class TestOneLimit:
    """Event construction and the collector enforce the table's limits."""

    @pytest.mark.parametrize(
        ("name", "build"), _BUILDERS, ids=[n for n, _ in _BUILDERS]
    )
    def test_construction(self, name: str, build: Callable[[str], object]) -> None:
        """A value at the limit builds; one character more is refused."""
        limit = proto.max_length(name)
        assert limit is not None
        # A page URL's path has a limit of its own (3000): fill the query instead.
        head = "?" if name == proto.PAGE_URL else ""

        build(head + "x" * (limit - len(head)))
        with pytest.raises(InvalidEventError, match=f"at most {limit} characters"):
            build(head + "x" * (limit + 1 - len(head)))

    @pytest.mark.parametrize(
        ("name", "build"), _BUILDERS, ids=[n for n, _ in _BUILDERS]
    )
    def test_construction_counts_utf16_and_tabs(
        self, name: str, build: Callable[[str], object]
    ) -> None:
        """The limit counts as the pipeline does: an emoji is 2 units, a tab 4."""
        limit = proto.max_length(name)
        assert limit is not None
        if name in (proto.COLOR_DEPTH, proto.IP_ADDRESS, proto.LANGUAGE):
            return  # these are a number, an address, a language tag: no emoji fits
        head = "?" if name == proto.PAGE_URL else ""
        room = limit - len(head)

        build(head + "\U0001f600" * (room // 2))
        with pytest.raises(InvalidEventError, match="UTF-16 units, a tab as 4 "):
            build(head + "\U0001f600" * (room // 2 + 1))
        with pytest.raises(InvalidEventError, match="UTF-16 units, a tab as 4 "):
            build(head + "\t" * (room // 4 + 1))

    @pytest.mark.parametrize(
        "name",
        [
            n
            for n, spec in proto.FIELDS.items()
            if spec.max_length and spec.kind in ("text", "url", "ip")
        ],
    )
    def test_collector(self, name: str) -> None:
        """The collector's field rules flag a value over the same limit, in UTF-16 units."""
        limit = proto.max_length(name)
        assert limit is not None
        at_limit: list[str] = []
        over: list[str] = []

        # A tab counts 4 (in a page URL 12: its spaces are then written %20).
        tab = limit >= 4 and name != proto.PAGE_URL
        full = "x" * (limit - 4) + "\t" if tab else "x" * limit
        check_fields({name: full}, at_limit, post=False)
        check_fields({name: "x" * (limit - 1) + "\U0001f600"}, over, post=False)

        assert not [e for e in at_limit if e.startswith(f"{name}: longer")]
        assert any(
            e.startswith(f"{name}: longer than {limit} UTF-16 units") for e in over
        ), over

    def test_every_limited_text_field_is_built(self) -> None:
        """Each text field with a limit that an event or subject sets is tested above."""
        built = {name for name, _ in _BUILDERS}
        limited = {
            name
            for name, spec in proto.FIELDS.items()
            if spec.max_length and spec.kind in ("text", "url", "ip")
        }
        # Set by the tracker (its settings tests cover them) or never by us.
        others = {proto.NAMESPACE, proto.APP_ID, proto.TRACKER_VERSION}
        others |= {proto.NETWORK_USER_ID, proto.TI_ORDER_ID, proto.TI_CURRENCY}
        others |= {"fp", "cs", "ti_na"}

        assert limited - others == built
