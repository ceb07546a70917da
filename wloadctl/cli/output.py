"""Formatting for the CLI: aligned tables, JSON and YAML documents, protobuf to plain dicts.

Machine-readable output (json, yaml) is the contract scripts rely on, so it is built from
`message_to_dict` only: every field of the message is present (defaults included) under its
proto field name, and 64-bit integers are JSON numbers rather than the quoted strings that
protobuf's canonical JSON mapping uses, so `jq '.version > 1'` works as expected. The rest
follows protobuf's JSON mapping: enums are their names ("SUCCEEDED"; a number only when this
client does not know the value) and bytes fields (a run's output_tail, log data) are standard
base64 strings, so binary output survives JSON and YAML unchanged (`base64 -d` restores it).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Sequence
from typing import Any

import yaml
from google.protobuf import descriptor, json_format, message_factory
from google.protobuf.message import Message

__all__ = [
    "FORMATS",
    "dump",
    "dump_json",
    "dump_yaml",
    "format_ago",
    "format_duration",
    "format_ms",
    "message_to_dict",
    "render_table",
    "sanitize_cell",
    "tail_lines",
    "truncate",
]

FORMATS = ("table", "json", "yaml")

_INT64_TYPES = {descriptor.FieldDescriptor.CPPTYPE_INT64, descriptor.FieldDescriptor.CPPTYPE_UINT64}


# Never printed, whatever a server sends: hashes of passwords and credentials (an offline
# guessing target), and a held four-eyes operation in its binary form (it may carry a user's
# password hash; the approval's summary says what it does). The field stays, empty.
_SECRET_FIELDS = frozenset({"password_hash", "secret_hash"})
_WITHHELD = frozenset({("wloadctl.v1.Approval", "command")})


def _withhold_secrets(message: Message) -> None:
    for field, value in message.ListFields():
        if field.name in _SECRET_FIELDS or (message.DESCRIPTOR.full_name, field.name) in _WITHHELD:
            message.ClearField(field.name)
        elif field.type == descriptor.FieldDescriptor.TYPE_MESSAGE and not _is_map(field):
            for item in value if _is_repeated(field) else [value]:
                _withhold_secrets(item)


def message_to_dict(message: Message) -> dict[str, Any]:
    """All fields of `message` as plain Python values, keyed by proto field name (secrets left empty)."""
    message = _copy(message)
    _withhold_secrets(message)
    data = json_format.MessageToDict(
        message,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
    )
    return _normalize(message.DESCRIPTOR, data)


def _copy(message: Message) -> Message:
    clone = type(message)()
    clone.CopyFrom(message)
    return clone


def _is_map(field: descriptor.FieldDescriptor) -> bool:
    return (
        field.type == descriptor.FieldDescriptor.TYPE_MESSAGE
        and field.message_type.GetOptions().map_entry
    )


def _is_repeated(field: descriptor.FieldDescriptor) -> bool:
    # `label` is deprecated in newer protobuf releases in favour of `is_repeated`.
    is_repeated = getattr(field, "is_repeated", None)
    if isinstance(is_repeated, bool):
        return is_repeated
    return field.label == descriptor.FieldDescriptor.LABEL_REPEATED


def _convert_scalar(field: descriptor.FieldDescriptor, value: Any) -> Any:
    if field.cpp_type in _INT64_TYPES and isinstance(value, str):
        return int(value)
    return value


def _normalize(desc: descriptor.Descriptor, data: dict[str, Any]) -> dict[str, Any]:
    """Keys in .proto declaration order, and 64-bit fields as ints instead of decimal strings.

    MessageToDict lists set fields before defaulted ones, so without the reordering the key
    order of the same message type would change with its contents.
    """
    out: dict[str, Any] = {}
    for field in desc.fields:
        if field.name not in data and _unset_message(field):
            # Every field is present (docs/cli.md): a message field that is not set prints as its
            # message with default values, so a script never has to check whether a key exists.
            empty = message_factory.GetMessageClass(field.message_type)()
            data = {**data, field.name: json_format.MessageToDict(
                empty, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)}
        if field.name not in data:
            continue
        value = data[field.name]
        if _is_map(field):
            # Sorted: protobuf iterates a map in its hash table's order, seeded randomly in every
            # process, and the same job must print the same document every time.
            value_field = field.message_type.fields_by_name["value"]
            if value_field.type == descriptor.FieldDescriptor.TYPE_MESSAGE:
                value = {k: _normalize(value_field.message_type, v) for k, v in sorted(value.items())}
            else:
                value = {k: _convert_scalar(value_field, v) for k, v in sorted(value.items())}
        elif field.type == descriptor.FieldDescriptor.TYPE_MESSAGE:
            # Well-known types (Timestamp, Struct...) have special JSON forms; none are used here.
            if not field.message_type.full_name.startswith("google.protobuf."):
                if _is_repeated(field):
                    value = [_normalize(field.message_type, item) for item in value]
                else:
                    value = _normalize(field.message_type, value)
        elif _is_repeated(field):
            value = [_convert_scalar(field, item) for item in value]
        else:
            value = _convert_scalar(field, value)
        out[field.name] = value
    return out


def _unset_message(field: descriptor.FieldDescriptor) -> bool:
    """A singular message field outside a oneof (those print only the member that is set)."""
    return (field.type == descriptor.FieldDescriptor.TYPE_MESSAGE and not _is_repeated(field)
            and field.containing_oneof is None and not field.message_type.full_name.startswith("google.protobuf."))


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


class _Dumper(yaml.SafeDumper):
    """SafeDumper that writes multi-line strings (scripts) as literal blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # PyYAML falls back to a quoted style by itself when a block cannot represent the value
    # exactly (trailing spaces, special characters), so this never changes the content.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)


