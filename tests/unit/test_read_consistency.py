"""Read consistency plumbing (api/consistency.py): every RPC classified, coalesced read indexes
never taken from a call that started before the read, waiting for an applied index."""

from __future__ import annotations

import asyncio

import pytest

from wloadctl.api.consistency import LIVE_METHODS, READ_METHODS, AppliedWaiter, Coalescer
from wloadctl.proto.v1 import api_pb2, approval_pb2, audit_pb2, auth_pb2, secrets_pb2, watch_pb2, workflows_pb2
from wloadctl.security.permissions import METHOD_PERMISSIONS

# Methods that change the state through Raft (their answers carry the entry's index).
WRITES = {m for m in METHOD_PERMISSIONS if m not in READ_METHODS and m not in LIVE_METHODS}


def _service_methods() -> set[str]:
    out = set()
    for module in (api_pb2, approval_pb2, audit_pb2, auth_pb2, secrets_pb2, watch_pb2, workflows_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            if service.name in ("CertificateAuth",):  # the agent port's, not the client API
                continue
            out |= {f"/{service.full_name}/{m.name}" for m in service.methods}
    return out


def test_every_api_method_is_a_read_a_live_view_or_a_write() -> None:
    assert not READ_METHODS & LIVE_METHODS
    assert not (READ_METHODS | LIVE_METHODS) - set(METHOD_PERMISSIONS)
    assert not _service_methods() - set(METHOD_PERMISSIONS)
    # Reads are named Get/List/Watch and the like; a write among them would skip nothing but cost a
    # read index, a read among the writes would be stale: check the names agree.
    verbs = ("Get", "List", "Watch", "Verify", "WhoAmI", "NextFireTimes", "CalendarDays", "Impact", "Report",
             "Summarize")
    for method in READ_METHODS:
        assert method.rsplit("/", 1)[1].startswith(verbs), method
    for method in WRITES:
        name = method.rsplit("/", 1)[1]
        assert not name.startswith(("Get", "List", "Watch")), method


def test_a_call_in_flight_is_never_joined_by_a_later_caller() -> None:
    async def scenario() -> tuple[list[int], int]:
        started: list[asyncio.Event] = []
        release: list[asyncio.Event] = []
        value = [0]

        async def call() -> int:
            value[0] += 1
            mine = value[0]
            started.append(asyncio.Event())
            started[-1].set()
            release.append(asyncio.Event())
            await release[-1].wait()
            return mine

        c = Coalescer(call)
        first = asyncio.create_task(c.get())
        second = asyncio.create_task(c.get())   # arrives before the call starts: shares it
        await asyncio.sleep(0)
        while not started:
            await asyncio.sleep(0)
        third = asyncio.create_task(c.get())    # arrives while call 1 is in flight: waits for call 2
        fourth = asyncio.create_task(c.get())
        await asyncio.sleep(0)
        release[0].set()
        assert await first == 1 and await second == 1
        while len(release) < 2:
            await asyncio.sleep(0)
        release[1].set()
        return [await third, await fourth], c.calls

    results, calls = asyncio.run(scenario())
    assert results == [2, 2] and calls == 2


def test_a_failed_call_fails_its_waiters_and_the_next_caller_gets_a_new_call() -> None:
    async def scenario() -> int:
        attempts = [0]

        async def call() -> int:
            attempts[0] += 1
            if attempts[0] == 1:
                raise RuntimeError("leader gone")
            return 7

        c = Coalescer(call)
        with pytest.raises(RuntimeError):
            await c.get()
        return await c.get()

    assert asyncio.run(scenario()) == 7


def test_the_applied_waiter_wakes_at_the_index_and_gives_up_at_its_deadline() -> None:
    async def scenario() -> tuple[int, int]:
        applied = [3]
        loop = asyncio.get_running_loop()
        waiter = AppliedWaiter(lambda: applied[0], loop)
        task = asyncio.create_task(waiter.wait(5, 5.0))
        await asyncio.sleep(0)

        def apply(index: int) -> None:  # as the Raft thread would
            applied[0] = index
            waiter.on_applied(index)

        await loop.run_in_executor(None, apply, 4)
        await asyncio.sleep(0)
        assert not task.done()
        await loop.run_in_executor(None, apply, 6)
        reached = await asyncio.wait_for(task, 5)
        late = await waiter.wait(99, 0.05)
        return reached, late

    assert asyncio.run(scenario()) == (6, 6)
