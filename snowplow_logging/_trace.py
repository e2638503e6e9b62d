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
up in ``sys.modules``. The first time it is there, the reader is set up, once
per process: with OpenTelemetry's default runtime context (a context variable
holding a ``Context`` mapping), the current span is read straight from that
variable under the key ``set_span_in_context`` uses, two C calls; with any
other runtime context, through the public ``get_current_span``. The cost of an
event outside any span is measured by ``benchmarks/bench_call_site.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any, Final

from snowplow_logging._events import SelfDescribingJson

__all__ = ["OTEL_TRACE", "TRACE_SCHEMA", "TraceIds", "current_ids", "entity"]

TRACE_SCHEMA: Final = "iglu:io.github.snowplow-logging/trace/jsonschema/1-0-0"
"""The Iglu URI of the trace entity, shipped in the package's ``schemas`` folder."""

TraceIds = tuple[int, int]
"""A recording span's ``(trace_id, span_id)``, as OpenTelemetry holds them."""

OTEL_TRACE: Final = "opentelemetry.trace"
"""The module whose import makes spans possible at all."""
_modules: Final = sys.modules
_ready = False  # the reader below is set up
_variable: ContextVar[Mapping[str, Any]] | None = None  # the default runtime's context
_key = ""  # the span's key in that context
_get_span: Callable[[], Any] | None = None  # the public reader otherwise


def current_ids() -> TraceIds | None:
    """The current span's ids if it is recording, else ``None``; never raises."""
    if not _ready:
        if OTEL_TRACE not in _modules:
            return None
        _load()
    try:
        variable = _variable
        if variable is not None:
            span = variable.get().get(_key)
            if span is None:  # the common case outside a span: nothing more
                return None
        elif _get_span is not None:
            span = _get_span()
        else:
            return None
        if not span.is_recording():
            return None
        context = span.get_span_context()
    except Exception:  # noqa: BLE001 - a broken tracing setup never stops an event
        return None
    return context.trace_id, context.span_id


def _load() -> None:
    """Set the reader up, now that ``opentelemetry.trace`` is imported (once)."""
    global _ready, _variable, _key, _get_span  # noqa: PLW0603 - set once per process
    try:
        from opentelemetry import context as otel_context  # noqa: PLC0415 - only once the application did
        from opentelemetry import trace  # noqa: PLC0415 - only once the application did

        _get_span = trace.get_current_span
        runtime = otel_context._RUNTIME_CONTEXT  # noqa: SLF001 - checked below, else the public reader
        variable = getattr(runtime, "_current_context", None)
        (key,) = trace.set_span_in_context(trace.INVALID_SPAN, otel_context.Context())
        if (
            isinstance(variable, ContextVar)
            and variable.get() is otel_context.get_current()
            and isinstance(key, str)
        ):
            _variable, _key = variable, key
    except Exception:  # noqa: BLE001 - an unusual setup: the public reader, if any
        _variable = None
    _ready = True


def entity(ids: TraceIds) -> SelfDescribingJson:
    """The trace entity of a span's ids."""
    trace_id, span_id = ids
    return SelfDescribingJson(
        schema=TRACE_SCHEMA,
        data={"trace_id": f"{trace_id:032x}", "span_id": f"{span_id:016x}"},
    )
