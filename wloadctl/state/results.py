"""The results every apply handler answers with (a grpc.StatusCode value; 0 = OK)."""

from __future__ import annotations

import grpc

from wloadctl.proto.v1 import commands_pb2


def ok(**kwargs: object) -> commands_pb2.CommandResult:
    return commands_pb2.CommandResult(code=grpc.StatusCode.OK.value[0], **kwargs)


def err(code: grpc.StatusCode, message: str) -> commands_pb2.CommandResult:
    return commands_pb2.CommandResult(code=code.value[0], message=message)
