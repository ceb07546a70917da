"""Disk full on a replica: a small tmpfs under each replica's data dir, filled on demand.

The runner calls :func:`prepare` before the cluster starts when a scenario includes ``disk-full``
(every replica's ``data_dir`` becomes its own tmpfs mount point) and :func:`release` at the end.
:class:`DiskFull` then fills one replica's filesystem and frees it again at heal. A replica whose
disk is full must stop by itself (CRITICAL "disk full: ..." and exit code 3, see
docs/operations.md "Disk full"); heal restarts it once the space is back.

Mounting needs root (CAP_SYS_ADMIN). The nemesis refuses to fill anything that is not a tmpfs
mounted exactly on the data dir, so a missing :func:`prepare` can never fill the host's disk.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from chaos.nemesis import Context, Nemesis
from wloadctl.testing.cluster import Replica

log = logging.getLogger("chaos.disk")

# Measured here with the chaos workload at 50 job writes/s and 10 runs/s (2 agents) for 120 s: with
# the default Raft settings the data dir peaks at 5.7 MB (state 4.6 MB, journal 1.1 MB for 10,400
# entries; no snapshot: compaction needs 20,000 entries or 600 s). With compaction forced every 2,000
# entries (tmpfs usage sampled every 5 ms) it peaks at 16.2 MB: the state, snapshot.bin, the worker's
# compacted copy and snapshot.bin.writing all exist at once. A snapshot install should need about as
# much (received file, extracted copy, state; not measured). 128 MiB is 8x that worst case, so the replica only
# fills up when the nemesis fills it, and also leaves room for runs several times longer (the state
# grows ~2.3 MB a minute at this rate: finished runs are kept).
DEFAULT_SIZE_MB = 128

FILLER_NAME = ".chaos-disk-filler"
_BIG_CHUNK = 1 << 20
_SMALL_CHUNK = 4096  # the page size: after the big writes fail, fill the last partial megabyte too


class DiskError(RuntimeError):
    pass


@functools.cache
def tmpfs_unavailable_reason() -> str:
    """Why tmpfs mounts cannot be made here ("" when they can); probed once per process."""
    if os.geteuid() != 0:
        return f"mounting a tmpfs needs root (CAP_SYS_ADMIN); running as uid {os.geteuid()}"
    for tool in ("mount", "umount"):
        if shutil.which(tool) is None:
            return f"no {tool} command on PATH"
    probe = Path(tempfile.mkdtemp(prefix="wloadctl-tmpfs-probe-"))
    try:
        mount_small_fs(probe, 1)
    except DiskError as e:
        return str(e)
    finally:
        unmount(probe)
        with contextlib.suppress(OSError):
            probe.rmdir()
    return ""


def tmpfs_available() -> bool:
    """True when a small tmpfs can be mounted; otherwise logs the reason and returns False."""
    reason = tmpfs_unavailable_reason()
    if reason:
        log.warning("tmpfs not available: %s", reason)
    return not reason


def _unescape_mount_field(field: str) -> str:
    # /proc/self/mounts escapes space, tab, newline and backslash as octal (\040 ...).
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def mount_type(path: Path) -> str | None:
    """The filesystem type mounted exactly on ``path`` (the last mount wins), or None."""
    target = os.path.realpath(path)
    found = None
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and _unescape_mount_field(parts[1]) == target:
                found = parts[2]
    return found


def mount_small_fs(directory: Path, size_mb: int) -> None:
    """Mount a ``size_mb`` MiB tmpfs on ``directory`` (created if missing). Root only."""
    if size_mb < 1:
        raise ValueError("size_mb must be at least 1")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if os.path.ismount(directory):
        raise DiskError(f"{directory} is already a mount point")
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs", str(directory)],
                              capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise DiskError(f"mount -t tmpfs on {directory} failed: {e}") from e
    if done.returncode != 0:
        raise DiskError(f"mount -t tmpfs on {directory} failed (exit {done.returncode}): "
                        f"{(done.stderr or done.stdout).strip()}")


def unmount(directory: Path) -> None:
    """Unmount ``directory``; nothing to do when it is not a mount point.

    Lazy (``-l``): a replica that still has files open there keeps them until it exits, and the
    mount point is detached at once instead of failing with EBUSY."""
    directory = Path(directory)
    if not os.path.ismount(directory):
        return
    done = subprocess.run(["umount", "-l", str(directory)], capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0 and os.path.ismount(directory):
        raise DiskError(f"umount {directory} failed (exit {done.returncode}): {(done.stderr or done.stdout).strip()}")


def fill(directory: Path) -> Path:
    """Write a filler file in ``directory`` until the filesystem reports ENOSPC; returns its path."""
    path = Path(directory) / FILLER_NAME
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for chunk in (b"\0" * _BIG_CHUNK, b"\0" * _SMALL_CHUNK):
            while True:
                try:
                    if os.write(fd, chunk) < len(chunk):
                        break  # a short write: the filesystem is full
                except OSError as e:
                    if e.errno in (errno.ENOSPC, errno.EDQUOT):
                        break
                    raise
        # Only matters off tmpfs (a loop filesystem): reserved blocks must really be taken.
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
    return path


def unfill(path: Path) -> None:
    Path(path).unlink(missing_ok=True)


def free_bytes(directory: Path) -> int:
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize


def prepare(replicas: Iterable[Replica], size_mb: int = DEFAULT_SIZE_MB) -> None:
    """Mount a tmpfs on every replica's data dir (before the replicas start)."""
    done: list[Replica] = []
    try:
        for r in replicas:
            if r.running:
                raise DiskError(f"{r.node_id} is running: its data dir must be mounted before it starts")
            mount_small_fs(r.data_dir, size_mb)
            done.append(r)
    except BaseException:
        release(done)
        raise


def release(replicas: Iterable[Replica]) -> None:
    """Unmount every replica's data dir (those that are not mounted are skipped)."""
    errors = []
    for r in replicas:
        try:
            unmount(r.data_dir)
        except (DiskError, OSError, subprocess.TimeoutExpired) as e:
            errors.append(str(e))
    if errors:
        raise DiskError("; ".join(errors))


class DiskFull(Nemesis):
    """Fill the tmpfs holding one replica's data dir (the leader or a follower, seeded); at heal free
    the space and restart the replica if it stopped itself."""

    name = "disk-full"

    def __init__(self) -> None:
        self.victim: Replica | None = None
        self.filler: Path | None = None

    def inject(self, ctx: Context) -> str:
        running = [r for r in ctx.cluster.replicas if r.running and mount_type(r.data_dir) == "tmpfs"]
        if not running:
            return "no replica with a tmpfs data dir (prepare() not called?)"
        try:
            leader = ctx.cluster.leader()
        except Exception:
            leader = None
        want = ctx.rng.choice(["leader", "follower"])
        followers = [r for r in running if r is not leader]
        if want == "leader" and leader is not None and leader in running:
            victim = leader
        elif followers:
            want, victim = "follower", ctx.rng.choice(followers)
        else:
            want, victim = "replica", ctx.rng.choice(running)
        self.victim = victim
        self.filler = fill(victim.data_dir)
        return f"filled the disk of {victim.node_id} ({want}, {free_bytes(victim.data_dir)} bytes left)"

    def heal(self, ctx: Context) -> None:
        victim, filler = self.victim, self.filler
        self.victim = self.filler = None
        if filler is not None:
            unfill(filler)
        if victim is None:
            return
        if not victim.running:
            code = victim.proc.returncode if victim.proc is not None else None
            log.info("%s had stopped (exit code %s); restarting it", victim.node_id, code)
            ctx.cluster.start(victim, wait=False)
