"""Secrets in the replicated state: encrypted values, metadata reads, and their apply.

Values are encrypted with AES-GCM under a key derived from the cluster secret (HKDF with its own
info string, so it is not the audit log's key). The *leader* encrypts them before it proposes the
command, with a random 96-bit nonce: the Raft log, which every replica keeps on disk unencrypted,
never holds a value in plaintext, and the nonce travels in the command, so every replica stores
the same bytes without apply() drawing anything. (A nonce derived at apply from the Raft index
and the name would repeat for two commands of one batch, which share an index; a nonce reused
under AES-GCM with different values gives both values away.) The secret's name and the key are
the associated data: a sealed value moved to another secret or key no longer decrypts.

Apply checks what it can check without the key (names, domains, sizes, nonce length) and never
decrypts: the controller decrypts when it dispatches an attempt that uses a secret.
"""

from __future__ import annotations

import grpc
import lmdb
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from wloadctl.model.rules import DEFAULT_DOMAIN, SpecError, quote
from wloadctl.model.secrets import MAX_SECRET_VALUE_LEN, parse_ref, secret_problems
from wloadctl.proto.v1 import commands_pb2, jobs_pb2, secrets_pb2
from wloadctl.state.audit import INSECURE_SECRET
from wloadctl.state.encoding import encode
from wloadctl.state.results import err as _err
from wloadctl.state.results import ok as _ok

SECRET_DBS = (b"secrets",)
SECRET_MESSAGES = {b"secrets": secrets_pb2.StoredSecret}
NONCE_BYTES = 12
_TAG_BYTES = 16
# The longest value in UTF-8 (4 bytes a character), plus the tag: apply bounds what it stores.
MAX_CIPHERTEXT = 4 * MAX_SECRET_VALUE_LEN + _TAG_BYTES
_AAD = b"wloadctl secret v1\0"


def secrets_key(secret: str | bytes | None) -> bytes:
    """The values' key: without a cluster secret (--insecure, one replica without secret_file) it
    is derived from a fixed string, like the audit log's, and protects nothing (docs/security.md)."""
    raw = secret.encode() if isinstance(secret, str) else (secret or INSECURE_SECRET)
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"wloadctl", info=b"secrets key v1").derive(raw)


def _aad(name: str, key: str) -> bytes:
    return _AAD + name.encode() + b"\0" + key.encode()


