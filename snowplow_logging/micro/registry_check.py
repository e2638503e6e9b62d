"""Check a user's Iglu static registry when it is loaded, not when an event needs it.

:func:`check_registry` reads every JSON Schema file of a registry root
(``<vendor>/<name>/jsonschema/<M-R-A>``) once: it must be JSON, an object, and a
valid JSON Schema (checked against the Draft 4 metaschema, the draft Iglu schemas
are written in, after dropping Iglu's ``$schema`` and ``self``). The first fault
raises :class:`~snowplow_logging.ConfigurationError` naming the file and the
reason, so a broken schema stops the collector at start instead of failing
every event that uses it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import ModuleType
from typing import Final

from snowplow_logging._exceptions import ConfigurationError

__all__ = ["check_registry"]

_VERSION: Final = re.compile(r"[0-9]+-[0-9]+-[0-9]+")
_MAX_SCHEMA_BYTES: Final = 8 * 1024 * 1024
"""A schema file larger than this is refused: no registry needs one."""


def _no_constant(name: str) -> object:
    msg = f"{name} is not JSON"
    raise ValueError(msg)


def _read(path: Path) -> tuple[object, str | None]:
    """The JSON in ``path``, or None and why it cannot be read as JSON."""
    try:
        if path.stat().st_size > _MAX_SCHEMA_BYTES:
            return None, f"larger than {_MAX_SCHEMA_BYTES} bytes"
        text = path.read_text(encoding="utf-8")
        return json.loads(text, parse_constant=_no_constant), None
    except OSError as exc:
        return None, f"cannot be read: {exc.strerror or exc}"
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8: {exc.reason} at byte {exc.start}"
    except RecursionError:
        return None, "not JSON: nested too deeply"
    except ValueError as exc:
        return None, f"not JSON: {exc}"


def _problem(path: Path, jsonschema: ModuleType) -> str | None:
    """What is wrong with the schema file ``path``, or None."""
    if not _VERSION.fullmatch(path.name):
        return (
            f"the version {path.name!r} is not MODEL-REVISION-ADDITION (e.g. 1-0-0), "
            "so no Iglu URI can name this file"
        )
    schema, problem = _read(path)
    if problem is not None:
        return problem
    if not isinstance(schema, dict):
        return f"a JSON Schema must be a JSON object (got {type(schema).__name__})"
    schema.pop("$schema", None)
    schema.pop("self", None)
    try:
        jsonschema.Draft4Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(map(str, exc.absolute_path)) or "(root)"
        return f"not a valid JSON Schema: {where}: {exc.message}"
    except RecursionError:
        return "not a valid JSON Schema: nested too deeply"
    return None


def check_registry(root: Path, jsonschema: ModuleType) -> int:
    """Check every JSON Schema file under the registry ``root``.

    Returns:
        How many schema files were checked.

    Raises:
        ConfigurationError: a file is not JSON, not an object, not a valid JSON
            Schema or not named by a version; the message names the file.
    """
    checked = 0
    for path in sorted(root.glob("*/*/jsonschema/*")):
        if path.name.startswith(".") or not path.is_file():
            continue
        problem = _problem(path, jsonschema)
        if problem is not None:
            msg = f"Iglu schema {str(path)!r}: {problem}."
            raise ConfigurationError(msg)
        checked += 1
    return checked
