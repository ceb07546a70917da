"""Which package of wloadctl may import which (DESIGN.md, "Package arrows").

Every module under wloadctl/ is parsed (not imported) and each `import wloadctl.X...` it makes is
checked against ALLOWED below. A package missing from the table fails too: a new package starts
by saying what it may depend on.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "wloadctl"

# What each package (or top-level module) may import from the rest of wloadctl, at module level or
# inside functions. "pkg" allows the whole package, "pkg.module" that module only. Imports within
# a package, and `import wloadctl` (its __version__), are always allowed.
ALLOWED: dict[str, frozenset[str]] = {
    # Leaves: everything below depends on them, so they must depend on nothing.
    "wloadctl": frozenset(),
    "config": frozenset(),     # read by the server, the agent, the API, the CLI and the test harness
    "fsutil": frozenset(),
    "logs": frozenset(),
    "proto": frozenset(),
    # Pure rules over the wire types; the state machine and the API apply the same ones.
    # Schedules are validated where specs are (model) by the pure trigger iterators.
    "model": frozenset({"proto", "scheduler.triggers", "scheduler.calendars", "scheduler.dag",
                        "scheduler.task_policy"}),
    "security": frozenset({"fsutil"}),
    # The state machine: pure apply, so nothing that knows about Raft, the network or the clock.
    # The permission table (no crypto, no gRPC) is checked at apply time like the job rules.
    # Apply computes next slots and re-checks firings with the same pure trigger and misfire rules.
    "state": frozenset({"proto", "model", "fsutil", "security.permissions", "scheduler.triggers",
                        "scheduler.firing", "scheduler.calendars", "scheduler.dag", "scheduler.task_policy"}),
    # Metrics kept as plain numbers (histograms, API and run counters from the change feed).
    "observability": frozenset({"proto", "state", "model"}),
    "raft": frozenset({"state", "proto", "config", "fsutil", "observability.histogram"}),
    # Decisions as functions of a view; the agent policy (model/policy.py) is one of their inputs.
    "scheduler": frozenset({"proto", "model"}),
    "control": frozenset({"raft", "state", "scheduler", "proto", "config", "observability.histogram"}),
    "api": frozenset({"control", "raft", "state", "model", "proto", "config", "security", "scheduler",
                      "observability.api"}),
    # The web console calls the replica's own API as the logged-in user, over the HTTP port's app.
    "console": frozenset({"api", "proto", "security", "model"}),
    # The replica process wires everything together; nothing imports it (but the CLI's `server`).
    "server": frozenset({"api", "control", "raft", "state", "security", "config", "proto", "fsutil", "logs",
                         "observability", "console"}),
    # The agent shares only configuration, wire types and the policy rules with the replicas.
    "agent": frozenset({"config", "proto", "security", "fsutil", "logs", "model", "observability.histogram"}),
    # The client library goes to user programs: wire types, header names, the message size default.
    "client": frozenset({"proto", "api.headers", "config"}),
    # scheduler.triggers: `import crontab` checks each schedule as apply would.
    "cli": frozenset({"client", "config", "model", "security", "proto", "scheduler.triggers"}),
    "testing": frozenset({"config", "client", "state", "proto", "security"}),
    "__main__": frozenset({"cli"}),
}

# Allowed only inside functions: `wloadctl server`, `agent` and `up` start those processes, and
# the other commands must not pay for loading them (or break when their dependencies are absent).
LAZY: dict[str, frozenset[str]] = {
    "cli": frozenset({"server", "agent"}),
}

# Modules that only the packages listed (and their own package) may import, whatever ALLOWED says:
# job documents are YAML the CLI reads; the state machine, the API and the agent use the rules.
RESERVED: dict[str, frozenset[str]] = {
    "model.documents": frozenset({"cli"}),
}


@dataclass(frozen=True)
class Arrow:
    source: str      # the importing file, relative to the repository
    line: int
    package: str     # the importing package ("cli"), or top-level module ("client")
    target: str      # what it imports, relative to wloadctl ("server.main")
    lazy: bool       # inside a function


def _owner(relative: Path) -> str:
    """The package (or top-level module) a file of wloadctl/ belongs to."""
    if len(relative.parts) == 1:
        return "wloadctl" if relative.stem == "__init__" else relative.stem
    return relative.parts[0]


def _targets(node: ast.Import | ast.ImportFrom, module: str, root: Path) -> list[str]:
    """The wloadctl modules an import statement loads, relative to wloadctl (dotted)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:  # relative: resolved against the importing module's package
            parent = module.split(".")[: -node.level]
            base = ".".join([*parent, base] if base else parent)
        names = []
        for alias in node.names:
            # `from wloadctl.api import headers` loads the module wloadctl.api.headers.
            sub = f"{base}.{alias.name}"
            path = root.parent / Path(*sub.split("."))
            names.append(sub if path.with_suffix(".py").exists() or path.is_dir() else base)
    return [name.removeprefix("wloadctl.") for name in dict.fromkeys(names) if name.startswith("wloadctl.")]


