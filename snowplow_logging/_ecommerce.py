"""Ecommerce events: a transaction and its items, sent as one ``tr`` and N ``ti`` events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, cast

from snowplow_logging import _format as fmt
from snowplow_logging import _protocol as proto
from snowplow_logging._events import Event, Number, Part, compact_fields

__all__ = ["EcommerceTransaction", "EcommerceTransactionItem"]

_TR_ORDER_ID_MAX: Final = proto.max_length(proto.TR_ORDER_ID)
_TR_AFFILIATION_MAX: Final = proto.max_length(proto.TR_AFFILIATION)
_TR_CITY_MAX: Final = proto.max_length(proto.TR_CITY)
_TR_STATE_MAX: Final = proto.max_length(proto.TR_STATE)
_TR_COUNTRY_MAX: Final = proto.max_length(proto.TR_COUNTRY)
_CURRENCY_MAX: Final = proto.shortest(proto.TR_CURRENCY, proto.TI_CURRENCY)
_TI_SKU_MAX: Final = proto.max_length(proto.TI_SKU)
_TI_NAME_MAX: Final = proto.max_length(proto.TI_NAME)
_TI_CATEGORY_MAX: Final = proto.max_length(proto.TI_CATEGORY)


@dataclass(frozen=True, slots=True, kw_only=True)
class EcommerceTransactionItem:
    """One line of an :class:`EcommerceTransaction`, sent as a ``ti`` event.

    Args:
        sku: the item's SKU (``ti_sk``), required.
        price: the unit price (``ti_pr``), required, a number.
        quantity: the quantity (``ti_qu``), required, an integer.
        name: the item's name (``ti_nm``).
        category: the item's category (``ti_ca``).
    """

    sku: str
    price: Number
    quantity: int
    name: str | None = None
    category: str | None = None
    _fields: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fields = {
            proto.TI_SKU: fmt.format_text(
                "sku", self.sku, required=True, max_length=_TI_SKU_MAX
            ),
            proto.TI_NAME: fmt.format_text("name", self.name, max_length=_TI_NAME_MAX),
            proto.TI_CATEGORY: fmt.format_text(
                "category", self.category, max_length=_TI_CATEGORY_MAX
            ),
            proto.TI_PRICE: fmt.format_decimal("price", self.price, required=True),
            proto.TI_QUANTITY: fmt.format_int("quantity", self.quantity, required=True),
        }
        object.__setattr__(self, "_fields", compact_fields(fields))


@dataclass(frozen=True, slots=True, kw_only=True)
class EcommerceTransaction(Event):
    """An ecommerce transaction: one ``tr`` event plus one ``ti`` event per item.

    The items share the transaction's order id, currency, creation time, true
    timestamp, subject and entities; each has its own event id.

    Args:
        order_id: the order id (``tr_id``), required.
        total_value: the order total (``tr_tt``), required, a number.
        affiliation: the affiliation (``tr_af``).
        tax_value: the tax (``tr_tx``), a number.
        shipping: the shipping cost (``tr_sh``), a number.
        city: the city (``tr_ci``).
        state: the state (``tr_st``).
        country: the country (``tr_co``).
        currency: an ISO 4217 currency code such as ``"EUR"`` (``tr_cu``).
        items: the :class:`EcommerceTransactionItem` lines.
    """

    order_id: str
    total_value: Number
    affiliation: str | None = None
    tax_value: Number | None = None
    shipping: Number | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None
    currency: str | None = None
    items: Sequence[EcommerceTransactionItem] = ()

    def _build(self) -> tuple[Part, ...]:
        order_id = fmt.format_text(
            "order_id", self.order_id, required=True, max_length=_TR_ORDER_ID_MAX
        )
        currency = fmt.format_text("currency", self.currency, max_length=_CURRENCY_MAX)
        fields = {
            proto.TR_ORDER_ID: order_id,
            proto.TR_TOTAL: fmt.format_decimal(
                "total_value", self.total_value, required=True
            ),
            proto.TR_AFFILIATION: fmt.format_text(
                "affiliation", self.affiliation, max_length=_TR_AFFILIATION_MAX
            ),
            proto.TR_TAX: fmt.format_decimal("tax_value", self.tax_value),
            proto.TR_SHIPPING: fmt.format_decimal("shipping", self.shipping),
            proto.TR_CITY: fmt.format_text("city", self.city, max_length=_TR_CITY_MAX),
            proto.TR_STATE: fmt.format_text(
                "state", self.state, max_length=_TR_STATE_MAX
            ),
            proto.TR_COUNTRY: fmt.format_text(
                "country", self.country, max_length=_TR_COUNTRY_MAX
            ),
            proto.TR_CURRENCY: currency,
        }
        items = cast(
            "tuple[EcommerceTransactionItem, ...]",
            fmt.check_sequence("items", self.items, EcommerceTransactionItem),
        )
        object.__setattr__(self, "items", items)
        parts = [Part(proto.TRANSACTION, compact_fields(fields))]
        for item in items:
            item_fields = {proto.TI_ORDER_ID: order_id, **item._fields}
            if currency is not None:
                item_fields[proto.TI_CURRENCY] = currency
            parts.append(Part(proto.TRANSACTION_ITEM, compact_fields(item_fields)))
        return tuple(parts)
