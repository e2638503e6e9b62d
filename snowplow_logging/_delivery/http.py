"""The HTTP sink: payloads to a Snowplow collector, POST batches or one GET each.

:class:`HttpSink` prepares each payload once (compact UTF-8 JSON for POST,
docs/protocol.md 1.2; a percent-encoded query for GET, 1.3), packs POST bodies
up to ``byte_limit`` encoded bytes, checked before adding (pitfall 12), stamps
``stm`` at every attempt and classifies the answer with the
:class:`~snowplow_logging.Retry` policy (1.4). The request itself is
:class:`~snowplow_logging._delivery.transport.RequestsTransport`'s.

Preparing is most of the worker's own time per event, so the common case is
fast: payloads of one tracker come in a few key orders (*shapes*), and their
values seldom need escaping or quoting. The text around the values is made
once per shape; each payload's values are checked in one C pass over their
UTF-8 bytes and put in its slots. Anything else (a value to escape or quote,
a key that is not a plain str, a value that is not a str) takes the general
path, so the bytes sent are the same either way.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final, NamedTuple, TypeVar
from urllib.parse import quote, urlsplit

from snowplow_logging import _protocol as proto
from snowplow_logging._delivery.response import TransportError
from snowplow_logging._delivery.sink import Attempt, Payload
from snowplow_logging._json import dumps_compact
from snowplow_logging._retry import Outcome, Retry, parse_retry_after

if TYPE_CHECKING:  # requests is imported with the first emitter, not the package
    from snowplow_logging._delivery.transport import RequestsTransport

__all__ = [
    "HttpItem",
    "HttpSink",
    "RequestLineTooLongError",
    "encode_get",
    "encode_post",
    "get_within",
]

_BODY_HEAD: Final = f'{{"schema":"{proto.PAYLOAD_DATA_SCHEMA}","data":['
_BODY_TAIL: Final = "]}"
_STM_HEAD: Final = f'{{"{proto.SENT_TSTAMP}":"'
_LAST_FIELDS: Final = frozenset({proto.CONTEXT, proto.CONTEXT_ENCODED})
_NEEDS_QUOTING: Final = re.compile(r"[^A-Za-z0-9_.~-]").search
"""Whether ``quote(text, safe="")`` would change ``text``: most values (ids,
numbers, base64url entities) pass unchanged, and a regex scan is ten times
cheaper than the call."""


def _changing(special: bytes) -> bytes:
    """A ``bytes.translate`` table that changes exactly the bytes in ``special``.

    ``data.translate(table) is data`` then tells, in one C pass, that ``data``
    holds none of them: ``translate`` returns its argument when nothing changed.
    """
    return bytes((byte + 1) % 256 if byte in special else byte for byte in range(256))


_JSON_ESCAPED: Final = _changing(bytes(range(0x20)) + b'"\\')
"""The UTF-8 bytes ``dumps_compact`` escapes in a string: controls, ``"`` and
``\\`` (``ensure_ascii=False`` leaves every other character as it is)."""
_UNRESERVED: Final = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.~-"
)
_QUERY_QUOTED: Final = _changing(bytes(b for b in range(256) if b not in _UNRESERVED))
"""The UTF-8 bytes ``quote(text, safe="")`` changes: all but ASCII letters,
digits and ``_.~-``."""
_SHAPES_MAX: Final = 64
"""Most shapes remembered per method; payloads with ever new keys start over."""

_Shape = TypeVar("_Shape")
_PostShape = list[str]
_GetShape = tuple[list[str], list[str], int]
_post_shapes: dict[tuple[str, ...], _PostShape] = {}
_get_shapes: dict[tuple[str, ...], _GetShape] = {}


class HttpItem(NamedTuple):
    """One prepared event: its payload and its wire text around the ``stm`` value."""

    payload: Payload
    head: str  # POST: the JSON object after its opening brace; GET: up to "stm="
    tail: str  # GET: the fields after stm (co/cx last); POST: empty
    size: int  # POST: encoded bytes of ``head``


_new_item: Final = tuple.__new__
"""``HttpItem``'s constructor without the Python frame ``NamedTuple`` adds."""


def _plain(texts: list[str], special: bytes) -> bool:
    """Whether every one of ``texts`` is a str holding no byte of ``special``."""
    try:
        data = "".join(texts).encode()
    except (TypeError, UnicodeEncodeError):  # not a str; a lone surrogate
        return False
    return data.translate(special) is data


def _remember(
    shapes: dict[tuple[str, ...], _Shape], keys: tuple[str, ...], shape: _Shape
) -> _Shape:
    if len(shapes) >= _SHAPES_MAX:
        shapes.clear()
    shapes[keys] = shape
    return shape


