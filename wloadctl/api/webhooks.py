"""``POST /v1/events/NAME`` on the replica's HTTP port: the event webhook.

Thin on purpose: the request becomes an ``EmitEvent`` call on this replica's own gRPC API, so
authentication, the ``event.emit`` permission per domain, forwarding to the leader, idempotency
and the audit record are exactly those of ``wloadctl event emit``. What this layer adds is HTTP:
parsing the body, checking an HMAC signature (security/webhooks.py) for senders without a bearer
credential, and mapping gRPC status codes to HTTP ones.

Body (optional, JSON): ``{"params": {"k": "v"}, "idempotency_key": "K"}``; the key may also come as
the ``Idempotency-Key`` header. A signed request without a key gets one derived from its signature,
so a replayed request never starts runs twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

import grpc

from wloadctl.api.authn import AUTHORIZATION, SOURCE_HEADER, sign_source
from wloadctl.api.context import ApiContext
from wloadctl.api.headers import APPROVAL_HEADER, WEBHOOK_HEADER
from wloadctl.api.http import HttpRequest, HttpResponse, Route, error
from wloadctl.proto.v1 import api_pb2
from wloadctl.security import webhooks

PREFIX = "/v1/events/"
# How long a signature check waits for an API key created a moment ago to be applied here.
KEY_CATCH_UP_S = 2.0
# The assertion a replica hands its own API after checking a signature is good for this long.
ASSERTION_TTL_MS = 30_000

_HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


class EventWebhook:
    def __init__(self, api: ApiContext, wall_s: Callable[[], float] = time.time) -> None:
        self.api = api
        self.wall_s = wall_s
        self.emitted = 0
        self.refused = 0

    def route(self) -> Route:
        return Route("POST", PREFIX, self)

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        response = await self._handle(request)
        if response.status == 200:
            self.emitted += 1
        else:
            self.refused += 1
        return response

    async def _handle(self, request: HttpRequest) -> HttpResponse:
        name = request.path[len(PREFIX):]
        if not name:
            return error(404, "name the event: POST /v1/events/NAME")
        parsed = _parse_body(request)
        if isinstance(parsed, HttpResponse):
            return parsed
        params, key = parsed
        metadata: list[tuple[str, str]] = []
        signature = request.header("x-wloadctl-signature")
        authorization = request.header("authorization")
        if signature:
            checked = await self._check_signature(request, signature)
            if isinstance(checked, HttpResponse):
                return checked
            metadata.append(checked)
            # A replay of the same signed request is the same event.
            key = key or "wh-" + hashlib.sha256(signature.encode()).hexdigest()[:40]
        elif authorization:
            metadata.append((AUTHORIZATION, authorization))
        elif self.api.secret is not None:
            return HttpResponse(401, {"error": "authenticate with Authorization: Bearer <API key or session token>, "
                                               "or sign the body (X-Wloadctl-Key-Id, X-Wloadctl-Timestamp, "
                                               "X-Wloadctl-Signature; docs/scheduling.md)"},
                                {"WWW-Authenticate": 'Bearer realm="wloadctl"'})
        if self.api.secret is not None:
            metadata.append((SOURCE_HEADER, sign_source(self.api.secret, self.api.config.node_id, request.peer)))
        return await self._emit(api_pb2.EmitEventRequest(name=name, params=params, idempotency_key=key), metadata)

    async def _check_signature(self, request: HttpRequest, signature: str) -> tuple[str, str] | HttpResponse:
        secret = self.api.secret
        if secret is None:
            return error(400, "signed webhooks need a cluster secret (this replica runs --insecure)")
        key_id = request.header("x-wloadctl-key-id")
        stamp = request.header("x-wloadctl-timestamp")
        if not key_id or not stamp.isdigit() or len(stamp) > 12:
            return error(401, "a signed request needs X-Wloadctl-Key-Id and X-Wloadctl-Timestamp (Unix seconds)")
        if not webhooks.fresh(int(stamp), self.wall_s()):
            return error(401, f"X-Wloadctl-Timestamp: more than {webhooks.MAX_SKEW_S} s from this replica's clock")
        key = await self._api_key(key_id)
        if key is None or not webhooks.verify(webhooks.signing_key(secret, key.id, key.secret_hash), int(stamp),
                                               request.body, signature):
            return error(401, "invalid signature")
        until_ms = int(self.wall_s() * 1000) + ASSERTION_TTL_MS
        return WEBHOOK_HEADER, sign_source(secret, self.api.config.node_id, f"hmac:{key.id}:{until_ms}")

    async def _api_key(self, key_id: str) -> Any:
        store = self.api.store
        key = store.api_key(key_id)
        index = int(key_id[1:]) if key_id[:1] == "k" and key_id[1:].isdigit() and len(key_id) < 21 else 0
        deadline = time.monotonic() + KEY_CATCH_UP_S
        # Created by the leader at an index this replica has not applied yet: wait for it, briefly.
        while key is None and index > store.applied_index() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            key = store.api_key(key_id)
        return key

    async def _emit(self, request: api_pb2.EmitEventRequest, metadata: list[tuple[str, str]]) -> HttpResponse:
        address = _dialable(self.api.config.api_address)
        call = self.api.channel(address).unary_unary(
            "/wloadctl.v1.RunService/EmitEvent", request_serializer=api_pb2.EmitEventRequest.SerializeToString,
            response_deserializer=api_pb2.EmitEventResponse.FromString)
        try:
            answer = await call(request, timeout=self.api.request_timeout + 5, metadata=tuple(metadata))
        except grpc.aio.AioRpcError as e:
            body: dict[str, Any] = {"error": e.details() or e.code().name, "code": e.code().name}
            approval = dict(e.trailing_metadata() or ()).get(APPROVAL_HEADER)
            if approval:
                body["approval_id"] = approval
            return HttpResponse(_HTTP_STATUS.get(e.code(), 500), body)
        return HttpResponse(200, {"event": request.name, "run_ids": list(answer.run_ids),
                                  "raft_index": answer.raft_index, "idempotency_key": request.idempotency_key})


def _parse_body(request: HttpRequest) -> tuple[dict[str, str], str] | HttpResponse:
    key = request.header("idempotency-key")
    if not request.body.strip():
        return {}, key
    try:
        doc = json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as e:
        return error(400, f"body: not JSON ({e})")
    if not isinstance(doc, dict):
        return error(400, 'body: a JSON object: {"params": {"k": "v"}, "idempotency_key": "K"}')
    unknown = sorted(set(doc) - {"params", "idempotency_key"})
    if unknown:
        return error(400, f"body.{unknown[0]}: unknown field (known: params, idempotency_key)")
    params = doc.get("params", {})
    if not isinstance(params, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in params.items()):
        return error(400, "body.params: an object of strings")
    body_key = doc.get("idempotency_key", "")
    if not isinstance(body_key, str):
        return error(400, "body.idempotency_key: a string")
    if key and body_key and key != body_key:
        return error(400, "Idempotency-Key header and body.idempotency_key differ")
    return params, key or body_key


def _dialable(address: str) -> str:
    """This replica's API address as a client can dial it (a wildcard listen address is not one)."""
    host, _, port = address.rpartition(":")
    return f"127.0.0.1:{port}" if host in ("0.0.0.0", "", "[::]", "::") else address
