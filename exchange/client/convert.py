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
from collections.abc import Callable
from datetime import date
from functools import cache
from typing import Any, TypeVar

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.json_format import MessageToDict

__all__ = ["Wired", "from_message", "to_dict"]

T = TypeVar("T")

_INT64 = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED64,
}


class Wired:
    """An answer that keeps the message it came from: ``wire`` is that message in
    protobuf's JSON mapping (:func:`to_dict`), made on first use.

    Only ``--format json`` and the CLI's exports read ``wire``; the console's pages
    never do, and making it for every answer was most of the client's CPU per search
    (the response and each of its records converted twice).
    """

    _message: Any = None
    _wire: dict[str, Any] | None = None

    def keep_message(self, message: Any) -> None:
        self._message, self._wire = message, None

    @property
    def wire(self) -> dict[str, Any]:
        if self._wire is None:
            self._wire = to_dict(self._message) if self._message is not None else {}
        return self._wire


Convert = Callable[[Any], Any]


def _converter(hint: Any, fd: FieldDescriptor) -> Convert:
    """How one field's raw value becomes what ``hint`` says (worked out once per class)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):  # date | None
        inner = next(a for a in typing.get_args(hint) if a is not type(None))
        return _one(inner, fd) if inner is date else _converter(inner, fd)
    if origin is list:
        (item,) = typing.get_args(hint)
        one = _one(item, fd)
        return lambda raw: [one(x) for x in raw]
    if origin is dict:
        return dict
    return _one(hint, fd)


def _one(hint: Any, fd: FieldDescriptor) -> Convert:
    if dataclasses.is_dataclass(hint):
        return lambda raw: from_message(hint, raw)  # type: ignore[arg-type]
    if hint is str and fd.enum_type is not None:
        names = {v.number: v.name for v in fd.enum_type.values}
        return lambda raw: names[raw] if raw in names else str(raw)
    if hint is date:
        return lambda raw: date.fromisoformat(raw) if raw else None
    if hint in (int, bool, str):
        return hint
    return lambda raw: raw


@cache
def _plan(cls: type, descriptor: Any) -> tuple[tuple[str, Convert], ...]:
    hints = typing.get_type_hints(cls)
    fields = descriptor.fields_by_name
    return tuple(
        (f.name, _converter(hints[f.name], fields[f.name]))
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
    )


def from_message(cls: type[T], msg: Any) -> T:
    """``msg`` as a ``cls`` instance; a :class:`Wired` answer keeps ``msg`` for ``wire``."""
    out = cls(**{name: convert(getattr(msg, name)) for name, convert in _plan(cls, msg.DESCRIPTOR)})
    if isinstance(out, Wired):
        out.keep_message(msg)
    return out


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
