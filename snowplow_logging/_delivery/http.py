"""The HTTP sink: payloads to a Snowplow collector, POST batches or one GET each.

:class:`HttpSink` prepares each payload once (compact UTF-8 JSON for POST,
docs/protocol.md 1.2; a percent-encoded query for GET, 1.3), packs POST bodies
up to ``byte_limit`` encoded bytes, checked before adding (pitfall 12), stamps
``stm`` at every attempt and classifies the answer with the
:class:`~snowplow_logging.Retry` policy (1.4). The request itself is
:class:`~snowplow_logging._delivery.transport.RequestsTransport`'s.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Sequence
from typing import Final, NamedTuple
from urllib.parse import quote

from snowplow_logging import _protocol as proto
from snowplow_logging._delivery.sink import Attempt, Payload
from snowplow_logging._delivery.transport import RequestsTransport, TransportError
from snowplow_logging._json import dumps_compact
from snowplow_logging._retry import Outcome, Retry, parse_retry_after

__all__ = ["HttpItem", "HttpSink", "encode_get", "encode_post"]

_BODY_HEAD: Final = f'{{"schema":"{proto.PAYLOAD_DATA_SCHEMA}","data":['
_BODY_TAIL: Final = "]}"
_STM_HEAD: Final = f'{{"{proto.SENT_TSTAMP}":"'
_LAST_FIELDS: Final = frozenset({proto.CONTEXT, proto.CONTEXT_ENCODED})
_NEEDS_QUOTING: Final = re.compile(r"[^A-Za-z0-9_.~-]").search
"""Whether ``quote(text, safe="")`` would change ``text``: most values (ids,
numbers, base64url entities) pass unchanged, and a regex scan is ten times
cheaper than the call."""


class HttpItem(NamedTuple):
    """One prepared event: its payload and its wire text around the ``stm`` value."""

    payload: Payload
    head: str  # POST: the JSON object after its opening brace; GET: up to "stm="
    tail: str  # GET: the fields after stm (co/cx last); POST: empty
    size: int  # POST: encoded bytes of ``head``


def encode_post(payload: Payload) -> HttpItem:
    """The payload as a JSON object without its opening brace, and its size.

    The body puts ``{"stm":"<ms>"`` before it at each attempt, so the text is
    encoded once and its size known before the event joins a body.
    """
    payload.pop(proto.SENT_TSTAMP, None)  # ours to mutate; stamped per attempt
    text = dumps_compact(payload)
    rest = "," + text[1:] if len(text) > 2 else text[1:]  # noqa: PLR2004 - "{}"
    return HttpItem(
        payload, rest, "", len(rest) if rest.isascii() else len(rest.encode())
    )


def encode_get(payload: Payload) -> HttpItem:
    """The query string before and after the ``stm`` value (docs/protocol.md 1.3)."""
    payload.pop(proto.SENT_TSTAMP, None)
    head: list[str] = []
    tail: list[str] = []
    unsafe = _NEEDS_QUOTING
    for key, value in payload.items():
        if unsafe(key):
            key = quote(key, safe="")  # noqa: PLW2901 - its quoted form from here on
        pair = f"{key}={quote(value, safe='') if unsafe(value) else value}"
        (tail if key in _LAST_FIELDS else head).append(pair)  # co/cx go last
    head.append(f"{proto.SENT_TSTAMP}=")
    return HttpItem(payload, "&".join(head), "&".join(["", *tail]), 0)


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
        self.prepare = encode_get if self._get else encode_post
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