def dump(data: Any, fmt: str) -> str:
    """Render `data` as json or yaml (the machine-readable formats)."""
    if fmt == "json":
        return dump_json(data)
    if fmt == "yaml":
        return dump_yaml(data)
    raise ValueError(f"unknown output format {fmt!r}")


def sanitize_cell(value: object) -> str:
    """One line of text: a newline or tab inside a cell would break the column alignment."""
    text = "" if value is None else str(value)
    return "".join(
        " " if char in "\n\r\t" else ("?" if ord(char) < 32 or ord(char) == 127 else char) for char in text
    )


def truncate(text: str, width: int) -> str:
    if width <= 1 or len(text) <= width:
        return text
    return text[: width - 1] + "…"


def render_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Left-aligned columns separated by three spaces, like kubectl; no trailing spaces."""
    cells = [[sanitize_cell(h) for h in headers]]
    cells.extend([sanitize_cell(c) for c in row] for row in rows)
    widths = [max(len(row[i]) if i < len(row) else 0 for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("   ".join(padded).rstrip())
    return "\n".join(lines) + "\n"


def format_ms(ms: int) -> str:
    """Milliseconds since the epoch as ISO-8601 UTC, to the second; "-" when unset."""
    if ms <= 0:
        return "-"
    try:
        moment = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)
    except (OverflowError, OSError, ValueError):
        return str(ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def format_duration(seconds: int) -> str:
    """90 -> "1m30s", the same notation job files use for timeouts."""
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, suffix in ((86400, "d"), (3600, "h"), (60, "m"), (1, "s")):
        count, seconds = divmod(seconds, unit)
        if count:
            parts.append(f"{count}{suffix}")
    return "".join(parts)


def format_ago(seconds: float) -> str:
    """How long ago, for people: "0.4s ago", "12s ago", "3m20s ago"."""
    if seconds < 0:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s ago"
    return f"{format_duration(int(seconds))} ago"


def tail_lines(data: bytes, count: int) -> list[str]:
    """The last `count` lines of raw output, decoded leniently and safe to print on a terminal.

    Invalid UTF-8 becomes U+FFFD; tabs become spaces and other control characters (such as
    the ESC of terminal escape sequences) become '?', as in table cells.
    """
    if count <= 0:
        return []
    text = data.decode("utf-8", errors="replace")
    return [sanitize_cell(line) for line in text.splitlines()[-count:]]