def _post_shape(keys: tuple[str, ...]) -> _PostShape | None:
    """``[',"k1":"', "", '","k2":"', "", ..., '"}']``: the JSON around the values.

    ``None`` when a key is not a str that JSON writes as it is.
    """
    if not keys or not all(type(key) is str for key in keys):
        return None
    if not _plain(list(keys), _JSON_ESCAPED):
        return None
    parts: _PostShape = []
    for key in keys:
        parts += ('","' if parts else ',"') + key + '":"', ""
    parts.append('"}')
    return _remember(_post_shapes, keys, parts)


def encode_post(payload: Payload) -> HttpItem:
    """The payload as a JSON object without its opening brace, and its size.

    The body puts ``{"stm":"<ms>"`` before it at each attempt, so the text is
    encoded once and its size known before the event joins a body.
    """
    payload.pop(proto.SENT_TSTAMP, None)  # ours to mutate; stamped per attempt
    keys = tuple(payload)
    parts = _post_shapes.get(keys) or _post_shape(keys)
    if parts is not None:
        values = list(payload.values())
        if _plain(values, _JSON_ESCAPED):
            parts = parts.copy()
            parts[1::2] = values
            rest = "".join(parts)
            size = len(rest) if rest.isascii() else len(rest.encode())
            return _new_item(HttpItem, (payload, rest, "", size))
    text = dumps_compact(payload)
    rest = "," + text[1:] if len(text) > 2 else text[1:]  # noqa: PLR2004 - "{}"
    size = len(rest) if rest.isascii() else len(rest.encode())
    return _new_item(HttpItem, (payload, rest, "", size))


def _get_shape(keys: tuple[str, ...]) -> _GetShape | None:
    """The query around the values: before ``stm=``, after it, and the cut.

    ``(["k1=", "", "&k2=", "", ..., "&stm="], ["&cx=", ""], 2)`` for keys
    ``(k1, k2, cx)``: co/cx go last, after ``stm`` (``cut`` values before it).
    ``None`` when a key is not a str or cannot be quoted, or co/cx come before
    another key.
    """
    if not keys or not all(type(key) is str for key in keys):
        return None
    cut = len(keys)
    while cut and keys[cut - 1] in _LAST_FIELDS:
        cut -= 1
    if any(key in _LAST_FIELDS for key in keys[:cut]):
        return None
    head: list[str] = []
    tail: list[str] = []
    for index, key in enumerate(keys):
        try:
            quoted = quote(key, safe="") if _NEEDS_QUOTING(key) else key
        except UnicodeEncodeError:  # a lone surrogate: the general path raises
            return None
        if index < cut:
            head += ("&" if head else "") + quoted + "=", ""
        else:
            tail += "&" + quoted + "=", ""
    head.append(("&" if head else "") + f"{proto.SENT_TSTAMP}=")
    return _remember(_get_shapes, keys, (head, tail, cut))


def encode_get(payload: Payload) -> HttpItem:
    """The query string before and after the ``stm`` value (docs/protocol.md 1.3)."""
    payload.pop(proto.SENT_TSTAMP, None)
    keys = tuple(payload)
    shape = _get_shapes.get(keys) or _get_shape(keys)
    if shape is not None:
        values = list(payload.values())
        if _plain(values, _QUERY_QUOTED):
            # f"{value}" as below: a str subclass may format otherwise (an Enum).
            values = list(map(format, values))
            head, tail, cut = shape
            head = head.copy()
            head[1::2] = values[:cut]
            if not tail:
                return _new_item(HttpItem, (payload, "".join(head), "", 0))
            tail = tail.copy()
            tail[1::2] = values[cut:]
            return _new_item(HttpItem, (payload, "".join(head), "".join(tail), 0))
    head_pairs: list[str] = []
    tail_pairs: list[str] = []
    unsafe = _NEEDS_QUOTING
    for key, value in payload.items():
        if unsafe(key):
            key = quote(key, safe="")  # noqa: PLW2901 - its quoted form from here on
        pair = f"{key}={quote(value, safe='') if unsafe(value) else value}"
        pairs = tail_pairs if key in _LAST_FIELDS else head_pairs  # co/cx go last
        pairs.append(pair)
    head_pairs.append(f"{proto.SENT_TSTAMP}=")
    return _new_item(
        HttpItem,
        (payload, "&".join(head_pairs), "&".join(["", *tail_pairs]), 0),
    )


