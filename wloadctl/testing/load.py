"""A write load that records exactly which writes were acknowledged."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from wloadctl.client import Client, ClientCredentials, ClientError
from wloadctl.testing.builders import job


@dataclass
class WriteLoad:
    """Writer threads applying uniquely named jobs; ``acked`` holds every name
    the cluster acknowledged. Each request is retried with its idempotency key."""

    servers: list[str]
    credentials: ClientCredentials | None = None
    threads: int = 6
    jobs_per_request: int = 5
    limit: int = 1_000_000
    acked: set[str] = field(default_factory=set)
    failed_requests: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> WriteLoad:
        for t in range(self.threads):
            w = threading.Thread(target=self._run, args=(t,), daemon=True, name=f"writer-{t}")
            w.start()
            self._workers.append(w)
        return self

    def _run(self, t: int) -> None:
        seq = 0
        with Client(self.servers, timeout=5, retry_for=3, credentials=self.credentials) as client:
            while not self._stop.is_set() and len(self.acked) < self.limit:
                names = [f"w{t}-{seq}-{k}" for k in range(self.jobs_per_request)]
                seq += 1
                try:
                    client.apply_jobs([job(n, domain=f"d{t}") for n in names], idempotency_key=f"w{t}-{seq}")
                except ClientError:
                    with self._lock:
                        self.failed_requests += 1
                    continue
                with self._lock:
                    self.acked.update(names)

    def count(self) -> int:
        with self._lock:
            return len(self.acked)

    def stop(self) -> set[str]:
        self._stop.set()
        for w in self._workers:
            w.join(timeout=30)
        with self._lock:
            return set(self.acked)
