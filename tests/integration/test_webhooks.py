"""The event webhook on every replica's HTTP port, over real replicas: bearer and HMAC-signed
requests, idempotency (also of replayed signed requests), permissions, audit, and HTTP-level errors."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from wloadctl.proto.v1 import audit_pb2, auth_pb2, jobs_pb2
from wloadctl.security import webhooks
from wloadctl.testing.cluster import LocalCluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path_factory.mktemp("webhooks") / "c", size=3, metrics=True)
    try:
        c.start()
        with c.client() as admin:
            admin.apply_jobs([
                jobs_pb2.JobSpec(name="on-file-landed", domain="finance", command=jobs_pb2.JobCommand(shell="true"),
                                 events=[jobs_pb2.EventTrigger(name="file.landed", params={"PATH": "path"})]),
                jobs_pb2.JobSpec(name="hr-on-file-landed", domain="hr", command=jobs_pb2.JobCommand(shell="true"),
                                 events=[jobs_pb2.EventTrigger(name="file.landed")]),
            ])
        yield c
    finally:
        c.stop()


def _key(cluster: LocalCluster, role: str = "business-operator", domains: tuple[str, ...] = ("finance",)) \
        -> auth_pb2.CreateApiKeyResponse:
    with cluster.client() as admin:
        return admin.create_api_key(auth_pb2.CreateApiKeyRequest(
            bindings=[auth_pb2.Binding(role=role, domains=list(domains))], description="webhook test"))


def _post(address: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
          method: str = "POST") -> tuple[int, dict[str, Any], dict[str, str]]:
    request = urllib.request.Request(f"http://{address}{path}", data=body if method == "POST" else None,
                                     headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            return answer.status, json.loads(answer.read() or b"{}"), dict(answer.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}"), dict(e.headers)


def _signed(key: auth_pb2.CreateApiKeyResponse, body: bytes, at: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if at is None else at
    return {"X-Wloadctl-Key-Id": key.key.id, "X-Wloadctl-Timestamp": str(stamp),
            "X-Wloadctl-Signature": webhooks.sign(key.webhook_signing_key, stamp, body),
            "Content-Type": "application/json"}


def test_bearer_webhook_on_every_replica_starts_the_domains_jobs_once_per_key(cluster: LocalCluster) -> None:
    key = _key(cluster)
    for i, replica in enumerate(cluster.replicas):
        body = json.dumps({"params": {"path": f"/in/{i}.csv"}, "idempotency_key": f"bearer-{i}"}).encode()
        auth = {"Authorization": f"Bearer {key.token}", "Content-Type": "application/json"}
        status, answer, _ = _post(replica.http_address, "/v1/events/file.landed", body, auth)
        assert status == 200, answer
        assert len(answer["run_ids"]) == 1 and answer["event"] == "file.landed"  # finance only, not hr
        again, repeat, _ = _post(replica.http_address, "/v1/events/file.landed", body, auth)
        assert again == 200 and repeat["run_ids"] == answer["run_ids"]
        with cluster.client() as admin:
            admin.saw_index(answer["raft_index"])  # another client's write: read at least that state
            run = admin.get_run(answer["run_ids"][0])
        assert run.job_name == "on-file-landed" and dict(run.params)["PATH"] == f"/in/{i}.csv"


def test_signed_webhook_runs_as_its_key_and_a_replay_never_starts_twice(cluster: LocalCluster) -> None:
    key = _key(cluster)
    assert len(key.webhook_signing_key) == 64
    body = json.dumps({"params": {"path": "/in/signed.csv"}}).encode()
    headers = _signed(key, body)
    follower = cluster.replicas[-1].http_address
    status, answer, _ = _post(follower, "/v1/events/file.landed", body, headers)
    assert status == 200 and len(answer["run_ids"]) == 1, answer
    replay_status, replay, _ = _post(cluster.replicas[0].http_address, "/v1/events/file.landed", body, headers)
    assert replay_status == 200 and replay["run_ids"] == answer["run_ids"]
    with cluster.client() as admin:
        admin.saw_index(replay["raft_index"])
        records = admin.list_audit(audit_pb2.ListAuditRequest(operation="event.emit", user=key.key.id)).records
    assert records and all(r.actor.kind == "apikey" for r in records)
    assert all(r.actor.source.startswith("127.0.0.1:") for r in records)


def test_bad_signatures_stale_times_and_revoked_keys_are_refused(cluster: LocalCluster) -> None:
    key = _key(cluster)
    address = cluster.replicas[0].http_address
    body = b'{"params": {"path": "/x"}}'
    tampered = _signed(key, body)
    status, answer, _ = _post(address, "/v1/events/file.landed", body + b" ", tampered)
    assert status == 401 and answer["error"] == "invalid signature"
    stale = _signed(key, body, at=int(time.time()) - webhooks.MAX_SKEW_S - 60)
    status, answer, _ = _post(address, "/v1/events/file.landed", body, stale)
    assert status == 401 and "X-Wloadctl-Timestamp" in answer["error"]
    other = _key(cluster)
    wrong_key = _signed(key, body) | {"X-Wloadctl-Key-Id": other.key.id}
    assert _post(address, "/v1/events/file.landed", body, wrong_key)[0] == 401
    with cluster.client() as admin:
        admin.revoke_api_key(key.key.id)
    leader = cluster.wait_for_leader()  # it applied the revocation before answering; followers follow within ms
    status, answer, _ = _post(leader.http_address, "/v1/events/file.landed", body, _signed(key, body))
    assert status == 401 and "revoked" in answer["error"]


def test_no_credential_and_no_permission(cluster: LocalCluster) -> None:
    address = cluster.replicas[1].http_address
    status, answer, headers = _post(address, "/v1/events/file.landed")
    assert status == 401 and "Bearer" in headers.get("WWW-Authenticate", "") and "sign the body" in answer["error"]
    auditor = _key(cluster, role="auditor", domains=())
    status, answer, _ = _post(address, "/v1/events/file.landed", b"", {"Authorization": f"Bearer {auditor.token}"})
    assert status == 403 and "event.emit" in answer["error"]
    status, answer, _ = _post(address, "/v1/events/file.landed", b"", {"Authorization": "Bearer wlk.1.nope"})
    assert status == 401


def test_http_errors_name_the_problem(cluster: LocalCluster) -> None:
    address = cluster.replicas[0].http_address
    key = _key(cluster)
    auth = {"Authorization": f"Bearer {key.token}"}
    assert _post(address, "/v1/events/file.landed", b"{not json", auth)[:1] == (400,)
    status, answer, _ = _post(address, "/v1/events/file.landed", b'{"param": {}}', auth)
    assert status == 400 and "body.param: unknown field" in answer["error"]
    status, answer, _ = _post(address, "/v1/events/file.landed", b'{"params": {"a": 1}}', auth)
    assert status == 400 and "body.params" in answer["error"]
    status, _, headers = _post(address, "/v1/events/file.landed", method="GET")
    assert status == 405 and headers.get("Allow") == "POST"
    assert _post(address, "/v1/nothing-here")[0] == 404
    status, answer, _ = _post(address, "/v1/events/file.landed", b"x" * (1 << 20 + 1) * 2, auth)
    assert status == 413, answer
    status, answer, _ = _post(address, "/v1/events/bad%00name", b"", auth)
    assert status == 400 and "name" in answer["error"]


def test_requests_are_counted_by_outcome(cluster: LocalCluster) -> None:
    replica = cluster.replicas[2]
    key = _key(cluster)
    assert _post(replica.http_address, "/v1/events/file.landed", b"", {"Authorization": f"Bearer {key.token}"})[0] \
        == 200
    assert _post(replica.http_address, "/v1/events/file.landed")[0] == 401
    with urllib.request.urlopen(f"http://{replica.metrics_address}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    counts = {line.split("{")[1].split("}")[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith("wloadctl_webhook_requests_total{")}
    assert counts['outcome="emitted"'] >= 1 and counts['outcome="refused"'] >= 1
