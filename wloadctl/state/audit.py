"""The tamper-evident audit log, part of the replicated state.

Each record holds the SHA-256 of the previous one, so that a record changed, removed or
reordered breaks the chain at that record; `verify` names the first one that does not hold.
Records are encrypted at rest (AES-GCM) with a key derived from the cluster secret; the nonce is
the record's sequence number, unique per record, so every replica writes the same bytes (the
state stays byte-identical) and a record edited on disk no longer decrypts. Retention removes
the oldest records in bounded steps and keeps the hash of the last removed one as a checkpoint,
so the remaining chain still verifies from there. No API deletes a record.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import lmdb
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from google.protobuf.message import DecodeError, Message

from wloadctl.proto.v1 import audit_pb2
from wloadctl.state.encoding import encode
from wloadctl.state.plain import message_to_plain

AUDIT_DBS = (b"audit",)
_HEAD = b"audit_head"              # seq (8 bytes) + hash of the newest record
_CHECKPOINT = b"audit_checkpoint"  # seq (8 bytes) + hash of the newest pruned record
_U64 = struct.Struct(">Q")
_AAD = b"wloadctl audit v1"
_PRUNE_PER_BATCH = 500
# Without a cluster secret (--insecure, or one replica without secret_file) records are still
# encrypted, under a key anybody can derive: documented as not confidential.
INSECURE_SECRET = b"wloadctl insecure audit key"
MAX_FIELD = 64 << 10  # content, before and after are cut at 64 KiB each (a huge spec stays in its version)


def audit_key(secret: str | bytes | None) -> bytes:
    raw = secret.encode() if isinstance(secret, str) else (secret or INSECURE_SECRET)
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"wloadctl", info=b"audit log key v1").derive(raw)


def to_dict(message: Message, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    data = message_to_plain(message)
    for name in drop:
        data.pop(name, None)
    return data


def capped(data: object) -> str:
    """Canonical JSON (keys sorted), cut at MAX_FIELD: a huge job spec stays whole in its version."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= MAX_FIELD else text[:MAX_FIELD] + "…"


def to_json(message: Message | None, drop: tuple[str, ...] = ()) -> str:
    """Canonical JSON of a message, without the fields named in ``drop``; "" for None."""
    return "" if message is None else capped(to_dict(message, drop))


def record_hash(record: audit_pb2.AuditRecord) -> bytes:
    body = record
    if record.hash:  # hashed without its own hash (a record being written has none yet: no copy)
        body = audit_pb2.AuditRecord()
        body.CopyFrom(record)
        body.ClearField("hash")
    return hashlib.sha256(record.prev_hash + encode(body)).digest()


@dataclass(frozen=True)
class Verdict:
    ok: bool
    records: int
    first_seq: int
    last_seq: int
    broken_seq: int = 0
    problem: str = ""


class AuditLog:
    def __init__(self, dbs: dict[bytes, lmdb._Database], key: bytes) -> None:
        self.meta = dbs[b"meta"]
        self.db = dbs[b"audit"]
        self._aead = AESGCM(key)

    # ---- encryption

    @staticmethod
    def _nonce(seq: int) -> bytes:
        return b"\0\0\0\0" + _U64.pack(seq)

    def _seal(self, record: audit_pb2.AuditRecord) -> bytes:
        return self._aead.encrypt(self._nonce(record.seq), encode(record), _AAD + _U64.pack(record.seq))

    def _open(self, seq: int, sealed: bytes) -> audit_pb2.AuditRecord:
        """The record stored under ``seq``; ValueError when it was altered (or the key differs)."""
        try:
            return audit_pb2.AuditRecord.FromString(
                self._aead.decrypt(self._nonce(seq), bytes(sealed), _AAD + _U64.pack(seq)))
        except (InvalidTag, DecodeError):
            raise ValueError("cannot be decrypted: altered on disk, or written under another cluster secret") \
                from None

    # ---- the chain

    def _mark(self, txn: lmdb.Transaction, key: bytes) -> tuple[int, bytes]:
        raw = txn.get(key, db=self.meta)
        return (_U64.unpack(raw[:8])[0], bytes(raw[8:])) if raw else (0, b"")

    def head(self, txn: lmdb.Transaction) -> tuple[int, bytes]:
        return self._mark(txn, _HEAD)

    def checkpoint(self, txn: lmdb.Transaction) -> tuple[int, bytes]:
        return self._mark(txn, _CHECKPOINT)

    def append(self, txn: lmdb.Transaction, record: audit_pb2.AuditRecord) -> audit_pb2.AuditRecord:
        seq, prev = self.head(txn)
        record.seq = seq + 1
        record.prev_hash = prev
        record.hash = record_hash(record)
        txn.put(_U64.pack(record.seq), self._seal(record), db=self.db)
        txn.put(_HEAD, _U64.pack(record.seq) + record.hash, db=self.meta)
        return record

    def records(self, txn: lmdb.Transaction, after_seq: int = 0) -> Iterator[audit_pb2.AuditRecord]:
        """Records after ``after_seq``, oldest first (ValueError on one that was altered)."""
        cur = txn.cursor(db=self.db)
        if not cur.set_range(_U64.pack(after_seq + 1)):
            return
        for key, value in cur:
            yield self._open(_U64.unpack(key)[0], value)

    def prune(self, txn: lmdb.Transaction, now_ms: int, retention_days: int) -> int:
        """Remove records older than the retention, at most a bounded number per entry."""
        if not retention_days:
            return 0
        horizon = now_ms - retention_days * 86_400_000
        cur = txn.cursor(db=self.db)
        removed = 0
        while removed < _PRUNE_PER_BATCH and cur.first():
            seq = _U64.unpack(cur.key())[0]
            record = self._open(seq, cur.value())
            if record.time_ms >= horizon or seq == self.head(txn)[0]:
                break  # the newest record always stays: the chain continues from it
            txn.put(_CHECKPOINT, _U64.pack(seq) + record.hash, db=self.meta)
            cur.delete()
            removed += 1
        return removed

    def verify(self, txn: lmdb.Transaction) -> Verdict:
        """Recompute the chain from the checkpoint to the head; the first record that breaks it."""
        expected_seq, prev = self.checkpoint(txn)
        head_seq, head_hash = self.head(txn)
        first, count = 0, 0
        cur = txn.cursor(db=self.db)
        for key, value in cur:
            seq = _U64.unpack(key)[0]
            first = first or seq
            if seq != expected_seq + 1:
                return Verdict(False, count, first, expected_seq, expected_seq + 1,
                               f"record {expected_seq + 1} is missing (the next one stored is {seq})")
            try:
                record = self._open(seq, value)
            except ValueError as e:
                return Verdict(False, count, first, seq - 1, seq, f"record {seq} {e}")
            if record.seq != seq or record.prev_hash != prev:
                return Verdict(False, count, first, seq - 1, seq, f"record {seq} does not follow record {seq - 1}")
            if record_hash(record) != record.hash:
                return Verdict(False, count, first, seq - 1, seq, f"record {seq}: its hash does not match its content")
            prev, expected_seq, count = record.hash, seq, count + 1
        if expected_seq != head_seq or prev != head_hash:
            return Verdict(False, count, first, expected_seq, expected_seq + 1,
                           f"the log ends at record {expected_seq} but its head says {head_seq}: records were removed")
        return Verdict(True, count, first, expected_seq)
