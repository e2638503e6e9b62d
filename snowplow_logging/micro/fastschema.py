"""A quick "certainly valid" test compiled from a JSON Schema, to skip slow validation.

``jsonschema`` spends tens of microseconds per small object; the local collector
must validate 20,000 events a second (issue 5). :func:`compile_check` turns the
Draft 4 keywords Iglu schemas use into nested closures returning True only when
the instance is valid. A False answer proves nothing: the caller then runs the
real validator, which also writes the error messages. A schema using a keyword
this module does not implement ($ref, anyOf, multipleOf...) gets no quick test.

Types are tested exactly (``type(x) is int``): a bool is never an integer, and
anything the JSON decoder would not produce falls through to the real validator.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Final, TypeAlias

__all__ = ["Check", "compile_check"]

Check: TypeAlias = Callable[[object], bool]
"""True when the instance is certainly valid; False when unsure or invalid."""

FormatTest: TypeAlias = Callable[[object, str], bool]
"""``jsonschema.FormatChecker.conforms``: does the instance match the format?"""

_TYPES: Final[Mapping[str, frozenset[type]]] = {
    "string": frozenset({str}),
    "object": frozenset({dict}),
    "array": frozenset({list}),
    "boolean": frozenset({bool}),
    "null": frozenset({type(None)}),
    "integer": frozenset({int}),
    "number": frozenset({int, float}),
}
_UNSUPPORTED: Final = frozenset(
    {
        "$ref",
        "additionalItems",
        "allOf",
        "anyOf",
        "dependencies",
        "exclusiveMaximum",
        "exclusiveMinimum",
        "multipleOf",
        "not",
        "oneOf",
        "patternProperties",
        "uniqueItems",
    }
)
"""Draft 4 keywords without a quick test; other unknown keywords are annotations."""
_DRAFT4_KEYWORDS: Final = _UNSUPPORTED | {
    "additionalProperties", "enum", "format", "items", "maxItems", "maxLength",
    "maxProperties", "maximum", "minItems", "minLength", "minProperties", "minimum",
    "pattern", "properties", "required", "type",
}  # fmt: skip
"""Every keyword Draft 4 validates; anything else is an annotation."""
_NUMBERS: Final = frozenset({int, float})
_JSON_TYPES: Final = frozenset().union(*_TYPES.values())
"""What the JSON decoder makes; anything else is left to the real validator."""
_CANONICAL_UUID: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
"""A UUID every ``uuid`` format test accepts; others are asked to ``conforms``."""


class _Unsupported(Exception):  # noqa: N818 - internal signal, never raised out
    """The schema uses something :func:`compile_check` does not handle."""


def compile_check(schema: object, conforms: FormatTest) -> Check | None:
    """Compile ``schema`` to a quick test, or None if it uses unsupported keywords.

    Args:
        schema: a Draft 4 JSON Schema (``$schema`` and ``self`` already removed).
        conforms: the format test the real validator uses, so ``format`` agrees.
    """
    try:
        return _compile(schema, conforms)
    except _Unsupported:
        return None


def _compile(schema: object, conforms: FormatTest) -> Check:
    if not isinstance(schema, dict) or not _UNSUPPORTED.isdisjoint(schema):
        raise _Unsupported
    kind = schema.get("type")
    objects = _object_checks(schema, conforms, typed=kind == "object")
    arrays = _array_checks(schema, conforms, typed=kind == "array")
    strings = _string_checks(schema, conforms, typed=kind == "string")
    checks: list[Check] = []
    if "type" in schema and not (
        (kind == "object" and objects)
        or (kind == "array" and arrays)
        or (kind == "string" and strings)
    ):  # else the object, array or string check tests the type too
        checks.append(_type_check(kind))
    if "enum" in schema:
        checks.append(_enum_check(schema["enum"]))
    checks.extend(strings)
    checks.extend(_number_checks(schema))
    checks.extend(objects)
    checks.extend(arrays)
    if len(checks) == 1:
        return checks[0]
    frozen = tuple(checks)

    def check_all(value: object) -> bool:
        for check in frozen:  # noqa: SIM110 - a loop is cheaper than all(generator)
            if not check(value):
                return False
        return True

    return check_all


def _types(names: object) -> frozenset[type]:
    listed = [names] if isinstance(names, str) else names
    if not isinstance(listed, list) or not all(n in _TYPES for n in listed):
        raise _Unsupported
    return frozenset().union(*(_TYPES[name] for name in listed))


def _type_check(names: object) -> Check:
    allowed = _types(names)

    def check_type(value: object) -> bool:
        return type(value) in allowed

    return check_type


def _only_type(schema: object) -> frozenset[type] | None:
    """The allowed types when ``schema`` checks nothing but the type.

    A schema checking nothing (``{}``) allows what the JSON decoder makes.
    """
    if not isinstance(schema, dict):
        return None
    if any(key in _DRAFT4_KEYWORDS for key in schema if key != "type"):
        return None
    return _types(schema["type"]) if "type" in schema else _JSON_TYPES


def _enum_check(values: object) -> Check:
    # Only string enums: `True in [1]` is true in Python but not in JSON Schema.
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise _Unsupported
    allowed = frozenset(values)

    def check_enum(value: object) -> bool:
        return type(value) is str and value in allowed

    return check_enum


def _bound(schema: Mapping[str, object], name: str) -> int | float | None:
    value = schema.get(name)
    if value is not None and type(value) not in _NUMBERS:
        raise _Unsupported
    return value  # type: ignore[return-value]


def _string_checks(
    schema: Mapping[str, object], conforms: FormatTest, *, typed: bool
) -> list[Check]:
    """The string keywords' test; with ``typed``, a value not a string fails it."""
    low, high = _bound(schema, "minLength"), _bound(schema, "maxLength")
    pattern, fmt = schema.get("pattern"), schema.get("format")
    if (pattern is not None and not isinstance(pattern, str)) or (
        fmt is not None and not isinstance(fmt, str)
    ):
        raise _Unsupported
    if low is None and high is None and pattern is None and fmt is None:
        return []
    try:
        compiled = None if pattern is None else re.compile(pattern)
    except re.error:
        raise _Unsupported from None
    sure = _CANONICAL_UUID.fullmatch if fmt == "uuid" else None
    sized = low is not None or high is not None

    def check_string(value: object) -> bool:
        if type(value) is not str:
            return not typed
        if (sized and not _within(len(value), low, high)) or (
            compiled is not None and compiled.search(value) is None
        ):
            return False
        return (
            fmt is None
            or (sure is not None and sure(value) is not None)
            or conforms(value, fmt)
        )

    return [check_string]


