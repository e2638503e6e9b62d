"""Ready ``before_send`` hooks: pseudonymise, anonymise, sample, chain.

Pass one to ``Tracker(before_send=...)`` or ``SnowplowHandler(before_send=...)``;
:func:`chain` runs several in order. Each receives the payload the tracker
built (a ``dict[str, str]`` with the protocol's field names: ``uid``, ``ip``,
``e``, ``ue_px``...) and returns it, changed, or ``None`` to drop the event
(counted in the tracker's ``stats["dropped_by_hook"]``). Hooks run on the
thread that tracks the event, so they can read the caller's context variables
(a consent flag of the current request, for instance).

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import random
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from snowplow_logging import _protocol as proto
from snowplow_logging._before_send import BeforeSend
from snowplow_logging._checks import check_callable
from snowplow_logging._exceptions import ConfigurationError, ConfigurationTypeError
from snowplow_logging._protocol import Payload

__all__ = [
    "ANONYMOUS_FIELDS",
    "BeforeSend",
    "anonymize",
    "chain",
    "hash_fields",
    "sample",
    "sample_by_schema",
]

ANONYMOUS_FIELDS: Final = (
    proto.USER_ID,
    proto.DOMAIN_USER_ID,
    proto.NETWORK_USER_ID,
    proto.TRACKER_NETWORK_USER_ID,
    proto.IP_ADDRESS,
    proto.DOMAIN_SESSION_ID,
    proto.DOMAIN_SESSION_INDEX,
)
"""What anonymous tracking strips: the user identifiers (``uid``, ``duid``,
``nuid``, ``tnuid``, ``ip``) and the session identifiers (``sid``, ``vid``), as
the official trackers' anonymous tracking leaves them out."""

_ID_SPACE: Final = 1 << 32
_SCHEMA_KEY: Final = re.compile(
    r"^iglu:[a-zA-Z0-9_.-]+/[a-zA-Z0-9_-]+(?:/jsonschema/[1-9][0-9]*-[0-9]+-[0-9]+)?$"
)


def hash_fields(
    salt: str | bytes, fields: Sequence[str] = (proto.USER_ID, proto.IP_ADDRESS)
) -> BeforeSend:
    """A hook replacing each of ``fields`` by its salted hash (HMAC-SHA256, hex).

    The same value gives the same 64-character hash under the same salt, so
    events still join by user; without the salt the value cannot be recovered
    by hashing guesses. Keep the salt secret and stable (rotating it breaks
    the joins). A hashed ``ip`` is no longer an address: the pipeline's IP
    lookups then find nothing for it.

    Args:
        salt: the HMAC key, at least 16 bytes (text is encoded as UTF-8).
        fields: the payload fields to hash, ``uid`` and ``ip`` by default.

    Raises:
        ConfigurationError: the salt is shorter than 16 bytes, or ``fields``
            is empty.
        ConfigurationTypeError: a setting has the wrong type.
    """
    given: object = salt
    if isinstance(given, str):
        key = given.encode()
    elif isinstance(given, bytes):
        key = given
    else:
        msg = f"'salt' must be str or bytes (got {type(given).__name__})."
        raise ConfigurationTypeError(msg)
    if len(key) < 16:  # noqa: PLR2004 - the documented minimum
        msg = f"'salt' must be at least 16 bytes (got {len(key)})."
        raise ConfigurationError(msg)
    names = _field_names("fields", fields)
    new = hmac.new

    def hash_payload(payload: Payload) -> Payload:
        for name in names:
            value = payload.get(name)
            if value is not None:
                payload[name] = new(key, value.encode(), hashlib.sha256).hexdigest()
        return payload

    return hash_payload


def anonymize(when: Callable[[Payload], bool] | None = None) -> BeforeSend:
    """A hook for anonymous tracking: strips :data:`ANONYMOUS_FIELDS`.

    Per event, as the official trackers' anonymous tracking does client-side:
    the user and session identifiers are left out; the event is still sent.
    With ``when``, only events for which ``when(payload)`` is true are
    anonymised, for instance those tracked while the current request has no
    consent. The collector still sees the address of the sending server (not
    the user's) and sets no cookie on a server-side tracker's requests.

    Args:
        when: decides per event; ``None`` anonymises every event. If it raises,
            the event is dropped and counted in ``stats["hook_failed"]``.

    Raises:
        ConfigurationTypeError: ``when`` is not callable.
    """
    check_callable("when", when)
    fields = ANONYMOUS_FIELDS

    def strip(payload: Payload) -> Payload:
        if when is None or when(payload):
            for name in fields:
                payload.pop(name, None)
        return payload

    return strip


