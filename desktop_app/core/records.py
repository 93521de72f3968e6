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


def from_dict(cls: type[T], data: object) -> T:
    """``cls`` (a dataclass) from its stored JSON ``data``; see the module's docstring."""
    data = data if isinstance(data, Mapping) else {}
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if not field.init:
            continue
        value = _read(hints[field.name], data.get(field.name, _MISSING))
        if value is _MISSING:
            if field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING:
                continue  # the dataclass fills in its own default
            value = _blank(hints[field.name])
        values[field.name] = value
    return cls(**values)


def _read(hint: Any, value: Any) -> Any:
    """``value`` as ``hint``, or _MISSING when it is absent or of another kind."""
    if value is _MISSING:
        return _MISSING
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None:
            return None if type(None) in options else _MISSING
        for option in options:
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
        (item,) = typing.get_args(hint) or (Any,)
        read = [_read(item, v) for v in value]
        return [v for v in read if v is not _MISSING]
    if origin is dict or hint is dict:
        return dict(value) if isinstance(value, Mapping) else _MISSING
    if hint is float:
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else _MISSING
    if hint is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _MISSING
    if isinstance(hint, type):
        return value if isinstance(value, hint) else _MISSING
    return value  # a hint this reader does not check (a Literal, a tuple): taken as stored


def _blank(hint: Any) -> Any:
    """The empty value of a type, for a required field an older record lacks."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint):
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
