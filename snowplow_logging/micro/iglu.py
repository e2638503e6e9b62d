"""Iglu schemas for validation: a resolver with bounded caches.

:class:`IgluResolver` finds Iglu JSON Schemas (the bundled Iglu Central copies
and any user directory in static-registry layout), caches one compiled
validator per schema and remembers decoded ``ue_*``/``co``/``cx`` values for
:func:`~snowplow_logging.micro.validate.check_payload`; both caches are
bounded, least recently used entries forgotten.

Needs the ``jsonschema`` package (the ``micro`` extra); importing this module
does not, only building a resolver does.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final, Generic, TypeAlias, TypeVar, cast

from snowplow_logging import _protocol as proto
from snowplow_logging._diagnostics import LOGGER
from snowplow_logging.micro.fastschema import Check, compile_check
from snowplow_logging.micro.registry_check import check_registry

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

__all__ = [
    "BUNDLED_SCHEMAS",
    "MISSING_EXTRA",
    "Decoded",
    "IgluResolver",
    "schema_key",
]

_PACKAGE: Final = Path(__file__).parent.parent
BUNDLED_SCHEMAS: Final = (_PACKAGE / "schemas", _PACKAGE / "iglu" / "schemas")
"""The schemas shipped with the package: our own (the log-record entity), then the
Iglu Central copies."""

MISSING_EXTRA: Final = (
    "validating events needs the 'jsonschema' package: "
    "pip install 'snowplow-logging[micro]'"
)

_DECODED_CACHE_SIZE: Final = 4096
"""How many decoded ``ue_*``/``co``/``cx`` values a resolver remembers, at most."""
_DECODED_CACHE_CHARS: Final = 2 * 1024 * 1024
"""How many characters of those values (and of their errors) it remembers, at most."""
_DECODED_ITEM_CHARS: Final = 16 * 1024
"""A longer value (with its errors) is decoded each time, never remembered: the
cache is for the small entities sent again and again."""
_SCHEMA_CACHE_SIZE: Final = 512
_FORMAT_PACKAGES: Final = {
    "date-time": "rfc3339-validator",
    "uri": "rfc3986-validator",
    "hostname": "fqdn",
}
"""Formats Iglu's validator checks that jsonschema checks only with these installed."""
_WARNED_FORMATS: set[str] = set()
"""How many schema lookups (compiled validators, and URIs found missing) it keeps."""
_SCHEMA_CACHE_CHARS: Final = 128 * 1024
"""How many characters of those URIs it keeps; a URI over 512 is not remembered."""

Decoded: TypeAlias = tuple[tuple[str, ...], object]
"""A decoded JSON field: its errors, and its ``data`` (None when unusable)."""


def schema_key(uri: str) -> tuple[str, str, str, str] | None:
    """The vendor, name, format and version of an Iglu URI, or None if it is not one.

    Iglu's own patterns, matched whole (no trailing newline), and a vendor that is
    not only dots: ``iglu:../x/jsonschema/1-0-0`` would name a path outside the
    registry, so it is no schema at all.
    """
    if proto.IGLU_URI.fullmatch(uri) is None:
        return None
    vendor, name, fmt, version = uri.removeprefix("iglu:").split("/")
    if not vendor.strip("."):
        return None
    return vendor, name, fmt, version


_Key = TypeVar("_Key", bound=Hashable)
_Value = TypeVar("_Value")