def sample(rate: float) -> BeforeSend:
    """A hook keeping a fraction ``rate`` of the events, dropping the others.

    The decision is drawn from the event id (a random UUID), so it is
    independent per event and the same for the same event everywhere.

    Args:
        rate: between 0 (drop all) and 1 (keep all).

    Raises:
        ConfigurationError: ConfigurationTypeError: ``rate`` is not in 0..1.
    """
    threshold = _threshold("rate", rate)

    def keep_some(payload: Payload) -> Payload | None:
        return payload if _draw(payload) < threshold else None

    return keep_some


def sample_by_schema(rates: Mapping[str, float], default: float = 1.0) -> BeforeSend:
    """A hook sampling self-describing events at a rate per schema.

    Args:
        rates: a rate (0..1) per Iglu URI: ``"iglu:com.acme/click/jsonschema/1-0-0"``
            for one version, ``"iglu:com.acme/click"`` for every version. An exact
            URI wins over its vendor/name.
        default: the rate of every other event, structured events, page views
            and the like included.

    Raises:
        ConfigurationError: ConfigurationTypeError: a key is not such a URI or a
            rate is not in 0..1.
    """
    given: object = rates
    if not isinstance(given, Mapping):
        msg = f"'rates' must be a mapping of Iglu URIs to rates (got {type(given).__name__})."
        raise ConfigurationTypeError(msg)
    thresholds: dict[str, int] = {}
    for key, rate in given.items():
        if not isinstance(key, str) or not _SCHEMA_KEY.match(key):
            msg = (
                f"'rates' keys must be 'iglu:vendor/name' or a full Iglu URI "
                f"'iglu:vendor/name/jsonschema/M-R-A' (got {key!r})."
            )
            raise ConfigurationError(msg)
        thresholds[key] = _threshold(f"rates[{key!r}]", rate)
    otherwise = _threshold("default", default)

    def keep_some(payload: Payload) -> Payload | None:
        schema = _schema_of(payload)
        threshold = otherwise
        if schema is not None:
            found = thresholds.get(schema)
            if found is None:
                found = thresholds.get(schema.split("/jsonschema/", 1)[0])
            if found is not None:
                threshold = found
        return payload if _draw(payload) < threshold else None

    return keep_some


def chain(*hooks: BeforeSend) -> BeforeSend:
    """A hook running ``hooks`` in order; one returning ``None`` drops the event.

    Raises:
        ConfigurationTypeError: a hook is not callable.
    """
    given: tuple[object, ...] = hooks
    for index, hook in enumerate(given):
        if not callable(hook):
            msg = f"chain() argument {index} must be callable (got {hook!r})."
            raise ConfigurationTypeError(msg)
    steps = tuple(hooks)

    def run(payload: Payload) -> Payload | None:
        for hook in steps:
            result = hook(payload)
            if result is None:
                return None
            payload = result if isinstance(result, dict) else dict(result)
        return payload

    return run


def _field_names(name: str, fields: object) -> tuple[str, ...]:
    if isinstance(fields, str) or not isinstance(fields, Sequence):
        msg = f"{name!r} must be a sequence of payload field names (got {fields!r})."
        raise ConfigurationTypeError(msg)
    names = tuple(fields)
    if not names or not all(isinstance(field, str) and field for field in names):
        msg = f"{name!r} must name at least one payload field, each a non-empty str (got {fields!r})."
        raise ConfigurationError(msg)
    return names


def _threshold(name: str, rate: object) -> int:
    """``rate`` (0..1) as a bound on a 32-bit draw."""
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        msg = f"{name!r} must be a number between 0 and 1 (got {rate!r})."
        raise ConfigurationTypeError(msg)
    if not math.isfinite(rate) or not 0 <= rate <= 1:
        msg = f"{name!r} must be between 0 and 1 (got {rate!r})."
        raise ConfigurationError(msg)
    return round(rate * _ID_SPACE) + (rate == 1)


def _draw(payload: Payload) -> int:
    """A uniform 32-bit number from the event id (random when it has none)."""
    eid = payload.get(proto.EVENT_ID, "")
    try:
        return int(eid[:8], 16)
    except ValueError:
        return random.getrandbits(32)  # sampling, not secrecy


def _schema_of(payload: Payload) -> str | None:
    """The schema of a self-describing event's data, or ``None``."""
    text: str | bytes | None = payload.get(proto.UNSTRUCT)
    try:
        if text is None:
            encoded = payload.get(proto.UNSTRUCT_ENCODED)
            if encoded is None:
                return None
            text = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        schema = json.loads(text)["data"]["schema"]
    except (ValueError, KeyError, TypeError):
        return None
    return schema if isinstance(schema, str) else None
