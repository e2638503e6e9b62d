"""Event value types: immutable, keyword-only, checked when they are built.

The names follow the official Snowplow Python tracker v1 (``PageView``,
``StructuredEvent``, ``SelfDescribing`` ...), so code moving from it reads the
same. Each event formats its protocol fields once, in ``__post_init__``: a bad
value raises :class:`~snowplow_logging.InvalidEventError` (or the ``TypeError``
twin) naming the field, and the tracker only adds ids and timestamps later.
Events pickle, so they can cross a ``multiprocessing`` queue inside a log record.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, NamedTuple, TypeAlias

from snowplow_logging import _format as fmt
from snowplow_logging import _protocol as proto
from snowplow_logging._exceptions import InvalidEventTypeError
from snowplow_logging._snapshot import check_json_data
from snowplow_logging._subject import Subject

Number: TypeAlias = int | float | decimal.Decimal | str
"""A decimal field: ``int``, ``float``, ``Decimal`` or decimal text like ``"12.50"``."""

# Length limits from the protocol table, read once here so that building an
# event costs no table lookup (#13).
_PAGE_URL_MAX: Final = proto.shortest(proto.PAGE_URL)
_PAGE_TITLE_MAX: Final = proto.max_length(proto.PAGE_TITLE)
_REFERRER_MAX: Final = proto.shortest(proto.PAGE_REFERRER)
_SE_CATEGORY_MAX: Final = proto.max_length(proto.SE_CATEGORY)
_SE_ACTION_MAX: Final = proto.max_length(proto.SE_ACTION)
_SE_LABEL_MAX: Final = proto.max_length(proto.SE_LABEL)
_SE_PROPERTY_MAX: Final = proto.max_length(proto.SE_PROPERTY)
"""The transaction's currency is sent as ``tr_cu`` and as each item's ``ti_cu``."""

__all__ = [
    "Event",
    "Number",
    "PagePing",
    "PageView",
    "Part",
    "ScreenView",
    "SelfDescribing",
    "SelfDescribingJson",
    "StructuredEvent",
    "compact_fields",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class SelfDescribingJson:
    """A JSON object together with the Iglu schema that describes it.

    Used for self-describing events and for entities (``context``).

    Args:
        schema: an Iglu URI, ``iglu:vendor/name/jsonschema/MODEL-REVISION-ADDITION``.
        data: the JSON object. It is copied when the value is built, so later
            changes to the caller's dict do not change the event. Values ``json``
            cannot encode (datetimes, ``Decimal``, ``UUID``...) are handled by the
            tracker's JSON encoder.
    """

    schema: str
    data: Mapping[str, object]

    def __post_init__(self) -> None:
        fmt.check_iglu_uri("schema", self.schema)
        object.__setattr__(self, "data", check_json_data("data", self.data))

    def to_dict(self) -> dict[str, object]:
        """Return ``{"schema": ..., "data": ...}``."""
        return {"schema": self.schema, "data": self.data}


class Part(NamedTuple):
    """One protocol event: its type, its formatted fields and its ``ue`` payload."""

    event_type: str
    fields: dict[str, str]
    unstruct: SelfDescribingJson | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every event type: the fields all events share.

    Args:
        context: entities attached to the event, a sequence of
            :class:`SelfDescribingJson`.
        event_subject: a :class:`Subject` whose set fields override the tracker's
            subject for this event only.
        true_timestamp: the caller-asserted time of the event (``ttm``):
            milliseconds since the epoch or a timezone-aware ``datetime``.
    """

    context: Sequence[SelfDescribingJson] = ()
    event_subject: Subject | None = None
    true_timestamp: int | dt.datetime | None = None
    _parts: tuple[Part, ...] = field(init=False, repr=False, compare=False)
    _ttm: str | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if type(self) is Event:
            msg = "'Event' is a base class; build a PageView, StructuredEvent, ... instead."
            raise InvalidEventTypeError(msg)
        setattr_ = object.__setattr__
        if self.context != ():
            setattr_(
                self,
                "context",
                fmt.check_sequence("context", self.context, SelfDescribingJson),
            )
        if self.event_subject is not None:
            fmt.check_instance("event_subject", self.event_subject, Subject)
        ttm = self.true_timestamp
        setattr_(
            self,
            "_ttm",
            None if ttm is None else fmt.format_timestamp("true_timestamp", ttm),
        )
        setattr_(self, "_parts", self._build())

    def _build(self) -> tuple[Part, ...]:
        raise NotImplementedError


def compact_fields(fields: Mapping[str, str | None]) -> dict[str, str]:
    return {k: v for k, v in fields.items() if v is not None}


_new_tuple = tuple.__new__


def _part(
    event_type: str, fields: dict[str, str], unstruct: SelfDescribingJson | None = None
) -> tuple[Part]:
    """A one-part event, built without the NamedTuple's Python-level ``__new__``."""
    return (_new_tuple(Part, (event_type, fields, unstruct)),)


