"""Configuration of replicas and agents: reading, validating and writing their TOML files.

A leaf package (the standard library only; tests/unit/test_package_arrows.py holds it to that),
so that the API, the agent, the CLI and the test harness can all read or write a config
without importing the server, the Raft node or the controller.
"""

from wloadctl.config.addresses import check_address
from wloadctl.config.agent import AgentConfig, load_agent_config, parse_agent_config
from wloadctl.config.errors import ConfigError, describe_error
from wloadctl.config.files import ensure_dir
from wloadctl.config.render import SECRET_BYTES, ensure_secret, render_config, toml_string
from wloadctl.config.server import Peer, ServerConfig, load_config, parse_config
from wloadctl.config.settings import ControlSettings, RaftTimers
from wloadctl.config.toml import read_toml, tls_paths

__all__ = [
    "SECRET_BYTES",
    "AgentConfig",
    "ConfigError",
    "ControlSettings",
    "Peer",
    "RaftTimers",
    "ServerConfig",
    "check_address",
    "describe_error",
    "ensure_dir",
    "ensure_secret",
    "load_agent_config",
    "load_config",
    "parse_agent_config",
    "parse_config",
    "read_toml",
    "render_config",
    "tls_paths",
    "toml_string",
]