class _Lru(Generic[_Key, _Value]):
    """A thread-safe cache forgetting its least recently used entries.

    It keeps at most ``entries`` entries and ``weight`` in total of the weights
    they were put with; an entry heavier than ``item_weight`` is not kept at all.
    """

    def __init__(self, *, entries: int, weight: int, item_weight: int) -> None:
        self._items: OrderedDict[_Key, tuple[_Value, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._entries = entries
        self._max_weight = weight
        self._item_weight = item_weight
        self.weight = 0
        """The total weight of the entries kept."""

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[_Key]:
        with self._lock:
            return iter(list(self._items))

    def get(self, key: _Key) -> _Value | None:
        """The value kept for ``key`` (now the most recently used), or None."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: _Key, value: _Value, weight: int) -> None:
        """Keep ``value`` for ``key``, forgetting the least recently used past a bound."""
        if weight > self._item_weight:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.weight -= old[1]
            self._items[key] = (value, weight)
            self.weight += weight
            while len(self._items) > self._entries or self.weight > self._max_weight:
                _, (_, dropped) = self._items.popitem(last=False)
                self.weight -= dropped


def _registry_root(directory: Path) -> Path:
    """The folder holding the vendors: ``directory/schemas`` when there is one."""
    return directory / "schemas" if (directory / "schemas").is_dir() else directory


def _load_jsonschema() -> ModuleType:
    try:
        import jsonschema  # noqa: PLC0415 - optional dependency, imported on first use
    except ImportError as exc:
        raise ImportError(MISSING_EXTRA) from exc
    return jsonschema


class IgluResolver:
    """Find Iglu schemas by URI and validate data against them.

    Thread-safe; compiled validators and decoded entities are cached, so share
    one resolver between collectors and checks (the pytest fixture keeps one per
    session). Both caches are bounded (least recently used entries forgotten):
    512 schema lookups, and 4,096 decoded values of at most 16 KiB each, 2 MiB in
    all.

    Args:
        directories: extra Iglu static-registry roots, each laid out as
            ``schemas/<vendor>/<name>/jsonschema/<M-R-A>`` (the root may be the
            folder holding ``schemas`` or ``schemas`` itself). Earlier directories
            win over later ones and over the bundled schemas. Only files inside
            a root are read: an Iglu URI cannot name a path out of it
            (``iglu:../...`` is no Iglu URI), nor a symbolic link lead out.
        bundled: also use the Iglu Central schemas shipped with the package.

    Raises:
        ImportError: ``jsonschema`` is not installed; the message says what to install.
        ConfigurationError: a schema file in ``directories`` is not JSON, not a
            valid JSON Schema (Draft 4 metaschema) or not named by a version; the
            message names the file and the reason.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self, directories: Iterable[str | Path] = (), *, bundled: bool = True
    ) -> None:
        self._jsonschema = _load_jsonschema()
        user_roots = [_registry_root(Path(d)) for d in directories]
        for root in user_roots:  # a broken schema fails now, naming its file
            check_registry(root, self._jsonschema)
        self._roots: tuple[Path, ...] = (
            *user_roots,
            *(BUNDLED_SCHEMAS if bundled else ()),
        )
        self._real_roots = tuple(root.resolve() for root in self._roots)
        self._cache: _Lru[str, tuple[Validator | None, Check | None]] = _Lru(
            entries=_SCHEMA_CACHE_SIZE, weight=_SCHEMA_CACHE_CHARS, item_weight=512
        )
        self._decoded: _Lru[tuple[str, str], Decoded] = _Lru(
            entries=_DECODED_CACHE_SIZE,
            weight=_DECODED_CACHE_CHARS,
            item_weight=_DECODED_ITEM_CHARS,
        )
        self._format_checker = self._jsonschema.FormatChecker()
        self.unchecked_formats: tuple[str, ...] = tuple(
            name
            for name in _FORMAT_PACKAGES
            if name not in self._format_checker.checkers
        )
        """Formats not checked here for want of a package; the pipeline checks them."""
        if self.unchecked_formats and not _WARNED_FORMATS.issuperset(
            self.unchecked_formats
        ):
            _WARNED_FORMATS.update(self.unchecked_formats)
            LOGGER.warning(
                "The local collector cannot check the JSON Schema formats %s "
                "without %s: such values pass here and fail in a Snowplow "
                "pipeline: pip install 'snowplow-logging[micro]'",
                ", ".join(self.unchecked_formats),
                ", ".join(_FORMAT_PACKAGES[name] for name in self.unchecked_formats),
            )

    @property
    def roots(self) -> tuple[Path, ...]:
        """The registry roots searched, in order."""
        return self._roots

    def _path(self, uri: str) -> Path | None:
        parts = schema_key(uri)
        if parts is None:
            return None
        for root, real_root in zip(self._roots, self._real_roots, strict=True):
            candidate = root.joinpath(*parts)
            try:
                # The URI cannot step out (_schema_key), nor may a link inside the root.
                if candidate.is_file() and candidate.resolve().is_relative_to(
                    real_root
                ):
                    return candidate
            except (OSError, RuntimeError):  # a name too long for a file, a link loop
                continue
        return None

    def schema_path(self, uri: str) -> Path | None:
        """The file holding the schema ``uri``, or None if no such schema is known."""
        return self._path(uri)

    def validator(self, uri: str) -> Validator | None:
        """The compiled validator of ``uri``, or None if no such schema is known."""
        return self._compiled(uri)[0]

    def _compiled(self, uri: str) -> tuple[Validator | None, Check | None]:
        """The validator and quick test of ``uri`` (both None when unknown), cached."""
        cached = self._cache.get(uri)
        if cached is not None:
            return cached
        path = self._path(uri)
        compiled: tuple[Validator | None, Check | None] = (None, None)
        if path is not None:
            schema = json.loads(path.read_text(encoding="utf-8"))
            schema.pop("$schema", None)
            schema.pop("self", None)
            compiled = (
                self._jsonschema.Draft4Validator(
                    schema, format_checker=self._format_checker
                ),
                compile_check(schema, self._format_checker.conforms),
            )
        self._cache.put(uri, compiled, len(uri))
        return compiled

    def recall(self, key: tuple[str, str]) -> Decoded | None:
        """The decoded ``ue_*``/``co``/``cx`` value kept for ``(field, value)``, or None."""
        return self._decoded.get(key)

    def remember(self, key: tuple[str, str], decoded: Decoded) -> None:
        """Keep a decoded ``ue_*``/``co``/``cx`` value, within the cache's bounds."""
        errors, _ = decoded
        self._decoded.put(key, decoded, len(key[1]) + sum(map(len, errors)))

    def errors(self, uri: str, data: object) -> list[str]:
        """Validate ``data`` against the schema ``uri``; return readable errors."""
        validator, quick = self._compiled(uri)
        if validator is None:
            return [f"schema not found: {uri}"]
        if quick is not None and quick(data):
            return []  # certainly valid: skip the slow validator (issue 5)
        return [
            f"{uri}: {'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
            for error in validator.iter_errors(cast("Any", data))
        ]

    def check_self_describing(self, where: str, value: object) -> list[str]:
        """Check a ``{"schema", "data"}`` object and validate its data."""
        if not isinstance(value, dict) or set(value) != {"schema", "data"}:
            return [f"{where}: must be an object with exactly 'schema' and 'data'"]
        schema = value["schema"]
        if not isinstance(schema, str) or schema_key(schema) is None:
            return [f"{where}: 'schema' is not an Iglu URI: {schema!r}"]
        return [f"{where}: {e}" for e in self.errors(schema, value["data"])]
