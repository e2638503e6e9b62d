"""Helpers for tests: a capturing emitter and payload decoders.

Use them in your own test suite to assert what your code tracks without a
network::

    from snowplow_logging import StructuredEvent, Tracker
    from snowplow_logging.testing import CapturingEmitter

    emitter = CapturingEmitter()
    tracker = Tracker(emitters=emitter, app_id="shop")
    tracker.track(StructuredEvent(category="checkout", action="paid"))
    assert emitter.payloads[0]["se_ac"] == "paid"
"""

from __future__ import annotations

import json
import threading
from typing import cast

from snowplow_logging import _protocol as proto
from snowplow_logging._json import decode_b64

__all__ = [
    "CapturingEmitter",
    "decode_b64",
    "decode_entities",
    "decode_self_describing_event",
]


class CapturingEmitter:
    """An emitter that keeps every payload in memory instead of sending it.

    Thread-safe. ``flush()`` and ``close()`` return at once; after ``close()``,
    inputs are counted in :attr:`dropped` rather than kept.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._payloads: list[dict[str, str]] = []
        self.closed = False
        self.dropped = 0

    def __repr__(self) -> str:
        return f"<CapturingEmitter payloads={len(self._payloads)} closed={self.closed}>"

    def input(self, payload: dict[str, str]) -> None:
        """Keep ``payload``."""
        with self._lock:
            if self.closed:
                self.dropped += 1
            else:
                self._payloads.append(payload)

    @property
    def payloads(self) -> list[dict[str, str]]:
        """A copy of the list of payloads received so far, oldest first."""
        with self._lock:
            return list(self._payloads)

    def clear(self) -> None:
        """Forget the payloads received so far."""
        with self._lock:
            self._payloads.clear()

    def flush(self, timeout: float | None = None) -> bool:
        """Nothing to send: returns True."""
        return True

    def close(self, timeout: float | None = None) -> bool:
        """Stop keeping payloads."""
        self.closed = True
        return True


def _field_json(payload: dict[str, str], plain: str, encoded: str) -> object:
    if encoded in payload:
        return json.loads(decode_b64(payload[encoded]))
    if plain in payload:
        return json.loads(payload[plain])
    return None


def decode_self_describing_event(payload: dict[str, str]) -> dict[str, object] | None:
    """Return the inner ``{"schema", "data"}`` of a self-describing event, if any.

    Reads ``ue_px`` (base64) or ``ue_pr`` (JSON) and unwraps the
    ``unstruct_event`` envelope.
    """
    wrapper = _field_json(payload, proto.UNSTRUCT, proto.UNSTRUCT_ENCODED)
    if not isinstance(wrapper, dict):
        return None
    return cast("dict[str, object]", wrapper.get("data"))


def decode_entities(payload: dict[str, str]) -> list[dict[str, object]]:
    """Return the entities (``{"schema", "data"}`` each) attached to a payload.

    Reads ``cx`` (base64) or ``co`` (JSON) and unwraps the ``contexts`` envelope;
    an event without entities gives ``[]``.
    """
    wrapper = _field_json(payload, proto.CONTEXT, proto.CONTEXT_ENCODED)
    if not isinstance(wrapper, dict):
        return []
    return cast("list[dict[str, object]]", wrapper.get("data") or [])
