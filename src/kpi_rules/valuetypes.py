"""Resolved value types, as the checker infers them for every expression."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias, Union


@dataclass(frozen=True, slots=True)
class NumberType:
    """Any exact number. ``unit`` is a display hint only: ``number``, ``percent`` or ``points``."""

    unit: str = "number"


@dataclass(frozen=True, slots=True)
class BoolType:
    pass


@dataclass(frozen=True, slots=True)
class TextType:
    pass


@dataclass(frozen=True, slots=True)
class DateType:
    pass


@dataclass(frozen=True, slots=True)
class EnumType:
    members: tuple[str, ...]

    def rank(self, member: str) -> int:
        return self.members.index(member)


@dataclass(frozen=True, slots=True)
class RecordType:
    """One item of a list: a declared record (or, later, a related subject)."""

    name: str


@dataclass(frozen=True, slots=True)
class ListOf:
    item: RecordType


@dataclass(frozen=True, slots=True)
class TableType:
    key: ValueType
    value: ValueType


@dataclass(frozen=True, slots=True)
class NeverType:
    """The type of ``insufficient_data``: it fits wherever a value is expected."""


ValueType: TypeAlias = Union[
    NumberType, BoolType, TextType, DateType, EnumType, RecordType, ListOf, TableType, NeverType
]

NUMBER = NumberType()
BOOL = BoolType()
TEXT = TextType()
DATE = DateType()
NEVER = NeverType()


def describe(t: ValueType) -> str:
    """A short English name for messages (``number``, ``one_of(a, b)``, ``list of task_item``)."""
    match t:
        case NumberType(unit=unit):
            return unit
        case BoolType():
            return "bool"
        case TextType():
            return "text"
        case DateType():
            return "date"
        case EnumType(members=members):
            return f"one_of({', '.join(members)})"
        case RecordType(name=name):
            return name
        case ListOf(item=item):
            return f"list of {item.name}"
        case TableType(key=key, value=value):
            return f"table {describe(key)} -> {describe(value)}"
        case NeverType():
            return "insufficient_data"