class SecretBox:
    """Seals values (on the leader, before proposing) and opens them (the controller, at dispatch)."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, name: str, key: str, value: str, nonce: bytes) -> secrets_pb2.SealedValue:
        """``nonce``: NONCE_BYTES fresh random bytes that the caller draws (the API, before proposing), never
        used before under this key: apply never seals, it stores what the command carries."""
        if len(nonce) != NONCE_BYTES:
            raise ValueError(f"nonce: {NONCE_BYTES} bytes")
        return secrets_pb2.SealedValue(key=key, nonce=nonce,
                                       ciphertext=self._aead.encrypt(nonce, value.encode(), _aad(name, key)))

    def open(self, name: str, sealed: secrets_pb2.SealedValue) -> str:
        """The value; ValueError when it does not decrypt (altered, or another cluster secret)."""
        try:
            return self._aead.decrypt(sealed.nonce, sealed.ciphertext, _aad(name, sealed.key)).decode()
        except (InvalidTag, ValueError, UnicodeDecodeError):
            raise ValueError(f"secret {name!r}, key {sealed.key!r}: cannot be decrypted (altered, or stored "
                             "under another cluster secret)") from None


def info(secret: secrets_pb2.StoredSecret) -> secrets_pb2.SecretInfo:
    """What every read shows: the metadata, the keys, never a value."""
    return secrets_pb2.SecretInfo(
        name=secret.name, domain=secret.domain, description=secret.description,
        keys=sorted(v.key for v in secret.values), version=secret.version, created_ms=secret.created_ms,
        created_by=secret.created_by, updated_ms=secret.updated_ms, updated_by=secret.updated_by)


def set_problems(cmd: secrets_pb2.SetSecret) -> list[str]:
    """Why a SetSecret cannot be applied as it is ([] when it can): what apply checks without the key."""
    problems = secret_problems(cmd.name, cmd.domain, cmd.description, [v.key for v in cmd.values])
    for v in cmd.values:
        if len(v.nonce) != NONCE_BYTES or not _TAG_BYTES <= len(v.ciphertext) <= MAX_CIPHERTEXT:
            problems.append(f"values.{v.key[:130]}: not a value sealed by a leader")
    return problems


class SecretTables:
    def __init__(self, dbs: dict[bytes, lmdb._Database]) -> None:
        self.db = dbs[b"secrets"]

    # ---- reads (any transaction)

    def get(self, txn: lmdb.Transaction, name: str) -> secrets_pb2.StoredSecret | None:
        raw = txn.get(name.encode(), db=self.db) if name and len(name.encode()) <= 256 else None
        return secrets_pb2.StoredSecret.FromString(raw) if raw else None

    def list_all(self, txn: lmdb.Transaction) -> list[secrets_pb2.StoredSecret]:
        return [secrets_pb2.StoredSecret.FromString(raw) for _, raw in txn.cursor(db=self.db)]

    def ref_errors(self, txn: lmdb.Transaction, specs: list[jobs_pb2.JobSpec]) -> list[SpecError]:
        """The references of ``specs`` (already valid in form) to secrets that do not exist, lack the
        key, or belong to another domain than the job: checked by the API and again at apply."""
        errors = []
        for index, spec in enumerate(specs):
            domain = spec.domain or DEFAULT_DOMAIN
            for variable, ref in sorted(spec.secret_env.items()):
                parsed = parse_ref(ref)
                if parsed is None:
                    continue  # reported by validate_specs
                where = f"jobs[{index}].secret_env.{variable}"
                name, key = parsed
                secret = self.get(txn, name)
                if secret is None:
                    errors.append(SpecError(where, f"secret {quote(name)} does not exist (wloadctl secret set "
                                                   f"{name} --domain {domain} ...)"))
                elif secret.domain != domain:
                    errors.append(SpecError(where, f"secret {quote(name)} is in domain {quote(secret.domain)}, not "
                                                   f"in the job's domain {quote(domain)}: a job uses only the "
                                                   "secrets of its own domain"))
                elif all(v.key != key for v in secret.values):
                    keys = ", ".join(sorted(v.key for v in secret.values))
                    errors.append(SpecError(where, f"secret {quote(name)} has no key {quote(key)} (its keys: {keys})"))
        return errors

    # ---- writes (inside Store.apply)

    def put(self, txn: lmdb.Transaction, cmd: secrets_pb2.SetSecret, now_ms: int, raft_index: int,
            actor: str) -> commands_pb2.CommandResult:
        problems = set_problems(cmd)
        if problems:
            return _err(grpc.StatusCode.INVALID_ARGUMENT, "; ".join(problems))
        domain = cmd.domain or DEFAULT_DOMAIN
        current = self.get(txn, cmd.name)
        if current is not None and current.domain != domain:
            # Jobs of the old domain refer to it: moving it would hand its values to another domain's
            # jobs' references, or break them, without anyone having asked about those jobs.
            return _err(grpc.StatusCode.FAILED_PRECONDITION,
                        f"domain: secret {cmd.name!r} is in domain {current.domain!r}; a secret does not move "
                        "between domains (delete it, then set it in the other domain)")
        record = secrets_pb2.StoredSecret(
            name=cmd.name, domain=domain, description=cmd.description,
            values=sorted(cmd.values, key=lambda v: v.key), version=(current.version if current else 0) + 1,
            created_ms=current.created_ms if current else now_ms,
            created_by=current.created_by if current else actor, updated_ms=now_ms, updated_by=actor,
            raft_index=raft_index)
        txn.put(cmd.name.encode(), encode(record), db=self.db)
        return _ok()

    def remove(self, txn: lmdb.Transaction, cmd: secrets_pb2.DeleteSecret) -> commands_pb2.CommandResult:
        if self.get(txn, cmd.name) is None:
            return _err(grpc.StatusCode.NOT_FOUND, f"name: secret {cmd.name[:130]!r} not found")
        txn.delete(cmd.name.encode(), db=self.db)
        return _ok()


def resolve(box: SecretBox, lookup: dict[str, secrets_pb2.StoredSecret | None],
            spec: jobs_pb2.JobSpec) -> tuple[dict[str, str], str]:
    """The environment of ``spec.secret_env`` from the current secrets (``lookup``: name -> secret or
    None), or ("", an error naming the variable) when one cannot be resolved. The error never holds
    a value."""
    domain = spec.domain or DEFAULT_DOMAIN
    env: dict[str, str] = {}
    for variable, ref in sorted(spec.secret_env.items()):
        where = f"secret_env.{variable}"
        parsed = parse_ref(ref)
        if parsed is None:
            return {}, f"{where}: {ref[:80]!r} is not a SECRET/KEY reference"
        name, key = parsed
        secret = lookup.get(name)
        if secret is None:
            return {}, f"{where}: secret {name!r} no longer exists (deleted after the job was applied)"
        if secret.domain != domain:
            return {}, f"{where}: secret {name!r} is in domain {secret.domain!r}, not the job's {domain!r}"
        sealed = next((v for v in secret.values if v.key == key), None)
        if sealed is None:
            return {}, f"{where}: secret {name!r} no longer has a key {key!r} (set again without it)"
        try:
            env[variable] = box.open(name, sealed)
        except ValueError as e:
            return {}, f"{where}: {e}"
    return env, ""
