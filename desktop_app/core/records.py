"""Typed records read back from the JSON they were stored as, tolerant of older versions.

A record is a dataclass written with its own ``to_dict()``; :func:`from_dict` is its one way
back. What an older Hearth did not store takes the field's default (or an empty value of its
type: "", 0, False, None, [], {}); keys it does not know are ignored; a value of the wrong JSON
type is treated as missing. Nested records and lists of them are read the same way, through
the nested class's own ``from_dict`` when it has one (a record stored flattened).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")

_MISSING = object()


def from_dict(cls: type[T], data: object, **given: Any) -> T:
    """``cls`` (a dataclass) from its stored JSON ``data``; see the module's docstring. Fields
    in ``given`` are taken as they are (a nested record the caller has read itself)."""
    data = data if isinstance(data, Mapping) else {}
    values: dict[str, Any] = dict(given)
    for name, hint, has_default in _fields(cls):
        if name in given:
            continue
        value = _read(hint, data.get(name, _MISSING))
        if value is _MISSING:
            if has_default:
                continue  # the dataclass fills in its own default
            value = _blank(hint)
        values[name] = value
    return cls(**values)


_FIELDS: dict[type, list[tuple[str, Any, bool]]] = {}


def _fields(cls: type) -> list[tuple[str, Any, bool]]:
    """(name, type, has a default) of each field ``cls()`` takes: worked out once per class
    (resolving the annotations is most of the cost of reading a record)."""
    found = _FIELDS.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        missing = dataclasses.MISSING
        found = _FIELDS[cls] = [
            (f.name, hints[f.name], f.default is not missing or f.default_factory is not missing)
            for f in dataclasses.fields(cls)
            if f.init
        ]
    return found


def _read(hint: Any, value: Any) -> Any:
    """``value`` as ``hint``, or _MISSING when it is absent or of another kind."""
    if value is _MISSING:
        return _MISSING
    if hint is str or hint is bool:  # the common cases first: records hold mostly these
        return value if isinstance(value, hint) else _MISSING
    if hint is float:
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else _MISSING
    if hint is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _MISSING
    origin, args = _shape(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None if type(None) in args else _MISSING
        for option in args:
            if option is not type(None) and (read := _read(option, value)) is not _MISSING:
                return read
        return _MISSING
    if hint is Any:
        return value
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if not isinstance(value, Mapping):
            return _MISSING
        reader = getattr(hint, "from_dict", None)
        return reader(value) if reader is not None else from_dict(hint, value)
    if origin is list:
        if not isinstance(value, list):
            return _MISSING
        (item,) = args or (Any,)
        read = [_read(item, v) for v in value]
        return [v for v in read if v is not _MISSING]
    if origin is dict or hint is dict:
        return dict(value) if isinstance(value, Mapping) else _MISSING
    if isinstance(hint, type):
        return value if isinstance(value, hint) else _MISSING
    return value  # a hint this reader does not check (a Literal, a tuple): taken as stored


_SHAPES: dict[Any, tuple[Any, tuple[Any, ...]]] = {}


def _shape(hint: Any) -> tuple[Any, tuple[Any, ...]]:
    """``typing.get_origin`` and ``get_args`` of ``hint``, remembered (they are slow to ask)."""
    found = _SHAPES.get(hint)
    if found is None:
        found = _SHAPES[hint] = (typing.get_origin(hint), typing.get_args(hint))
    return found


def _blank(hint: Any) -> Any:
    """The empty value of a type, for a required field an older record lacks."""
    origin, args = _shape(hint)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        return None
    if origin is list or hint is list:
        return []
    if origin is dict or hint is dict:
        return {}
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return from_dict(hint, {})
    if hint in (str, int, float, bool):
        return hint()
    return None