# --- The collector's request-line limit (issue #16) --------------------------------
_LINE_AROUND_QUERY: Final = (
    len("GET ") + len("?") + len(" HTTP/1.1") + len(str(proto.MS_MAX))
)
"""What a GET request line holds besides the path and the query without its ``stm``
value (counted at its longest)."""


class RequestLineTooLongError(ValueError):
    """A GET event the collector would refuse: its request line is over the limit."""


def get_within(path: str) -> Callable[[Payload], HttpItem]:
    """:func:`encode_get` for a collector at ``path``, refusing a too long request line.

    The collector reads at most :data:`~snowplow_logging._protocol.GET_REQUEST_LINE_MAX`
    bytes of a request line and answers an error for more, so such an event is
    failed here, with the reason, never sent (send it by POST instead).
    """
    budget = proto.GET_REQUEST_LINE_MAX - _LINE_AROUND_QUERY - len(path)

    def prepare(payload: Payload) -> HttpItem:
        item = encode_get(payload)
        size = len(item.head) + len(item.tail)  # percent-encoded: ASCII
        if size > budget:
            msg = (
                f"a GET request line of {size + _LINE_AROUND_QUERY + len(path)} bytes "
                f"or more, over the collector's {proto.GET_REQUEST_LINE_MAX}-byte "
                "limit; send such events by POST"
            )
            raise RequestLineTooLongError(msg)
        return item

    return prepare


class HttpSink:
    """Sends prepared events to one collector URL.

    Args:
        transport: sends one request.
        display: the collector URL without credentials, for messages.
        method: ``"post"`` or ``"get"``.
        batch_size: most events per POST; byte_limit: most bytes per POST body.
        retry: the policy that classifies answers.
    """

    def __init__(
        self,
        transport: RequestsTransport,
        *,
        display: str,
        method: str,
        batch_size: int,
        byte_limit: int,
        retry: Retry,
    ) -> None:
        self.transport = transport
        self.describe = f"collector {display}"
        self._get = method == "get"
        self.batch_size = 1 if self._get else batch_size
        self._byte_limit = byte_limit
        self._retry = retry
        self.prepare = (
            get_within(urlsplit(display).path or "/") if self._get else encode_post
        )
        self._stm = ""

    def pack(self, ready: deque[HttpItem]) -> list[HttpItem]:
        """One event for GET; for POST as many as fit ``batch_size`` and ``byte_limit``."""
        if self._get:
            return [ready.popleft()]
        # The body is head + items joined by "," + tail, each item led by
        # '{"stm":"<ms>"'; sizes are checked before adding.
        per_item = len(_STM_HEAD) + len(str(time.time_ns() // 1_000_000)) + 2
        budget = self._byte_limit - len(_BODY_HEAD) - len(_BODY_TAIL) + 1
        items: list[HttpItem] = []
        total = 0
        while ready and len(items) < self.batch_size:
            size = ready[0].size + per_item
            if items and total + size > budget:
                break
            items.append(ready.popleft())
            total += size
        return items

    def send(self, batch: Sequence[HttpItem]) -> Attempt:
        """One request for ``batch``, stamped with this attempt's ``stm``."""
        self._stm = stm = str(time.time_ns() // 1_000_000)  # each attempt, in full ms
        try:
            if self._get:
                item = batch[0]
                response = self.transport.send(query=f"{item.head}{stm}{item.tail}")
            else:
                head = f'{_STM_HEAD}{stm}"'
                rests = f",{head}".join(item.head for item in batch)
                body = f"{_BODY_HEAD}{head}{rests}{_BODY_TAIL}".encode()
                response = self.transport.send(body)
        except TransportError as exc:
            return Attempt(Outcome.RETRY, str(exc))
        except Exception as exc:  # noqa: BLE001 - a broken session is a failed attempt
            return Attempt(Outcome.RETRY, repr(exc))
        outcome = self._retry.classify(response.status)
        retry_after = None
        if outcome is Outcome.RETRY:
            retry_after = parse_retry_after(response.retry_after)
        return Attempt(outcome, f"HTTP {response.status}", retry_after)

    def payloads(self, batch: Sequence[HttpItem]) -> list[Payload]:
        """The batch's payloads with the ``stm`` of the last attempt."""
        payloads = [item.payload for item in batch]
        for payload in payloads:
            payload[proto.SENT_TSTAMP] = self._stm
        return payloads

    def after_fork(self) -> bool:
        """Leave the parent's connections to the parent."""
        self.transport.after_fork()
        return True

    def close(self, deadline: float) -> bool:
        """Close the session if the transport created it."""
        self.transport.close()
        return True
