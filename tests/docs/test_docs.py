"""Every documented command, config and output shape works as written.

Each document runs in a fresh copy of the repository (what a new clone holds), with the venv's
`wloadctl` first on PATH (as after `. .venv/bin/activate`) and, for the documents that need
one, a cluster started by `wloadctl up` with its defaults (default ports and ./wloadctl-data),
exactly as the README's first command starts it. See tests/docs/transcripts.py for how code
blocks are run; a drifted document fails with a diff that names its lines.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prysk.test import test as prysk_test

from tests.docs.transcripts import LOADED, Block, blocks, transcript
from wloadctl.cli import userconfig
from wloadctl.config import ConfigError, parse_agent_config, parse_config
from wloadctl.model.documents import parse_documents
from wloadctl.testing.cluster import wait_for

REPO = Path(__file__).resolve().parents[2]
# Documents whose examples talk to a running cluster: `wloadctl up` runs for them.
NEEDS_CLUSTER = {"README.md", "docs/cli.md", "docs/operations.md", "docs/security.md", "docs/scheduling.md",
                 "docs/workflows.md"}
# The README's first two blocks install and run `wloadctl up` (the harness does the same) and
# run the tests (what CI runs): checked by the two README tests below instead.
HANDLED_ELSEWHERE = {"README.md": 2}
DOCUMENTS = sorted(
    str(p.relative_to(REPO)) for p in [REPO / "README.md", *REPO.glob("docs/*.md"), *REPO.glob("*/README.md")]
    if not p.relative_to(REPO).parts[0].startswith(".")
)
UP_PORTS = [18581, 18582, 18583, 18681, 18682, 18683, 18781, 18782, 18783, 18881, 18882, 18883]
UP_READY = "press Ctrl-C to stop the cluster"


def _fresh_clone(dest: Path) -> Path:
    """The repository's tracked files (and new, not ignored ones), as a clone would have them."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, listed):
        source = REPO / name.decode()
        if source.is_file():
            target = dest / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


def _shell_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WLOADCTL_") and k != "PYTHONHASHSEED"}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = str(Path(sys.executable).parent.parent)
    env["HOME"] = str(home)
    env["USER"] = env.get("USER", "root")
    return env


def _ports_busy() -> list[int]:
    import socket

    busy = []
    for port in UP_PORTS:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                busy.append(port)
    return busy


def _processes_under(root: Path) -> list[int]:
    """Pids of processes whose command line mentions ``root`` (replicas a document started)."""
    pids = []
    needle = str(root).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def _stop(pids: list[int]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        try:
            wait_for(lambda: not any(Path(f"/proc/{p}").exists() and _alive(p) for p in pids), 15,
                     "the document's processes to stop")
            return
        except TimeoutError:
            continue


def _alive(pid: int) -> bool:
    try:
        return (Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]) != "Z"
    except OSError:
        return False


