"""Replica configuration: every example parses; every mistake names its setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from wloadctl.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", sorted((ROOT / "cluster" / "examples").rglob("*.toml")), ids=lambda p: p.name)
def test_shipped_examples_parse(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.multi_replica and cfg.secret_file is not None
    assert cfg.node_id in {p.id for p in cfg.peers}
    assert cfg.raft_address.endswith(":18681") and cfg.api_address.endswith(":18581")
    assert cfg.agent_address.endswith(":18781") and cfg.tls_cert is not None


BASE = {"node_id": "r1", "raft_address": "127.0.0.1:18681", "api_address": "127.0.0.1:18581", "data_dir": "d"}


@pytest.mark.parametrize(("change", "field"), [
    ({"node_id": None}, "node_id"),
    ({"raft_address": "nohost"}, "raft_address"),
    ({"raft_address": "h:99999"}, "raft_address"),
    ({"bogus": 1}, "bogus"),
    ({"raft": {"election_min": -1}}, "raft.election_min"),
    ({"raft": {"nope": 1}}, "raft.nope"),
    ({"raft": {"leader_fallback": 2.0}}, "raft.leader_fallback"),
    ({"log": {"format": "xml"}}, "log.format"),
    ({"peers": [{"id": "r2", "raft_address": "x"}]}, "peers[0]"),
    ({"peers": [{"id": "r2", "raft_address": "h:1", "api_address": "h:2", "extra": 1}]}, "peers[0].extra"),
    ({"metrics_address": "zz"}, "metrics_address"),
    ({"raft_bind_address": "0.0.0.0:18681"}, "raft_bind_address"),
    ({"raft_bind_address": "nohost"}, "raft_bind_address"),
    ({"tls": {"ca": "ca.crt", "cert": 5, "key": "r1.key"}}, "tls.cert"),
    ({"tls": {"ca": "ca.crt", "cert": "r1.crt"}}, "tls"),
])
def test_mistakes_name_the_setting(change: dict, field: str) -> None:
    doc = {**BASE, **change}
    doc = {k: v for k, v in doc.items() if v is not None}
    with pytest.raises(ConfigError) as err:
        parse_config(doc)
    assert str(err.value).startswith(field)


def test_defaults_and_overrides(tmp_path: Path) -> None:
    cfg = parse_config({**BASE, "raft": {"compaction_min_entries": 100, "election_min": 0.5}}, base=tmp_path)
    assert cfg.timers.compaction_min_entries == 100 and isinstance(cfg.timers.compaction_min_entries, int)
    assert cfg.timers.election_min == 0.5
    assert cfg.data_dir == tmp_path / "d"
    assert not cfg.multi_replica and cfg.read_secret() is None
    secret = tmp_path / "s"
    secret.write_text("x" * 31 + "\n")
    secret.chmod(0o600)  # a mode others can read is refused before the length is checked
    with pytest.raises(ConfigError) as err:
        parse_config({**BASE, "secret_file": str(secret)}).read_secret()
    assert str(err.value) == (f"secret_file: {secret} holds fewer than 32 characters (create it with: (umask 077 "
                              f"&& python3 -c 'import secrets; print(secrets.token_hex(32))' > {secret}))")
    secret.write_text("x" * 32 + "\n")
    assert parse_config({**BASE, "secret_file": str(secret)}).read_secret() == "x" * 32


def test_raft_bind_address_defaults_to_the_raft_address() -> None:
    assert parse_config(BASE).raft_bind_address == ""
    cfg = parse_config({**BASE, "raft_bind_address": "10.0.0.5:18691"})
    assert cfg.raft_bind_address == "10.0.0.5:18691" and cfg.raft_address == "127.0.0.1:18681"


def test_agent_example_parses() -> None:
    from wloadctl.config import load_agent_config

    cfg = load_agent_config(ROOT / "agent" / "agent.example.toml")
    assert cfg.orphan_policy == "kill" and cfg.tls_cert is not None and len(cfg.replicas) == 3
