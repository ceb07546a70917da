"""Apply a recorded command log to a fresh store and print its digest, in a process of its own.

    python -m wloadctl.testing.replay < requests.jsonl

Each input line is ``{"dir": PATH, "entries": [HEX, ...]}``: the entries (serialized
CommandBatch bytes, Raft indexes 1, 2, ...) are applied to a new store at PATH, and one line
``{"applied": N, "digest": HEX}`` is written back. Tests run several of these workers with
different ``PYTHONHASHSEED`` values to prove that replicas, which are separate processes with
their own hash seeds, store byte-identical state.
"""

from __future__ import annotations

import json
import sys

from wloadctl.state.store import Store

# Small: tests create many stores; the file is sparse anyway.
_MAP_SIZE = 64 << 20


def replay(directory: str, entries: list[bytes]) -> tuple[int, str]:
    store = Store(directory, map_size=_MAP_SIZE)
    try:
        for index, entry in enumerate(entries, start=1):
            store.apply(entry, index)
        return store.digest()
    finally:
        store.close()


def main() -> int:
    for line in sys.stdin:
        request = json.loads(line)
        applied, digest = replay(request["dir"], [bytes.fromhex(e) for e in request["entries"]])
        sys.stdout.write(json.dumps({"applied": applied, "digest": digest}) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
