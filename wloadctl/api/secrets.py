"""SecretService: set, read (metadata only) and delete secrets.

Thin like the others, with one thing only the leader does: it encrypts the values (random nonces,
state/secrets.py) before proposing, so the Raft log never holds a value in plaintext. No answer and
no log line carries a value; error messages name keys, never what they hold.
"""

from __future__ import annotations

import os

import grpc

from wloadctl.api.authz import principal, require, visible_domains
from wloadctl.api.context import ApiContext
from wloadctl.api.jobs import check_key, check_name
from wloadctl.model.rules import DEFAULT_DOMAIN
from wloadctl.model.secrets import secret_problems, secret_value_problem
from wloadctl.proto.v1 import commands_pb2, secrets_pb2, secrets_pb2_grpc
from wloadctl.security.permissions import Permission
from wloadctl.state.secrets import NONCE_BYTES

_SERVICE = "/wloadctl.v1.SecretService/"


def request_problems(request: secrets_pb2.SetSecretRequest) -> list[str]:
    problems = secret_problems(request.name, request.domain, request.description, list(request.values))
    # The problem names the key and the rule, never the value.
    problems += [f"values.{key[:130]}: {problem}" for key, value in sorted(request.values.items())
                 if (problem := secret_value_problem(value))]
    return problems


class SecretServicer(secrets_pb2_grpc.SecretServiceServicer):
    def __init__(self, api: ApiContext) -> None:
        self.api = api

    async def SetSecret(self, request: secrets_pb2.SetSecretRequest,
                        context: grpc.aio.ServicerContext) -> secrets_pb2.SecretInfo:
        problems = request_problems(request)
        if problems:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "; ".join(problems[:20]))
        await check_key(request.idempotency_key, context)
        domain = request.domain or DEFAULT_DOMAIN
        await require(context, Permission.SECRET_WRITE, domain)
        current = self.api.store.secret_info(request.name)
        if current is not None and current.domain != domain:
            await require(context, Permission.SECRET_WRITE, current.domain)  # before saying where it is

        async def here() -> secrets_pb2.SecretInfo:
            box = self.api.store.secret_box
            # A fresh random nonce per value: never reused under the key, and carried in the command,
            # so every replica stores the same bytes.
            sealed = [box.seal(request.name, key, value, os.urandom(NONCE_BYTES))
                      for key, value in sorted(request.values.items())]
            command = commands_pb2.Command(
                idempotency_key=request.idempotency_key, actor=principal().actor(),
                set_secret=secrets_pb2.SetSecret(name=request.name, domain=request.domain,
                                                 description=request.description, values=sealed))
            await self.api.commit(command, context)
            stored = self.api.store.secret_info(request.name)
            return stored if stored is not None else secrets_pb2.SecretInfo(name=request.name, domain=domain)

        return await self.api.on_leader(_SERVICE + "SetSecret", request, secrets_pb2.SecretInfo, context, here)

    async def GetSecret(self, request: secrets_pb2.GetSecretRequest,
                        context: grpc.aio.ServicerContext) -> secrets_pb2.SecretInfo:
        await check_name(request.name, context)
        secret = self.api.store.secret_info(request.name)
        if secret is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"name: secret {request.name!r} not found")
        await require(context, Permission.SECRET_READ, secret.domain)
        return secret

    async def ListSecrets(self, request: secrets_pb2.ListSecretsRequest,
                          context: grpc.aio.ServicerContext) -> secrets_pb2.ListSecretsResponse:
        visible = visible_domains(Permission.SECRET_READ)
        if request.domain and visible is not None and request.domain not in visible:
            await require(context, Permission.SECRET_READ, request.domain)
        # Few and small (metadata of named secrets): one read, no paging.
        secrets = [s for s in self.api.store.secret_infos()
                   if (visible is None or s.domain in visible) and (not request.domain or s.domain == request.domain)]
        return secrets_pb2.ListSecretsResponse(secrets=secrets)

    async def DeleteSecret(self, request: secrets_pb2.DeleteSecretRequest,
                           context: grpc.aio.ServicerContext) -> secrets_pb2.DeleteSecretResponse:
        await check_name(request.name, context)
        await check_key(request.idempotency_key, context)
        current = self.api.store.secret_info(request.name)
        if current is None and request.idempotency_key:
            # The retry of a delete that went through (its answer lost in a leader change): the
            # secret and its domain are gone, so answer as the first attempt was answered instead
            # of refusing in the default domain (as DeleteJob does with the job's tombstone).
            done = self.api.store.idempotent_result(request.idempotency_key)
            if done is not None and done.code == 0:
                return secrets_pb2.DeleteSecretResponse(raft_index=done.raft_index)
        await require(context, Permission.SECRET_WRITE, current.domain if current is not None else DEFAULT_DOMAIN)

        async def here() -> secrets_pb2.DeleteSecretResponse:
            command = commands_pb2.Command(idempotency_key=request.idempotency_key, actor=principal().actor(),
                                           delete_secret=secrets_pb2.DeleteSecret(name=request.name))
            result = await self.api.commit(command, context)
            return secrets_pb2.DeleteSecretResponse(raft_index=result.raft_index)

        return await self.api.on_leader(_SERVICE + "DeleteSecret", request, secrets_pb2.DeleteSecretResponse,
                                        context, here)
