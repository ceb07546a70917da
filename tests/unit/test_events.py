"""Event-driven runs in the state: subscribers, parameter mapping, domains, suspended jobs, retries."""

from __future__ import annotations

from pathlib import Path

from wloadctl.proto.v1 import commands_pb2, jobs_pb2
from wloadctl.state.store import Store
from wloadctl.testing.builders import apply_cmd, job


def subscribed(name: str, domain: str = "default", **mapping: str) -> jobs_pb2.JobSpec:
    spec = job(name, domain)
    spec.events.add(name="order-received", params=mapping)
    return spec


def test_emit_starts_each_subscriber_once_with_its_params(tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    index = 0

    def do(cmd: commands_pb2.Command) -> commands_pb2.CommandResult:
        nonlocal index
        index += 1
        out = store.apply(commands_pb2.CommandBatch(time_ms=1000 + index, commands=[cmd]).SerializeToString(), index)
        assert out is not None
        return out[0]

    paused = subscribed("paused")
    paused.suspended = True
    do(apply_cmd(subscribed("all-params"), subscribed("mapped", "finance", customer="customer_id"), paused,
                 job("other")))

    def emit(key: str, domains: tuple[str, ...] = ()) -> commands_pb2.CommandResult:
        return do(commands_pb2.Command(idempotency_key=key, emit_event=commands_pb2.EmitEvent(
            name="order-received", params={"customer_id": "c42", "amount": "10"}, domains=domains, source="cli")))

    first = emit("k1")
    runs = {r.job_name: r for r in (store.get_run(i) for i in first.run_ids) if r is not None}
    assert sorted(runs) == ["all-params", "mapped"]  # not the suspended one, not the unsubscribed one
    assert dict(runs["all-params"].params) == {"amount": "10", "customer_id": "c42"}
    assert dict(runs["mapped"].params) == {"customer": "c42"}
    assert runs["mapped"].event == "order-received" and "event order-received from cli" in \
        runs["mapped"].transitions[0].cause
    assert list(emit("k1").run_ids) == list(first.run_ids)  # a retry starts nothing new
    assert [store.get_run(i).job_name for i in emit("k2", ("finance",)).run_ids] == ["mapped"]  # type: ignore[union-attr]
    # Unsubscribing: the job no longer starts.
    do(apply_cmd(job("all-params")))
    assert [store.get_run(i).job_name for i in emit("k3").run_ids] == ["mapped"]  # type: ignore[union-attr]
