from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Binding(_message.Message):
    __slots__ = ("role", "domains")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    DOMAINS_FIELD_NUMBER: _ClassVar[int]
    role: str
    domains: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, role: _Optional[str] = ..., domains: _Optional[_Iterable[str]] = ...) -> None: ...

class User(_message.Message):
    __slots__ = ("name", "password_hash", "bindings", "active", "locked", "locked_reason", "failed_logins", "valid_from_ms", "valid_until_ms", "password_changed_ms", "must_change_password", "created_ms", "created_by", "updated_ms", "description", "last_login_ms", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_HASH_FIELD_NUMBER: _ClassVar[int]
    BINDINGS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    LOCKED_FIELD_NUMBER: _ClassVar[int]
    LOCKED_REASON_FIELD_NUMBER: _ClassVar[int]
    FAILED_LOGINS_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_MS_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_MS_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_CHANGED_MS_FIELD_NUMBER: _ClassVar[int]
    MUST_CHANGE_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    UPDATED_MS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LAST_LOGIN_MS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    password_hash: str
    bindings: _containers.RepeatedCompositeFieldContainer[Binding]
    active: bool
    locked: bool
    locked_reason: str
    failed_logins: int
    valid_from_ms: int
    valid_until_ms: int
    password_changed_ms: int
    must_change_password: bool
    created_ms: int
    created_by: str
    updated_ms: int
    description: str
    last_login_ms: int
    version: int
    def __init__(self, name: _Optional[str] = ..., password_hash: _Optional[str] = ..., bindings: _Optional[_Iterable[_Union[Binding, _Mapping]]] = ..., active: _Optional[bool] = ..., locked: _Optional[bool] = ..., locked_reason: _Optional[str] = ..., failed_logins: _Optional[int] = ..., valid_from_ms: _Optional[int] = ..., valid_until_ms: _Optional[int] = ..., password_changed_ms: _Optional[int] = ..., must_change_password: _Optional[bool] = ..., created_ms: _Optional[int] = ..., created_by: _Optional[str] = ..., updated_ms: _Optional[int] = ..., description: _Optional[str] = ..., last_login_ms: _Optional[int] = ..., version: _Optional[int] = ...) -> None: ...

class Role(_message.Message):
    __slots__ = ("name", "permissions", "description", "builtin", "created_ms", "created_by", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    BUILTIN_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    permissions: _containers.RepeatedScalarFieldContainer[str]
    description: str
    builtin: bool
    created_ms: int
    created_by: str
    version: int
    def __init__(self, name: _Optional[str] = ..., permissions: _Optional[_Iterable[str]] = ..., description: _Optional[str] = ..., builtin: _Optional[bool] = ..., created_ms: _Optional[int] = ..., created_by: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class ApiKey(_message.Message):
    __slots__ = ("id", "secret_hash", "owner", "bindings", "allowed_networks", "expires_ms", "revoked", "created_ms", "created_by", "description")
    ID_FIELD_NUMBER: _ClassVar[int]
    SECRET_HASH_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    BINDINGS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_NETWORKS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_MS_FIELD_NUMBER: _ClassVar[int]
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    id: str
    secret_hash: bytes
    owner: str
    bindings: _containers.RepeatedCompositeFieldContainer[Binding]
    allowed_networks: _containers.RepeatedScalarFieldContainer[str]
    expires_ms: int
    revoked: bool
    created_ms: int
    created_by: str
    description: str
    def __init__(self, id: _Optional[str] = ..., secret_hash: _Optional[bytes] = ..., owner: _Optional[str] = ..., bindings: _Optional[_Iterable[_Union[Binding, _Mapping]]] = ..., allowed_networks: _Optional[_Iterable[str]] = ..., expires_ms: _Optional[int] = ..., revoked: _Optional[bool] = ..., created_ms: _Optional[int] = ..., created_by: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class Session(_message.Message):
    __slots__ = ("id", "secret_hash", "user", "created_ms", "expires_ms", "revoked", "source", "method", "password_change_only")
    ID_FIELD_NUMBER: _ClassVar[int]
    SECRET_HASH_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_MS_FIELD_NUMBER: _ClassVar[int]
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_CHANGE_ONLY_FIELD_NUMBER: _ClassVar[int]
    id: str
    secret_hash: bytes
    user: str
    created_ms: int
    expires_ms: int
    revoked: bool
    source: str
    method: str
    password_change_only: bool
    def __init__(self, id: _Optional[str] = ..., secret_hash: _Optional[bytes] = ..., user: _Optional[str] = ..., created_ms: _Optional[int] = ..., expires_ms: _Optional[int] = ..., revoked: _Optional[bool] = ..., source: _Optional[str] = ..., method: _Optional[str] = ..., password_change_only: _Optional[bool] = ...) -> None: ...

class SecurityPolicy(_message.Message):
    __slots__ = ("password_min_length", "password_require_upper", "password_require_lower", "password_require_digit", "password_require_special", "password_max_age_days", "max_failed_logins", "session_ttl_minutes", "audit_retention_days", "approvals")
    PASSWORD_MIN_LENGTH_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_REQUIRE_UPPER_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_REQUIRE_LOWER_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_REQUIRE_DIGIT_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_REQUIRE_SPECIAL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_MAX_AGE_DAYS_FIELD_NUMBER: _ClassVar[int]
    MAX_FAILED_LOGINS_FIELD_NUMBER: _ClassVar[int]
    SESSION_TTL_MINUTES_FIELD_NUMBER: _ClassVar[int]
    AUDIT_RETENTION_DAYS_FIELD_NUMBER: _ClassVar[int]
    APPROVALS_FIELD_NUMBER: _ClassVar[int]
    password_min_length: int
    password_require_upper: bool
    password_require_lower: bool
    password_require_digit: bool
    password_require_special: bool
    password_max_age_days: int
    max_failed_logins: int
    session_ttl_minutes: int
    audit_retention_days: int
    approvals: _containers.RepeatedCompositeFieldContainer[ApprovalRule]
    def __init__(self, password_min_length: _Optional[int] = ..., password_require_upper: _Optional[bool] = ..., password_require_lower: _Optional[bool] = ..., password_require_digit: _Optional[bool] = ..., password_require_special: _Optional[bool] = ..., password_max_age_days: _Optional[int] = ..., max_failed_logins: _Optional[int] = ..., session_ttl_minutes: _Optional[int] = ..., audit_retention_days: _Optional[int] = ..., approvals: _Optional[_Iterable[_Union[ApprovalRule, _Mapping]]] = ...) -> None: ...

class ApprovalRule(_message.Message):
    __slots__ = ("operation", "domains")
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    DOMAINS_FIELD_NUMBER: _ClassVar[int]
    operation: str
    domains: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, operation: _Optional[str] = ..., domains: _Optional[_Iterable[str]] = ...) -> None: ...

class Actor(_message.Message):
    __slots__ = ("kind", "name", "source", "via")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    VIA_FIELD_NUMBER: _ClassVar[int]
    kind: str
    name: str
    source: str
    via: str
    def __init__(self, kind: _Optional[str] = ..., name: _Optional[str] = ..., source: _Optional[str] = ..., via: _Optional[str] = ...) -> None: ...

class AuthBootstrap(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: ApiKey
    def __init__(self, key: _Optional[_Union[ApiKey, _Mapping]] = ...) -> None: ...

class PutUser(_message.Message):
    __slots__ = ("user", "expected_version")
    USER_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    user: User
    expected_version: int
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ..., expected_version: _Optional[int] = ...) -> None: ...

class DeleteUser(_message.Message):
    __slots__ = ("name", "expected_version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    expected_version: int
    def __init__(self, name: _Optional[str] = ..., expected_version: _Optional[int] = ...) -> None: ...

class PutRole(_message.Message):
    __slots__ = ("role", "expected_version")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    role: Role
    expected_version: int
    def __init__(self, role: _Optional[_Union[Role, _Mapping]] = ..., expected_version: _Optional[int] = ...) -> None: ...

class DeleteRole(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RecordLogin(_message.Message):
    __slots__ = ("user", "success", "secret_hash", "source", "method", "expected_version", "failure")
    USER_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    SECRET_HASH_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    user: str
    success: bool
    secret_hash: bytes
    source: str
    method: str
    expected_version: int
    failure: str
    def __init__(self, user: _Optional[str] = ..., success: _Optional[bool] = ..., secret_hash: _Optional[bytes] = ..., source: _Optional[str] = ..., method: _Optional[str] = ..., expected_version: _Optional[int] = ..., failure: _Optional[str] = ...) -> None: ...

class RevokeSession(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class CreateApiKey(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: ApiKey
    def __init__(self, key: _Optional[_Union[ApiKey, _Mapping]] = ...) -> None: ...

class RevokeApiKey(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class SetSecurityPolicy(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: SecurityPolicy
    def __init__(self, policy: _Optional[_Union[SecurityPolicy, _Mapping]] = ...) -> None: ...

class ServerInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ServerInfoResponse(_message.Message):
    __slots__ = ("node_id", "certificate_login_address", "version")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_LOGIN_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    certificate_login_address: str
    version: str
    def __init__(self, node_id: _Optional[str] = ..., certificate_login_address: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class IssueCertificateSessionRequest(_message.Message):
    __slots__ = ("user", "source", "secret_hash")
    USER_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SECRET_HASH_FIELD_NUMBER: _ClassVar[int]
    user: str
    source: str
    secret_hash: bytes
    def __init__(self, user: _Optional[str] = ..., source: _Optional[str] = ..., secret_hash: _Optional[bytes] = ...) -> None: ...

class CertificateLoginRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LoginRequest(_message.Message):
    __slots__ = ("user", "password")
    USER_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    user: str
    password: str
    def __init__(self, user: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class LoginResponse(_message.Message):
    __slots__ = ("token", "expires_ms", "password_change_required", "user", "raft_index")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_MS_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_CHANGE_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    RAFT_INDEX_FIELD_NUMBER: _ClassVar[int]
    token: str
    expires_ms: int
    password_change_required: bool
    user: str
    raft_index: int
    def __init__(self, token: _Optional[str] = ..., expires_ms: _Optional[int] = ..., password_change_required: _Optional[bool] = ..., user: _Optional[str] = ..., raft_index: _Optional[int] = ...) -> None: ...

class LogoutRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LogoutResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WhoAmIRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WhoAmIResponse(_message.Message):
    __slots__ = ("kind", "name", "method", "bindings", "permissions", "expires_ms", "password_change_required")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    BINDINGS_FIELD_NUMBER: _ClassVar[int]
    PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_MS_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_CHANGE_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    kind: str
    name: str
    method: str
    bindings: _containers.RepeatedCompositeFieldContainer[Binding]
    permissions: _containers.RepeatedScalarFieldContainer[str]
    expires_ms: int
    password_change_required: bool
    def __init__(self, kind: _Optional[str] = ..., name: _Optional[str] = ..., method: _Optional[str] = ..., bindings: _Optional[_Iterable[_Union[Binding, _Mapping]]] = ..., permissions: _Optional[_Iterable[str]] = ..., expires_ms: _Optional[int] = ..., password_change_required: _Optional[bool] = ...) -> None: ...

class ChangePasswordRequest(_message.Message):
    __slots__ = ("user", "old_password", "new_password")
    USER_FIELD_NUMBER: _ClassVar[int]
    OLD_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    NEW_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    user: str
    old_password: str
    new_password: str
    def __init__(self, user: _Optional[str] = ..., old_password: _Optional[str] = ..., new_password: _Optional[str] = ...) -> None: ...

class ChangePasswordResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AuthBootstrapRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AuthBootstrapResponse(_message.Message):
    __slots__ = ("token", "key_id")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    token: str
    key_id: str
    def __init__(self, token: _Optional[str] = ..., key_id: _Optional[str] = ...) -> None: ...

class GetPolicyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetPolicyRequest(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: SecurityPolicy
    def __init__(self, policy: _Optional[_Union[SecurityPolicy, _Mapping]] = ...) -> None: ...

class CreateUserRequest(_message.Message):
    __slots__ = ("name", "password", "bindings", "valid_from_ms", "valid_until_ms", "description", "must_change_password")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    BINDINGS_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_MS_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_MS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    MUST_CHANGE_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    name: str
    password: str
    bindings: _containers.RepeatedCompositeFieldContainer[Binding]
    valid_from_ms: int
    valid_until_ms: int
    description: str
    must_change_password: bool
    def __init__(self, name: _Optional[str] = ..., password: _Optional[str] = ..., bindings: _Optional[_Iterable[_Union[Binding, _Mapping]]] = ..., valid_from_ms: _Optional[int] = ..., valid_until_ms: _Optional[int] = ..., description: _Optional[str] = ..., must_change_password: _Optional[bool] = ...) -> None: ...

class GetUserRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListUsersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListUsersResponse(_message.Message):
    __slots__ = ("users",)
    USERS_FIELD_NUMBER: _ClassVar[int]
    users: _containers.RepeatedCompositeFieldContainer[User]
    def __init__(self, users: _Optional[_Iterable[_Union[User, _Mapping]]] = ...) -> None: ...

class UpdateUserRequest(_message.Message):
    __slots__ = ("name", "active", "locked", "grant", "revoke", "valid_from_ms", "valid_until_ms", "description", "must_change_password", "password")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    LOCKED_FIELD_NUMBER: _ClassVar[int]
    GRANT_FIELD_NUMBER: _ClassVar[int]
    REVOKE_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_MS_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_MS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    MUST_CHANGE_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    name: str
    active: bool
    locked: bool
    grant: _containers.RepeatedCompositeFieldContainer[Binding]
    revoke: _containers.RepeatedCompositeFieldContainer[Binding]
    valid_from_ms: int
    valid_until_ms: int
    description: str
    must_change_password: bool
    password: str
    def __init__(self, name: _Optional[str] = ..., active: _Optional[bool] = ..., locked: _Optional[bool] = ..., grant: _Optional[_Iterable[_Union[Binding, _Mapping]]] = ..., revoke: _Optional[_Iterable[_Union[Binding, _Mapping]]] = ..., valid_from_ms: _Optional[int] = ..., valid_until_ms: _Optional[int] = ..., description: _Optional[str] = ..., must_change_password: _Optional[bool] = ..., password: _Optional[str] = ...) -> None: ...

class DeleteUserRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteUserResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateRoleRequest(_message.Message):
    __slots__ = ("name", "permissions", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    permissions: _containers.RepeatedScalarFieldContainer[str]
    description: str
    def __init__(self, name: _Optional[str] = ..., permissions: _Optional[_Iterable[str]] = ..., description: _Optional[str] = ...) -> None: ...

class GetRoleRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListRolesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListRolesResponse(_message.Message):
    __slots__ = ("roles",)
    ROLES_FIELD_NUMBER: _ClassVar[int]
    roles: _containers.RepeatedCompositeFieldContainer[Role]
    def __init__(self, roles: _Optional[_Iterable[_Union[Role, _Mapping]]] = ...) -> None: ...

class DeleteRoleRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteRoleResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateApiKeyRequest(_message.Message):
    __slots__ = ("bindings", "allowed_networks", "expires_ms", "description", "owner")
    BINDINGS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_NETWORKS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_MS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    bindings: _containers.RepeatedCompositeFieldContainer[Binding]
    allowed_networks: _containers.RepeatedScalarFieldContainer[str]
    expires_ms: int
    description: str
    owner: str
    def __init__(self, bindings: _Optional[_Iterable[_Union[Binding, _Mapping]]] = ..., allowed_networks: _Optional[_Iterable[str]] = ..., expires_ms: _Optional[int] = ..., description: _Optional[str] = ..., owner: _Optional[str] = ...) -> None: ...

class CreateApiKeyResponse(_message.Message):
    __slots__ = ("key", "token", "webhook_signing_key")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_SIGNING_KEY_FIELD_NUMBER: _ClassVar[int]
    key: ApiKey
    token: str
    webhook_signing_key: str
    def __init__(self, key: _Optional[_Union[ApiKey, _Mapping]] = ..., token: _Optional[str] = ..., webhook_signing_key: _Optional[str] = ...) -> None: ...

class GetApiKeyRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListApiKeysRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListApiKeysResponse(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[ApiKey]
    def __init__(self, keys: _Optional[_Iterable[_Union[ApiKey, _Mapping]]] = ...) -> None: ...

class RevokeApiKeyRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...
