"""In-memory stand-ins for the Raft node, for fast tests of the leader-side logic.

``FakeRaftNode`` applies proposed entries to a real ``Store`` in order, from a
background thread, like pysyncobj's Raft thread would once an entry commits;
``hold()`` stops commits so tests can observe in-flight limits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from wloadctl.state.store import Store


class FakeRaftNode:
    def __init__(self, store: Store, node_id: str = "r1", leader: bool = True) -> None:
        self.store = store
        self.node_id = node_id
        self.leader = leader
        self.proposed: list[bytes] = []
        self.max_pending_seen = 0
        self._pending: list[tuple[bytes, Callable[[Any, int], None]]] = []
        self._cv = threading.Condition()
        self._held = False
        self._index = store.applied_index()
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True, name="fake-raft")
        self._thread.start()

    def is_leader(self) -> bool:
        return self.leader

    def leads_now(self) -> bool:
        return self.leader

    def leader_address(self) -> str | None:
        return self.node_id if self.leader else None

    def propose(self, payload: bytes, callback: Callable[[Any, int], None]) -> None:
        with self._cv:
            self.proposed.append(payload)
            self._pending.append((payload, callback))
            self.max_pending_seen = max(self.max_pending_seen, len(self._pending))
            self._cv.notify()

    def hold(self) -> None:
        with self._cv:
            self._held = True

    def release(self) -> None:
        with self._cv:
            self._held = False
            self._cv.notify()

    def stop(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._stop or (self._pending and not self._held))
                if self._stop:
                    return
                payload, callback = self._pending.pop(0)
            self._index += 1
            callback(self.store.apply(payload, self._index), 0)
