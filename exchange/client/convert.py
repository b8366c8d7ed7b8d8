"""Protobuf messages to the dataclasses of :mod:`exchange.client.types`, by field name.

One generic walk instead of a hand-written copy per message: a dataclass field
takes the message field of the same name; its type hint says how (a date
parses, an enum becomes its name, a nested dataclass recurses). A new proto
field is ignored until a dataclass names it; a dataclass field the message
lacks is a programming error caught by the client tests.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import date
from functools import cache
from typing import Any, TypeVar

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.json_format import MessageToDict

__all__ = ["from_message", "to_dict"]

T = TypeVar("T")

_INT64 = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED64,
}


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _value(hint: Any, fd: FieldDescriptor, raw: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):  # date | None
        inner = next(a for a in typing.get_args(hint) if a is not type(None))
        if inner is date:
            return date.fromisoformat(raw) if raw else None
        return _value(inner, fd, raw)
    if origin is list:
        (item,) = typing.get_args(hint)
        return [_one(item, fd, x) for x in raw]
    if origin is dict:
        return dict(raw)
    return _one(hint, fd, raw)


def _one(hint: Any, fd: FieldDescriptor, raw: Any) -> Any:
    if dataclasses.is_dataclass(hint):
        return from_message(hint, raw)  # type: ignore[arg-type]
    if hint is str and fd.enum_type is not None:
        value = fd.enum_type.values_by_number.get(raw)
        return value.name if value is not None else str(raw)
    if hint is date:
        return date.fromisoformat(raw) if raw else None
    return hint(raw) if hint in (int, bool, str) else raw


def from_message(cls: type[T], msg: Any) -> T:
    """``msg`` as a ``cls`` instance (``wire`` is filled by :func:`to_dict` when present)."""
    fields = msg.DESCRIPTOR.fields_by_name
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name == "wire":
            kwargs["wire"] = to_dict(msg)
            continue
        fd = fields[f.name]
        kwargs[f.name] = _value(_hints(cls)[f.name], fd, getattr(msg, f.name))
    return cls(**kwargs)


def _numbers(desc: Any, d: dict) -> None:
    """Turn the strings protobuf's JSON mapping gives 64-bit integers back into numbers."""
    for f in desc.fields:
        if f.name not in d:
            continue
        v = d[f.name]
        if f.type in _INT64:
            d[f.name] = [int(x) for x in v] if isinstance(v, list) else int(v)
        elif f.message_type is not None:
            if f.message_type.GetOptions().map_entry:
                vf = f.message_type.fields_by_name["value"]
                if vf.type in _INT64:
                    d[f.name] = {k: int(x) for k, x in v.items()}
                elif vf.message_type is not None:
                    for x in v.values():
                        if isinstance(x, dict):
                            _numbers(vf.message_type, x)
                continue
            for x in v if isinstance(v, list) else [v]:
                if isinstance(x, dict):
                    _numbers(f.message_type, x)


def to_dict(msg: Any) -> dict:
    """A message as a jq user expects it: proto field names, every field present
    (empty lists as ``[]``, zeros as ``0``), and 64-bit integers as JSON numbers."""
    d = MessageToDict(
        msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    _numbers(msg.DESCRIPTOR, d)
    return d