def _imports(node: ast.AST, lazy: bool = False) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement under ``node``, and whether it runs only when a function is called."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, lazy
        else:
            yield from _imports(child, lazy or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))


def arrows(root: Path) -> list[Arrow]:
    found: list[Arrow] = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        module = ".".join(("wloadctl", *relative.with_suffix("").parts))
        source = str(path.relative_to(root.parent))
        for node, lazy in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            found += [Arrow(source, node.lineno, _owner(relative), target, lazy)
                      for target in _targets(node, module, root)]
    return found


def _allows(allowed: frozenset[str], target: str) -> bool:
    return any(target == name or target.startswith(name + ".") for name in allowed)


def violations(root: Path) -> list[str]:
    problems = []
    for arrow in arrows(root):
        if arrow.package not in ALLOWED:
            problems.append(f"{arrow.source}: package {arrow.package!r} is not in ALLOWED; say what it may import")
            continue
        if arrow.target.split(".")[0] == arrow.package:
            continue
        reserved = [name for name in RESERVED if _allows(frozenset({name}), arrow.target)]
        if reserved and arrow.package not in RESERVED[reserved[0]]:
            problems.append(f"{arrow.source}:{arrow.line}: {arrow.package} -> {arrow.target} "
                            f"(reserved to {', '.join(sorted(RESERVED[reserved[0]]))})")
            continue
        if _allows(ALLOWED[arrow.package], arrow.target):
            continue
        if arrow.lazy and _allows(LAZY.get(arrow.package, frozenset()), arrow.target):
            continue
        where = "inside a function" if arrow.lazy else "at module level"
        problems.append(f"{arrow.source}:{arrow.line}: {arrow.package} -> {arrow.target} ({where})")
    return problems


def test_every_import_follows_the_arrows() -> None:
    assert violations(ROOT) == []


def test_config_needs_only_the_standard_library() -> None:
    # config is imported by user-facing tools (the CLI, the test harness): no third-party
    # package may ride in with it.
    outside = []
    for path in sorted((ROOT / "config").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and not name.startswith(("wloadctl.config", "__future__")):
                    outside.append(f"{path.name}:{node.lineno}: {name}")
    assert outside == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "wloadctl"
    for name, text in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_arrows_that_were_wrong_are_caught(tmp_path: Path) -> None:
    # The three arrows the config package removed (api -> server, agent -> server, testing -> cli),
    # and the YAML half of the old model/jobs.py reached from the state machine.
    root = _tree(tmp_path, {
        "api/__init__.py": "", "api/context.py": "from wloadctl.server.config import ServerConfig\n",
        "agent/__init__.py": "", "agent/process.py": "from wloadctl.server import logs\n",
        "testing/__init__.py": "", "testing/cluster.py": "import wloadctl.cli.configs\n",
        "state/__init__.py": "", "state/store.py": "from wloadctl.model.documents import parse_documents\n",
        "model/__init__.py": "", "model/documents.py": "",
        "server/__init__.py": "", "server/config.py": "", "server/logs.py": "",
        "cli/__init__.py": "", "cli/configs.py": "",
    })
    assert violations(root) == [
        "wloadctl/agent/process.py:1: agent -> server.logs (at module level)",
        "wloadctl/api/context.py:1: api -> server.config (at module level)",
        "wloadctl/state/store.py:1: state -> model.documents (reserved to cli)",
        "wloadctl/testing/cluster.py:1: testing -> cli.configs (at module level)",
    ]


def test_lazy_imports_are_allowed_only_where_listed(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "cli/__init__.py": "",
        "cli/local.py": "def run() -> None:\n    from wloadctl.server.main import run_server\n",
        "cli/eager.py": "from wloadctl.agent.process import run_agent\n",
        "client.py": "def f() -> None:\n    from wloadctl.api.context import ApiContext\n\n"
                     "from wloadctl.api.headers import LEADER_HEADER\n",
        "api/__init__.py": "", "api/headers.py": "", "api/context.py": "",
        "server/__init__.py": "", "server/main.py": "", "agent/__init__.py": "", "agent/process.py": "",
        "newthing/__init__.py": "from wloadctl.proto import v1\n", "proto/__init__.py": "", "proto/v1/__init__.py": "",
    })
    assert violations(root) == [
        "wloadctl/cli/eager.py:1: cli -> agent.process (at module level)",
        "wloadctl/client.py:2: client -> api.context (inside a function)",
        "wloadctl/newthing/__init__.py: package 'newthing' is not in ALLOWED; say what it may import",
    ]
