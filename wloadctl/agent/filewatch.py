"""File-arrival triggers on the agent: watch directories, report each new file once it is stable.

The leader sends the whole set of watches (jobs' ``fileTriggers`` this agent may run); every scan
lists each watched directory (no recursion), and a file whose size and modification time have not
changed for the watch's ``stable_ms`` is ready. A ready file is reported to the leader until the
leader acknowledges it (it committed a run, or found the trigger gone), then recorded durably, so
each file is reported once across agent restarts. Files older than the watch (``since_ms``, the
first time this agent was given the watch) are not new unless the trigger includes existing files.
A file that disappears is forgotten: a new file under the same name is new again.

Polling, not inotify: it works the same on NFS and other shared file systems, where a batch file
usually lands, and costs one directory listing per watch per scan.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from wloadctl.agent.durable import AgentDurableState
from wloadctl.proto.v1 import agent_pb2

log = logging.getLogger(__name__)

# Files looked at per watch and scan: a directory with more is watched in part (and says so).
MAX_FILES_PER_WATCH = 10_000


@dataclass
class _Observed:
    size: int
    mtime_ns: int
    unchanged_since: float   # monotonic: when this size and mtime were first seen


@dataclass
class _Watch:
    spec: agent_pb2.FileWatch
    since_ms: int
    observed: dict[str, _Observed]
    reported: dict[str, tuple[int, int]]
    warned: bool = False


class FileWatcher:
    def __init__(self, durable: AgentDurableState, clock: Callable[[], float] = time.monotonic) -> None:
        self.durable = durable
        self.clock = clock
        self._watches: dict[str, _Watch] = {}
        # Ready files not yet acknowledged by the leader, by (watch id, path).
        self.pending: dict[tuple[str, str], agent_pb2.FileArrival] = {}
        self.scans = 0

    @property
    def watch_ids(self) -> list[str]:
        return sorted(self._watches)

    def set_watches(self, watches: agent_pb2.FileWatches) -> None:
        """The leader's whole set: new watches start, missing ones stop (and their records go)."""
        wanted = {w.id: w for w in watches.watches}
        for watch_id in list(self._watches):
            if watch_id not in wanted:
                del self._watches[watch_id]
                self._drop_pending(watch_id)
        for watch_id in self.durable.known_watches():
            if watch_id not in wanted:
                self.durable.forget_watch(watch_id)
        for watch_id, spec in wanted.items():
            current = self._watches.get(watch_id)
            if current is not None:
                current.spec = spec
                continue
            since = self.durable.watch_since(watch_id, spec.since_ms)
            self._watches[watch_id] = _Watch(spec, since, {}, self.durable.reported_files(watch_id))
            log.info("watching for files", extra={"watch": watch_id, "directory": spec.directory, "glob": spec.glob})

    def _drop_pending(self, watch_id: str) -> None:
        for key in [k for k in self.pending if k[0] == watch_id]:
            del self.pending[key]

    def scan(self) -> list[agent_pb2.FileArrival]:
        """One look at every watched directory; returns the files that became ready in it."""
        self.scans += 1
        now = self.clock()
        ready: list[agent_pb2.FileArrival] = []
        for watch_id, watch in list(self._watches.items()):
            ready += self._scan_one(watch_id, watch, now)
        return ready

    def _scan_one(self, watch_id: str, watch: _Watch, now: float) -> list[agent_pb2.FileArrival]:
        spec = watch.spec
        present: dict[str, os.stat_result] = {}
        try:
            with os.scandir(spec.directory) as entries:
                for entry in entries:
                    if len(present) >= MAX_FILES_PER_WATCH:
                        if not watch.warned:
                            watch.warned = True
                            log.warning("more files than one scan looks at; the rest wait",
                                        extra={"watch": watch_id, "limit": MAX_FILES_PER_WATCH})
                        break
                    if not fnmatch.fnmatchcase(entry.name, spec.glob):
                        continue
                    try:
                        if not entry.is_file(follow_symlinks=False):
                            continue
                        present[entry.path] = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue  # gone between the listing and the look
        except OSError as e:
            if not watch.warned:
                watch.warned = True
                log.warning("cannot list a watched directory", extra={"watch": watch_id, "error": str(e)})
            return []
        ready = []
        for path, st in present.items():
            seen = watch.observed.get(path)
            if seen is None or (seen.size, seen.mtime_ns) != (st.st_size, st.st_mtime_ns):
                watch.observed[path] = _Observed(st.st_size, st.st_mtime_ns, now)
                continue
            if (now - seen.unchanged_since) * 1000 < spec.stable_ms:
                continue
            if watch.reported.get(path) == (st.st_size, st.st_mtime_ns) or (watch_id, path) in self.pending:
                continue
            if not spec.include_existing and st.st_mtime_ns // 1_000_000 < watch.since_ms:
                watch.reported[path] = (st.st_size, st.st_mtime_ns)  # there before the trigger: not new
                continue
            if not _utf8(path):
                continue  # a name the wire cannot carry (not UTF-8)
            arrival = agent_pb2.FileArrival(watch_id=watch_id, job_name=spec.job_name, path=path, size=st.st_size,
                                            mtime_ns=st.st_mtime_ns)
            self.pending[(watch_id, path)] = arrival
            ready.append(arrival)
        gone = [p for p in watch.observed if p not in present]
        for path in gone:
            del watch.observed[path]
        vanished = [p for p in watch.reported if p not in present and p not in watch.observed]
        if vanished:
            self.durable.forget_files(watch_id, vanished)
            for path in vanished:
                del watch.reported[path]
        return ready

    def acknowledged(self, arrivals: list[agent_pb2.FileArrival]) -> None:
        """The leader decided these files: never report them again (durable before forgotten here)."""
        entries = []
        for a in arrivals:
            watch = self._watches.get(a.watch_id)
            if self.pending.pop((a.watch_id, a.path), None) is None and watch is None:
                continue
            entries.append((a.watch_id, a.path, a.size, a.mtime_ns))
            if watch is not None:
                watch.reported[a.path] = (a.size, a.mtime_ns)
        self.durable.mark_reported(entries)


def _utf8(text: str) -> bool:
    try:
        text.encode()
        return True
    except UnicodeEncodeError:
        return False
