"""`-o json|yaml` prints the same document for the same message, whatever the process.

Protobuf iterates a map in hash-table order, seeded randomly in every process: before map keys
were sorted, `get job -o yaml` listed a job's labels in a different order from run to run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from wloadctl.cli.output import message_to_dict
from wloadctl.proto.v1 import jobs_pb2

SCRIPT = """
import json
from wloadctl.cli.output import message_to_dict
from wloadctl.proto.v1 import jobs_pb2
spec = jobs_pb2.JobSpec(name="x", labels={f"k{i}": str(i) for i in range(8)}, env={f"E{i}": "v" for i in range(8)})
print(json.dumps(message_to_dict(spec)))
"""


def test_map_keys_come_out_sorted() -> None:
    spec = jobs_pb2.JobSpec(name="x", labels={"b": "2", "c": "3", "a": "1"}, agent_selector={"z": "1", "y": "2"})
    data = message_to_dict(spec)
    assert list(data["labels"]) == ["a", "b", "c"]
    assert list(data["agent_selector"]) == ["y", "z"]


def test_the_same_document_in_processes_with_different_hash_seeds() -> None:
    outputs = {
        subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=60,
                       env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        for seed in ("1", "2", "3", "4")
    }
    assert len(outputs) == 1, outputs
    assert list(json.loads(outputs.pop())["labels"]) == [f"k{i}" for i in range(8)]
