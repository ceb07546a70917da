from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SealedValue(_message.Message):
    __slots__ = ("key", "nonce", "ciphertext")
    KEY_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXT_FIELD_NUMBER: _ClassVar[int]
    key: str
    nonce: bytes
    ciphertext: bytes
    def __init__(self, key: _Optional[str] = ..., nonce: _Optional[bytes] = ..., ciphertext: _Optional[bytes] = ...) -> None: ...

class StoredSecret(_message.Message):
    __slots__ = ("name", "domain", "description", "values", "version", "created_ms", "created_by", "updated_ms", "updated_by", "raft_index")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    UPDATED_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    RAFT_INDEX_FIELD_NUMBER: _ClassVar[int]
    name: str
    domain: str
    description: str
    values: _containers.RepeatedCompositeFieldContainer[SealedValue]
    version: int
    created_ms: int
    created_by: str
    updated_ms: int
    updated_by: str
    raft_index: int
    def __init__(self, name: _Optional[str] = ..., domain: _Optional[str] = ..., description: _Optional[str] = ..., values: _Optional[_Iterable[_Union[SealedValue, _Mapping]]] = ..., version: _Optional[int] = ..., created_ms: _Optional[int] = ..., created_by: _Optional[str] = ..., updated_ms: _Optional[int] = ..., updated_by: _Optional[str] = ..., raft_index: _Optional[int] = ...) -> None: ...

class SecretInfo(_message.Message):
    __slots__ = ("name", "domain", "description", "keys", "version", "created_ms", "created_by", "updated_ms", "updated_by")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    UPDATED_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    name: str
    domain: str
    description: str
    keys: _containers.RepeatedScalarFieldContainer[str]
    version: int
    created_ms: int
    created_by: str
    updated_ms: int
    updated_by: str
    def __init__(self, name: _Optional[str] = ..., domain: _Optional[str] = ..., description: _Optional[str] = ..., keys: _Optional[_Iterable[str]] = ..., version: _Optional[int] = ..., created_ms: _Optional[int] = ..., created_by: _Optional[str] = ..., updated_ms: _Optional[int] = ..., updated_by: _Optional[str] = ...) -> None: ...

class SetSecret(_message.Message):
    __slots__ = ("name", "domain", "description", "values")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    name: str
    domain: str
    description: str
    values: _containers.RepeatedCompositeFieldContainer[SealedValue]
    def __init__(self, name: _Optional[str] = ..., domain: _Optional[str] = ..., description: _Optional[str] = ..., values: _Optional[_Iterable[_Union[SealedValue, _Mapping]]] = ...) -> None: ...

class DeleteSecret(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class SetSecretRequest(_message.Message):
    __slots__ = ("name", "domain", "description", "values", "idempotency_key")
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    name: str
    domain: str
    description: str
    values: _containers.ScalarMap[str, str]
    idempotency_key: str
    def __init__(self, name: _Optional[str] = ..., domain: _Optional[str] = ..., description: _Optional[str] = ..., values: _Optional[_Mapping[str, str]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class GetSecretRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListSecretsRequest(_message.Message):
    __slots__ = ("domain",)
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    domain: str
    def __init__(self, domain: _Optional[str] = ...) -> None: ...

class ListSecretsResponse(_message.Message):
    __slots__ = ("secrets",)
    SECRETS_FIELD_NUMBER: _ClassVar[int]
    secrets: _containers.RepeatedCompositeFieldContainer[SecretInfo]
    def __init__(self, secrets: _Optional[_Iterable[_Union[SecretInfo, _Mapping]]] = ...) -> None: ...

class DeleteSecretRequest(_message.Message):
    __slots__ = ("name", "idempotency_key")
    NAME_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    name: str
    idempotency_key: str
    def __init__(self, name: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class DeleteSecretResponse(_message.Message):
    __slots__ = ("raft_index",)
    RAFT_INDEX_FIELD_NUMBER: _ClassVar[int]
    raft_index: int
    def __init__(self, raft_index: _Optional[int] = ...) -> None: ...
