"""Property tests: any input is refused at construction or yields a valid payload."""

from __future__ import annotations

import decimal
import json
import math
from urllib.parse import parse_qsl, quote

from hypothesis import given, settings
from hypothesis import strategies as st

from snowplow_logging import (
    PagePing,
    SelfDescribing,
    SelfDescribingJson,
    SnowplowLoggingError,
    StructuredEvent,
    Subject,
    Tracker,
)
from snowplow_logging._delivery.http import encode_get as _encode_get
from snowplow_logging.micro import IgluResolver, check_payload
from snowplow_logging.testing import (
    CapturingEmitter,
    decode_entities,
    decode_self_describing_event,
)
from tests.conftest import TEST_SCHEMAS

RESOLVER = IgluResolver([TEST_SCHEMAS])
CART = "iglu:com.acme/cart/jsonschema/1-0-0"

# Every code point, surrogates (category Cs) included.
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=30)
numbers = st.one_of(
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.booleans(),
    any_text,
    st.none(),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | any_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4)
    ),
    max_leaves=12,
)


def _track(event_factory: object) -> tuple[CapturingEmitter, Tracker] | None:
    emitter = CapturingEmitter()
    tracker = Tracker(emitters=emitter)
    try:
        event = event_factory()  # type: ignore[operator]
    except SnowplowLoggingError as exc:
        message = str(exc)
        assert message.startswith(("'", '"', "keys of ")), message
        assert (
            "(got" in message or "JSON has no" in message or "lone surrogate" in message
        )
        return None
    tracker.track(event)
    return emitter, tracker


def _assert_wire_valid(emitter: CapturingEmitter) -> dict[str, str]:
    (payload,) = emitter.payloads
    assert all(isinstance(v, str) for v in payload.values())
    checked = check_payload(payload, RESOLVER)
    assert checked.errors == []
    return payload


class TestProperties:
    """Hypothesis over text, numbers and JSON data."""

    @settings(max_examples=300, deadline=None)
    @given(category=any_text, action=any_text, label=any_text, value=numbers)
    def test_structured_event(
        self, category: str, action: str, label: str, value: object
    ) -> None:
        """A structured event is refused clearly or sent valid, with the value exact."""
        result = _track(
            lambda: StructuredEvent(
                category=category,
                action=action,
                label=label,
                value=value,  # type: ignore[arg-type]
            )
        )
        if result is None:
            return
        payload = _assert_wire_valid(result[0])

        assert (payload["se_ca"], payload["se_ac"]) == (category, action)
        assert payload.get("se_la", "") == label
        if value is None or value == "":
            assert "se_va" not in payload
        else:
            assert not isinstance(value, bool)
            assert "e" not in payload["se_va"].lower()
            assert decimal.Decimal(payload["se_va"]) == decimal.Decimal(str(value))

    @settings(max_examples=300, deadline=None)
    @given(data=st.dictionaries(any_text, json_values, max_size=5), entity=json_values)
    def test_self_describing_round_trip(
        self, data: dict[str, object], entity: object
    ) -> None:
        """Self-describing data and entities round-trip through base64 + JSON."""
        result = _track(
            lambda: SelfDescribing(
                event_json=SelfDescribingJson(schema=CART, data=data),
                context=[SelfDescribingJson(schema=CART, data={"e": entity})],
            )
        )
        if result is None:
            return
        payload = _assert_wire_valid(result[0])

        assert decode_self_describing_event(payload) == {"schema": CART, "data": data}
        assert decode_entities(payload) == [{"schema": CART, "data": {"e": entity}}]
        assert json.dumps(data, allow_nan=False)

    @settings(max_examples=200, deadline=None)
    @given(
        offsets=st.lists(
            st.one_of(st.integers(), st.floats(), st.booleans(), st.none()),
            min_size=4,
            max_size=4,
        ),
        uid=any_text,
    )
    def test_page_ping_and_subject(self, offsets: list[object], uid: str) -> None:
        """Page ping offsets are ints in Java range or refused; subjects likewise."""

        def build() -> PagePing:
            return PagePing(
                page_url="https://x.test",
                min_x=offsets[0],  # type: ignore[arg-type]
                max_x=offsets[1],  # type: ignore[arg-type]
                min_y=offsets[2],  # type: ignore[arg-type]
                max_y=offsets[3],  # type: ignore[arg-type]
                event_subject=Subject(user_id=uid),
            )

        result = _track(build)
        if result is None:
            return
        payload = _assert_wire_valid(result[0])

        for key, offset in zip(
            ("pp_mix", "pp_max", "pp_miy", "pp_may"), offsets, strict=True
        ):
            if offset is None:
                assert key not in payload
            else:
                assert isinstance(offset, int | float)
                assert not isinstance(offset, bool)
                assert math.isfinite(offset)
                assert int(payload[key]) == offset


@given(
    st.dictionaries(
        st.text(st.characters(exclude_categories=["Cs"]), max_size=8),
        st.text(st.characters(exclude_categories=["Cs"]), max_size=30),
        max_size=6,
    )
)
def test_get_query_is_percent_encoded_like_quote(payload: dict[str, str]) -> None:
    """The GET query equals quote(..., safe="") of every key and value."""
    payload.pop("stm", None)
    _, head, tail, _ = _encode_get(dict(payload))

    pairs = [f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in payload.items()]
    expected_head = [pair for pair in pairs if pair.split("=")[0] not in {"co", "cx"}]
    expected_tail = [pair for pair in pairs if pair.split("=")[0] in {"co", "cx"}]
    assert head == "&".join([*expected_head, "stm="])
    assert tail == "".join(f"&{pair}" for pair in expected_tail)
    assert parse_qsl(f"{head}1{tail}", keep_blank_values=True) == [
        *[(k, v) for k, v in payload.items() if k not in {"co", "cx"}],
        ("stm", "1"),
        *[(k, v) for k, v in payload.items() if k in {"co", "cx"}],
    ]