class LocalUp:
    """`wloadctl up` with its defaults, run from the clone's root as the README says."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        busy = _ports_busy()
        if busy:
            pytest.fail(f"the documented default ports {busy} are in use: stop the local cluster that holds them")
        self.log = cwd / "wloadctl-up.out"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(["wloadctl", "up"], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_for(lambda: UP_READY in self.log.read_text(errors="replace") or self.proc.poll() is not None, 120,
                     "wloadctl up to start the cluster")
        except TimeoutError:
            self.stop()
            raise
        if self.proc.poll() is not None:
            pytest.fail(f"wloadctl up exited with {self.proc.returncode}:\n{self.log.read_text(errors='replace')}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # Ctrl-C, as the README says
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture
def clone(tmp_path: Path) -> Iterator[Path]:
    root = _fresh_clone(tmp_path / "clone")
    yield root
    _stop(_processes_under(root))


def _check_loaded(block: Block, scratch: Path) -> str | None:
    """A config or job file example: None when it loads, else why not."""
    try:
        if block.lang == "yaml":
            parse_documents(block.text, source=block.where())
            return None
        doc = tomllib.loads(block.text)
        if "cluster" in doc and "node_id" not in doc:  # the CLI's own config (docs/cli.md)
            path = scratch / "cli-config.toml"
            path.write_text(block.text)
            userconfig.load(path)
            return None
        if "agent_id" in doc:
            agent = parse_agent_config(doc, base=scratch)
            if agent.tls_cert is None:
                return "an agent config without [tls] does not start (only with --insecure)"
            return None
        if "node_id" not in doc:  # a fragment: it must fit into a complete config
            base = {"node_id": "r1", "raft_address": "127.0.0.1:18681", "data_dir": "data",
                    "tls": {"ca": "ca.crt", "cert": "r1.crt", "key": "r1.key"}}
            doc = {**base, **doc}
        config = parse_config(doc, base=scratch)
        if config.tls_cert is None:
            return "a replica config without [tls] does not start (only with --insecure)"
        return None
    except (ConfigError, ValueError, tomllib.TOMLDecodeError) as e:
        return f"{type(e).__name__}: {e}"


@pytest.mark.timeout(900)
@pytest.mark.parametrize("document", DOCUMENTS)
def test_document(document: str, clone: Path, tmp_path: Path) -> None:
    path = clone / document
    found = blocks(path)
    problems = [f"{b.where()}: {why}" for b in found if b.lang in LOADED and not b.skipped
                for why in [_check_loaded(b, tmp_path)] if why]
    assert not problems, "example files that do not load:\n" + "\n".join(problems)

    if not any(b.runs_in_shell for b in found):
        return
    env = _shell_env(tmp_path / "home")
    (tmp_path / "home").mkdir()
    up = LocalUp(clone, env) if document in NEEDS_CLUSTER else None
    try:
        old_cwd = os.getcwd()
        os.chdir(clone)  # prysk's shell starts where we are
        try:
            lines = transcript(path, HANDLED_ELSEWHERE.get(document, 0))
            _refout, postout, diff = prysk_test(lines, shell="/bin/bash", env=env, testname=Path(document))
        finally:
            os.chdir(old_cwd)
        shown = b"".join(diff).decode(errors="replace") if diff else ""
    finally:
        if up is not None:
            up.stop()
    assert postout is not None, f"{document}: the transcript exited with prysk's skip code 80"
    if shown:
        pytest.fail(f"{document} does not do what it says (- documented, + actual):\n{shown}", pytrace=False)


# ---- the README's first two commands

def test_readme_test_command_is_what_ci_runs() -> None:
    readme = blocks(REPO / "README.md")
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert readme[1].text.strip() == ci, "the README's test command and .ci/run differ"


def test_readme_first_command_installs_and_runs_up() -> None:
    first = blocks(REPO / "README.md")[0].text.strip()
    assert re.fullmatch(r"python3 -m venv \.venv && \.venv/bin/pip install -e \. && \.venv/bin/wloadctl up", first), \
        "the harness runs `wloadctl up` with its defaults, as the README's first command does; keep them in step"


# ---- JSON shapes in docs/cli.md against the messages the CLI prints

def _shape_blocks() -> Iterator[tuple[str, Any, Block]]:
    import json5

    for block in blocks(REPO / "docs" / "cli.md"):
        if block.lang != "jsonc":
            continue
        # A block may show several documents, each after a `// MessageName` line.
        parts = re.split(r"^// ([A-Z]\w+)\s*$", block.text, flags=re.MULTILINE)
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            yield name, json5.loads(body), block


def _message_class(name: str) -> Any:
    from wloadctl.proto.v1 import (
        api_pb2,
        approval_pb2,
        audit_pb2,
        auth_pb2,
        commands_pb2,
        jobs_pb2,
        runs_pb2,
        secrets_pb2,
        watch_pb2,
        workflows_pb2,
    )

    for module in (api_pb2, jobs_pb2, runs_pb2, commands_pb2, auth_pb2, audit_pb2, approval_pb2, secrets_pb2,
                   workflows_pb2, watch_pb2):
        if hasattr(module, name):
            return getattr(module, name)
    raise AssertionError(f"docs/cli.md shows a shape named {name!r}, which is no message in protos/")


def _compare(descriptor: Any, shown: Any, where: str) -> list[str]:
    """Keys missing from (or unknown to) a documented shape, recursively."""
    from google.protobuf.descriptor import FieldDescriptor

    if not isinstance(shown, dict) or not shown:
        return []  # `{ /* JobSpec */ }`: a reference to a shape shown elsewhere
    fields = {f.name: f for f in descriptor.fields}
    # A oneof (`command`: argv or shell) shows the member that is set, as the output does.
    alternatives = {f.name: o for o in descriptor.oneofs for f in o.fields if len(o.fields) > 1}
    problems = [f"{where}: field {name!r} is missing" for name in fields if name not in shown
                and not (name in alternatives and any(f.name in shown for f in alternatives[name].fields))]
    problems += [f"{where}: {name!r} is no field of {descriptor.name}" for name in shown if name not in fields]
    for name, field in fields.items():
        if name not in shown or field.type != FieldDescriptor.TYPE_MESSAGE or field.message_type.GetOptions().map_entry:
            continue
        value = shown[name]
        if field.is_repeated:
            value = value[0] if isinstance(value, list) and value else None
        problems += _compare(field.message_type, value, f"{where}.{name}")
    return problems


def test_json_shapes_in_cli_docs_have_every_field() -> None:
    shapes = list(_shape_blocks())
    assert len(shapes) >= 8, "docs/cli.md should show the JSON shape of every document the CLI prints"
    problems = []
    for name, shown, block in shapes:
        problems += _compare(_message_class(name).DESCRIPTOR, shown, f"{block.where()} {name}")
    assert not problems, "\n".join(problems)


# ---- the example config files shipped for operators

@pytest.mark.parametrize("example", sorted(str(p.relative_to(REPO)) for p in [
    *REPO.glob("cluster/examples/*/*.toml"), REPO / "agent" / "agent.example.toml"]))
def test_example_config_loads(example: str, tmp_path: Path) -> None:
    block = Block(REPO / example, 1, "toml", (REPO / example).read_text())
    problem = _check_loaded(block, tmp_path)
    assert problem is None, f"{example}: {problem}"
