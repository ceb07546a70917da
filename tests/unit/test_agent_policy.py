"""Hardened agents: what an agent agrees to run (wloadctl/model/policy.py), its settings, placement
that skips agents refusing a run, and the shipped systemd unit and example configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from wloadctl.config import ConfigError, load_agent_config, parse_agent_config
from wloadctl.model.policy import command_allowed, refusal
from wloadctl.proto.v1 import jobs_pb2, runs_pb2
from wloadctl.scheduler.placement import AgentSlots, place

ROOT = Path(__file__).resolve().parents[2]
BASE = {"agent_id": "a1", "replicas": ["127.0.0.1:18781"], "work_dir": "w"}


def spec(argv: tuple[str, ...] = ("/usr/local/bin/report",), script: str = "", run_as: str = "",
         env: dict[str, str] | None = None, empty: bool = False) -> jobs_pb2.JobSpec:
    command = jobs_pb2.JobCommand(shell=script) if script else jobs_pb2.JobCommand(
        argv=jobs_pb2.ArgvCommand(args=list(argv)))
    return jobs_pb2.JobSpec(name="j", command=command, run_as=run_as, env=env or {},
                            task_type=jobs_pb2.EMPTY if empty else jobs_pb2.COMMAND)


def policy(user: str = "wloadctl-agent", run_as: tuple[str, ...] = (), commands: tuple[str, ...] | None = None,
           scripts: bool = True) -> runs_pb2.AgentPolicy:
    return runs_pb2.AgentPolicy(user=user, allowed_run_as=run_as, restrict_commands=commands is not None,
                                allowed_commands=commands or (), allow_scripts=scripts)


# ---- the rules

@pytest.mark.parametrize(("pol", "job", "why"), [
    # runAs: by default only the agent's own user; root only when listed, even for an agent running as root
    (policy(), spec(), ""),
    (policy(), spec(run_as="wloadctl-agent"), ""),
    (policy(), spec(run_as="batch"), "runAs batch is not allowed on this agent (allowed_run_as: not set)"),
    (policy(user="root"), spec(), ""),
    (policy(user="root"), spec(run_as="root"), "runAs root is not allowed on this agent (allowed_run_as: not set)"),
    (policy(user="root", run_as=("batch",)), spec(run_as="root"),
     "runAs root is not allowed on this agent (allowed_run_as: batch)"),
    (policy(user="root", run_as=("batch", "root")), spec(run_as="root"), ""),
    (policy(run_as=("batch", "etl")), spec(run_as="etl"), ""),
    # scripts
    (policy(scripts=False), spec(script="echo hi"), "script jobs are not allowed on this agent (allow_scripts: false)"),
    (policy(), spec(script="echo hi"), ""),
    (policy(commands=("/usr/local/bin/*",)), spec(script="echo hi"),
     "script jobs run /bin/sh, which is not allowed on this agent (allowed_commands: /usr/local/bin/*)"),
    (policy(commands=("/bin/sh",)), spec(script="echo hi"), ""),
    # commands: * stays within a segment, ** crosses; only absolute, normalised paths
    (policy(commands=("/usr/local/bin/*",)), spec(), ""),
    (policy(commands=("/usr/local/bin/*",)), spec(("/usr/local/bin/sub/x",)),
     "command /usr/local/bin/sub/x is not allowed on this agent (allowed_commands: /usr/local/bin/*)"),
    (policy(commands=("/opt/batch/**",)), spec(("/opt/batch/a/b/c",)), ""),
    (policy(commands=("/usr/local/bin/*",)), spec(("/usr/local/bin/../../../bin/sh",)),
     "command /usr/local/bin/../../../bin/sh is not allowed on this agent (allowed_commands: /usr/local/bin/*; "
     "it must be an absolute, normalised path)"),
    (policy(commands=("/usr/local/bin/*",)), spec(("report",)),
     "command report is not allowed on this agent (allowed_commands: /usr/local/bin/*; "
     "it must be an absolute, normalised path)"),
    (policy(commands=()), spec(), "command /usr/local/bin/report is not allowed on this agent "
     "(allowed_commands: not set)"),
    (policy(commands=("/usr/local/bin/*",)), spec(env={"LD_PRELOAD": "/tmp/x.so"}),
     "env LD_PRELOAD is not allowed on this agent: with allowed_commands it could load other code"),
    (policy(), spec(env={"LD_PRELOAD": "/tmp/x.so"}), ""),
    # an EMPTY job runs nothing
    (policy(commands=(), scripts=False), spec(run_as="root", empty=True), ""),
])
def test_refusal(pol: runs_pb2.AgentPolicy, job: jobs_pb2.JobSpec, why: str) -> None:
    assert refusal(pol, job) == why


@pytest.mark.parametrize(("path", "globs", "ok"), [
    ("/usr/local/bin/x", ["/usr/local/bin/*"], True),
    ("/usr/local/bin/", ["/usr/local/bin/*"], False),  # not normalised
    ("//usr/local/bin/x", ["/usr/local/bin/*", "/**"], False),
    ("/usr/local/bin/./x", ["/usr/local/bin/*", "/**"], False),
    ("/opt/batch/x", ["/opt/batch/**"], True),
    ("/opt/batchx", ["/opt/batch/**"], False),
    ("/opt/batch/a1", ["/opt/batch/a?"], True),
    ("/opt/batch/a/1", ["/opt/batch/a?1"], False),
    ("/usr/bin/python3.11", ["/usr/bin/python3.*"], True),  # regex characters are literal
    ("/usr/bin/python3x11", ["/usr/bin/python3.*"], False),
])
def test_command_globs(path: str, globs: list[str], ok: bool) -> None:
    assert command_allowed(path, globs) is ok


# ---- settings

def test_policy_settings_default_to_the_agents_own_user_any_command_and_scripts() -> None:
    cfg = parse_agent_config(BASE)
    assert cfg.allowed_run_as == () and cfg.allowed_commands is None and cfg.allow_scripts is True
    cfg = parse_agent_config({**BASE, "allowed_run_as": ["batch", "batch", "root"], "allowed_commands": [],
                              "allow_scripts": False})
    assert cfg.allowed_run_as == ("batch", "root") and cfg.allowed_commands == () and cfg.allow_scripts is False


@pytest.mark.parametrize(("change", "message"), [
    ({"allowed_run_as": "batch"}, "allowed_run_as: a list of at most 256 strings"),
    ({"allowed_run_as": ["Batch"]}, "allowed_run_as[0]: must be a user name"),
    ({"allowed_commands": ["/ok", "bin/*"]}, "allowed_commands[1]: must be an absolute path glob"),
    ({"allow_scripts": "no"}, "allow_scripts: true or false"),
])
def test_policy_setting_mistakes_name_the_setting(change: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=r"^" + message.replace("[", r"\[").replace("]", r"\]")):
        parse_agent_config({**BASE, **change})


def test_example_config_shows_the_policy_settings() -> None:
    cfg = load_agent_config(ROOT / "agent" / "agent.example.toml")
    assert cfg.allowed_run_as == ("batch", "etl")
    assert cfg.allowed_commands == ("/usr/local/bin/*", "/opt/batch/**") and cfg.allow_scripts is False


def test_shipped_unit_runs_as_a_dedicated_user() -> None:
    settings: dict[str, list[str]] = {}
    for line in (ROOT / "agent" / "wloadctl-agent.service").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    assert settings["User"] == ["wloadctl-agent"] and settings["Group"] == ["wloadctl-agent"]
    # work_dir of the example config: systemd creates it for that user, private to it
    assert settings["StateDirectory"] == ["wloadctl-agent"] and settings["StateDirectoryMode"] == ["0700"]
    example = load_agent_config(ROOT / "agent" / "agent.example.toml")
    assert example.work_dir == ROOT / "agent" / "/var/lib/wloadctl-agent"


# ---- placement

def run(run_id: str, job: jobs_pb2.JobSpec, version: int = 1) -> runs_pb2.Run:
    return runs_pb2.Run(run_id=run_id, job_name=job.name, job_version=version, spec=job, state=runs_pb2.QUEUED)


def test_placement_skips_agents_whose_policy_refuses_the_run() -> None:
    strict = AgentSlots("a1", {}, free=8, running=0, policy=policy(user="root", run_as=("batch",)))
    lenient = AgentSlots("a2", {}, free=1, running=3, policy=policy(user="root", run_as=("batch", "root")))
    as_root = spec(run_as="root")
    # a1 has more free slots, but only a2 allows runAs root; r2 (no runAs) goes to the least loaded
    decisions = place([run("r1", as_root), run("r2", spec(), version=2)], [strict, lenient])
    assert [(d.run_id, d.agent_id) for d in decisions] == [("r1", "a2"), ("r2", "a1")]
    # a2 is full now: the next root run is left queued, never placed where it would be refused
    assert place([run("r3", as_root)], [strict]) == []
    # an agent that advertised no policy (an older one) takes anything, as before
    older = AgentSlots("a3", {}, free=1, running=0)
    assert [d.agent_id for d in place([run("r3", as_root)], [strict, older])] == ["a3"]


def test_placement_checks_runs_without_a_job_version_one_by_one() -> None:
    agent = AgentSlots("a1", {}, free=4, running=0, policy=policy(commands=("/usr/local/bin/*",)))
    allowed, refused = spec(("/usr/local/bin/ok",)), spec(("/bin/sh",))
    decisions = place([run("r1", refused, version=0), run("r2", allowed, version=0)], [agent])
    assert [d.run_id for d in decisions] == ["r2"]
