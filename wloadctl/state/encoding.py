"""The one way the state machine turns protobuf messages into stored bytes.

``SerializeToString()`` writes map entries (labels, env, params) in the order of the process's
own hash table, and protobuf's upb runtime seeds its hash tables randomly in every process: two
replicas applying the same command stored different bytes, and ``cluster digest`` reported
divergence on every healthy cluster that used maps with more than one entry. Deterministic
serialization sorts map entries by key, so the same message gives the same bytes in every
process.
"""

from __future__ import annotations

from google.protobuf.message import Message

__all__ = ["encode"]


def encode(message: Message) -> bytes:
    """Canonical bytes of ``message``: map entries sorted by key, fields in number order."""
    return message.SerializeToString(deterministic=True)