def _page_fields(event: PageView | PagePing) -> dict[str, str | None]:
    """The page fields page views and page pings share (``url``, ``page``, ``refr``)."""
    url = fmt.format_url(
        "page_url", proto.PAGE_URL, event.page_url, _PAGE_URL_MAX, required=True
    )
    referrer = fmt.format_url(
        "referrer", proto.PAGE_REFERRER, event.referrer, _REFERRER_MAX
    )
    return {
        proto.PAGE_URL: url,
        proto.PAGE_TITLE: fmt.format_text(
            "page_title", event.page_title, max_length=_PAGE_TITLE_MAX
        ),
        proto.PAGE_REFERRER: referrer,
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class PageView(Event):
    """A page view (``e=pv``).

    Args:
        page_url: the page URL (``url``), required.
        page_title: the page title (``page``).
        referrer: the referrer URL (``refr``).
    """

    page_url: str
    page_title: str | None = None
    referrer: str | None = None

    def _build(self) -> tuple[Part, ...]:
        return _part(proto.PAGE_VIEW, compact_fields(_page_fields(self)))


@dataclass(frozen=True, slots=True, kw_only=True)
class PagePing(Event):
    """A page ping (``e=pp``): the page is still open; scroll offsets in pixels.

    Zero offsets are sent (the Node tracker drops them).

    Args:
        page_url: the page URL (``url``), required.
        page_title: the page title (``page``).
        referrer: the referrer URL (``refr``).
        min_x: minimum horizontal offset (``pp_mix``), an integer.
        max_x: maximum horizontal offset (``pp_max``), an integer.
        min_y: minimum vertical offset (``pp_miy``), an integer.
        max_y: maximum vertical offset (``pp_may``), an integer.
    """

    page_url: str
    page_title: str | None = None
    referrer: str | None = None
    min_x: int | None = None
    max_x: int | None = None
    min_y: int | None = None
    max_y: int | None = None

    def _build(self) -> tuple[Part, ...]:
        fields = {
            **_page_fields(self),
            proto.PING_X_MIN: fmt.format_int("min_x", self.min_x),
            proto.PING_X_MAX: fmt.format_int("max_x", self.max_x),
            proto.PING_Y_MIN: fmt.format_int("min_y", self.min_y),
            proto.PING_Y_MAX: fmt.format_int("max_y", self.max_y),
        }
        return _part(proto.PAGE_PING, compact_fields(fields))


@dataclass(frozen=True, slots=True, kw_only=True)
class ScreenView(Event):
    """A screen view, sent as the mobile ``screen_view`` 1-0-0 self-describing event.

    The schema is ``iglu:com.snowplowanalytics.mobile/screen_view/jsonschema/1-0-0``.

    Args:
        name: the screen's name, required.
        id_: the screen view id, a UUID; a fresh one by default.
        type: the screen's type, e.g. ``"feed"``.
        previous_name: the previous screen's name.
        previous_id: the previous screen view's id, a UUID.
        previous_type: the previous screen's type.
        transition_type: how the screen was reached.
    """

    name: str
    id_: str | uuid.UUID = field(default_factory=lambda: str(uuid.uuid4()))
    type: str | None = None
    previous_name: str | None = None
    previous_id: str | uuid.UUID | None = None
    previous_type: str | None = None
    transition_type: str | None = None

    def _build(self) -> tuple[Part, ...]:
        data = {
            "name": fmt.format_text("name", self.name, required=True),
            "id": fmt.format_uuid("id_", self.id_),
            "type": fmt.format_text("type", self.type),
            "previousName": fmt.format_text("previous_name", self.previous_name),
            "previousId": fmt.format_uuid("previous_id", self.previous_id),
            "previousType": fmt.format_text("previous_type", self.previous_type),
            "transitionType": fmt.format_text("transition_type", self.transition_type),
        }
        event = SelfDescribingJson(
            schema=proto.SCREEN_VIEW_SCHEMA, data=compact_fields(data)
        )
        return _part(proto.UNSTRUCT_EVENT, {}, event)


@dataclass(frozen=True, slots=True, kw_only=True)
class StructuredEvent(Event):
    """A structured event (``e=se``): category, action, label, property, value.

    Args:
        category: the event category (``se_ca``), required.
        action: the event action (``se_ac``), required.
        label: the label (``se_la``).
        property_: the property (``se_pr``).
        value: a number (``se_va``): ``int``, ``float``, ``Decimal`` or decimal text;
            never a ``bool``, NaN or infinity.
    """

    category: str
    action: str
    label: str | None = None
    property_: str | None = None
    value: Number | None = None

    def _build(self) -> tuple[Part, ...]:
        # The most common event from logging: optional fields are added one by
        # one rather than filtered afterwards, to keep the call site cheap.
        fields: dict[str, str] = {
            proto.SE_CATEGORY: fmt.format_text(  # type: ignore[dict-item]
                "category", self.category, required=True, max_length=_SE_CATEGORY_MAX
            ),
            proto.SE_ACTION: fmt.format_text(  # type: ignore[dict-item]
                "action", self.action, required=True, max_length=_SE_ACTION_MAX
            ),
        }
        if self.label is not None:
            label = fmt.format_text("label", self.label, max_length=_SE_LABEL_MAX)
            if label is not None:
                fields[proto.SE_LABEL] = label
        if self.property_ is not None:
            prop = fmt.format_text(
                "property_", self.property_, max_length=_SE_PROPERTY_MAX
            )
            if prop is not None:
                fields[proto.SE_PROPERTY] = prop
        if self.value is not None:
            value = fmt.format_decimal("value", self.value)
            if value is not None:
                fields[proto.SE_VALUE] = value
        return _part(proto.STRUCT_EVENT, fields)


@dataclass(frozen=True, slots=True, kw_only=True)
class SelfDescribing(Event):
    """A self-describing event (``e=ue``): any JSON with its Iglu schema.

    Args:
        event_json: the event's :class:`SelfDescribingJson`.
    """

    event_json: SelfDescribingJson

    def _build(self) -> tuple[Part, ...]:
        fmt.check_instance("event_json", self.event_json, SelfDescribingJson)
        return _part(proto.UNSTRUCT_EVENT, {}, self.event_json)
