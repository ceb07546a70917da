"""Builders for commands and job specs used by tests and benchmarks."""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.internal import encoder

from wloadctl.proto.v1 import commands_pb2, jobs_pb2
from wloadctl.state.encoding import encode


def job(name: str, domain: str = "default", argv: Sequence[str] = ("/bin/true",), **labels: str) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(name=name, domain=domain, labels=labels,
                            command=jobs_pb2.JobCommand(argv=jobs_pb2.ArgvCommand(args=list(argv))))


def apply_cmd(*specs: jobs_pb2.JobSpec, key: str = "") -> commands_pb2.Command:
    return commands_pb2.Command(idempotency_key=key, apply_jobs=commands_pb2.ApplyJobs(jobs=list(specs)))


def delete_cmd(name: str, key: str = "") -> commands_pb2.Command:
    return commands_pb2.Command(idempotency_key=key, delete_job=commands_pb2.DeleteJob(name=name))


def batch(*commands: commands_pb2.Command, time_ms: int = 1_000, leader: str = "r1") -> bytes:
    return encode(commands_pb2.CommandBatch(time_ms=time_ms, leader_id=leader, commands=list(commands)))


def unknown_command(key: str = "", ignorable: bool = False, field_number: int = 999) -> commands_pb2.Command:
    """A command of a type this version does not know, as a newer version would send it: its body
    is a message field (``field_number``) missing from this version's Command."""
    known = commands_pb2.Command(idempotency_key=key, ignorable=ignorable).SerializeToString()
    tag = encoder._VarintBytes(field_number << 3 | 2)  # length-delimited, like every body field
    return commands_pb2.Command.FromString(known + tag + b"\x00")


def raising_command(key: str = "") -> commands_pb2.Command:
    """A command whose apply raises on every replica: an empty agent id is an empty LMDB key
    (lmdb.BadValsizeError). Such an error used to fail its whole entry, which pysyncobj then
    retried on every tick, for ever, on every replica."""
    return commands_pb2.Command(idempotency_key=key, mark_agent_lost=commands_pb2.MarkAgentLost(agent_id=""))
