"""The filters of ``/micro/good`` and ``/micro/bad`` queries.

An :class:`EventFilter` is built from keyword arguments
(:meth:`~snowplow_logging.micro.MicroCollector.good`), from query parameters or
from a POSTed JSON object (:meth:`EventFilter.from_json`), and tells which stored
events a query returns (:meth:`EventFilter.keeps`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from snowplow_logging import _protocol as proto
from snowplow_logging._exceptions import ConfigurationError, ConfigurationTypeError
from snowplow_logging.micro.events import BadEvent, GoodEvent, payload_text
from snowplow_logging.micro.fields import whole_number

__all__ = ["EventFilter"]


@dataclass(frozen=True, slots=True, kw_only=True)
class EventFilter:
    """Which stored events a query returns.

    Attributes:
        event_type: the ``event`` column (``page_view``, ``unstruct``...) or the
            tracker code (``pv``, ``ue``...).
        schema: the event's schema URI (see :attr:`GoodEvent.schema`).
        app_id: the ``aid`` sent.
        contexts: schema URIs that must all be among the event's entities.
        vendor: the API vendor (Snowplow Micro's bad-event filter).
        version: the API version, ``tp2`` for POST and ``tp1`` for GET.
        limit: return at most this many, the most recent ones.
    """

    event_type: str | None = None
    schema: str | None = None
    app_id: str | None = None
    contexts: tuple[str, ...] = ()
    vendor: str | None = None
    version: str | None = None
    limit: int | None = None

    def __post_init__(self) -> None:
        for name in ("event_type", "schema", "app_id", "vendor", "version"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                msg = f"{name!r} must be a string (got {value!r})."
                raise ConfigurationTypeError(msg)
        contexts: object = self.contexts  # checked at run time, whatever the hints
        if not isinstance(contexts, tuple) or not all(
            isinstance(c, str) for c in contexts
        ):
            msg = f"'contexts' must be a list of schema URIs (got {self.contexts!r})."
            raise ConfigurationTypeError(msg)
        if self.limit is not None and (type(self.limit) is not int or self.limit < 0):
            msg = f"'limit' must be a non-negative integer (got {self.limit!r})."
            raise ConfigurationError(msg)

    @classmethod
    def from_json(cls, value: object) -> EventFilter:
        """Read filters from a request: query parameters or a POSTed JSON object.

        Unknown keys are ignored, as Snowplow Micro ignores them.

        Raises:
            ConfigurationError: a value of the wrong type.
        """
        if not isinstance(value, Mapping):
            msg = f"filters must be a JSON object (got {type(value).__name__})."
            raise ConfigurationTypeError(msg)
        contexts = value.get("contexts") or ()
        limit = value.get("limit")
        if isinstance(limit, str):
            number = whole_number(limit)
            if number is None or number < 0 or limit.startswith("-"):
                msg = f"'limit' must be a non-negative integer (got {limit[:40]!r})."
                raise ConfigurationError(msg)
            limit = number
        return cls(
            event_type=value.get("event_type"),
            schema=value.get("schema"),
            app_id=value.get("app_id"),
            contexts=tuple(contexts) if isinstance(contexts, list) else contexts,
            vendor=value.get("vendor"),
            version=value.get("version"),
            limit=limit,
        )

    def keeps(self, event: GoodEvent | BadEvent) -> bool:
        """True when ``event`` matches every filter set."""
        where = event.request.api
        return (
            (self.app_id is None or event.app_id == self.app_id)
            and (
                self.event_type is None
                or self.event_type
                in (event.event_type, payload_text(event.payload, proto.EVENT))
            )
            and (self.schema is None or event.schema == self.schema)
            and (self.vendor is None or where["vendor"] == self.vendor)
            and (self.version is None or where["version"] == self.version)
            and (
                not self.contexts
                or (
                    isinstance(event, GoodEvent)
                    and all(c in event.contexts for c in self.contexts)
                )
            )
        )
