"""The HTTP sink's prepared text is the same, whichever path made it.

``encode_post`` and ``encode_get`` take a fast path for payloads whose keys come
in an order seen before and whose values need no escaping or quoting. The
reference below is how every payload was encoded before that path existed
(``dumps_compact`` for POST, ``quote`` per key and value for GET): both must
give the same text, the same size and the same exception, for any payload.
"""

from __future__ import annotations

import enum
import re
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snowplow_logging._delivery import http
from snowplow_logging._delivery.http import encode_get, encode_post
from snowplow_logging._json import dumps_compact

_UNSAFE = re.compile(r"[^A-Za-z0-9_.~-]").search


def reference_post(payload: dict[str, Any]) -> tuple[str, str, int]:
    payload.pop("stm", None)
    text = dumps_compact(payload)
    rest = "," + text[1:] if len(text) > 2 else text[1:]
    return rest, "", len(rest) if rest.isascii() else len(rest.encode())


def reference_get(payload: dict[str, Any]) -> tuple[str, str, int]:
    payload.pop("stm", None)
    head: list[str] = []
    tail: list[str] = []
    for key, value in payload.items():
        if _UNSAFE(key):
            key = quote(key, safe="")  # noqa: PLW2901
        pair = f"{key}={quote(value, safe='') if _UNSAFE(value) else value}"
        (tail if key in {"co", "cx"} else head).append(pair)
    head.append("stm=")
    return "&".join(head), "&".join(["", *tail]), 0


def outcome(encode: Any, payload: dict[str, Any]) -> object:
    """What ``encode`` makes of a copy of ``payload``: its text, or its exception."""
    copy = dict(payload)
    try:
        result = encode(copy)
    except Exception as exc:
        return type(exc)
    assert copy == {k: v for k, v in payload.items() if k != "stm"}
    if isinstance(result, tuple) and len(result) == 4:  # an HttpItem
        assert result[0] is copy
        return tuple(result[1:])
    return result


class Colour(str, enum.Enum):  # noqa: UP042 - StrEnum formats as its text
    """A str whose ``format()`` is not its text (``Colour.RED`` in Python 3.11)."""

    RED = "red"


KEYS = ["e", "eid", "tv", "tna", "aid", "p", "dtm", "se_ca", "se_la", "co", "cx"]
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
plain_text = st.text(
    st.sampled_from("abcXYZ019_.~-+/=:é\u2028 "), max_size=12
)  # mostly safe, sometimes not
keys = st.one_of(st.sampled_from(KEYS), plain_text, any_text)
values = st.one_of(
    plain_text,
    any_text,
    st.sampled_from(["", 'a"b', "a\\b", "a\nb", "\x00", "\x7f", "\ud800", "x" * 300]),
    st.just(Colour.RED),
    st.integers(),
    st.none(),
)
payloads = st.dictionaries(keys, values, max_size=8)


@pytest.fixture(autouse=True)
def _fresh_shapes() -> None:
    http._post_shapes.clear()
    http._get_shapes.clear()


@settings(max_examples=600, deadline=None)
@given(payloads)
def test_post_text_is_the_reference(payload: dict[str, Any]) -> None:
    """The same text, size and exception as ``dumps_compact``; twice (shape remembered)."""
    expected = outcome(reference_post, payload)
    assert outcome(encode_post, payload) == expected
    assert outcome(encode_post, payload) == expected


@settings(max_examples=600, deadline=None)
@given(payloads)
def test_get_text_is_the_reference(payload: dict[str, Any]) -> None:
    """The same query parts and exception as quoting each key and value; twice."""
    expected = outcome(reference_get, payload)
    assert outcome(encode_get, payload) == expected
    assert outcome(encode_get, payload) == expected


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"e": "se"},
        {"cx": "abc"},
        {"e": "se", "cx": "abc", "co": "x"},
        {"co": "x", "e": "se"},  # co before another key: after stm all the same
        {"e": "se", "se_la": "order 12345", "cx": "abc"},  # a value to quote
        {"e": "se", "se_la": 'say "hi"\t', "cx": "abc"},  # a value to escape
        {"e": "se", "se_ca": Colour.RED},
        {"e": "se", "stm": "1"},
        {"e": "s\u00e9", "tna": "\u4e2d\u6587"},
    ],
)
def test_examples(payload: dict[str, Any]) -> None:
    for _ in range(2):
        assert outcome(encode_post, payload) == outcome(reference_post, payload)
        assert outcome(encode_get, payload) == outcome(reference_get, payload)


def test_shapes_are_bounded() -> None:
    """Payloads with ever new keys never hold more than a few shapes."""
    for index in range(500):
        encode_post({"e": "se", f"k{index}": "v"})
        encode_get({"e": "se", f"k{index}": "v"})
    assert len(http._post_shapes) <= http._SHAPES_MAX
    assert len(http._get_shapes) <= http._SHAPES_MAX
