"""Trace correlation: the OpenTelemetry span an event was tracked in, as an entity.

When the current span is recording, every event carries an entity under
:data:`TRACE_SCHEMA` with the span's trace id and span id (lower-case hex, as
W3C ``traceparent`` writes them), so that an analytics event joins the trace
it happened in. The ids are read on the caller's thread, where the span is
current (OpenTelemetry keeps it in a context variable), and the entity is made
where the payload is built (on the emitter's worker thread with
:class:`~snowplow_logging.Emitter`).

Nothing here imports OpenTelemetry. No span can exist before something imported
``opentelemetry.trace``, so until then :func:`current_ids` only looks the module
up in ``sys.modules``; the first time it is there, its ``get_current_span`` is
kept (once per process) and called from then on. That keeps the cost of an
event outside any span to a dictionary lookup, or to one ``get_current_span``
call once the application uses OpenTelemetry (measured by
``benchmarks/bench_call_site.py``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Final

from snowplow_logging._events import SelfDescribingJson

__all__ = ["TRACE_SCHEMA", "TraceIds", "current_ids", "entity"]

TRACE_SCHEMA: Final = "iglu:io.github.snowplow-logging/trace/jsonschema/1-0-0"
"""The Iglu URI of the trace entity, shipped in the package's ``schemas`` folder."""

TraceIds = tuple[int, int]
"""A recording span's ``(trace_id, span_id)``, as OpenTelemetry holds them."""

_OTEL_TRACE: Final = "opentelemetry.trace"
_modules: Final = sys.modules
_get_span: Callable[[], Any] | None = None


def current_ids() -> TraceIds | None:
    """The current span's ids if it is recording, else ``None``; never raises."""
    get_span = _get_span
    if get_span is None:
        if _OTEL_TRACE not in _modules:
            return None
        get_span = _load()
    try:
        span = get_span()
        if not span.is_recording():
            return None
        context = span.get_span_context()
    except Exception:  # noqa: BLE001 - a broken tracing setup never stops an event
        return None
    return context.trace_id, context.span_id


def _load() -> Callable[[], Any]:
    """Keep ``opentelemetry.trace.get_current_span``, now that it is imported."""
    global _get_span  # noqa: PLW0603 - set once per process
    from opentelemetry import trace  # noqa: PLC0415 - only once the application did

    _get_span = trace.get_current_span
    return _get_span


def entity(ids: TraceIds) -> SelfDescribingJson:
    """The trace entity of a span's ids."""
    trace_id, span_id = ids
    return SelfDescribingJson(
        schema=TRACE_SCHEMA,
        data={"trace_id": f"{trace_id:032x}", "span_id": f"{span_id:016x}"},
    )