def _number_checks(schema: Mapping[str, object]) -> list[Check]:
    low, high = _bound(schema, "minimum"), _bound(schema, "maximum")
    if low is None and high is None:
        return []

    def check_number(value: object) -> bool:
        if type(value) not in _NUMBERS:
            return True
        number: float = value  # type: ignore[assignment]
        return (low is None or number >= low) and (high is None or number <= high)

    return [check_number]


def _object_keywords(
    schema: Mapping[str, object],
) -> tuple[dict[str, object], frozenset[str], bool]:
    properties = schema.get("properties", {})
    required = schema.get("required", [])
    extra = schema.get("additionalProperties", True)
    if (
        not isinstance(properties, dict)
        or not isinstance(required, list)
        or not all(isinstance(name, str) for name in required)
        or not isinstance(extra, bool)
    ):
        raise _Unsupported
    return properties, frozenset(required), extra


def _within(size: int, low: float | None, high: float | None) -> bool:
    return (low is None or size >= low) and (high is None or size <= high)


def _object_checks(
    schema: Mapping[str, object], conforms: FormatTest, *, typed: bool
) -> list[Check]:
    """The object keywords' test; with ``typed``, a value not an object fails it."""
    properties, needed, extra = _object_keywords(schema)
    low, high = _bound(schema, "minProperties"), _bound(schema, "maxProperties")
    if not properties and not needed and extra and low is None and high is None:
        return []
    type_only, subchecks = _property_checks(properties, conforms)
    kinds = set(type_only.values())
    if not extra and not subchecks and len(kinds) <= 1 and low is None and high is None:
        return [
            _record_check(
                frozenset(properties), needed, next(iter(kinds), None), typed=typed
            )
        ]

    names = None if extra else frozenset(properties)
    sized = low is not None or high is not None

    def check_object(value: object) -> bool:
        if type(value) is not dict:
            return not typed
        if (
            not value.keys() >= needed
            or (sized and not _within(len(value), low, high))
            or (names is not None and not names.issuperset(value))
        ):
            return False
        for name, item in value.items():
            types = type_only.get(name)
            if types is not None:
                if type(item) not in types:
                    return False
                continue
            sub = subchecks.get(name)
            if sub is not None and not sub(item):
                return False
        return True

    return [check_object]


def _record_check(
    names: frozenset[str],
    needed: frozenset[str],
    types: frozenset[type] | None,
    *,
    typed: bool,
) -> Check:
    """A closed object whose properties all check one same type, in C loops.

    ``payload_data``'s events: known names only, the required ones, every value
    of the one type.
    """
    allowed = types or frozenset()

    def check_record(value: object) -> bool:
        if type(value) is not dict:
            return not typed
        return (
            value.keys() >= needed
            and names.issuperset(value)
            and allowed.issuperset(map(type, value.values()))
        )

    return check_record


def _property_checks(
    properties: Mapping[str, object], conforms: FormatTest
) -> tuple[dict[str, frozenset[type]], dict[str, Check]]:
    """Split properties: those checking only a type (tested inline, no call), others."""
    typed = {name: _only_type(sub) for name, sub in properties.items()}
    type_only = {name: types for name, types in typed.items() if types is not None}
    subchecks = {
        name: _compile(sub, conforms)
        for name, sub in properties.items()
        if name not in type_only
    }
    return type_only, subchecks


def _array_checks(
    schema: Mapping[str, object], conforms: FormatTest, *, typed: bool
) -> list[Check]:
    """The array keywords' test; with ``typed``, a value not an array fails it."""
    items = schema.get("items")
    low, high = _bound(schema, "minItems"), _bound(schema, "maxItems")
    if items is None and low is None and high is None:
        return []
    item_check = None if items is None else _compile(items, conforms)

    def check_array(value: object) -> bool:
        if type(value) is not list:
            return not typed
        if not _within(len(value), low, high):
            return False
        if item_check is not None:
            for item in value:
                if not item_check(item):
                    return False
        return True

    return [check_array]
