"""message_to_plain renders every message of our protos exactly as json_format.MessageToDict does.

Every message type of every wloadctl proto module is filled field by field with values of each
kind (big 64-bit integers, bytes, enums known and unknown, infinities and NaN, maps with several
entries, nested and repeated messages) from several seeds, and both renderings must be equal.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
import random
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

import wloadctl.proto.v1 as proto_package
from wloadctl.state.plain import message_to_plain

F = FieldDescriptor


def _message_types() -> list[Descriptor]:
    found: dict[str, Descriptor] = {}

    def walk(d: Descriptor) -> None:
        if not d.GetOptions().map_entry:
            found[d.full_name] = d
        for nested in d.nested_types:
            walk(nested)

    for info in pkgutil.iter_modules(proto_package.__path__):
        if info.name.endswith("_pb2"):
            module = importlib.import_module(f"{proto_package.__name__}.{info.name}")
            for d in module.DESCRIPTOR.message_types_by_name.values():
                walk(d)
    return [found[k] for k in sorted(found)]


def _scalar(field: FieldDescriptor, rng: random.Random) -> Any:
    t = field.type
    if t in (F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64):
        return rng.choice([-(2**63), -1, 7, 2**53 + 1, 2**63 - 1])
    if t in (F.TYPE_UINT64, F.TYPE_FIXED64):
        return rng.choice([1, 2**53 + 1, 2**64 - 1])
    if t in (F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32):
        return rng.choice([-(2**31), -5, 3, 2**31 - 1])
    if t in (F.TYPE_UINT32, F.TYPE_FIXED32):
        return rng.choice([1, 2**32 - 1])
    if t == F.TYPE_BOOL:
        return True
    if t == F.TYPE_DOUBLE:
        return rng.choice([0.1, -2.5e300, math.inf, -math.inf, math.nan, 1e-7])
    if t == F.TYPE_FLOAT:
        return rng.choice([0.1, 3.4e38, math.inf, -math.inf, math.nan, 1.5])
    if t == F.TYPE_STRING:
        return rng.choice(["x", "ünï\u00e7ode", "a\"b\\c\n", "🙂" * 3])
    if t == F.TYPE_BYTES:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
    if t == F.TYPE_ENUM:
        numbers = [v.number for v in field.enum_type.values]
        if not field.enum_type.is_closed and rng.random() < 0.25:
            return max(numbers) + 17  # open enums keep unknown numbers
        return rng.choice(numbers)
    raise AssertionError(f"unexpected field type {t} of {field.full_name}")


def _fill(message: Message, rng: random.Random, depth: int) -> None:
    for field in message.DESCRIPTOR.fields:
        if rng.random() < 0.2:
            continue  # leave some fields unset
        is_map = field.type == F.TYPE_MESSAGE and field.message_type.GetOptions().map_entry
        if is_map:
            key_field = field.message_type.fields_by_name["key"]
            value_field = field.message_type.fields_by_name["value"]
            target = getattr(message, field.name)
            for _ in range(rng.randrange(1, 4)):
                key = _scalar(key_field, rng)
                if value_field.type == F.TYPE_MESSAGE:
                    if depth > 0:
                        _fill(target[key], rng, depth - 1)
                else:
                    target[key] = _scalar(value_field, rng)
        elif field.is_repeated:
            target = getattr(message, field.name)
            for _ in range(rng.randrange(1, 4)):
                if field.type == F.TYPE_MESSAGE:
                    if depth > 0:
                        _fill(target.add(), rng, depth - 1)
                else:
                    target.append(_scalar(field, rng))
        elif field.type == F.TYPE_MESSAGE:
            if depth > 0:
                _fill(getattr(message, field.name), rng, depth - 1)
        else:
            setattr(message, field.name, _scalar(field, rng))


def _canonical(value: Any) -> Any:
    """NaN != NaN: compare NaNs by position, everything else by value."""
    if isinstance(value, float) and math.isnan(value):
        return "<nan>"
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


MESSAGE_TYPES = _message_types()


def test_every_message_type_of_our_protos_is_covered() -> None:
    names = {d.full_name for d in MESSAGE_TYPES}
    assert {"wloadctl.v1.JobVersion", "wloadctl.v1.Run", "wloadctl.v1.User", "wloadctl.v1.AuditRecord"} <= names
    assert len(names) > 100


@pytest.mark.parametrize("descriptor", MESSAGE_TYPES, ids=lambda d: d.full_name)
def test_same_as_message_to_dict(descriptor: Descriptor) -> None:
    cls = GetMessageClass(descriptor)
    for seed in range(6):
        message = cls()
        _fill(message, random.Random(f"{descriptor.full_name}/{seed}"), depth=3)
        expected = json_format.MessageToDict(message, preserving_proto_field_name=True)
        assert _canonical(message_to_plain(message)) == _canonical(expected), f"seed {seed}"


def test_an_empty_message_is_an_empty_dict() -> None:
    cls = GetMessageClass(next(d for d in MESSAGE_TYPES if d.full_name == "wloadctl.v1.JobVersion"))
    assert message_to_plain(cls()) == {}
