"""Subject fields and entities bound to the current context: a request, a task.

:func:`bind` puts a subject and entities on every event tracked in the
current :mod:`contextvars` context, whichever front door tracks it (the
logging handler, the structlog processor, :meth:`Tracker.track
<snowplow_logging.Tracker.track>`). Bindings nest: an inner subject overrides
the outer one field by field and inner entities follow the outer ones. A
per-event ``event_subject`` still overrides the bound subject field by field.

Because the value lives in a context variable, it follows the code that runs
in the context: asyncio tasks copy the context they are created in, and
threads see it when started through ``contextvars.copy_context().run``. The
tracker reads it on the caller's thread when an event is tracked and carries it
to the emitter's worker thread with the event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextvars import ContextVar, Token
from typing import Final, NamedTuple, Self

from snowplow_logging._events import SelfDescribingJson
from snowplow_logging._exceptions import ConfigurationTypeError
from snowplow_logging._subject import Subject

__all__ = ["Binding", "Bound", "bind", "bound"]


class Bound(NamedTuple):
    """What is bound now: subject fields on the wire, and entities."""

    fields: Mapping[str, str]
    """Subject fields (protocol names to values), outer bindings overridden."""
    context: tuple[SelfDescribingJson, ...]
    """Entities, outer bindings' first."""


_CURRENT: Final[ContextVar[Bound | None]] = ContextVar(
    "snowplow_logging.bound", default=None
)

bound: Final = _CURRENT.get
"""``bound()``: what is bound in the current context, or ``None``."""


class Binding:
    """What :func:`bind` returns: a context manager, or call :meth:`reset` yourself.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_done", "_token")

    def __init__(self, token: Token[Bound | None]) -> None:
        self._token = token
        self._done = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.reset()

    def reset(self) -> None:
        """Restore what was bound before; idempotent.

        Raises:
            ValueError: called in another context than the one :func:`bind`
                ran in (``contextvars``' own rule).
        """
        if not self._done:
            _CURRENT.reset(self._token)
            self._done = True


def bind(
    *,
    subject: Subject | None = None,
    context: Sequence[SelfDescribingJson] = (),
) -> Binding:
    """Bind a subject and entities to every event tracked in the current context.

    Use it as a context manager (``with snowplow_logging.bind(subject=...):``)
    or keep what it returns and call ``reset()`` at the end of the request.

    Args:
        subject: subject fields for the events; they override those of an
            outer binding and of the tracker's subject, field by field.
        context: entities added to every event, after the event's own.

    Raises:
        ConfigurationTypeError: ``subject`` is not a :class:`Subject` or
            ``context`` not a sequence of :class:`SelfDescribingJson`.

    .. versionadded:: 0.1.0
    """
    given: object = subject
    if given is not None and not isinstance(given, Subject):
        msg = f"'subject' must be a Subject or None (got {type(given).__name__})."
        raise ConfigurationTypeError(msg)
    entities = _entities(context)
    outer = _CURRENT.get()
    fields: Mapping[str, str] = {} if subject is None else subject.fields
    if outer is not None:
        fields = {**outer.fields, **fields} if fields else outer.fields
        entities = (*outer.context, *entities) if entities else outer.context
    return Binding(_CURRENT.set(Bound(fields, entities)))


def _entities(context: object) -> tuple[SelfDescribingJson, ...]:
    if isinstance(context, str | bytes) or not isinstance(context, Sequence):
        msg = f"'context' must be a sequence of SelfDescribingJson (got {type(context).__name__})."
        raise ConfigurationTypeError(msg)
    for index, entity in enumerate(context):
        if not isinstance(entity, SelfDescribingJson):
            msg = f"'context[{index}]' must be a SelfDescribingJson (got {type(entity).__name__})."
            raise ConfigurationTypeError(msg)
    return tuple(context)
